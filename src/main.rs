//! cloud-network: multicall entry point.
fn main() {}
