//! The sanity gate at the edge of the plan: one pure function that takes the metadata's NICs
//! and refuses, item by item and with a reason, what no NIC may hold or what would cut the
//! machine off (DESIGN.md, "Sanity gate"): loopback, unspecified, multicast, broadcast and
//! link-local addresses; the metadata service's and WireServer's addresses; an address equal
//! to a gateway; alias ranges, forwarded IPs and delegated prefixes that are too wide or
//! swallow a gateway, a metadata address, a NIC's address or a whole NIC subnet (`ranges`);
//! an address with its own gateway (DigitalOcean's anchor) that is public, is already a NIC's
//! address or has no real netmask; the same address on two NICs; an MTU outside 1280–9216.
//! The rest of each NIC is planned as usual; what is refused is never added, and (see
//! `NicPlan::holds`) nothing of ours matching it is removed either. What a refusal says, and
//! how it reads, is `refusal`.

mod ranges;
mod refusal;

pub(crate) use refusal::{Item, Reason, Refusal};

use crate::metadata::{Nic, RoutedIpv4};
use crate::net::{IpNet, Mac, ProviderKind};
use ranges::{range_problem, reserved_addresses, Kind};
use std::collections::HashMap;
use std::net::IpAddr;

/// Smallest and largest MTU a NIC may be given: IPv6's minimum and the largest jumbo frame any
/// of our clouds supports (9001 on EC2, 9000 on OCI) with headroom.
pub(crate) const MTU_MIN: u32 = 1280;
pub(crate) const MTU_MAX: u32 = 9216;
/// Alias ranges, forwarded IPs and delegated prefixes must be at least this narrow (IPv4,
/// IPv6; forwarded IPv6 ranges see [`ranges::FORWARDED_PREFIX_MIN_V6`]).
pub(crate) const RANGE_PREFIX_MIN_V4: u8 = 8;
pub(crate) const RANGE_PREFIX_MIN_V6: u8 = 32;

/// The clouds' own service addresses (each cloud's `Profile::service_addresses`: the metadata
/// services, EC2's DNS and NTP beside its IMDS, Azure's WireServer), on every cloud we serve:
/// no NIC may hold one, and no range may contain one, whichever cloud this is.
pub(crate) fn service_addresses() -> impl Iterator<Item = IpAddr> {
    ProviderKind::ALL
        .into_iter()
        .flat_map(|kind| kind.profile().service_addresses)
        .copied()
}

/// The NICs with every refused item taken out, and what was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gated {
    pub nics: Vec<Nic>,
    pub refused: Vec<Refusal>,
}

/// The gate. Pure; the order of NICs and of the items kept is the metadata's.
pub(crate) fn gate(nics: &[Nic]) -> Gated {
    let facts = Facts::of(nics);
    let mut refused = Vec::new();
    let gated = nics
        .iter()
        .map(|nic| gate_nic(nic, &facts, &mut refused))
        .collect();
    Gated {
        nics: gated,
        refused,
    }
}

/// What every item is checked against: each NIC's gateways, addresses, subnets and the
/// addresses the cloud reserves in them.
struct Facts {
    gateways: Vec<(Mac, IpAddr)>,
    addresses: Vec<(Mac, IpAddr)>,
    /// The addresses of each NIC that have no gateway of their own.
    plain: Vec<(Mac, IpAddr)>,
    subnets: Vec<(Mac, IpNet)>,
    reserved: Vec<(Mac, IpAddr)>,
    /// Each address (without a gateway of its own) listed on more than one NIC, with them.
    on_two: HashMap<IpAddr, Vec<Mac>>,
}

impl Facts {
    fn of(nics: &[Nic]) -> Facts {
        let mut facts = Facts {
            gateways: Vec::new(),
            addresses: Vec::new(),
            plain: Vec::new(),
            subnets: Vec::new(),
            reserved: Vec::new(),
            on_two: HashMap::new(),
        };
        for nic in nics {
            let mac = nic.mac;
            let routed = nic.routed_ipv4.iter();
            let gateways = nic.gateway4.map(IpAddr::V4).into_iter();
            let gateways = gateways
                .chain(nic.gateway6.map(IpAddr::V6))
                .chain(routed.clone().map(|r| IpAddr::V4(r.gateway)));
            facts.gateways.extend(gateways.map(|g| (mac, g)));
            let own_subnets = nic.subnet4.map(IpNet::V4).into_iter();
            let own_subnets = own_subnets.chain(nic.subnet6.map(IpNet::V6));
            let reserved = own_subnets.clone().flat_map(reserved_addresses);
            facts.reserved.extend(reserved.map(|a| (mac, a)));
            let subnets = own_subnets.chain(routed.clone().map(|r| IpNet::V4(r.addr.network())));
            facts.subnets.extend(subnets.map(|s| (mac, s)));
            let mut plain: Vec<IpAddr> = nic.ipv4.iter().map(|n| IpAddr::V4(n.addr)).collect();
            plain.extend(nic.ipv6.iter().map(|n| IpAddr::V6(n.addr)));
            plain.sort_unstable();
            plain.dedup();
            for addr in &plain {
                facts.on_two.entry(*addr).or_default().push(mac);
            }
            facts.plain.extend(plain.into_iter().map(|a| (mac, a)));
            let routed = nic.routed_ipv4.iter().map(|r| IpAddr::V4(r.addr.addr));
            let all = facts
                .plain
                .iter()
                .filter(|(m, _)| *m == mac)
                .map(|(_, a)| *a);
            let all: Vec<IpAddr> = all.chain(routed).collect();
            facts.addresses.extend(all.into_iter().map(|a| (mac, a)));
        }
        facts.on_two.retain(|_, macs| macs.len() > 1);
        facts
    }
}

fn gate_nic(nic: &Nic, facts: &Facts, refused: &mut Vec<Refusal>) -> Nic {
    let mac = nic.mac;
    let mut refuse = |item: Item, reason: Option<Reason>| match reason {
        Some(reason) => {
            refused.push(Refusal { mac, item, reason });
            false
        }
        None => true,
    };
    let mut out = nic.clone();
    out.ipv4.retain(|n| {
        let addr = IpNet::V4(*n);
        refuse(Item::Address { addr }, address_problem(mac, addr, facts))
    });
    out.routed_ipv4.retain(|r| {
        let addr = IpNet::V4(r.addr);
        refuse(Item::RoutedAddress { addr }, routed_problem(mac, r, facts))
    });
    out.ipv6.retain(|n| {
        let addr = IpNet::V6(*n);
        refuse(Item::Address { addr }, address_problem(mac, addr, facts))
    });
    out.ip_ranges.retain(|net| {
        let reason = range_problem(nic, Kind::Alias, *net, facts);
        refuse(Item::AliasRange { net: *net }, reason)
    });
    out.forwarded.retain(|net| {
        let reason = range_problem(nic, Kind::Forwarded, *net, facts);
        refuse(Item::Forwarded { net: *net }, reason)
    });
    out.delegated_prefixes.retain(|net| {
        let reason = range_problem(nic, Kind::Delegated, *net, facts);
        refuse(Item::DelegatedPrefix { net: *net }, reason)
    });
    if let Some(mtu) = nic.mtu {
        let bad = !(MTU_MIN..=MTU_MAX).contains(&mtu);
        if !refuse(Item::Mtu { mtu }, bad.then_some(Reason::MtuOutOfRange)) {
            out.mtu = None;
        }
    }
    out
}

/// Why an address of the NIC `mac` may not be configured, if it may not.
fn address_problem(mac: Mac, addr: IpNet, facts: &Facts) -> Option<Reason> {
    let ip = addr.addr();
    if let Some(reason) = special(ip) {
        return Some(reason);
    }
    if is_subnet_broadcast(addr) {
        return Some(Reason::Broadcast);
    }
    if let Some((owner, _)) = facts.gateways.iter().find(|(_, g)| *g == ip) {
        return Some(Reason::Gateway { mac: *owner });
    }
    let other = facts.on_two.get(&ip)?.iter().find(|m| **m != mac)?;
    Some(Reason::OnTwoNics { other: *other })
}

/// Why an address with its own subnet and gateway (DigitalOcean's anchor) may not be
/// configured: what refuses any address, a netmask that is no real one (`/0`, wider than
/// /8), an address a NIC holds already (its rules would divert that address's replies to a
/// gateway of its own), or a public one.
fn routed_problem(mac: Mac, routed: &RoutedIpv4, facts: &Facts) -> Option<Reason> {
    let addr = IpNet::V4(routed.addr);
    if let Some(reason) = address_problem(mac, addr, facts) {
        return Some(reason);
    }
    match routed.addr.prefix {
        0 => return Some(Reason::EveryDestination),
        p if p < RANGE_PREFIX_MIN_V4 => {
            return Some(Reason::TooWide {
                min: RANGE_PREFIX_MIN_V4,
            })
        }
        _ => {}
    }
    let ip = addr.addr();
    if let Some((owner, _)) = facts.plain.iter().find(|(_, a)| *a == ip) {
        return Some(Reason::NicAddress { mac: *owner });
    }
    (!routed.addr.addr.is_private()).then_some(Reason::NotPrivate)
}

/// The address classes no NIC may hold, whatever the cloud.
fn special(ip: IpAddr) -> Option<Reason> {
    if service_addresses().any(|a| a == ip) {
        return Some(Reason::MetadataService { addr: ip });
    }
    match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => Some(Reason::Unspecified),
        IpAddr::V4(v4) if v4.is_loopback() => Some(Reason::Loopback),
        IpAddr::V4(v4) if v4.is_multicast() => Some(Reason::Multicast),
        IpAddr::V4(v4) if v4.is_broadcast() => Some(Reason::Broadcast),
        IpAddr::V4(v4) if v4.is_link_local() => Some(Reason::LinkLocal),
        IpAddr::V6(v6) if v6.is_unspecified() => Some(Reason::Unspecified),
        IpAddr::V6(v6) if v6.is_loopback() => Some(Reason::Loopback),
        IpAddr::V6(v6) if v6.is_multicast() => Some(Reason::Multicast),
        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => Some(Reason::LinkLocal),
        IpAddr::V4(_) | IpAddr::V6(_) => None,
    }
}

/// The all-ones host of an IPv4 subnet of /30 or wider (its directed broadcast).
fn is_subnet_broadcast(addr: IpNet) -> bool {
    match addr {
        IpNet::V4(net) if net.prefix < 31 => {
            let host_bits = !net.mask();
            u32::from(net.addr) & host_bits == host_bits
        }
        IpNet::V4(_) | IpNet::V6(_) => false,
    }
}

#[cfg(test)]
mod tests;
