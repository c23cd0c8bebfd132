//! Hash indexes over one kernel snapshot, so prune and diff answer "is it there?" in constant
//! time: a no-change reconcile of hundreds of addresses and rules stays well under a millisecond.

use super::desired::match_vlan_link;
use crate::kernel::{KernelState, Link, Route, RouteType, RouterPref, Rule};
use crate::net::{IpNet, Mac};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

/// A multiply-rotate hasher (the Fx hash of rustc) for the index's small keys: several times
/// cheaper than the default SipHash, whose flooding resistance buys nothing for keys that come
/// from our own kernel snapshot.
#[derive(Default)]
pub struct FxHasher(u64);

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        for &byte in chunks.remainder() {
            self.add(u64::from(byte));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A hash set with [`FxHasher`] (also the reply-path check's indexes).
pub type FastSet<T> = HashSet<T, BuildHasherDefault<FxHasher>>;

/// A hash map with [`FxHasher`], for the plan's other per-round lookups over kernel objects.
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// The fields that make a route ours and unchanged (the kernel may derive others, e.g. scope;
/// an expiring route's lifetime counts down, its router preference stays).
type RouteKey = (
    u32,
    IpNet,
    RouteType,
    Option<IpAddr>,
    Option<u32>,
    Option<IpAddr>,
    u8,
    RouterPref,
);
/// The kernel's own identity of a route: table, destination and type.
type RouteSlot = (u32, IpNet, RouteType);

fn route_key(r: &Route) -> RouteKey {
    let pref = r.pref();
    (
        r.table, r.dst, r.kind, r.gateway, r.oif, r.src, r.protocol, pref,
    )
}

fn route_slot(r: &Route) -> RouteSlot {
    (r.table, r.dst, r.kind)
}

pub struct KernelIndex<'a> {
    pub state: &'a KernelState,
    rules: FastSet<&'a Rule>,
    addresses: FastSet<(u32, IpNet)>,
    address_ips: FastSet<(u32, IpAddr)>,
    routes: FastSet<RouteKey>,
    macs: FastSet<Mac>,
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

    /// The kernel's route that is `route` (the same in every field that makes a route ours and
    /// unchanged), when there is one.
    pub fn route(&self, route: &Route) -> Option<&'a Route> {
        let key = route_key(route);
        self.state.routes.iter().find(|k| route_key(k) == key)
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
