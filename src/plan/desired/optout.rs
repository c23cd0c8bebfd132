//! The operator's opt-outs (`[Network] IgnoreInterfaces`, `IgnoreMACs`, `IgnoreDeviceIndexes`,
//! `SecondaryAddresses`, `AliasRanges`, `ForwardedIPs`, `DelegatedPrefixes`, `PolicyRouting`)
//! and GCP's `disable-address-manager`, applied as a pure step: the model is filtered before
//! the desired state is planned from it, policy routing is taken out of the plan after, and
//! what the plan without the opt-outs would have wanted but the plan with them does not is
//! named as released: the ownership record forgets it (`Owned::release`), so nothing of ours
//! that someone else now owns (a CNI's pod addresses, the cloud's agent's routes) is deleted.
use super::{match_link, Desired};
use crate::kernel::{Link, TABLE_LOCAL};
use crate::metadata::{Instance, Nic};
use crate::net::Mac;
use crate::plan::record::{inserted, owned_address, Owned, OwnedNic};
use crate::plan::settings::OptOuts;
use serde::Serialize;
use std::collections::BTreeSet;

/// What the opt-outs took from a plan: the record forgets these, never deletes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Released {
    /// NICs left alone: every entry of theirs is dropped.
    pub nics: BTreeSet<Mac>,
    /// Objects the plan without the opt-outs wants and the plan with them does not.
    #[serde(skip)]
    pub objects: Owned,
}

impl Released {
    pub fn is_empty(&self) -> bool {
        self.nics.is_empty() && self.objects.is_empty()
    }
}

/// The model with the opt-outs applied, and the NICs they leave alone.
pub(crate) struct Filtered {
    pub instance: Instance,
    pub excluded: BTreeSet<Mac>,
}

/// Applies the NIC and item opt-outs to `instance`. `agent_off`: the cloud's own agent's
/// settings keep alias ranges and forwarded IPs off (`Profile::agent_disables_ranges`: GCP's
/// `disable-address-manager`, as google-guest-agent reads it).
pub(crate) fn filter(
    instance: &Instance,
    links: &[Link],
    optouts: &OptOuts,
    agent_off: bool,
) -> Filtered {
    let mut filtered = instance.clone();
    let excluded: BTreeSet<Mac> = instance
        .nics
        .iter()
        .filter(|nic| left_alone(nic, links, optouts))
        .map(|nic| nic.mac)
        .fold(BTreeSet::new(), inserted);
    filtered.nics.retain(|nic| !excluded.contains(&nic.mac));
    for nic in filtered.nics.iter_mut().filter(|n| n.unreadable.is_none()) {
        if !optouts.secondary_addresses {
            nic.ipv4.truncate(1);
            nic.ipv6.truncate(1);
        }
        if !optouts.alias_ranges || agent_off {
            nic.ip_ranges.clear();
        }
        if !optouts.forwarded_ips || agent_off {
            nic.forwarded.clear();
        }
        if !optouts.delegated_prefixes {
            nic.delegated_prefixes.clear();
        }
    }
    Filtered {
        instance: filtered,
        excluded,
    }
}

/// Whether the NIC is named, by MAC, device index or its link's name, as one to leave alone.
fn left_alone(nic: &Nic, links: &[Link], optouts: &OptOuts) -> bool {
    optouts.macs.contains(&nic.mac)
        || optouts
            .device_indexes
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&nic.index))
        || match_link(nic.mac, links).is_ok_and(|link| optouts.interfaces.contains(&link.name))
}

/// `desired` without policy routing when it is switched off: no NIC table, no rule; the local
/// routes of alias ranges and forwarded IPs stay.
pub(crate) fn without_policy_routing(mut desired: Desired) -> Desired {
    for nic in &mut desired.nics {
        nic.table = None;
        nic.rules.clear();
        nic.routes.retain(|route| route.table == TABLE_LOCAL);
    }
    desired.global_rules.clear();
    desired
}

/// What `full` (planned without the opt-outs) wants and `kept` (with them) does not, and the
/// NICs left alone.
pub(crate) fn released(full: &Desired, kept: &Desired, excluded: BTreeSet<Mac>) -> Released {
    let mut objects = Owned::default();
    for nic in full.nics.iter().filter(|n| !excluded.contains(&n.mac)) {
        let kept_nic = kept.nic(nic.mac);
        let entry = OwnedNic {
            ifindex: nic.ifindex,
            addresses: nic
                .addresses
                .iter()
                .filter(|a| kept_nic.is_none_or(|k| !k.addresses.contains(a)))
                .map(owned_address)
                .fold(BTreeSet::new(), inserted),
            routes: nic
                .routes
                .iter()
                .filter(|r| kept_nic.is_none_or(|k| !k.routes.contains(r)))
                .cloned()
                .fold(BTreeSet::new(), inserted),
            rules: nic
                .rules
                .iter()
                .filter(|r| kept_nic.is_none_or(|k| !k.rules.contains(r)))
                .cloned()
                .fold(BTreeSet::new(), inserted),
            vlan: None,
            group: nic
                .group
                .filter(|_| kept_nic.is_none_or(|k| k.group.is_none())),
        };
        if !entry.is_empty() {
            objects.nics.insert(nic.mac, entry);
        }
    }
    objects.global_rules = full
        .global_rules
        .iter()
        .filter(|r| !kept.global_rules.contains(r))
        .cloned()
        .fold(BTreeSet::new(), inserted);
    Released {
        nics: excluded,
        objects,
    }
}
