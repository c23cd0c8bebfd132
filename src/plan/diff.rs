//! The diff: from the desired state, the kernel's state and the (pruned) ownership record, the
//! ordered list of changes. Deletes come first (rules, then routes, then addresses), each kind
//! in the order that spares the kernel work (rules first-listed first, addresses newest first),
//! and only ever touch what we own; adds follow (VLAN links, link up and MTU, addresses, routes, rules);
//! VLAN links we created and no longer want go last, after their rules. Every comparison of the
//! wish with the kernel is made here: a link is brought up when it is down and gets the MTU
//! wanted when its own differs.

use super::desired::{Desired, NicPlan, VlanPlan};
use super::index::{FastMap, FastSet, KernelIndex};
use super::owned::{owned_address, Owned, OwnedNic};
use super::ra;
use crate::kernel::{
    Address, Change, Family, KernelState, Link, Route, RouteType, Rule, RTPROT_GCE_AGENT,
    TABLE_MAIN,
};
use crate::net::{IpNet, Mac};
use serde::Serialize;
use std::net::IpAddr;

/// The NIC a change is made for, so the ownership record can file it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NicRef {
    pub mac: Mac,
    pub ifindex: u32,
}

impl NicRef {
    fn of(plan: &NicPlan) -> NicRef {
        NicRef {
            mac: plan.mac,
            ifindex: plan.ifindex,
        }
    }
}

/// One change with the NIC it belongs to (None: a global rule).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedChange {
    pub nic: Option<NicRef>,
    #[serde(flatten)]
    pub change: Change,
}

/// The changes in the order they must be applied, plus desired routes we leave alone because
/// a route that is not ours already holds their place.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Diff {
    pub changes: Vec<PlannedChange>,
    pub conflicts: Vec<Route>,
}

#[derive(Default)]
struct Stages {
    del_rules: Vec<PlannedChange>,
    del_routes: Vec<PlannedChange>,
    del_addresses: Vec<PlannedChange>,
    add_links: Vec<PlannedChange>,
    links: Vec<PlannedChange>,
    add_addresses: Vec<PlannedChange>,
    add_routes: Vec<PlannedChange>,
    add_rules: Vec<PlannedChange>,
    del_links: Vec<PlannedChange>,
}

impl Stages {
    fn into_changes(self) -> Vec<PlannedChange> {
        [
            self.del_rules,
            self.del_routes,
            self.del_addresses,
            self.add_links,
            self.links,
            self.add_addresses,
            self.add_routes,
            self.add_rules,
            self.del_links,
        ]
        .concat()
    }
}

fn planned(nic: Option<NicRef>, change: Change) -> PlannedChange {
    PlannedChange { nic, change }
}

fn add_vlan(vlan: &VlanPlan) -> Change {
    Change::AddVlan {
        name: vlan.name.clone(),
        parent: vlan.parent,
        parent_name: vlan.parent_name.clone(),
        mac: vlan.mac,
        id: vlan.id,
    }
}

/// The VLAN link we created for a NIC the metadata no longer lists, when it still exists.
fn unwanted_vlan<'a>(
    mac: Mac,
    owned: &OwnedNic,
    desired: &Desired,
    kernel: &KernelIndex<'a>,
) -> Option<&'a Link> {
    owned.vlan.as_ref()?;
    if desired.lists_vlan(mac) || desired.nic(mac).is_some() {
        return None;
    }
    kernel.vlan_link(mac)
}

/// Computes the changes. `owned` must already be pruned against `kernel` (`Owned::prune`).
/// Routes a NIC's table takes from the kernel (its link's RA-learned IPv6 default route, see
/// [`super::ra`]) are compared here, beside the metadata's.
pub fn diff(desired: &Desired, kernel: &KernelIndex, owned: &Owned) -> Diff {
    let desired = &*super::ra::followed(desired, kernel.state);
    let mut stages = Stages::default();
    let mut conflicts = Vec::new();
    for (mac, owned_nic) in &owned.nics {
        remove_unwanted(*mac, owned_nic, desired, kernel, &mut stages);
    }
    let unwanted_global = owned
        .global_rules
        .iter()
        .filter(|r| !desired.global_rules.contains(r));
    if !keeps_detached_rules(desired, kernel, owned) {
        for rule in unwanted_global {
            stages
                .del_rules
                .push(planned(None, Change::DelRule(rule.clone())));
        }
        release_groups(desired, kernel, owned, &mut stages);
    }
    for vlan in desired
        .vlans
        .iter()
        .filter(|v| kernel.vlan_link(v.mac).is_none())
    {
        let nic = NicRef {
            mac: vlan.mac,
            ifindex: vlan.parent,
        };
        stages.add_links.push(planned(Some(nic), add_vlan(vlan)));
    }
    let deleted = deleted_ips(&stages);
    let additions = Additions {
        kernel,
        owned,
        deleted: &deleted,
    };
    for nic in &desired.nics {
        additions.add_missing(nic, &mut stages, &mut conflicts);
    }
    for rule in &desired.global_rules {
        if !kernel.has_rule(rule) {
            stages
                .add_rules
                .push(planned(None, Change::AddRule(rule.clone())));
        }
    }
    in_kernel_order(&mut stages.del_rules, kernel.state);
    Diff {
        changes: stages.into_changes(),
        conflicts,
    }
}

/// Rule deletes in the order the kernel lists the rules (at one priority: the order added).
/// The kernel finds the rule to delete by walking its list from the start: taking the first
/// ones first, each is found at once (16,000 rules of one priority: 0.5 s this way, 8.9 s
/// backwards).
fn in_kernel_order(deletes: &mut [PlannedChange], kernel: &KernelState) {
    if deletes.is_empty() {
        return;
    }
    let position: FastMap<&Rule, usize> = kernel
        .rules
        .iter()
        .enumerate()
        .map(|(i, r)| (r, i))
        .collect();
    deletes.sort_by_key(|planned| match &planned.change {
        Change::DelRule(rule) => position.get(rule).copied().unwrap_or(usize::MAX),
        _ => usize::MAX,
    });
}

/// Deletes what we own on a NIC and no longer want. A NIC missing from the metadata whose link
/// still exists is left alone (it may be mid-detach); one whose link is gone loses its rules
/// (its addresses and routes went with the link).
fn remove_unwanted(
    mac: Mac,
    owned: &OwnedNic,
    desired: &Desired,
    kernel: &KernelIndex,
    stages: &mut Stages,
) {
    if desired.is_unknown(mac) {
        return;
    }
    let nic_ref = NicRef {
        mac,
        ifindex: owned.ifindex,
    };
    if let Some(link) = unwanted_vlan(mac, owned, desired, kernel) {
        remove_vlan_nic(mac, owned, link, stages);
        return;
    }
    match desired.nic(mac) {
        Some(plan) => remove_unwanted_on(plan, nic_ref, owned, kernel, stages),
        None if !kernel.has_link_with_mac(mac) => del_rules(nic_ref, &owned.rules, stages),
        None => {}
    }
}

/// A VLAN NIC the metadata no longer lists: its rules, then the VLAN link we made for it.
fn remove_vlan_nic(mac: Mac, owned: &OwnedNic, link: &Link, stages: &mut Stages) {
    let nic_ref = NicRef {
        mac,
        ifindex: link.index,
    };
    del_rules(nic_ref, &owned.rules, stages);
    let delete = Change::DelVlan {
        ifindex: link.index,
        name: link.name.clone(),
    };
    stages.del_links.push(planned(Some(nic_ref), delete));
}

fn del_rules<'a>(nic_ref: NicRef, rules: impl IntoIterator<Item = &'a Rule>, stages: &mut Stages) {
    for rule in rules {
        stages
            .del_rules
            .push(planned(Some(nic_ref), Change::DelRule(rule.clone())));
    }
}

/// Deletes what we own on a planned NIC and its plan no longer has. What the sanity gate
/// refused is not "no longer wanted": ours made for it stays.
fn remove_unwanted_on(
    plan: &NicPlan,
    nic_ref: NicRef,
    owned: &OwnedNic,
    kernel: &KernelIndex,
    stages: &mut Stages,
) {
    let held_rule = |r: &Rule| {
        r.src.is_some_and(|n| plan.holds_net(&n)) || r.dst.is_some_and(|n| plan.holds_net(&n))
    };
    let planned_rules: FastSet<&Rule> = plan.rules.iter().collect();
    let unwanted_rules = owned.rules.iter().filter(|r| !planned_rules.contains(r));
    del_rules(nic_ref, unwanted_rules.filter(|r| !held_rule(r)), stages);
    let unwanted_routes = owned.routes.iter().filter(|r| !plan.routes.contains(r));
    for route in unwanted_routes.filter(|r| !plan.holds_route(r)) {
        stages
            .del_routes
            .push(planned(Some(nic_ref), Change::DelRoute(route.clone())));
    }
    let unwanted = unwanted_addresses(plan, owned, kernel);
    if unwanted.iter().any(|a| a.addr.addr().is_ipv4()) {
        let promote = Change::PromoteSecondaries {
            ifindex: plan.ifindex,
            name: plan.name.clone(),
        };
        stages.del_addresses.push(planned(Some(nic_ref), promote));
    }
    for address in unwanted {
        stages
            .del_addresses
            .push(planned(Some(nic_ref), Change::DelAddress(address.clone())));
    }
}

/// Each planned NIC's link back in the default group (0) when we put it in the one it still
/// has and its plan no longer wants one (no NIC has rules any more). Called only when the main
/// rule goes too: the two leave together.
fn release_groups(desired: &Desired, kernel: &KernelIndex, owned: &Owned, stages: &mut Stages) {
    for plan in desired.nics.iter().filter(|p| p.group.is_none()) {
        let ours = owned.nics.get(&plan.mac).and_then(|n| n.group);
        let link = kernel.link(plan.ifindex);
        if ours.is_some() && link.is_some_and(|l| Some(l.group) == ours) {
            let release = Change::SetGroup {
                ifindex: plan.ifindex,
                name: plan.name.clone(),
                group: 0,
            };
            stages.links.push(planned(Some(NicRef::of(plan)), release));
        }
    }
}

/// The kernel's addresses we own on the NIC, its plan no longer has and the gate does not hold,
/// in the reverse of the kernel's list. The kernel keeps a link's IPv4 addresses with each
/// subnet's primary before its secondaries, the rest in the order added: backwards, every
/// secondary goes before its primary, newest first. Deleting a primary while secondaries remain
/// makes the kernel promote one (`promote_secondaries`), work that grows with the secondaries
/// left (2,000 addresses of one subnet: seconds in the order added, milliseconds backwards).
/// IPv6 deletes promote nothing; their order does not matter.
fn unwanted_addresses<'a>(
    plan: &NicPlan,
    owned: &OwnedNic,
    kernel: &KernelIndex<'a>,
) -> Vec<&'a Address> {
    // The record's addresses are ordered by link first: those of other links are passed over
    // without a lookup.
    let (Some(first), Some(last)) = (owned.addresses.first(), owned.addresses.last()) else {
        return Vec::new();
    };
    let links = first.ifindex..=last.ifindex;
    let wanted: FastSet<(u32, IpNet)> =
        plan.addresses.iter().map(|a| (a.ifindex, a.addr)).collect();
    kernel
        .state
        .addresses
        .iter()
        .rev()
        .filter(|k| {
            let key = owned_address(k);
            links.contains(&k.ifindex)
                && owned.addresses.contains(&key)
                && !wanted.contains(&(k.ifindex, k.addr))
                && !plan.holds_ip(k.addr.addr())
        })
        .collect()
}

/// True while rules of a NIC that left the metadata are kept (its link is still there), or of
/// a NIC unknown this round: the main rule and the NICs' interface group must stay with them.
fn keeps_detached_rules(desired: &Desired, kernel: &KernelIndex, owned: &Owned) -> bool {
    owned.nics.iter().any(|(mac, nic)| {
        let detached = desired.nic(*mac).is_none()
            && kernel.has_link_with_mac(*mac)
            && unwanted_vlan(*mac, nic, desired, kernel).is_none();
        !nic.rules.is_empty() && (detached || desired.is_unknown(*mac))
    })
}

/// The (link, IP) of every address this round deletes: one wanted again (with another prefix,
/// e.g. after its subnet changed) must be added back in the same round.
fn deleted_ips(stages: &Stages) -> Vec<(u32, IpAddr)> {
    stages
        .del_addresses
        .iter()
        .filter_map(|planned| match &planned.change {
            Change::DelAddress(a) => Some((a.ifindex, a.addr.addr())),
            _ => None,
        })
        .collect()
}

/// What the additions of every planned NIC are weighed against this round.
struct Additions<'r, 'k> {
    kernel: &'r KernelIndex<'k>,
    owned: &'r Owned,
    /// The (link, IP) of every address this round deletes ([`deleted_ips`]).
    deleted: &'r [(u32, IpAddr)],
}

impl Additions<'_, '_> {
    /// Adds what a planned NIC lacks in the kernel: link up and MTU, addresses, routes (or a
    /// conflict where a route not ours holds the place), rules.
    fn add_missing(&self, plan: &NicPlan, stages: &mut Stages, conflicts: &mut Vec<Route>) {
        let (kernel, deleted) = (self.kernel, self.deleted);
        let nic_ref = Some(NicRef::of(plan));
        for change in self.link_changes(plan) {
            stages.links.push(planned(nic_ref, change));
        }
        // An address is present when the link has that IP, whatever its prefix or lifetimes:
        // DHCP's primary address and hand-made ones are left exactly as they are. One we delete
        // this round is missing.
        let missing = |a: &&Address| {
            let ip = (a.ifindex, a.addr.addr());
            !kernel.has_ip(ip.0, ip.1) || deleted.contains(&ip)
        };
        for address in plan.addresses.iter().filter(missing) {
            stages
                .add_addresses
                .push(planned(nic_ref, Change::AddAddress(address.clone())));
        }
        self.add_missing_routes(plan, stages, conflicts);
        for rule in plan.rules.iter().filter(|r| !kernel.has_rule(r)) {
            stages
                .add_rules
                .push(planned(nic_ref, Change::AddRule(rule.clone())));
        }
    }

    /// Link up when the kernel's link is down, the MTU wanted when the link has another, and
    /// the group wanted when the link is in the default one (or one we gave it).
    fn link_changes(&self, plan: &NicPlan) -> Vec<Change> {
        let link = self.kernel.link(plan.ifindex);
        let mut changes = Vec::new();
        if link.is_some_and(|l| !l.up) {
            changes.push(Change::LinkUp {
                ifindex: plan.ifindex,
                name: plan.name.clone(),
            });
        }
        if let Some(mtu) = plan.mtu.filter(|mtu| link.is_some_and(|l| l.mtu != *mtu)) {
            changes.push(Change::SetMtu {
                ifindex: plan.ifindex,
                name: plan.name.clone(),
                mtu,
            });
        }
        let owned_group = self.owned.nics.get(&plan.mac).and_then(|n| n.group);
        // A group someone else gave the link is left alone: only the default one is ours to take.
        let free = |l: &Link| l.group == 0 || Some(l.group) == owned_group;
        if let (Some(group), Some(link)) = (plan.group, link.filter(|l| free(l))) {
            if link.group != group {
                changes.push(Change::SetGroup {
                    ifindex: plan.ifindex,
                    name: plan.name.clone(),
                    group,
                });
            }
        }
        changes
    }

    /// The routes of the plan the kernel lacks, or that lose their source address this round; a
    /// route whose place a route not ours holds is a conflict, left out.
    fn add_missing_routes(&self, plan: &NicPlan, stages: &mut Stages, conflicts: &mut Vec<Route>) {
        let (kernel, deleted) = (self.kernel, self.deleted);
        let nic_ref = Some(NicRef::of(plan));
        let owned_routes = self.owned.nics.get(&plan.mac).map(|n| &n.routes);
        let ours = |k: &Route| owned_routes.is_some_and(|o| o.contains(k));
        // Deleting an address flushes the IPv4 routes using it as source and strips the IPv6
        // ones of it (even when the address comes back with another prefix this same round).
        let loses_source = |r: &Route| r.src.is_some_and(|src| deleted.iter().any(|d| d.1 == src));
        let flushed = |r: &Route| r.family() == Family::V4 && loses_source(r);
        for route in &plan.routes {
            if kernel.has_route(route) {
                if !loses_source(route) && !ra::outlives_its_copy(route, kernel) {
                    continue;
                }
                if ours(route) {
                    let delete = Change::DelRoute(route.clone());
                    stages.del_routes.push(planned(nic_ref, delete));
                } else if !flushed(route) {
                    conflicts.push(route.clone());
                    continue;
                }
                let add = Change::AddRoute(route.clone());
                stages.add_routes.push(planned(nic_ref, add));
                continue;
            }
            let foreign: Vec<&Route> = kernel
                .routes_in_slot(route)
                .filter(|k| !ours(k) && !flushed(k))
                .collect();
            let change = if !foreign.is_empty() && foreign.iter().all(|k| agent_made(k, route)) {
                Change::AdoptRoute(route.clone())
            } else if !foreign.is_empty() || gateway_unreachable(route, conflicts, kernel) {
                conflicts.push(route.clone());
                continue;
            } else {
                Change::AddRoute(route.clone())
            };
            stages.add_routes.push(planned(nic_ref, change));
        }
    }
}

/// Whether `kernel_route` is the local route google-guest-agent made (`proto 66`) for the item
/// `wanted` is ours for: same table, destination, type and link. We take it over
/// (`Change::AdoptRoute`), so that it is removed when the metadata drops the item even after
/// the agent stopped; the agent lists only its own `proto 66` routes, so it neither removes
/// ours nor adds its own again while ours is there.
fn agent_made(kernel_route: &Route, wanted: &Route) -> bool {
    kernel_route.protocol == RTPROT_GCE_AGENT
        && wanted.kind == RouteType::Local
        && kernel_route.kind == RouteType::Local
        && kernel_route.oif == wanted.oif
        && kernel_route.dst == wanted.dst
        && kernel_route.table == wanted.table
}

/// True when an IPv4 route's gateway needs our link route on its device, that route was left
/// out for a foreign one (on another device), and nothing else in the table or in main reaches
/// the gateway there: the kernel would refuse the route (ENETUNREACH).
fn gateway_unreachable(route: &Route, conflicts: &[Route], kernel: &KernelIndex) -> bool {
    let Some(IpAddr::V4(gateway)) = route.gateway else {
        return false;
    };
    let reaches = |k: &Route| {
        k.gateway.is_none()
            && k.kind == RouteType::Unicast
            && k.oif == route.oif
            && matches!(k.dst, IpNet::V4(net) if net.contains(gateway))
    };
    let ours_left_out = conflicts
        .iter()
        .any(|c| c.table == route.table && reaches(c));
    let in_kernel = kernel
        .state
        .routes
        .iter()
        .any(|k| (k.table == route.table || k.table == TABLE_MAIN) && reaches(k));
    ours_left_out && !in_kernel
}
