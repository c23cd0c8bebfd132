//! Fuzz target `alibaba_parse`: the input goes to `harness::run` (see ../harness.rs).
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run("alibaba_parse", data));
