//! Shared helpers for root-only kernel tests: network namespace guards and the root check.
// Each integration test crate uses its own subset of these helpers.
#![allow(dead_code)]

pub mod api;
pub mod aws;
pub mod azure;
pub mod events;
pub mod fixtures;
pub mod gcp;
pub mod lab;
pub mod monitor;
pub mod netns;
pub mod running;
pub mod scene;
pub mod view;
