//! A model of the kernel for the planner's property tests: what EEXIST, ENOENT and the kernel's
//! own side effects do to the state when a change is applied.

use cloud_network::kernel::{
    Address, Change, KernelState, Link, Route, RouteType, Scope, TABLE_LOCAL, TABLE_MAIN,
};
use cloud_network::metadata::{IpNet, Ipv4Net, Ipv6Net};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// The kernel's own routing protocol number (local-table routes of addresses).
pub const RTPROT_KERNEL: u8 = 2;

/// The kernel as far as the planner's changes touch it: EEXIST on adding what is there, ENOENT
/// on deleting what is not, the local-table routes every address brings, IPv4 secondaries that
/// go with their primary unless promote_secondaries is on, IPv4 routes flushed with their
/// preferred source, IPv6 routes losing it, and gateways that must be reachable on the link.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub kernel: KernelState,
    promote: BTreeSet<u32>,
}

fn host_net(ip: IpAddr) -> IpNet {
    match ip {
        IpAddr::V4(a) => IpNet::V4(Ipv4Net::host(a)),
        IpAddr::V6(a) => IpNet::V6(Ipv6Net::host(a)),
    }
}

fn kernel_local_route(a: &Address) -> Route {
    Route {
        table: TABLE_LOCAL,
        dst: host_net(a.addr.addr()),
        gateway: None,
        src: Some(a.addr.addr()),
        oif: Some(a.ifindex),
        protocol: RTPROT_KERNEL,
        scope: Scope::Host,
        kind: RouteType::Local,
        onlink: false,
        advertised: None,
    }
}

pub fn same_slot(a: &Route, b: &Route) -> bool {
    a.table == b.table && a.dst == b.dst
}

fn net_contains(net: &IpNet, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpNet::V4(n), IpAddr::V4(a)) => n.contains(a),
        (IpNet::V6(n), IpAddr::V6(a)) => n.contains(a),
        _ => false,
    }
}

/// Whether two IPv4 addresses on a link share a subnet (same mask): primary and secondaries.
fn same_v4_subnet(a: &IpNet, b: &IpNet) -> bool {
    match (a, b) {
        (IpNet::V4(x), IpNet::V4(y)) => x.prefix == y.prefix && x.contains(y.addr),
        _ => false,
    }
}

impl Model {
    pub fn insert_address(&mut self, address: Address) {
        self.kernel.routes.push(kernel_local_route(&address));
        self.kernel.addresses.push(address);
    }

    fn has_local_ip(&self, ip: IpAddr) -> bool {
        self.kernel.addresses.iter().any(|a| a.addr.addr() == ip)
    }

    fn link_mut(&mut self, ifindex: u32) -> Result<&mut Link, String> {
        self.kernel
            .links
            .iter_mut()
            .find(|l| l.index == ifindex)
            .ok_or_else(|| format!("ENODEV: no link {ifindex}"))
    }

    pub fn apply(&mut self, change: &Change) -> Result<(), String> {
        match change {
            Change::LinkUp { ifindex, .. } => self.link_mut(*ifindex)?.up = true,
            Change::SetMtu { ifindex, mtu, .. } => self.link_mut(*ifindex)?.mtu = *mtu,
            Change::SetGroup { ifindex, group, .. } => self.link_mut(*ifindex)?.group = *group,
            Change::PromoteSecondaries { ifindex, .. } => {
                self.link_mut(*ifindex)?;
                self.promote.insert(*ifindex);
            }
            Change::AddAddress(a) => self.add_address(a)?,
            Change::DelAddress(a) => self.del_address(a)?,
            Change::AddRoute(r) => self.add_route(r)?,
            Change::AdoptRoute(r) => {
                let slot = |k: &Route| (k.table, k.dst, k.kind) == (r.table, r.dst, r.kind);
                self.kernel.routes.retain(|k| !slot(k));
                self.kernel.routes.push(r.clone());
            }
            Change::DelRoute(r) => {
                let at = self.kernel.routes.iter().position(|k| k == r);
                let at = at.ok_or_else(|| format!("ENOENT: route {r:?}"))?;
                self.kernel.routes.remove(at);
            }
            Change::AddRule(r) => {
                if self.kernel.rules.contains(r) {
                    return Err(format!("EEXIST: rule {r:?}"));
                }
                self.kernel.rules.push(r.clone());
            }
            Change::DelRule(r) => {
                let at = self.kernel.rules.iter().position(|k| k == r);
                let at = at.ok_or_else(|| format!("ENOENT: rule {r:?}"))?;
                self.kernel.rules.remove(at);
            }
            Change::AddVlan { name, .. } | Change::DelVlan { name, .. } => {
                return Err(format!(
                    "EOPNOTSUPP: VLAN link {name} (the generator makes no VLAN NIC)"
                ));
            }
        }
        Ok(())
    }

    fn add_address(&mut self, a: &Address) -> Result<(), String> {
        self.link_mut(a.ifindex)?;
        let ip = a.addr.addr();
        if self
            .kernel
            .addresses
            .iter()
            .any(|k| k.ifindex == a.ifindex && k.addr.addr() == ip)
        {
            return Err(format!("EEXIST: address {a:?}"));
        }
        self.insert_address(a.clone());
        Ok(())
    }

    fn del_address(&mut self, a: &Address) -> Result<(), String> {
        let at = self
            .kernel
            .addresses
            .iter()
            .position(|k| k.ifindex == a.ifindex && k.addr == a.addr)
            .ok_or_else(|| format!("ENOENT: address {a:?}"))?;
        let removed = self.kernel.addresses.remove(at);
        let mut gone = vec![removed.clone()];
        let is_primary = !self.kernel.addresses[..at]
            .iter()
            .any(|k| k.ifindex == a.ifindex && same_v4_subnet(&k.addr, &removed.addr));
        if is_primary && !self.promote.contains(&a.ifindex) {
            let (secondaries, kept) = self.kernel.addresses.drain(..).partition(|k: &Address| {
                k.ifindex == a.ifindex && same_v4_subnet(&removed.addr, &k.addr)
            });
            self.kernel.addresses = kept;
            gone.extend::<Vec<Address>>(secondaries);
        }
        for address in gone {
            self.forget_address(&address);
        }
        Ok(())
    }

    fn forget_address(&mut self, a: &Address) {
        let local = kernel_local_route(a);
        self.kernel.routes.retain(|r| *r != local);
        let ip = a.addr.addr();
        if self.has_local_ip(ip) {
            return;
        }
        match ip {
            IpAddr::V4(_) => self.kernel.routes.retain(|r| r.src != Some(ip)),
            IpAddr::V6(_) => {
                for route in &mut self.kernel.routes {
                    if route.src == Some(ip) {
                        route.src = None;
                    }
                }
            }
        }
    }

    fn add_route(&mut self, r: &Route) -> Result<(), String> {
        if let Some(oif) = r.oif {
            self.link_mut(oif)?;
        }
        if self.kernel.routes.iter().any(|k| same_slot(k, r)) {
            return Err(format!("EEXIST: route {r:?}"));
        }
        if let Some(src) = r.src {
            if !self.has_local_ip(src) {
                return Err(format!(
                    "EINVAL: preferred source {src} is not local: {r:?}"
                ));
            }
        }
        if let Some(IpAddr::V4(gw)) = r.gateway {
            let reachable = self.kernel.routes.iter().any(|k| {
                (k.table == r.table || k.table == TABLE_MAIN)
                    && k.gateway.is_none()
                    && k.kind == RouteType::Unicast
                    && k.oif == r.oif
                    && net_contains(&k.dst, IpAddr::V4(gw))
            });
            if !reachable && !r.onlink {
                return Err(format!("ENETUNREACH: gateway {gw} of {r:?}"));
            }
        }
        self.kernel.routes.push(r.clone());
        Ok(())
    }
}
