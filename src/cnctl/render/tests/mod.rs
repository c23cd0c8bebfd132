//! Renderer tests: the fixtures' documents as the API serves them, exact text expected; one
//! file per provider, `links` for the daemon's own documents, the shared helpers here.

use super::*;
use crate::metadata::aws::parse::tree_to_json;
use crate::metadata::views::network_view;
use crate::net::IpNet;
use std::collections::BTreeMap;

/// The expected text in `tests/cnctl_expected/<name>`, shared by the renderer unit tests and
/// the `cnctl` integration tests.
macro_rules! expected {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/cnctl_expected/",
            $name
        ))
    };
}

mod alibaba;
mod azure;
mod digitalocean;
mod ec2;
mod gcp;
mod links;
mod oracle;

fn fixture(path: &str) -> Value {
    let file = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

/// AEMM's tree as the API's EC2 system document (`meta-data`, `dynamic`, ...).
fn ec2_system() -> Value {
    let tree: BTreeMap<String, String> =
        serde_json::from_value(fixture("ec2/aemm-default/metadata.json")).unwrap();
    tree_to_json(&tree)
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn link(name: &str, ifindex: u32, mac: &str, device_index: u32) -> LinkStatus {
    LinkStatus {
        name: name.to_string(),
        ifindex,
        mac: mac.parse().unwrap(),
        device_index,
        table: None,
        addresses: Vec::new(),
        routes: Vec::new(),
        rules: Vec::new(),
        refused: Vec::new(),
        unknown: None,
    }
}
