//! Unit tests of the planner on plain data, one module per area (desired state, diff,
//! ownership record, VLAN NICs, the peers' additions); here the fixtures they share and the
//! stand-in for the kernel that applies a round's changes.

use super::index::KernelIndex;
use super::render::{ip_command, link_namer, summary};
use super::*;
use crate::kernel::{Address, Change, KernelState, Link, OperState, Route, RouteType, Rule, Scope};
use crate::metadata::{Instance, Nic};
use crate::net::{IpNet, Mac, ProviderKind};

pub(crate) fn mac(s: &str) -> Mac {
    s.parse().unwrap()
}

pub(crate) fn link(index: u32, name: &str, mac_s: &str, up: bool) -> Link {
    Link {
        index,
        name: name.to_string(),
        mac: Some(mac(mac_s)),
        mtu: 1500,
        up,
        oper_state: if up { OperState::Up } else { OperState::Down },
        kind: None,
        master: None,
        loopback: false,
        ethernet: true,
        group: 0,
    }
}

fn azure_instance() -> Instance {
    let mut eth0 = Nic::new(mac("00:22:48:04:fe:00"), 0);
    eth0.ipv4 = vec![
        "10.4.0.4/24".parse().unwrap(),
        "10.4.0.8/24".parse().unwrap(),
    ];
    eth0.gateway4 = Some("10.4.0.1".parse().unwrap());
    let mut eth1 = Nic::new(mac("00:0d:3a:5d:2d:66"), 1);
    eth1.ipv4 = vec![
        "10.4.0.5/24".parse().unwrap(),
        "10.4.0.6/24".parse().unwrap(),
    ];
    eth1.gateway4 = Some("10.4.0.1".parse().unwrap());
    Instance {
        provider: ProviderKind::Azure,
        instance_id: "vm".into(),
        location: "westus".into(),
        nics: vec![eth0, eth1],
        raw: Default::default(),
    }
}

fn azure_links() -> Vec<Link> {
    vec![
        Link {
            index: 1,
            name: "lo".into(),
            mac: Some(mac("00:00:00:00:00:00")),
            mtu: 65536,
            up: true,
            oper_state: OperState::Unknown,
            kind: None,
            master: None,
            loopback: true,
            ethernet: false,
            group: 0,
        },
        link(2, "eth0", "00:22:48:04:fe:00", true),
        link(3, "eth1", "00:0d:3a:5d:2d:66", false),
    ]
}

fn dhcp_primary() -> Address {
    Address {
        ifindex: 2,
        addr: "10.4.0.4/24".parse().unwrap(),
        noprefixroute: false,
        valid_lft: 3600,
        preferred_lft: 3600,
    }
}

fn kernel_with(links: Vec<Link>, addresses: Vec<Address>) -> KernelState {
    KernelState {
        links,
        addresses,
        routes: Vec::new(),
        rules: Vec::new(),
    }
}

/// What the kernel looks like after a change: the test stand-in for netlink.
fn apply(kernel: &mut KernelState, change: &Change) {
    match change {
        Change::LinkUp { ifindex, .. } => {
            kernel
                .links
                .iter_mut()
                .find(|l| l.index == *ifindex)
                .unwrap()
                .up = true
        }
        Change::SetMtu { ifindex, mtu, .. } => {
            kernel
                .links
                .iter_mut()
                .find(|l| l.index == *ifindex)
                .unwrap()
                .mtu = *mtu
        }
        Change::SetGroup { ifindex, group, .. } => {
            kernel
                .links
                .iter_mut()
                .find(|l| l.index == *ifindex)
                .unwrap()
                .group = *group
        }
        Change::PromoteSecondaries { .. } => {}
        Change::AddAddress(a) => kernel.addresses.push(a.clone()),
        Change::DelAddress(a) => kernel.addresses.retain(|k| k != a),
        Change::AddRoute(r) => kernel.routes.push(r.clone()),
        Change::AdoptRoute(r) => {
            kernel
                .routes
                .retain(|k| (k.table, k.dst, k.kind) != (r.table, r.dst, r.kind));
            kernel.routes.push(r.clone());
        }
        Change::DelRoute(r) => kernel.routes.retain(|k| k != r),
        Change::AddRule(r) => kernel.rules.push(r.clone()),
        Change::DelRule(r) => kernel.rules.retain(|k| k != r),
        Change::AddVlan {
            name, mac, parent, ..
        } => {
            let index = kernel.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
            let mut vlan = link(index, name, &mac.to_string(), true);
            vlan.kind = Some("vlan".into());
            // A new VLAN link takes its parent's MTU, as the kernel gives it.
            vlan.mtu = kernel
                .links
                .iter()
                .find(|l| l.index == *parent)
                .unwrap()
                .mtu;
            kernel.links.push(vlan);
        }
        Change::DelVlan { ifindex, .. } => {
            kernel.links.retain(|l| l.index != *ifindex);
            kernel.addresses.retain(|a| a.ifindex != *ifindex);
            kernel.routes.retain(|r| r.oif != Some(*ifindex));
        }
    }
}

/// One reconcile round as the daemon runs it; returns the changes made.
fn reconcile(
    instance: &Instance,
    kernel: &mut KernelState,
    owned: &mut Owned,
    settings: &PlanSettings,
) -> Vec<PlannedChange> {
    let want = desired(instance, &kernel.links, settings);
    *owned = owned
        .prune(&KernelIndex::new(kernel))
        .release(&want.released)
        .vet(kernel, settings)
        .0;
    let result = diff(&want, &KernelIndex::new(kernel), owned);
    for planned in &result.changes {
        apply(kernel, &planned.change);
        owned.record(planned.nic.map(|n| (n.mac, n.ifindex)), &planned.change);
    }
    result.changes
}

fn commands(changes: &[PlannedChange], kernel: &KernelState) -> Vec<String> {
    let name_of = link_namer(kernel);
    changes
        .iter()
        .map(|c| ip_command(&c.change, &name_of))
        .collect()
}

fn gcp_instance() -> Instance {
    let mut nic0 = Nic::new(mac("42:01:0a:80:00:46"), 0);
    nic0.ipv4 = vec!["10.128.0.70/32".parse().unwrap()];
    nic0.gateway4 = Some("10.128.0.1".parse().unwrap());
    nic0.mtu = Some(1460);
    nic0.ip_ranges = vec!["10.24.3.0/24".parse().unwrap()];
    nic0.forwarded = vec!["34.1.2.3/32".parse().unwrap()];
    let mut nic1 = Nic::new(mac("42:01:c0:a8:01:02"), 1);
    nic1.ipv4 = vec!["192.168.1.2/32".parse().unwrap()];
    nic1.gateway4 = Some("192.168.1.1".parse().unwrap());
    nic1.mtu = Some(8244);
    nic1.ip_ranges = vec!["192.168.9.0/28".parse().unwrap()];
    Instance {
        provider: ProviderKind::Gcp,
        instance_id: "1".into(),
        location: "us-central1".into(),
        nics: vec![nic0, nic1],
        raw: Default::default(),
    }
}

mod desired_state;
mod diff;
/// The main rule, the interface group, and the `from` rules of every item a NIC owns.
mod main_rule;
mod optout;
mod ownership;
/// The peers-parity additions: delegated prefixes, RA-learned routes, WSFC, MTU.
mod peers;
mod takeover;
mod vlan;
