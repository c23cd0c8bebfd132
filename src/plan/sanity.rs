//! The sanity gate at the edge of the plan: one pure function that takes the metadata's NICs
//! and refuses, item by item and with a reason, what no NIC may hold or what would cut the
//! machine off (DESIGN.md, "Sanity gate"): loopback, unspecified, multicast, broadcast and
//! link-local addresses; the metadata service's and WireServer's addresses; an address equal
//! to a gateway; alias or forwarded ranges that are too wide or swallow a gateway, a metadata
//! address, another NIC's address or a whole NIC subnet; the same address on two NICs; an MTU
//! outside 1280–9216. The rest of each NIC is planned as usual; what is refused is never
//! added, and (see `NicPlan::holds`) nothing of ours matching it is removed either.

use crate::metadata::Nic;
use crate::net::{IpNet, Ipv4Net, Ipv6Net, Mac};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Smallest and largest MTU a NIC may be given: IPv6's minimum and the largest jumbo frame any
/// of our clouds supports (9001 on EC2, 9000 on OCI) with headroom.
pub const MTU_MIN: u32 = 1280;
pub const MTU_MAX: u32 = 9216;
/// Alias and forwarded ranges must be at least this narrow (IPv4, IPv6).
pub const RANGE_PREFIX_MIN_V4: u8 = 8;
pub const RANGE_PREFIX_MIN_V6: u8 = 32;

/// The metadata services' own addresses, on every cloud we serve: the link-local IMDS (and
/// EC2's DNS and NTP beside it), Alibaba's metadata service, Azure's WireServer and EC2's IPv6
/// endpoints. No NIC may hold one, and no range may contain one.
pub const METADATA_ADDRESSES: [IpAddr; 8] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 253)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 123)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x253)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x123)),
];

/// What of a NIC was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Item {
    /// An address (IPv4 or IPv6, or one with its own gateway).
    Address {
        addr: IpNet,
    },
    /// An alias range (`ipAliases`).
    AliasRange {
        net: IpNet,
    },
    /// A forwarded IP or range (`forwardedIps`, load-balancer VIPs).
    Forwarded {
        net: IpNet,
    },
    Mtu {
        mtu: u32,
    },
}

/// Why it was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    Loopback,
    Unspecified,
    Multicast,
    Broadcast,
    LinkLocal,
    /// A metadata service's or Azure's WireServer's address.
    MetadataService {
        addr: IpAddr,
    },
    /// The address is a NIC's gateway.
    Gateway {
        mac: Mac,
    },
    /// A range holding a NIC's gateway.
    ContainsGateway {
        mac: Mac,
        gateway: IpAddr,
    },
    ContainsMetadataService {
        addr: IpAddr,
    },
    /// A range holding another NIC's address.
    ContainsAddress {
        mac: Mac,
        addr: IpAddr,
    },
    /// A range holding a NIC's whole subnet.
    ContainsSubnet {
        mac: Mac,
        subnet: IpNet,
    },
    /// A range shorter than /8 (IPv4) or /32 (IPv6).
    TooWide {
        min: u8,
    },
    /// `0.0.0.0/0` or `::/0`: every destination.
    EveryDestination,
    /// The same address is listed on another NIC too (refused on both).
    OnTwoNics {
        other: Mac,
    },
    MtuOutOfRange,
}

/// One refused item of one NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Refusal {
    pub mac: Mac,
    #[serde(flatten)]
    pub item: Item,
    #[serde(flatten)]
    pub reason: Reason,
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Address { addr } => write!(f, "address {addr}"),
            Item::AliasRange { net } => write!(f, "alias range {net}"),
            Item::Forwarded { net } => write!(f, "forwarded IP {net}"),
            Item::Mtu { mtu } => write!(f, "MTU {mtu}"),
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Loopback => f.write_str("a loopback address"),
            Reason::Unspecified => f.write_str("the unspecified address"),
            Reason::Multicast => f.write_str("a multicast address"),
            Reason::Broadcast => f.write_str("a broadcast address"),
            Reason::LinkLocal => f.write_str("a link-local address"),
            Reason::MetadataService { addr } => {
                write!(f, "the metadata service's address {addr}")
            }
            Reason::Gateway { mac } => write!(f, "the gateway of NIC {mac}"),
            Reason::ContainsGateway { mac, gateway } => {
                write!(f, "contains {gateway}, the gateway of NIC {mac}")
            }
            Reason::ContainsMetadataService { addr } => {
                write!(f, "contains the metadata service's address {addr}")
            }
            Reason::ContainsAddress { mac, addr } => {
                write!(f, "contains {addr}, an address of NIC {mac}")
            }
            Reason::ContainsSubnet { mac, subnet } => {
                write!(f, "contains {subnet}, the whole subnet of NIC {mac}")
            }
            Reason::TooWide { min } => write!(f, "wider than /{min}"),
            Reason::EveryDestination => f.write_str("every destination"),
            Reason::OnTwoNics { other } => write!(f, "also listed on NIC {other}"),
            Reason::MtuOutOfRange => write!(f, "outside {MTU_MIN}–{MTU_MAX}"),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} refused: {}", self.item, self.reason)
    }
}

/// The NICs with every refused item taken out, and what was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gated {
    pub nics: Vec<Nic>,
    pub refused: Vec<Refusal>,
}

/// The gate. Pure; the order of NICs and of the items kept is the metadata's.
pub fn gate(nics: &[Nic]) -> Gated {
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

/// What every item is checked against: each NIC's gateways, addresses and subnets.
struct Facts {
    gateways: Vec<(Mac, IpAddr)>,
    addresses: Vec<(Mac, IpAddr)>,
    subnets: Vec<(Mac, IpNet)>,
    /// Each address and the first NIC that lists it, when a second one lists it too.
    on_two: HashMap<IpAddr, Vec<Mac>>,
}

impl Facts {
    fn of(nics: &[Nic]) -> Facts {
        let mut facts = Facts {
            gateways: Vec::new(),
            addresses: Vec::new(),
            subnets: Vec::new(),
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
            let subnets = nic.subnet4.map(IpNet::V4).into_iter();
            let subnets = subnets
                .chain(nic.subnet6.map(IpNet::V6))
                .chain(routed.clone().map(|r| IpNet::V4(r.addr.network())));
            facts.subnets.extend(subnets.map(|s| (mac, s)));
            let mut own: Vec<IpAddr> = addresses(nic).map(|a| a.addr()).collect();
            own.sort_unstable();
            own.dedup();
            for addr in own {
                facts.addresses.push((mac, addr));
                facts.on_two.entry(addr).or_default().push(mac);
            }
        }
        facts.on_two.retain(|_, macs| macs.len() > 1);
        facts
    }
}

/// Every address of a NIC with its prefix, IPv4 (own subnet ones too) then IPv6.
fn addresses(nic: &Nic) -> impl Iterator<Item = IpNet> + '_ {
    let v4 = nic.ipv4.iter().map(|n| IpNet::V4(*n));
    let routed = nic.routed_ipv4.iter().map(|r| IpNet::V4(r.addr));
    v4.chain(routed)
        .chain(nic.ipv6.iter().map(|n| IpNet::V6(*n)))
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
        refuse(Item::Address { addr }, address_problem(mac, addr, facts))
    });
    out.ipv6.retain(|n| {
        let addr = IpNet::V6(*n);
        refuse(Item::Address { addr }, address_problem(mac, addr, facts))
    });
    out.ip_ranges.retain(|net| {
        let reason = range_problem(mac, *net, facts);
        refuse(Item::AliasRange { net: *net }, reason)
    });
    out.forwarded.retain(|net| {
        let reason = range_problem(mac, *net, facts);
        refuse(Item::Forwarded { net: *net }, reason)
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

/// The address classes no NIC may hold, whatever the cloud.
fn special(ip: IpAddr) -> Option<Reason> {
    if METADATA_ADDRESSES.contains(&ip) {
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

/// Why an alias or forwarded range of the NIC `mac` may not become local, if it may not.
fn range_problem(mac: Mac, net: IpNet, facts: &Facts) -> Option<Reason> {
    if net.prefix() == 0 {
        return Some(Reason::EveryDestination);
    }
    let min = match net {
        IpNet::V4(_) => RANGE_PREFIX_MIN_V4,
        IpNet::V6(_) => RANGE_PREFIX_MIN_V6,
    };
    if net.prefix() < min {
        return Some(Reason::TooWide { min });
    }
    if let Some(addr) = METADATA_ADDRESSES.iter().find(|a| contains(net, **a)) {
        return Some(Reason::ContainsMetadataService { addr: *addr });
    }
    if let Some(reason) = special_block_overlap(net) {
        return Some(reason);
    }
    if let Some((owner, gateway)) = facts.gateways.iter().find(|(_, g)| contains(net, *g)) {
        return Some(Reason::ContainsGateway {
            mac: *owner,
            gateway: *gateway,
        });
    }
    let others = facts.addresses.iter().filter(|(owner, _)| *owner != mac);
    if let Some((owner, addr)) = others.clone().find(|(_, a)| contains(net, *a)) {
        return Some(Reason::ContainsAddress {
            mac: *owner,
            addr: *addr,
        });
    }
    let (owner, subnet) = facts.subnets.iter().find(|(_, s)| contains_net(net, *s))?;
    Some(Reason::ContainsSubnet {
        mac: *owner,
        subnet: *subnet,
    })
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
fn contains(net: IpNet, ip: IpAddr) -> bool {
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

#[cfg(test)]
mod tests;
