//! Fuzzes the decoder on any input (version as given).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| flowfold_fuzz::run(data, None));
