//! The ownership record: what *we* added to the kernel, per NIC (by MAC), so that a restart
//! knows what it may remove, and how a lost record is rebuilt from what is found. A record is
//! a claim, not proof: only an entry whose kernel object carries our marks (`vet`) may be
//! removed. What a batch will add is claimed before the batch is sent (`claiming`), so a crash
//! mid-batch leaves nothing of ours unnamed. The record's data is `record`'s; its pure updates
//! live here; the daemon stores it as JSON in the state directory.

use super::desired::optout::Released;
use super::desired::{Desired, MAIN_RULE_PRIORITY};
use super::diff::PlannedChange;
use super::index::{FastMap, KernelIndex};
pub use super::record::{inserted, owned_address, Owned, OwnedAddress, OwnedNic, OwnedVlan};
use super::settings::PlanSettings;
use crate::kernel::{
    Address, Change, KernelState, Route, Rule, RTPROT_CLOUD_NETWORK, TABLE_LOCAL, TABLE_MAIN,
};
use crate::net::{IpNet, Mac};
use std::collections::BTreeSet;

impl Owned {
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
                .fold(BTreeSet::new(), inserted),
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
                    .fold(BTreeSet::new(), inserted),
                routes: nic
                    .routes
                    .iter()
                    .filter(|r| r.protocol == RTPROT_CLOUD_NETWORK && index.has_route(r))
                    .cloned()
                    .fold(BTreeSet::new(), inserted),
                rules: nic
                    .rules
                    .iter()
                    .filter(|r| index.has_rule(r))
                    .cloned()
                    .fold(BTreeSet::new(), inserted),
                vlan: None,
                group: nic
                    .group
                    .filter(|g| link_group(&index, nic.ifindex) == Some(*g)),
            };
            if !found.is_empty() {
                owned.nics.insert(nic.mac, found);
            }
        }
        owned
    }

    /// Forgets what is no longer in the kernel: objects deleted from outside (they are added
    /// again if still desired) and everything that went with a vanished link.
    pub fn prune(&self, kernel: &KernelIndex) -> Owned {
        let mut pruned = Owned {
            global_rules: present(&self.global_rules, |r| kernel.has_rule(r)),
            ..Owned::default()
        };
        for (mac, nic) in &self.nics {
            let kept = OwnedNic {
                ifindex: nic.ifindex,
                addresses: present(&nic.addresses, |a| kernel.has_address(a.ifindex, a.addr)),
                routes: present(&nic.routes, |r| kernel.has_route(r)),
                rules: present(&nic.rules, |r| kernel.has_rule(r)),
                vlan: nic
                    .vlan
                    .clone()
                    .filter(|_| kernel.vlan_link(*mac).is_some()),
                group: nic
                    .group
                    .filter(|g| link_group(kernel, nic.ifindex) == Some(*g)),
            };
            if !kept.is_empty() {
                pruned.nics.insert(*mac, kept);
            }
        }
        pruned
    }

    /// Forgets what the opt-outs released (`desired::optout::Released`): every entry of a NIC left
    /// alone, and each object the plan no longer wants because of an opt-out. Nothing is
    /// deleted for it: what was ours there is someone else's from now on.
    pub fn release(mut self, released: &Released) -> Owned {
        self.nics.retain(|mac, _| !released.nics.contains(mac));
        let objects = &released.objects;
        self.global_rules
            .retain(|r| !objects.global_rules.contains(r));
        for (mac, gone) in &objects.nics {
            if let Some(nic) = self.nics.get_mut(mac) {
                nic.addresses.retain(|a| !gone.addresses.contains(a));
                nic.routes.retain(|r| !gone.routes.contains(r));
                nic.rules.retain(|r| !gone.rules.contains(r));
                if gone.group.is_some() {
                    nic.group = None;
                }
            }
        }
        self.nics.retain(|_, nic| !nic.is_empty());
        self
    }

    /// Keeps only the entries whose kernel objects carry our marks (see [`Marks`]); `self`
    /// must be pruned against `kernel` already. Each entry dropped comes back as the delete
    /// that will never be sent, with why: a tampered or mistaken record cannot make us delete
    /// the main table's routes, a rule outside our priorities or DHCP's address.
    pub fn vet(mut self, kernel: &KernelState, settings: &PlanSettings) -> (Owned, Vec<Disowned>) {
        let marks = Marks::new(kernel, settings);
        let mut refused = Vec::new();
        let mut keep_rule = |rule: &Rule| match marks.rule(rule) {
            Ok(()) => true,
            Err(reason) => {
                refused.push(Disowned::new(Change::DelRule(rule.clone()), reason));
                false
            }
        };
        self.global_rules.retain(&mut keep_rule);
        for nic in self.nics.values_mut() {
            nic.rules.retain(&mut keep_rule);
        }
        for nic in self.nics.values_mut() {
            nic.routes.retain(|route| match marks.route(route) {
                Ok(()) => true,
                Err(reason) => {
                    refused.push(Disowned::new(Change::DelRoute(route.clone()), reason));
                    false
                }
            });
            nic.addresses.retain(|a| match marks.address(a) {
                Ok(()) => true,
                Err((found, reason)) => {
                    refused.push(Disowned::new(Change::DelAddress(found.clone()), reason));
                    false
                }
            });
        }
        self.nics.retain(|_, nic| !nic.is_empty());
        (self, refused)
    }

    /// The record as it will be once the kernel takes every add of `changes`; None when the
    /// batch adds nothing. Saved before the batch is sent, it names everything the kernel may
    /// hold of ours after a crash mid-batch (what was never added is pruned at the next start);
    /// deletes are recorded after the batch, from the kernel's answers.
    pub fn claiming(&self, changes: &[PlannedChange]) -> Option<Owned> {
        let mut adds = changes.iter().filter(|p| claims(&p.change)).peekable();
        adds.peek()?;
        let mut claimed = self.clone();
        for planned in adds {
            claimed.record(planned.nic.map(|n| (n.mac, n.ifindex)), &planned.change);
        }
        Some(claimed)
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
            Change::AddRoute(r) | Change::AdoptRoute(r) => entry.routes.insert(r.clone()),
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
                // The kernel takes the link's addresses, routes and group with it.
                entry.addresses.clear();
                entry.routes.clear();
                entry.group = None;
                entry.vlan.take().is_some()
            }
            Change::SetGroup { group: 0, .. } => entry.group.take().is_some(),
            Change::SetGroup { group, .. } => entry.group.replace(*group).is_none(),
            Change::LinkUp { .. } | Change::SetMtu { .. } | Change::PromoteSecondaries { .. } => {
                false
            }
        };
        if entry.is_empty() {
            self.nics.remove(&mac);
        }
    }
}

/// A change that makes an object ours.
fn claims(change: &Change) -> bool {
    match change {
        Change::AddAddress(_)
        | Change::AddRoute(_)
        | Change::AdoptRoute(_)
        | Change::AddRule(_)
        | Change::AddVlan { .. } => true,
        Change::SetGroup { group, .. } => *group != 0,
        _ => false,
    }
}

/// The members of `set` still in the kernel: the set itself when all are (a quiet round
/// copies it whole), else rebuilt from those that are.
fn present<T: Ord + Clone>(set: &BTreeSet<T>, in_kernel: impl Fn(&T) -> bool) -> BTreeSet<T> {
    if set.iter().all(&in_kernel) {
        return set.clone();
    }
    set.iter()
        .filter(|item| in_kernel(item))
        .cloned()
        .fold(BTreeSet::new(), inserted)
}

/// The interface group of the link `ifindex`, when it exists.
fn link_group(kernel: &KernelIndex, ifindex: u32) -> Option<u32> {
    kernel.link(ifindex).map(|l| l.group)
}

/// A record entry refused by [`Owned::vet`]: the delete it would have led to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disowned {
    pub delete: Change,
    pub reason: &'static str,
}

impl Disowned {
    fn new(delete: Change, reason: &'static str) -> Disowned {
        Disowned { delete, reason }
    }
}

/// What makes a kernel object ours, beyond the record naming it: routes of our protocol (201)
/// in our tables (from `RouteTableBase` up) or the local table; rules between
/// `RulePriorityBase - 1` and the main rule (32766) that point at our tables, or, at
/// `RulePriorityBase - 1` only, at the main table (the main rule, and the metadata pins of
/// releases before it); addresses with
/// `noprefixroute` and infinite lifetimes.
struct Marks<'a> {
    settings: &'a PlanSettings,
    /// The kernel's addresses without our marks (DHCP's, link-local, hand-made): a few.
    unmarked: FastMap<(u32, IpNet), &'a Address>,
}

impl<'a> Marks<'a> {
    fn new(kernel: &'a KernelState, settings: &'a PlanSettings) -> Marks<'a> {
        Marks {
            settings,
            unmarked: kernel
                .addresses
                .iter()
                .filter(|a| !added_by_us(a, a))
                .map(|a| ((a.ifindex, a.addr), a))
                .collect(),
        }
    }

    fn our_table(&self, table: u32) -> bool {
        table >= self.settings.table_base && !matches!(table, TABLE_MAIN | TABLE_LOCAL)
    }

    fn route(&self, route: &Route) -> Result<(), &'static str> {
        if route.protocol != RTPROT_CLOUD_NETWORK {
            return Err("a route of another protocol than ours (201)");
        }
        if route.table != TABLE_LOCAL && !self.our_table(route.table) {
            return Err("a route outside our tables and the local table");
        }
        Ok(())
    }

    fn rule(&self, rule: &Rule) -> Result<(), &'static str> {
        let metadata_priority = self.settings.priority_base.saturating_sub(1);
        if rule.priority < metadata_priority || rule.priority >= MAIN_RULE_PRIORITY {
            return Err("a rule outside our priorities");
        }
        let metadata_rule = rule.priority == metadata_priority && rule.table == TABLE_MAIN;
        if !metadata_rule && !self.our_table(rule.table) {
            return Err("a rule pointing at a table not ours");
        }
        Ok(())
    }

    /// Ok when the kernel's address carries our marks; else the address with why not.
    fn address(&self, owned: &OwnedAddress) -> Result<(), (&'a Address, &'static str)> {
        let Some(found) = self.unmarked.get(&(owned.ifindex, owned.addr)) else {
            return Ok(());
        };
        Err((
            found,
            "an address without noprefixroute or with a finite lifetime (DHCP's or hand-made)",
        ))
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
