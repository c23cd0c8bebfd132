//! The emulator's default GCP scenario as a test VM: its MACs and DHCP lease, and the kernel
//! view a full reconcile gives.

use super::scene::Vm;
use super::view::{strs, with_defaults, View};
use cloud_network::metadata::ProviderKind;

pub const GCP: Vm = Vm {
    provider: ProviderKind::Gcp,
    macs: &["42:01:0a:80:00:0c", "42:01:c0:a8:01:05"],
    primary: "10.128.0.12/32",
    gateway: "10.128.0.1",
    gateway_host_route: true,
};

pub const GCP_SCENARIO: &str = include_str!("../../src/emulator/scenarios/gcp.json");

/// The kernel after the default scenario is applied to eth0 (DHCP 10.128.0.12/32) and eth1.
pub fn gcp_expected() -> View {
    let rules = with_defaults(&[
        "2999 from all lookup main suppress_prefixlength 0 suppress_ifgroup 201",
        "3001 from 192.168.1.5 lookup 10001",
        "3001 from all to 192.168.1.5 lookup 10001",
        "3001 from 192.168.1.64/29 lookup 10001",
        "3001 from all to 192.168.1.64/29 lookup 10001",
    ]);
    View::expect(
        &["eth0 up mtu 1460 group 201", "eth1 up mtu 1460 group 201"],
        &[
            "eth0 10.128.0.12/32 dynamic",
            "eth1 192.168.1.5/32 noprefixroute forever",
        ],
        &[
            "10001 default via 192.168.1.1 dev eth1 proto 201",
            "10001 192.168.1.1 dev eth1 proto 201 scope link src 192.168.1.5",
        ],
        &[
            "local 10.8.1.0/24 dev eth0 proto 201 scope host",
            "local 34.120.88.10 dev eth0 proto 201 scope host",
            "local 192.168.1.64/29 dev eth1 proto 201 scope host",
        ],
        &[
            "default via 10.128.0.1 dev eth0",
            "10.128.0.1 dev eth0 scope link",
        ],
        &strs(&rules),
    )
}
