//! The emulator's default Azure scenario as a test VM: its MACs and DHCP lease, the kernel
//! view a full reconcile gives, and edits of its address lists.

use super::scene::Vm;
use super::view::{strs, with_defaults, without, View};
use cloud_network::metadata::ProviderKind;
use serde_json::Value;

pub const AZURE: Vm = Vm {
    provider: ProviderKind::Azure,
    macs: &["00:0d:3a:4f:6b:10", "00:0d:3a:4f:6b:11"],
    primary: "10.4.0.4/24",
    gateway: "10.4.0.1",
    gateway_host_route: false,
};

pub const AZURE_SCENARIO: &str = include_str!("../../src/emulator/scenarios/azure.json");

/// The default scenario with NIC `nic`'s address list replaced, for each `(nic, addresses)`.
pub fn azure_with(changes: &[(usize, &[&str])]) -> String {
    let mut doc: Value = serde_json::from_str(AZURE_SCENARIO).expect("azure scenario");
    for (nic, addresses) in changes {
        let list: Vec<Value> = addresses
            .iter()
            .map(|a| serde_json::json!({"privateIpAddress": a, "publicIpAddress": ""}))
            .collect();
        doc["network"]["interface"][*nic]["ipv4"]["ipAddress"] = Value::Array(list);
    }
    doc.to_string()
}

/// The kernel after the default scenario is applied to eth0 (DHCP 10.4.0.4/24) and eth1.
pub fn azure_expected() -> View {
    let rules = with_defaults(&[
        "2999 from all lookup main suppress_prefixlength 0 suppress_ifgroup 201",
        "3001 from 10.4.0.5 lookup 10001",
        "3001 from all to 10.4.0.5 lookup 10001",
        "3001 from 10.4.0.6 lookup 10001",
        "3001 from all to 10.4.0.6 lookup 10001",
        "3001 from 10.4.0.7 lookup 10001",
        "3001 from all to 10.4.0.7 lookup 10001",
    ]);
    View::expect(
        &["eth0 up mtu 1500 group 201", "eth1 up mtu 1500 group 201"],
        &[
            "eth0 10.4.0.4/24 dynamic",
            "eth0 10.4.0.8/24 noprefixroute forever",
            "eth0 10.4.0.9/24 noprefixroute forever",
            "eth1 10.4.0.5/24 noprefixroute forever",
            "eth1 10.4.0.6/24 noprefixroute forever",
            "eth1 10.4.0.7/24 noprefixroute forever",
        ],
        &[
            "10001 default via 10.4.0.1 dev eth1 proto 201",
            "10001 10.4.0.0/24 dev eth1 proto 201 scope link src 10.4.0.5",
        ],
        &[],
        &[
            "default via 10.4.0.1 dev eth0",
            "10.4.0.0/24 dev eth0 proto kernel scope link src 10.4.0.4",
        ],
        &strs(&rules),
    )
}

/// The expected view once the metadata no longer lists 10.4.0.6 on eth1.
pub fn azure_without_6() -> View {
    let mut view = azure_expected();
    view.addresses = without(&view.addresses, &["eth1 10.4.0.6/24 noprefixroute forever"]);
    view.rules = without(
        &view.rules,
        &[
            "3001 from 10.4.0.6 lookup 10001",
            "3001 from all to 10.4.0.6 lookup 10001",
        ],
    );
    view
}
