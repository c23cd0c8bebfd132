//! HTTP shared by the binary's parts: the one client every outgoing request goes through.

pub mod client;
