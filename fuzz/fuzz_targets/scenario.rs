//! Fuzz target `scenario`: see `fuzz/cases.rs`.
#![no_main]

#[path = "../cases.rs"]
#[allow(dead_code)]
mod cases;

libfuzzer_sys::fuzz_target!(|data: &[u8]| cases::scenario(data));
