//! Shared helpers for root-only kernel tests: network namespace guards and the root check.
// Each integration test crate uses its own subset of these helpers.
#![allow(dead_code)]

pub mod api;
pub mod aws;
pub mod azure;
pub mod container;
pub mod events;
pub mod fixtures;
pub mod gcp;
pub mod guest_agent;
pub mod lab;
pub mod monitor;
pub mod netns;
pub mod pod;
pub mod probe;
pub mod running;
pub mod scene;
pub mod view;

/// The cloud-network binary a test runs: the one cargo built for it, or the file named by
/// `CLOUD_NETWORK_TEST_BIN` (`.ci/run` points it at the static musl build for the end-to-end
/// tests).
pub fn binary() -> std::path::PathBuf {
    match std::env::var_os("CLOUD_NETWORK_TEST_BIN") {
        Some(path) => {
            let path = std::path::PathBuf::from(path);
            assert!(
                path.is_file(),
                "CLOUD_NETWORK_TEST_BIN={} is not a file",
                path.display()
            );
            path
        }
        None => std::path::PathBuf::from(env!("CARGO_BIN_EXE_cloud-network")),
    }
}
