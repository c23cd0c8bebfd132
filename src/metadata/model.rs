//! The common metadata model every provider parses into (`Instance`, `Nic`), built from the
//! checked value types of `crate::net`.

use super::error::ParseError;
use crate::net::{IpNet, Ipv4Net, Ipv6Net, Mac, ProviderKind};
use serde::Serialize;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// One network interface as the metadata describes it, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nic {
    pub mac: Mac,
    /// Device index: position in the list (Azure, GCP) or 100 × network-card + device-number
    /// (EC2). Index 0 is the primary NIC.
    pub index: u32,
    /// IPv4 addresses with the subnet's prefix, the NIC's primary address first. An address
    /// outside every listed subnet gets /32.
    pub ipv4: Vec<Ipv4Net>,
    pub gateway4: Option<Ipv4Addr>,
    /// The IPv4 subnet (network address and prefix).
    pub subnet4: Option<Ipv4Net>,
    pub ipv6: Vec<Ipv6Net>,
    pub gateway6: Option<Ipv6Addr>,
    pub subnet6: Option<Ipv6Net>,
    pub mtu: Option<u32>,
    /// Alias IP ranges routed to this NIC (GCP `ipAliases`): `local` routes, not addresses.
    pub ip_ranges: Vec<IpNet>,
    /// Forwarded IPs (GCP load-balancer VIPs): `local` routes, not addresses.
    pub forwarded: Vec<IpNet>,
    /// Prefixes delegated to this NIC (EC2 `ipv4-prefix`, `ipv6-prefix`): source and
    /// destination rules into the NIC's table, never addresses.
    pub delegated_prefixes: Vec<IpNet>,
    /// Public addresses mapped to this NIC by the cloud's 1:1 NAT (Azure's public IPs, GCP's
    /// external IPs, DigitalOcean's reserved IP): informational, never configured.
    pub public_ipv4s: Vec<Ipv4Addr>,
    /// This NIC is a VLAN on another NIC's link, which the daemon creates (OCI bare metal's
    /// secondary VNICs). None for every NIC with a link of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan: Option<Vlan>,
    /// IPv4 addresses in a subnet of their own behind a gateway of their own, beside the NIC's
    /// subnet (DigitalOcean's anchor IP): each gets a routing table of its own.
    pub routed_ipv4: Vec<RoutedIpv4>,
    /// Why this NIC's entry could not be read (a malformed field, named by its path): it is
    /// "unknown this round", so nothing on it is added or removed. Its other fields are
    /// empty. The rest of the reply is used as usual.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
}

/// An 802.1Q VLAN a NIC lives on: the parent NIC's MAC and the VLAN id (1 to 4094).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Vlan {
    pub parent: Mac,
    pub id: u16,
}

/// An address with its own subnet (the prefix of `addr`) and gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RoutedIpv4 {
    pub addr: Ipv4Net,
    pub gateway: Ipv4Addr,
}

impl Nic {
    /// Sorts NICs by device index, keeping the order of equal indexes (one sort for every
    /// provider that needs it).
    pub fn sort_by_index(nics: &mut [Nic]) {
        nics.sort_by_key(|nic| nic.index);
    }

    /// A NIC with a MAC and an index and nothing else, for parsers to fill in.
    pub fn new(mac: Mac, index: u32) -> Self {
        Nic {
            mac,
            index,
            ipv4: Vec::new(),
            gateway4: None,
            subnet4: None,
            ipv6: Vec::new(),
            gateway6: None,
            subnet6: None,
            mtu: None,
            ip_ranges: Vec::new(),
            forwarded: Vec::new(),
            delegated_prefixes: Vec::new(),
            public_ipv4s: Vec::new(),
            vlan: None,
            routed_ipv4: Vec::new(),
            unreadable: None,
        }
    }

    /// `nic` filled in by `fill`, or, when `fill` fails on a malformed field, `nic` as it is
    /// (MAC and index only) marked unreadable with the error: one bad NIC never blocks the
    /// others.
    pub fn filled(nic: Nic, fill: impl FnOnce(&mut Nic) -> Result<(), ParseError>) -> Nic {
        let mut filled = nic.clone();
        match fill(&mut filled) {
            Ok(()) => filled,
            Err(error) => Nic {
                unreadable: Some(error.to_string()),
                ..nic
            },
        }
    }
}

/// One instance's metadata, normalized. `raw` keeps the provider's document for the API's
/// system view, shared (the instance is cloned on every round; the document is the biggest
/// part of it).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    pub provider: ProviderKind,
    pub instance_id: String,
    /// Region (EC2, GCP zone's region) or location (Azure).
    pub location: String,
    pub nics: Vec<Nic>,
    #[serde(skip)]
    pub raw: Arc<serde_json::Value>,
}

impl Instance {
    pub fn nic_by_mac(&self, mac: Mac) -> Option<&Nic> {
        self.nics.iter().find(|n| n.mac == mac)
    }

    /// Takes `held` as its document when the two are equal: a refresh that changed nothing
    /// keeps one copy of the document alive, not one per holder.
    pub fn share_document(&mut self, held: &Arc<serde_json::Value>) {
        if !Arc::ptr_eq(&self.raw, held) && *self.raw == **held {
            self.raw = Arc::clone(held);
        }
    }
}

/// For parser tests: the error refusing the whole reply, or else that of its first unreadable
/// NIC (None when every NIC was read).
#[cfg(test)]
pub(crate) fn first_error(result: Result<Vec<Nic>, ParseError>) -> Option<String> {
    match result {
        Err(error) => Some(error.to_string()),
        Ok(nics) => nics.into_iter().find_map(|n| n.unreadable),
    }
}

/// For parser tests: each case's body, read by `parse`, gives its expected error first
/// (see [`first_error`]); the case's name says which failed.
#[cfg(test)]
pub(crate) fn assert_first_errors(
    cases: Vec<(&str, String, ParseError)>,
    parse: impl Fn(&str) -> Result<Vec<Nic>, ParseError>,
) {
    for (name, body, expected) in cases {
        let got = first_error(parse(&body));
        assert_eq!(got, Some(expected.to_string()), "{name}");
    }
}
