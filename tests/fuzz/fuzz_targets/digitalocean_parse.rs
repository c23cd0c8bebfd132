//! Fuzz target `digitalocean_parse`: the input goes to `harness::run` (see ../harness.rs).
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::run("digitalocean_parse", data));
