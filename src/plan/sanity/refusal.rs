//! What the sanity gate refuses, and why: the item of a NIC, the reason, and the one line
//! each reads as (the log, the status, `cnctl check`).

use super::{MTU_MAX, MTU_MIN};
use crate::net::{IpNet, Mac};
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// What of a NIC was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "item", rename_all = "snake_case")]
pub enum Item {
    /// An address (IPv4 or IPv6).
    Address {
        addr: IpNet,
    },
    /// An address with its own subnet and gateway (DigitalOcean's anchor IP).
    RoutedAddress {
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
    /// A prefix delegated to the NIC (EC2 `ipv4-prefix`, `ipv6-prefix`).
    DelegatedPrefix {
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
    /// A range holding another NIC's address (or, for a delegated prefix, any NIC's).
    ContainsAddress {
        mac: Mac,
        addr: IpAddr,
    },
    /// A range holding a NIC's whole subnet.
    ContainsSubnet {
        mac: Mac,
        subnet: IpNet,
    },
    /// A range too wide for its kind: shorter than /8 (IPv4) or /32 (IPv6), /96 for a
    /// forwarded IPv6 range (GCP's IPv6 forwarding rules are /96).
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
    /// A delegated prefix outside its NIC's subnet.
    OutsideSubnet,
    /// A delegated prefix holding one of the addresses the cloud keeps in a NIC's subnet: the
    /// network address, the three after it (router, DNS, reserved) and the last one.
    ContainsReserved {
        mac: Mac,
        addr: IpAddr,
    },
    /// An IPv6 range outside the blocks a cloud hands out (global unicast 2000::/3, unique
    /// local fc00::/7): NAT64's 64:ff9b::/96, IPv4-mapped ::ffff:0:0/96, and the like.
    NotUnicast,
    /// An address with its own gateway outside the private blocks (RFC 1918).
    NotPrivate,
    /// An address with its own gateway that is already an address of a NIC.
    NicAddress {
        mac: Mac,
    },
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
            Item::RoutedAddress { addr } => write!(f, "address {addr} with its own gateway"),
            Item::AliasRange { net } => write!(f, "alias range {net}"),
            Item::Forwarded { net } => write!(f, "forwarded IP {net}"),
            Item::DelegatedPrefix { net } => write!(f, "delegated prefix {net}"),
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
            Reason::OutsideSubnet => f.write_str("outside the NIC's subnet"),
            Reason::ContainsReserved { mac, addr } => write!(
                f,
                "contains {addr}, an address the cloud reserves in the subnet of NIC {mac}"
            ),
            Reason::NotUnicast => {
                f.write_str("outside the unicast blocks a cloud hands out (2000::/3, fc00::/7)")
            }
            Reason::NotPrivate => f.write_str("not a private address (RFC 1918)"),
            Reason::NicAddress { mac } => write!(f, "already an address of NIC {mac}"),
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} refused: {}", self.item, self.reason)
    }
}

impl Reason {
    /// The reason as a label: its JSON name (`too_wide`, ...), as the metrics count it.
    pub fn label(&self) -> &'static str {
        match self {
            Reason::Loopback => "loopback",
            Reason::Unspecified => "unspecified",
            Reason::Multicast => "multicast",
            Reason::Broadcast => "broadcast",
            Reason::LinkLocal => "link_local",
            Reason::MetadataService { .. } => "metadata_service",
            Reason::Gateway { .. } => "gateway",
            Reason::ContainsGateway { .. } => "contains_gateway",
            Reason::ContainsMetadataService { .. } => "contains_metadata_service",
            Reason::ContainsAddress { .. } => "contains_address",
            Reason::ContainsSubnet { .. } => "contains_subnet",
            Reason::TooWide { .. } => "too_wide",
            Reason::EveryDestination => "every_destination",
            Reason::OnTwoNics { .. } => "on_two_nics",
            Reason::MtuOutOfRange => "mtu_out_of_range",
            Reason::OutsideSubnet => "outside_subnet",
            Reason::ContainsReserved { .. } => "contains_reserved",
            Reason::NotUnicast => "not_unicast",
            Reason::NotPrivate => "not_private",
            Reason::NicAddress { .. } => "nic_address",
        }
    }
}
