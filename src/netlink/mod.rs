//! The kernel's network objects over raw rtnetlink: reads of links, addresses, routes and rules
//! (decoded by hand, see `decode`), route lookups (`ip route get`, read-only, no capability
//! needed), and [`Change`]s applied as one batch (encoded with neli). neli's types stay inside
//! this module.

mod addr;
mod codec;
mod decode;
mod error;
mod frame;
mod link;
pub mod monitor;
mod route;
mod rule;
mod socket;
mod vlan;

pub use error::{KernelError, NetlinkError};
pub use route::{RouteLookup, RouteQuery};

use crate::kernel::{Address, Change, Kernel, KernelState, Link, Route, Rule};
use neli::consts::rtnl::Rtm;
use socket::{Dump, Query, Request, Socket};

/// A NETLINK_ROUTE connection in the network namespace of the thread that opened it.
pub struct Netlink {
    socket: Socket,
}

impl Netlink {
    pub fn open() -> Result<Netlink, NetlinkError> {
        Ok(Netlink {
            socket: Socket::open()?,
        })
    }

    /// Every link.
    pub fn links(&mut self) -> Result<Vec<Link>, NetlinkError> {
        self.socket.dump(&Dump {
            request: Rtm::Getlink,
            payload: link::dump_request()?,
            reply: Rtm::Newlink,
            decode: |body| decode::link(body).map(Some),
            what: "link dump",
        })
    }

    /// Every IPv4 and IPv6 address.
    pub fn addresses(&mut self) -> Result<Vec<Address>, NetlinkError> {
        self.socket.dump(&Dump {
            request: Rtm::Getaddr,
            payload: addr::dump_request()?,
            reply: Rtm::Newaddr,
            decode: decode::address,
            what: "address dump",
        })
    }

    /// Every IPv4 and IPv6 route of every table, without cache entries.
    pub fn routes(&mut self) -> Result<Vec<Route>, NetlinkError> {
        self.socket.dump(&Dump {
            request: Rtm::Getroute,
            payload: route::dump_request()?,
            reply: Rtm::Newroute,
            decode: decode::route,
            what: "route dump",
        })
    }

    /// Every IPv4 and IPv6 policy rule.
    pub fn rules(&mut self) -> Result<Vec<Rule>, NetlinkError> {
        self.socket.dump(&Dump {
            request: Rtm::Getrule,
            payload: rule::dump_request()?,
            reply: Rtm::Newrule,
            decode: decode::rule,
            what: "rule dump",
        })
    }

    /// The route the kernel would pick for `query` (`ip route get`); its errno when it has none
    /// (ENETUNREACH: no route, or a source address that is not local).
    pub fn route_get(&mut self, query: &RouteQuery) -> Result<RouteLookup, NetlinkError> {
        let mut what = format!("route lookup {}", query.dst);
        if let Some(src) = query.src {
            what.push_str(&format!(" from {src}"));
        }
        if let Some(iif) = query.iif {
            what.push_str(&format!(" iif ifindex {iif}"));
        }
        self.socket.query(&Query {
            request: Rtm::Getroute,
            payload: route::get_request(query)?,
            reply: Rtm::Newroute,
            decode: decode::lookup,
            what,
        })
    }

    /// Links, addresses, routes and rules, read one after the other.
    pub fn state(&mut self) -> Result<KernelState, NetlinkError> {
        Ok(KernelState {
            links: self.links()?,
            addresses: self.addresses()?,
            routes: self.routes()?,
            rules: self.rules()?,
        })
    }

    /// Applies the changes in order as one batch (one `sendmsg` per 16 KiB of requests) and
    /// returns one result per change, in the same order. A failure does not stop the rest.
    pub fn apply(&mut self, changes: &[Change]) -> Vec<Result<(), NetlinkError>> {
        let encoded: Vec<Result<Request, NetlinkError>> = changes.iter().map(request).collect();
        let sendable: Vec<usize> = (0..changes.len()).filter(|i| encoded[*i].is_ok()).collect();
        let mut requests = Vec::with_capacity(sendable.len());
        let mut results: Vec<Result<(), NetlinkError>> = Vec::with_capacity(changes.len());
        for outcome in encoded {
            match outcome {
                Ok(request) => {
                    requests.push(request);
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        let answers = self
            .socket
            .batch(&requests, &|i| describe(&changes[sendable[i]]));
        for (index, answer) in sendable.into_iter().zip(answers) {
            results[index] = answer;
        }
        results
    }
}

impl Kernel for Netlink {
    type Error = NetlinkError;

    fn state(&mut self) -> Result<KernelState, NetlinkError> {
        Netlink::state(self)
    }

    fn links(&mut self) -> Result<Vec<Link>, NetlinkError> {
        Netlink::links(self)
    }

    fn apply(&mut self, changes: &[Change]) -> Vec<Result<(), NetlinkError>> {
        Netlink::apply(self, changes)
    }
}

fn request(change: &Change) -> Result<Request, NetlinkError> {
    match change {
        Change::LinkUp { ifindex, .. } => link::up_request(*ifindex),
        Change::SetMtu { ifindex, mtu, .. } => link::mtu_request(*ifindex, *mtu),
        Change::PromoteSecondaries { ifindex, .. } => link::promote_secondaries_request(*ifindex),
        Change::SetGroup { ifindex, group, .. } => link::group_request(*ifindex, *group),
        Change::AddAddress(a) => addr::add_request(a),
        Change::DelAddress(a) => addr::del_request(a),
        Change::AddRoute(r) => route::add_request(r),
        Change::AdoptRoute(r) => route::replace_request(r),
        Change::DelRoute(r) => route::del_request(r),
        Change::AddRule(r) => rule::add_request(r),
        Change::DelRule(r) => rule::del_request(r),
        Change::AddVlan {
            name,
            parent,
            mac,
            id,
            ..
        } => vlan::add_request(name, *parent, *mac, *id),
        Change::DelVlan { ifindex, .. } => vlan::del_request(*ifindex),
    }
}

/// Names the object of a change for its error message.
fn describe(change: &Change) -> String {
    match change {
        Change::LinkUp { ifindex, name } => format!("link {name} (ifindex {ifindex}) up"),
        Change::SetMtu { ifindex, name, mtu } => {
            format!("MTU {mtu} on link {name} (ifindex {ifindex})")
        }
        Change::PromoteSecondaries { ifindex, name } => {
            format!("promote_secondaries on link {name} (ifindex {ifindex})")
        }
        Change::SetGroup {
            ifindex,
            name,
            group,
        } => format!("group {group} on link {name} (ifindex {ifindex})"),
        Change::AddAddress(a) | Change::DelAddress(a) => {
            format!("address {} on ifindex {}", a.addr, a.ifindex)
        }
        Change::AddRoute(r) | Change::AdoptRoute(r) | Change::DelRoute(r) => describe_route(r),
        Change::AddRule(r) | Change::DelRule(r) => describe_rule(r),
        Change::AddVlan {
            name,
            parent_name,
            mac,
            id,
            ..
        } => format!("VLAN link {name} (VLAN {id} on {parent_name}, MAC {mac})"),
        Change::DelVlan { ifindex, name } => format!("VLAN link {name} (ifindex {ifindex})"),
    }
}

fn describe_route(route: &Route) -> String {
    let mut text = format!("route {}", route.dst);
    if let Some(gateway) = route.gateway {
        text.push_str(&format!(" via {gateway}"));
    }
    if let Some(oif) = route.oif {
        text.push_str(&format!(" dev ifindex {oif}"));
    }
    if let Some(src) = route.src {
        text.push_str(&format!(" src {src}"));
    }
    text + &format!(" table {}", route.table)
}

fn describe_rule(rule: &Rule) -> String {
    let selector =
        |net: Option<_>| net.map_or("all".to_string(), |n: crate::net::IpNet| n.to_string());
    format!(
        "rule priority {} from {} to {} lookup {}",
        rule.priority,
        selector(rule.src),
        selector(rule.dst),
        rule.table
    )
}
