//! The addresses, routes and rules one NIC should have: its own table (subnet, on-link gateway
//! and default routes), the tables of addresses with their own gateway, `local` routes for alias
//! ranges and forwarded IPs, and the `from`/`to` rules that send traffic to those tables.

use super::{PlanSettings, ROUTED_TABLE_STEP};
use crate::kernel::{
    Address, Family, Route, RouteType, Rule, Scope, RTPROT_CLOUD_NETWORK, TABLE_LOCAL,
};
use crate::metadata::Nic;
use crate::net::{IpNet, Ipv4Net, Ipv6Net};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The table of a NIC's address with its own subnet and gateway (`position` in
/// `Nic::routed_ipv4`): `RouteTableBase + ROUTED_TABLE_STEP × (position + 1) + index`.
pub fn routed_table(settings: &PlanSettings, index: u32, position: usize) -> Option<u32> {
    let step = u32::try_from(position)
        .ok()?
        .checked_add(1)?
        .checked_mul(ROUTED_TABLE_STEP)?;
    settings.table_base.checked_add(step)?.checked_add(index)
}

pub(super) fn addresses(nic: &Nic, ifindex: u32) -> Vec<Address> {
    let routed = nic.routed_ipv4.iter().map(|r| &r.addr);
    let v4 = nic.ipv4.iter().chain(routed).map(|n| IpNet::V4(*n));
    let v6 = nic.ipv6.iter().map(|n| IpNet::V6(*n));
    v4.chain(v6)
        .map(|addr| Address {
            ifindex,
            addr,
            noprefixroute: true,
            valid_lft: u32::MAX,
            preferred_lft: u32::MAX,
        })
        .collect()
}

fn route(table: u32, dst: IpNet, oif: u32) -> Route {
    Route {
        table,
        dst,
        gateway: None,
        src: None,
        oif: Some(oif),
        protocol: RTPROT_CLOUD_NETWORK,
        scope: Scope::Universe,
        kind: RouteType::Unicast,
        onlink: false,
        advertised: None,
    }
}

/// The default route of `table` via `gateway` (its family's `0.0.0.0/0` or `::/0`).
pub(in crate::plan) fn default_route(table: u32, gateway: IpAddr, oif: u32) -> Route {
    let any = match gateway {
        IpAddr::V4(_) => IpNet::V4(Ipv4Net::new(Ipv4Addr::UNSPECIFIED, 0)),
        IpAddr::V6(_) => IpNet::V6(Ipv6Net::new(Ipv6Addr::UNSPECIFIED, 0)),
    };
    Route {
        gateway: Some(gateway),
        ..route(table, any, oif)
    }
}

/// The NIC's own table: the subnet route (or, when the gateway is outside the address's prefix
/// as on GCP's /32s, an on-link host route to the gateway) and the default route, per family.
pub(super) fn table_routes(nic: &Nic, ifindex: u32, table: u32) -> Vec<Route> {
    let mut routes = Vec::new();
    if let Some(primary) = nic.ipv4.first() {
        routes.extend(table_routes_v4(*primary, nic.gateway4, ifindex, table));
    }
    if let Some(primary) = nic.ipv6.first() {
        routes.extend(table_routes_v6(nic, *primary, ifindex, table));
    }
    routes
}

/// The IPv4 routes of a table whose source address is `primary`: its subnet route, an on-link
/// host route to a gateway outside that subnet, and the default route via the gateway.
pub(super) fn table_routes_v4(
    primary: Ipv4Net,
    gateway: Option<Ipv4Addr>,
    ifindex: u32,
    table: u32,
) -> Vec<Route> {
    let mut routes = Vec::new();
    let src = Some(IpAddr::V4(primary.addr));
    let link_scoped = |dst| Route {
        src,
        scope: Scope::Link,
        ..route(table, dst, ifindex)
    };
    if primary.prefix < 32 {
        routes.push(link_scoped(IpNet::V4(primary.network())));
    }
    if let Some(gw) = gateway {
        if !primary.contains(gw) {
            routes.push(link_scoped(IpNet::V4(Ipv4Net::host(gw))));
        }
        routes.push(default_route(table, IpAddr::V4(gw), ifindex));
    }
    routes
}

fn table_routes_v6(nic: &Nic, primary: Ipv6Net, ifindex: u32, table: u32) -> Vec<Route> {
    let mut routes = Vec::new();
    let src = Some(IpAddr::V6(primary.addr));
    let subnet = nic
        .subnet6
        .or((primary.prefix < 128).then(|| primary.network()));
    if let Some(subnet) = subnet.filter(|s| s.prefix < 128) {
        routes.push(Route {
            src,
            ..route(table, IpNet::V6(subnet.network()), ifindex)
        });
    }
    if let Some(gw) = nic.gateway6 {
        let on_link = is_link_local(gw) || subnet.is_some_and(|s| s.contains(gw));
        if !on_link {
            routes.push(Route {
                src,
                ..route(table, IpNet::V6(Ipv6Net::host(gw)), ifindex)
            });
        }
        routes.push(default_route(table, IpAddr::V6(gw), ifindex));
    }
    routes
}

fn is_link_local(addr: Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

/// Alias ranges and forwarded IPs are accepted locally: `local` routes in the local table.
pub(super) fn local_routes(nic: &Nic, ifindex: u32) -> Vec<Route> {
    nic.ip_ranges
        .iter()
        .chain(&nic.forwarded)
        .map(|dst| Route {
            scope: Scope::Host,
            kind: RouteType::Local,
            ..route(TABLE_LOCAL, *dst, ifindex)
        })
        .collect()
}

/// `from X lookup T` and `to X lookup T` for every address, alias range, forwarded IP (GCP's
/// load-balancer VIPs and target-instance IPs) and delegated prefix of the NIC: a reply leaves
/// by the NIC that owns its source, and strict `rp_filter` accepts the request on that NIC.
pub(super) fn nic_rules(nic: &Nic, table: u32, priority: u32) -> Vec<Rule> {
    let hosts = nic
        .ipv4
        .iter()
        .map(|n| IpNet::V4(Ipv4Net::host(n.addr)))
        .chain(nic.ipv6.iter().map(|n| IpNet::V6(Ipv6Net::host(n.addr))));
    hosts
        .chain(nic.ip_ranges.iter().copied())
        .chain(nic.forwarded.iter().copied())
        .chain(nic.delegated_prefixes.iter().copied())
        .flat_map(|net| host_rules(net, table, priority))
        .collect()
}

/// `from <net> lookup <table>` and `to <net> lookup <table>`.
pub(super) fn host_rules(net: IpNet, table: u32, priority: u32) -> [Rule; 2] {
    let family = Family::of_net(&net);
    let rule = |src, dst| Rule {
        family,
        priority,
        src,
        dst,
        table,
        suppress_prefixlen: None,
        suppress_ifgroup: None,
    };
    [rule(Some(net), None), rule(None, Some(net))]
}
