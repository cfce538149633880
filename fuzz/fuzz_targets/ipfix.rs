//! Fuzzes the ipfix decoder: every datagram's version field is forced to 10.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowfold_fuzz::run(data, Some(10)));
