//! The gate's checks of ranges: alias ranges and forwarded IPs (`local` routes) and delegated
//! prefixes (rules into the NIC's table). Each must be narrow enough for its kind, hold no
//! metadata service, gateway, NIC address or whole NIC subnet, and stay clear of the blocks no
//! NIC may hold; an IPv6 range must lie in a block a cloud hands out. A delegated prefix must
//! also lie in its own NIC's subnet and hold none of the addresses the cloud keeps there.

use super::{service_addresses, Facts, Reason, RANGE_PREFIX_MIN_V4, RANGE_PREFIX_MIN_V6};
use crate::metadata::Nic;
use crate::net::{IpNet, Ipv4Net, Ipv6Net, Mac};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A forwarded IPv6 range must be at least this narrow: GCP's IPv6 forwarding rules are /96.
pub(super) const FORWARDED_PREFIX_MIN_V6: u8 = 96;

/// The kinds of range the gate checks, which differ in width and in what they may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Alias,
    Forwarded,
    Delegated,
}

/// Why a range of `nic` may not be configured, if it may not.
pub(super) fn range_problem(nic: &Nic, kind: Kind, net: IpNet, facts: &Facts) -> Option<Reason> {
    if net.prefix() == 0 {
        return Some(Reason::EveryDestination);
    }
    let min = match (net, kind) {
        (IpNet::V4(_), _) => RANGE_PREFIX_MIN_V4,
        (IpNet::V6(_), Kind::Forwarded) => FORWARDED_PREFIX_MIN_V6,
        (IpNet::V6(_), Kind::Alias | Kind::Delegated) => RANGE_PREFIX_MIN_V6,
    };
    if net.prefix() < min {
        return Some(Reason::TooWide { min });
    }
    if let Some(addr) = service_addresses().find(|a| contains(net, *a)) {
        return Some(Reason::ContainsMetadataService { addr });
    }
    if let Some(reason) = special_block_overlap(net) {
        return Some(reason);
    }
    if !is_cloud_unicast(net) {
        return Some(Reason::NotUnicast);
    }
    if kind == Kind::Delegated && !in_own_subnet(nic, net) {
        return Some(Reason::OutsideSubnet);
    }
    holds_what_must_stay(nic.mac, kind, net, facts)
}

/// A range holding a gateway, a NIC's address (another NIC's; any NIC's for a delegated
/// prefix), a whole NIC subnet or, for a delegated prefix, an address the cloud reserves.
fn holds_what_must_stay(mac: Mac, kind: Kind, net: IpNet, facts: &Facts) -> Option<Reason> {
    if let Some((owner, gateway)) = facts.gateways.iter().find(|(_, g)| contains(net, *g)) {
        return Some(Reason::ContainsGateway {
            mac: *owner,
            gateway: *gateway,
        });
    }
    let delegated = kind == Kind::Delegated;
    let held = facts
        .addresses
        .iter()
        .filter(|(owner, _)| delegated || *owner != mac)
        .find(|(_, a)| contains(net, *a));
    if let Some((owner, addr)) = held {
        return Some(Reason::ContainsAddress {
            mac: *owner,
            addr: *addr,
        });
    }
    if let Some((owner, subnet)) = facts.subnets.iter().find(|(_, s)| contains_net(net, *s)) {
        return Some(Reason::ContainsSubnet {
            mac: *owner,
            subnet: *subnet,
        });
    }
    let mut reserved = facts.reserved.iter().filter(|_| delegated);
    let (owner, addr) = reserved.find(|(_, a)| contains(net, *a))?;
    Some(Reason::ContainsReserved {
        mac: *owner,
        addr: *addr,
    })
}

/// Whether a delegated prefix lies in its NIC's subnet of its family.
fn in_own_subnet(nic: &Nic, net: IpNet) -> bool {
    let subnet = match net {
        IpNet::V4(_) => nic.subnet4.map(IpNet::V4),
        IpNet::V6(_) => nic.subnet6.map(IpNet::V6),
    };
    subnet.is_some_and(|s| contains_net(s, net))
}

/// The addresses a cloud keeps in a subnet (EC2's and Azure's rule): the network address,
/// the three after it (router, DNS, reserved) and the last one.
pub(super) fn reserved_addresses(subnet: IpNet) -> Vec<IpAddr> {
    match subnet {
        IpNet::V4(net) => {
            let first = u32::from(net.network().addr);
            let last = first | !net.mask();
            [0, 1, 2, 3]
                .map(|n| first.saturating_add(n).min(last))
                .into_iter()
                .chain([last])
                .map(|a| IpAddr::V4(Ipv4Addr::from(a)))
                .collect()
        }
        IpNet::V6(net) => {
            let first = u128::from(net.network().addr);
            let last = first | !net.mask();
            [0, 1, 2, 3]
                .map(|n| first.saturating_add(n).min(last))
                .into_iter()
                .chain([last])
                .map(|a| IpAddr::V6(Ipv6Addr::from(a)))
                .collect()
        }
    }
}

/// IPv4 ranges pass; an IPv6 range must lie in global unicast (2000::/3) or unique local
/// (fc00::/7) space, which leaves out NAT64, IPv4-mapped and the other special blocks.
fn is_cloud_unicast(net: IpNet) -> bool {
    match net {
        IpNet::V4(_) => true,
        IpNet::V6(_) => {
            let global = v6(Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);
            let unique_local = v6(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7);
            contains_net(global, net) || contains_net(unique_local, net)
        }
    }
}

/// A range reaching into a block no NIC may hold (loopback, multicast, link-local, …).
fn special_block_overlap(net: IpNet) -> Option<Reason> {
    let blocks: [(IpNet, Reason); 9] = [
        (v4(0, 0, 0, 0, 8), Reason::Unspecified),
        (v4(127, 0, 0, 0, 8), Reason::Loopback),
        (v4(169, 254, 0, 0, 16), Reason::LinkLocal),
        (v4(224, 0, 0, 0, 4), Reason::Multicast),
        (v4(255, 255, 255, 255, 32), Reason::Broadcast),
        (v6(Ipv6Addr::UNSPECIFIED, 128), Reason::Unspecified),
        (v6(Ipv6Addr::LOCALHOST, 128), Reason::Loopback),
        (
            v6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
            Reason::LinkLocal,
        ),
        (
            v6(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8),
            Reason::Multicast,
        ),
    ];
    blocks
        .into_iter()
        .find(|(block, _)| overlaps(net, *block))
        .map(|(_, reason)| reason)
}

fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> IpNet {
    IpNet::V4(Ipv4Net::new(Ipv4Addr::new(a, b, c, d), prefix))
}

fn v6(addr: Ipv6Addr, prefix: u8) -> IpNet {
    IpNet::V6(Ipv6Net::new(addr, prefix))
}

/// Whether `ip` lies in `net` (never across families).
pub(super) fn contains(net: IpNet, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpNet::V4(net), IpAddr::V4(ip)) => net.contains(ip),
        (IpNet::V6(net), IpAddr::V6(ip)) => net.contains(ip),
        _ => false,
    }
}

/// Whether `outer` holds all of `inner`.
fn contains_net(outer: IpNet, inner: IpNet) -> bool {
    outer.prefix() <= inner.prefix() && contains(outer, inner.addr())
}

fn overlaps(a: IpNet, b: IpNet) -> bool {
    contains_net(a, b) || contains_net(b, a)
}
