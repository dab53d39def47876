//! Fuzz target `headers`: see [`checks::headers`].

#![no_main]

#[path = "checks.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::headers(data));
