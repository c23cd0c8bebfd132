//! The emulator's default EC2 scenario as a test VM: its MACs and DHCP lease, and the kernel
//! view a full reconcile gives.

use super::scene::Vm;
use super::view::{strs, with_defaults, View};
use cloud_network::metadata::ProviderKind;

pub const AWS: Vm = Vm {
    provider: ProviderKind::Aws,
    macs: &["0a:3f:5c:1e:7d:01", "0a:3f:5c:1e:7d:02"],
    primary: "172.31.20.10/20",
    gateway: "172.31.16.1",
    gateway_host_route: false,
};

pub const AWS_SCENARIO: &str = include_str!("../../src/emulator/scenarios/aws.json");

/// The kernel after the default scenario is applied to eth0 (DHCP 172.31.20.10/20) and eth1.
pub fn aws_expected() -> View {
    let rules = with_defaults(&[
        "2999 from all lookup main suppress_prefixlength 0 suppress_ifgroup 201",
        "3001 from 172.31.25.40 lookup 10001",
        "3001 from all to 172.31.25.40 lookup 10001",
        "3001 from 172.31.25.41 lookup 10001",
        "3001 from all to 172.31.25.41 lookup 10001",
    ]);
    View::expect(
        &["eth0 up mtu 1500 group 201", "eth1 up mtu 1500 group 201"],
        &[
            "eth0 172.31.20.10/20 dynamic",
            "eth0 172.31.20.11/20 noprefixroute forever",
            "eth0 172.31.20.12/20 noprefixroute forever",
            "eth1 172.31.25.40/20 noprefixroute forever",
            "eth1 172.31.25.41/20 noprefixroute forever",
        ],
        &[
            "10001 default via 172.31.16.1 dev eth1 proto 201",
            "10001 172.31.16.0/20 dev eth1 proto 201 scope link src 172.31.25.40",
        ],
        &[],
        &[
            "default via 172.31.16.1 dev eth0",
            "172.31.16.0/20 dev eth0 proto kernel scope link src 172.31.20.10",
        ],
        &strs(&rules),
    )
}
