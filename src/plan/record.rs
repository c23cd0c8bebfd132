//! The ownership record's data: what *we* added to the kernel, per NIC (by MAC), as the state
//! directory stores it (JSON), and the few helpers that build its sets. How the record is
//! updated, vetted and rebuilt is `owned`'s; this file knows no other part of the plan, so the
//! desired state can name what the opt-outs release without depending on the diff.

use crate::kernel::{Address, Route, Rule};
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
    /// The interface group we put the link in (its own was 0, the default); set back to 0
    /// when we let the link go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<u32>,
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
    pub(super) fn is_empty(&self) -> bool {
        self.addresses.is_empty()
            && self.routes.is_empty()
            && self.rules.is_empty()
            && self.vlan.is_none()
            && self.group.is_none()
    }
}

/// The whole record. `version` lets a later release read an older file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owned {
    pub version: u32,
    pub nics: BTreeMap<Mac, OwnedNic>,
    /// Rules that belong to no NIC (the main rule; metadata pins in records of earlier releases).
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
}

/// `set` with `item` added: the sets of owned objects are built by folding with this, which
/// inserts one by one (collecting into a `BTreeSet` sorts a copy first, with a sort of its own
/// compiled for each element type).
pub fn inserted<T: Ord>(mut set: BTreeSet<T>, item: T) -> BTreeSet<T> {
    set.insert(item);
    set
}

pub fn owned_address(a: &Address) -> OwnedAddress {
    OwnedAddress {
        ifindex: a.ifindex,
        addr: a.addr,
    }
}
