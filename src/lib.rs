//! cloud-network: configures secondary NICs and secondary private IPs on cloud VMs from the
//! provider's instance metadata. The binary in `main.rs` only dispatches; everything lives here.
//! `unsafe` is denied everywhere but in `sys`, the system-call module. The public modules and
//! items are what the binary, the tests, the benches and the fuzz harness use; the rest is
//! crate-private (`unreachable_pub` keeps it so).
#![deny(unsafe_code)]
#![warn(unreachable_pub)]

pub mod api;
pub mod check;
pub mod cnctl;
pub mod config;
pub mod daemon;
pub(crate) mod detect;
pub mod emulator;
pub(crate) mod http;
pub mod kernel;
pub mod logging;
pub mod metadata;
pub(crate) mod metrics;
pub mod net;
pub mod netlink;
pub mod plan;
pub mod privileges;
pub mod snapshot;
pub(crate) mod state;
#[allow(unsafe_code)]
mod sys;
pub mod trigger;
pub mod usage;
