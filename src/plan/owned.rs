//! The ownership record: what *we* added to the kernel, per NIC (by MAC), so that a restart
//! knows what it may remove, and how a lost record is rebuilt from what is found. Only data and
//! pure updates live here; the daemon stores it as JSON in the state directory.

use super::desired::Desired;
use super::index::KernelIndex;
use crate::kernel::{Address, Change, KernelState, Route, Rule, RTPROT_CLOUD_NETWORK};
use crate::net::{IpNet, Mac};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// What we added on one NIC.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedNic {
    /// The link's index when we last configured it.
    pub ifindex: u32,
    pub addresses: BTreeSet<OwnedAddress>,
    pub routes: BTreeSet<Route>,
    pub rules: BTreeSet<Rule>,
    /// The VLAN link we created for this NIC (OCI bare metal); only such a link is ever deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<OwnedVlan>,
}

/// A VLAN link we created: its name when created and its VLAN id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnedVlan {
    pub name: String,
    pub id: u16,
}

/// An address we added: the link and the address with its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct OwnedAddress {
    pub ifindex: u32,
    pub addr: IpNet,
}

impl OwnedNic {
    fn is_empty(&self) -> bool {
        self.addresses.is_empty()
            && self.routes.is_empty()
            && self.rules.is_empty()
            && self.vlan.is_none()
    }
}

/// The whole record. `version` lets a later release read an older file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owned {
    pub version: u32,
    pub nics: BTreeMap<Mac, OwnedNic>,
    /// Rules that belong to no NIC (metadata traffic pinned to the main table).
    pub global_rules: BTreeSet<Rule>,
}

impl Default for Owned {
    fn default() -> Self {
        Owned {
            version: 1,
            nics: BTreeMap::new(),
            global_rules: BTreeSet::new(),
        }
    }
}

impl Owned {
    pub fn is_empty(&self) -> bool {
        self.nics.is_empty() && self.global_rules.is_empty()
    }

    /// How many addresses, routes and rules the record holds.
    pub fn len(&self) -> usize {
        let per_nic: usize = self
            .nics
            .values()
            .map(|n| n.addresses.len() + n.routes.len() + n.rules.len())
            .sum();
        per_nic + self.global_rules.len()
    }

    /// Rebuilds a record that was lost (a corrupt file) from the kernel: a VLAN link is never
    /// adopted (it would then be deleted with its NIC), and any other object is taken as
    /// ours only when it is exactly what `desired` wants and carries the marks we add it with —
    /// an address with `noprefixroute` and infinite lifetimes, a route with our protocol (201)
    /// in our table or the local table, a rule at our priority pointing at our table (the
    /// desired rules are exactly those). Anything the metadata no longer lists is not adopted,
    /// so it is never removed: a lost record can only make us remove less.
    pub fn adopt(desired: &Desired, kernel: &KernelState) -> Owned {
        let index = KernelIndex::new(kernel);
        let mut owned = Owned {
            global_rules: desired
                .global_rules
                .iter()
                .filter(|r| index.has_rule(r))
                .cloned()
                .collect(),
            ..Owned::default()
        };
        for nic in &desired.nics {
            let found = OwnedNic {
                ifindex: nic.ifindex,
                addresses: nic
                    .addresses
                    .iter()
                    .filter(|a| kernel.addresses.iter().any(|k| added_by_us(k, a)))
                    .map(owned_address)
                    .collect(),
                routes: nic
                    .routes
                    .iter()
                    .filter(|r| r.protocol == RTPROT_CLOUD_NETWORK && index.has_route(r))
                    .cloned()
                    .collect(),
                rules: nic
                    .rules
                    .iter()
                    .filter(|r| index.has_rule(r))
                    .cloned()
                    .collect(),
                vlan: None,
            };
            if !found.is_empty() {
                owned.nics.insert(nic.mac, found);
            }
        }
        owned
    }

    /// Forgets what is no longer in the kernel: objects deleted from outside (they are added
    /// again if still desired) and everything that went with a vanished link.
    pub fn prune(&self, kernel: &KernelState) -> Owned {
        let kernel = KernelIndex::new(kernel);
        let mut pruned = Owned {
            global_rules: self
                .global_rules
                .iter()
                .filter(|r| kernel.has_rule(r))
                .cloned()
                .collect(),
            ..Owned::default()
        };
        for (mac, nic) in &self.nics {
            let kept = OwnedNic {
                ifindex: nic.ifindex,
                addresses: nic
                    .addresses
                    .iter()
                    .filter(|a| kernel.has_address(a.ifindex, a.addr))
                    .copied()
                    .collect(),
                routes: nic
                    .routes
                    .iter()
                    .filter(|r| kernel.has_route(r))
                    .cloned()
                    .collect(),
                rules: nic
                    .rules
                    .iter()
                    .filter(|r| kernel.has_rule(r))
                    .cloned()
                    .collect(),
                vlan: nic
                    .vlan
                    .clone()
                    .filter(|_| kernel.vlan_link(*mac).is_some()),
            };
            if !kept.is_empty() {
                pruned.nics.insert(*mac, kept);
            }
        }
        pruned
    }

    /// Records one change that the kernel accepted, made for `nic` (None: a global rule).
    pub fn record(&mut self, nic: Option<(Mac, u32)>, change: &Change) {
        let Some((mac, ifindex)) = nic else {
            match change {
                Change::AddRule(r) => self.global_rules.insert(r.clone()),
                Change::DelRule(r) => self.global_rules.remove(r),
                _ => false,
            };
            return;
        };
        let entry = self.nics.entry(mac).or_default();
        entry.ifindex = ifindex;
        match change {
            Change::AddAddress(a) => entry.addresses.insert(owned_address(a)),
            Change::DelAddress(a) => entry.addresses.remove(&owned_address(a)),
            Change::AddRoute(r) => entry.routes.insert(r.clone()),
            Change::DelRoute(r) => entry.routes.remove(r),
            Change::AddRule(r) => entry.rules.insert(r.clone()),
            Change::DelRule(r) => entry.rules.remove(r),
            Change::AddVlan { name, id, .. } => {
                let created = OwnedVlan {
                    name: name.clone(),
                    id: *id,
                };
                entry.vlan.replace(created).is_none()
            }
            Change::DelVlan { .. } => {
                // The kernel takes the link's addresses and routes with it.
                entry.addresses.clear();
                entry.routes.clear();
                entry.vlan.take().is_some()
            }
            Change::LinkUp { .. } | Change::SetMtu { .. } | Change::PromoteSecondaries { .. } => {
                false
            }
        };
        if entry.is_empty() {
            self.nics.remove(&mac);
        }
    }
}

/// `found` is the `wanted` address (same link, IP and prefix) as we add it: `noprefixroute`,
/// valid and preferred forever. DHCP's lease and hand-made addresses lack these marks.
fn added_by_us(found: &Address, wanted: &Address) -> bool {
    found.ifindex == wanted.ifindex
        && found.addr == wanted.addr
        && found.noprefixroute
        && found.valid_lft == u32::MAX
        && found.preferred_lft == u32::MAX
}

pub fn owned_address(a: &Address) -> OwnedAddress {
    OwnedAddress {
        ifindex: a.ifindex,
        addr: a.addr,
    }
}
