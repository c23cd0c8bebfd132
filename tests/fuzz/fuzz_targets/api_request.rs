//! Fuzz target `api_request`: the input goes through `harness::run("api_request", ..)` (see ../harness.rs).
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run("api_request", data));
