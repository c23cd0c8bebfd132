//! Hash indexes over one kernel snapshot, so prune and diff answer "is it there?" in constant
//! time: a no-change reconcile of hundreds of addresses and rules stays well under a millisecond.

use super::desired::match_vlan_link;
use crate::kernel::{KernelState, Link, Route, RouteType, Rule};
use crate::metadata::{IpNet, Mac};
use std::collections::HashSet;
use std::net::IpAddr;

/// The fields that make a route ours and unchanged (the kernel may derive others, e.g. scope).
type RouteKey = (
    u32,
    IpNet,
    RouteType,
    Option<IpAddr>,
    Option<u32>,
    Option<IpAddr>,
    u8,
);
/// The kernel's own identity of a route: table, destination and type.
type RouteSlot = (u32, IpNet, RouteType);

fn route_key(r: &Route) -> RouteKey {
    (r.table, r.dst, r.kind, r.gateway, r.oif, r.src, r.protocol)
}

fn route_slot(r: &Route) -> RouteSlot {
    (r.table, r.dst, r.kind)
}

pub struct KernelIndex<'a> {
    pub state: &'a KernelState,
    rules: HashSet<&'a Rule>,
    addresses: HashSet<(u32, IpNet)>,
    address_ips: HashSet<(u32, IpAddr)>,
    routes: HashSet<RouteKey>,
    macs: HashSet<Mac>,
}

impl<'a> KernelIndex<'a> {
    pub fn new(state: &'a KernelState) -> KernelIndex<'a> {
        KernelIndex {
            state,
            rules: state.rules.iter().collect(),
            addresses: state
                .addresses
                .iter()
                .map(|a| (a.ifindex, a.addr))
                .collect(),
            address_ips: state
                .addresses
                .iter()
                .map(|a| (a.ifindex, a.addr.addr()))
                .collect(),
            routes: state.routes.iter().map(route_key).collect(),
            macs: state.links.iter().filter_map(|l| l.mac).collect(),
        }
    }

    pub fn has_rule(&self, rule: &Rule) -> bool {
        self.rules.contains(rule)
    }

    /// The exact address (IP and prefix) on the link.
    pub fn has_address(&self, ifindex: u32, addr: IpNet) -> bool {
        self.addresses.contains(&(ifindex, addr))
    }

    /// The IP on the link with any prefix.
    pub fn has_ip(&self, ifindex: u32, ip: IpAddr) -> bool {
        self.address_ips.contains(&(ifindex, ip))
    }

    /// The route with every field we set.
    pub fn has_route(&self, route: &Route) -> bool {
        self.routes.contains(&route_key(route))
    }

    /// Routes holding the kernel's slot of `route` (same table, destination and type).
    pub fn routes_in_slot(&self, route: &'a Route) -> impl Iterator<Item = &'a Route> + 'a {
        let slot = route_slot(route);
        self.state
            .routes
            .iter()
            .filter(move |k| route_slot(k) == slot)
    }

    pub fn has_link_with_mac(&self, mac: Mac) -> bool {
        self.macs.contains(&mac)
    }

    pub fn link(&self, ifindex: u32) -> Option<&'a Link> {
        self.state.links.iter().find(|l| l.index == ifindex)
    }

    /// The VLAN link carrying this MAC, if there is exactly one.
    pub fn vlan_link(&self, mac: Mac) -> Option<&'a Link> {
        match_vlan_link(mac, &self.state.links).ok()
    }
}
