//! Fuzzes the v5 decoder: every datagram's version field is forced to 5.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowfold_fuzz::run(data, Some(5)));
