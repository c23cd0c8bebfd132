//! Link options of the release binary on Linux (the reasons and the figures are in
//! packaging/link/README.md):
//! - `packaging/link/hot.ld` puts the functions and the read-only data the daemon uses
//!   together at the start of its code and of its read-only data, so that the daemon's
//!   resident pages of the binary are the ones it uses;
//! - the glibc build's segments are aligned to 64 KiB (`-z max-page-size=65536`), so that the
//!   kernel's fault-around windows fall on the same bytes of it in every run;
//! - the musl build packs its relative relocations (`-z pack-relative-relocs`, DT_RELR): the
//!   static binary carries its own loader, so no libc version has to support them.
//!
//! Debug builds (the tests) link as usual.

use std::env;

const LAYOUT: &str = "packaging/link/hot.ld";

fn main() {
    println!("cargo:rerun-if-changed={LAYOUT}");
    println!("cargo:rerun-if-changed=packaging/build.rs");
    let linux = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux");
    let release = env::var("PROFILE").as_deref() == Ok("release");
    if !(linux && release) {
        return;
    }
    let Ok(root) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    println!("cargo:rustc-link-arg-bins=-Wl,-T,{root}/{LAYOUT}");
    if env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("musl") {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    } else {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,max-page-size=65536");
    }
}
