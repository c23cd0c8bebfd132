//! The reply-path check behind `GET /api/v1/check` and `cnctl check`: for every address and
//! prefix the daemon configured, the kernel's own answer to "which link and gateway would a
//! reply from it leave by" (`RTM_GETROUTE`, as `ip route get <off-subnet target> from <ip>`),
//! whether that is the NIC that owns it, and if not, why: the link is down, our rule is
//! missing, a foreign rule at a lower priority shadows it, or the NIC's table has no default
//! route. Also that the metadata service is reached by the primary NIC, and, as failing
//! lines, what the sanity gate refused of each link (never configured, so no reply leaves by
//! it).
//!
//! Where it runs: in the API thread, when the request comes, on a netlink socket of its own.
//! Everything it does is a read (link, rule and route dumps and one route lookup per address),
//! none of which needs a capability, so it works unchanged once the API thread has dropped its
//! capabilities, and the thread that parses HTTP gets no way to change the kernel. It reads
//! the kernel as it is at that moment, not as the last reconcile round left it, so it also
//! shows what another program changed since; the reconcile thread is never involved or
//! waited on. Deciding is pure ([`evaluate`], given the dumps and a lookup function); only
//! [`run`] touches the kernel.

#[cfg(test)]
mod tests;

use crate::kernel::{Link, OperState, Route, Rule, TABLE_LOCAL, TABLE_MAIN};
use crate::net::{IpNet, ProviderKind};
use crate::netlink::{Netlink, NetlinkError, RouteLookup, RouteQuery};
use crate::plan::desired::metadata_v4;
use crate::snapshot::{LinkStatus, RuleStatus};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Off-subnet destinations the lookups ask about (documentation ranges: never routed to a
/// real host, and nothing is sent anyway); the first outside every configured subnet is used.
const TARGETS_V4: [Ipv4Addr; 3] = [
    Ipv4Addr::new(198, 51, 100, 1),
    Ipv4Addr::new(203, 0, 113, 1),
    Ipv4Addr::new(192, 0, 2, 1),
];
const TARGETS_V6: [Ipv6Addr; 2] = [
    Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1),
    Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 1),
];

/// The whole answer: every line, and whether all of them passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    pub ok: bool,
    /// The destinations asked about, IPv4 then IPv6.
    pub targets: Vec<IpAddr>,
    pub lines: Vec<Line>,
}

/// One address, prefix or the metadata service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// `10.4.0.5`, `10.4.1.0/28`, or `metadata 169.254.169.254`.
    pub subject: String,
    /// The link that should carry its replies.
    pub link: String,
    pub ok: bool,
    /// Where the kernel would send its replies; None when it has no route at all.
    pub via: Option<Path>,
    /// Why it fails; None when it passes.
    pub reason: Option<String>,
}

/// The kernel's answer, named: link, gateway, table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Path {
    pub dev: String,
    pub gateway: Option<IpAddr>,
    pub table: u32,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(gateway) = self.gateway {
            write!(f, "via {gateway} ")?;
        }
        write!(f, "dev {} table {}", self.dev, table_name(self.table))
    }
}

impl fmt::Display for Line {
    /// `✓ 10.4.0.5 (eth1): via 10.4.0.1 dev eth1 table 10001`, or `✗ ...: <reason>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.ok { '✓' } else { '✗' };
        write!(f, "{mark} {} ({}): ", self.subject, self.link)?;
        match (&self.reason, &self.via) {
            (Some(reason), Some(via)) => write!(f, "{reason} (replies: {via})"),
            (Some(reason), None) => f.write_str(reason),
            (None, Some(via)) => via.fmt(f),
            (None, None) => f.write_str("no route"),
        }
    }
}

fn table_name(table: u32) -> String {
    match table {
        TABLE_MAIN => "main".to_string(),
        TABLE_LOCAL => "local".to_string(),
        other => other.to_string(),
    }
}

/// What the kernel holds now, as the check reads it.
pub struct KernelView<'a> {
    pub links: &'a [Link],
    pub rules: &'a [Rule],
    pub routes: &'a [Route],
}

/// Why the check could not run.
#[derive(Debug)]
pub struct CheckError(pub NetlinkError);

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read the kernel's routing state: {}", self.0)
    }
}

impl std::error::Error for CheckError {}

/// Reads the kernel of the calling thread's namespace and checks every configured link.
pub fn run(provider: ProviderKind, links: &[LinkStatus]) -> Result<Report, CheckError> {
    let mut netlink = Netlink::open().map_err(CheckError)?;
    let kernel_links = netlink.links().map_err(CheckError)?;
    let rules = netlink.rules().map_err(CheckError)?;
    let routes = netlink.routes().map_err(CheckError)?;
    let kernel = KernelView {
        links: &kernel_links,
        rules: &rules,
        routes: &routes,
    };
    Ok(evaluate(provider, links, &kernel, &mut |query| {
        netlink.route_get(query)
    }))
}

/// One subject: an address or a `from` prefix of a link, with the rule that should route it.
struct Subject<'a> {
    net: IpNet,
    link: &'a LinkStatus,
    /// The `from` rule into the link's table that covers it.
    rule: Option<&'a RuleStatus>,
}

/// The check, from the dumps and a lookup function (pure but for what `lookup` does).
pub fn evaluate(
    provider: ProviderKind,
    links: &[LinkStatus],
    kernel: &KernelView<'_>,
    lookup: &mut dyn FnMut(&RouteQuery) -> Result<RouteLookup, NetlinkError>,
) -> Report {
    let subjects = subjects(links);
    let targets = Targets::avoiding(&subjects);
    let mut lines: Vec<Line> = subjects
        .iter()
        .map(|subject| {
            check_subject(
                subject,
                kernel,
                targets.for_addr(subject.net.addr()),
                lookup,
            )
        })
        .collect();
    lines.extend(refused_lines(links));
    lines.push(check_metadata(provider, links, kernel, lookup));
    Report {
        ok: lines.iter().all(|l| l.ok),
        targets: vec![targets.v4, targets.v6],
        lines,
    }
}

/// One failing line per item the sanity gate refused on a link (its status line as it is).
fn refused_lines(links: &[LinkStatus]) -> impl Iterator<Item = Line> + '_ {
    links.iter().flat_map(|link| {
        link.refused.iter().map(|refusal| Line {
            subject: refusal.clone(),
            link: link.name.clone(),
            ok: false,
            via: None,
            reason: Some("not configured".to_string()),
        })
    })
}

/// Every address of every link, then every `from` prefix that is not one of them.
fn subjects(links: &[LinkStatus]) -> Vec<Subject<'_>> {
    let mut subjects = Vec::new();
    for link in links {
        for address in &link.addresses {
            let host = host_net(address.addr());
            subjects.push(Subject {
                net: host,
                link,
                rule: from_rule(link, address.addr()),
            });
        }
        for rule in &link.rules {
            let Some(from) = rule.from else { continue };
            let is_address = link.addresses.iter().any(|a| host_net(a.addr()) == from);
            if is_address || Some(rule.table) != link.table {
                continue;
            }
            subjects.push(Subject {
                net: from,
                link,
                rule: Some(rule),
            });
        }
    }
    subjects
}

fn host_net(addr: IpAddr) -> IpNet {
    match addr {
        IpAddr::V4(a) => IpNet::V4(crate::net::Ipv4Net::host(a)),
        IpAddr::V6(a) => IpNet::V6(crate::net::Ipv6Net::host(a)),
    }
}

fn covers(net: &IpNet, addr: IpAddr) -> bool {
    match (net, addr) {
        (IpNet::V4(n), IpAddr::V4(a)) => n.contains(a),
        (IpNet::V6(n), IpAddr::V6(a)) => n.contains(a),
        _ => false,
    }
}

/// The link's `from` rule into its own table that covers `addr` (the most specific one).
fn from_rule(link: &LinkStatus, addr: IpAddr) -> Option<&RuleStatus> {
    link.rules
        .iter()
        .filter(|r| Some(r.table) == link.table && r.to.is_none())
        .filter(|r| r.from.is_some_and(|from| covers(&from, addr)))
        .max_by_key(|r| r.from.map(|f| f.prefix()))
}

/// The destinations asked about: the first candidate of each family outside every subject.
struct Targets {
    v4: IpAddr,
    v6: IpAddr,
}

impl Targets {
    fn avoiding(subjects: &[Subject<'_>]) -> Targets {
        let subnets: Vec<IpNet> = subjects
            .iter()
            .flat_map(|s| s.link.addresses.iter().copied().chain([s.net]))
            .collect();
        let outside = |t: &IpAddr| !subnets.iter().any(|n| covers(n, *t));
        let v4 = TARGETS_V4.map(IpAddr::V4);
        let v6 = TARGETS_V6.map(IpAddr::V6);
        // Every candidate inside a configured subnet: the first is still off the NIC's own
        // address, which is all a lookup needs.
        Targets {
            v4: v4.into_iter().find(outside).unwrap_or(v4[0]),
            v6: v6.into_iter().find(outside).unwrap_or(v6[0]),
        }
    }

    fn for_addr(&self, addr: IpAddr) -> IpAddr {
        match addr {
            IpAddr::V4(_) => self.v4,
            IpAddr::V6(_) => self.v6,
        }
    }
}

/// The address a lookup for `net` is made from: the address itself, or a prefix's first host.
fn probe_source(net: &IpNet) -> IpAddr {
    match net {
        IpNet::V4(n) if n.prefix < 31 => IpAddr::V4(n.first_host()),
        IpNet::V4(n) => IpAddr::V4(n.network().addr),
        IpNet::V6(n) if n.prefix < 128 => {
            IpAddr::V6(Ipv6Addr::from(u128::from(n.network().addr) + 1))
        }
        IpNet::V6(n) => IpAddr::V6(n.addr),
    }
}

fn subject_name(net: &IpNet) -> String {
    let host = match net {
        IpNet::V4(n) => n.prefix == 32,
        IpNet::V6(n) => n.prefix == 128,
    };
    if host {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

fn check_subject(
    subject: &Subject<'_>,
    kernel: &KernelView<'_>,
    target: IpAddr,
    lookup: &mut dyn FnMut(&RouteQuery) -> Result<RouteLookup, NetlinkError>,
) -> Line {
    let link = subject.link;
    let source = probe_source(&subject.net);
    let local = RouteQuery {
        dst: target,
        src: Some(source),
        iif: None,
    };
    // A prefix that is not local (delegated to containers) is asked as forwarded traffic.
    let answer = match lookup(&local) {
        Err(e) if e.errno() == Some(libc::ENETUNREACH) && subject.net != host_net(source) => {
            lookup(&RouteQuery {
                iif: Some(link.ifindex),
                ..local
            })
        }
        other => other,
    };
    let via = answer.as_ref().ok().map(|found| path_of(found, kernel));
    let reason = match &answer {
        Ok(found) => reason_for(subject, kernel, found, target),
        Err(e) => Some(
            link_down(link, kernel)
                .or_else(|| missing_rule(subject, kernel))
                .unwrap_or_else(|| format!("the kernel has no route for replies: {e}")),
        ),
    };
    Line {
        subject: subject_name(&subject.net),
        link: link.name.clone(),
        ok: reason.is_none(),
        via,
        reason,
    }
}

/// Why replies do not leave by the owning link, in the order an operator would fix it;
/// None when they do and our rule is in place.
fn reason_for(
    subject: &Subject<'_>,
    kernel: &KernelView<'_>,
    found: &RouteLookup,
    target: IpAddr,
) -> Option<String> {
    let link = subject.link;
    if let Some(down) = link_down(link, kernel) {
        return Some(down);
    }
    if let Some(missing) = missing_rule(subject, kernel) {
        return Some(missing);
    }
    if found.oif == Some(link.ifindex) {
        return None;
    }
    let source = probe_source(&subject.net);
    if let Some(foreign) = shadowing_rule(subject, kernel, found, source, target) {
        return Some(format!(
            "rule {} is shadowed by the foreign rule {}",
            subject.rule.map_or(0, |r| r.priority),
            rule_text(foreign)
        ));
    }
    if let Some(table) = link.table {
        if !has_default_route(kernel, table, target) {
            return Some(format!("table {table} has no default route"));
        }
    }
    Some(format!("replies do not leave by {}", link.name))
}

/// `link eth1 is down` when the link is gone, administratively down, or without carrier.
fn link_down(link: &LinkStatus, kernel: &KernelView<'_>) -> Option<String> {
    let Some(found) = kernel.links.iter().find(|l| l.index == link.ifindex) else {
        return Some(format!(
            "link {} (ifindex {}) is gone",
            link.name, link.ifindex
        ));
    };
    let no_carrier = matches!(
        found.oper_state,
        OperState::Down | OperState::LowerLayerDown | OperState::NotPresent
    );
    (!found.up || no_carrier).then(|| format!("link {} is down", link.name))
}

/// `missing rule 3001: from 10.4.0.6/32 lookup 10001` when our rule is not in the kernel.
fn missing_rule(subject: &Subject<'_>, kernel: &KernelView<'_>) -> Option<String> {
    let rule = subject.rule?;
    let present = kernel.rules.iter().any(|r| {
        r.priority == rule.priority
            && r.src == rule.from
            && r.dst == rule.to
            && r.table == rule.table
    });
    (!present).then(|| {
        let from = rule.from.map_or("all".to_string(), |f| f.to_string());
        format!(
            "missing rule {}: from {from} lookup {}",
            rule.priority, rule.table
        )
    })
}

/// The rule before ours (lower priority number) that matches the reply and points at the
/// table the kernel's answer came from.
fn shadowing_rule<'a>(
    subject: &Subject<'_>,
    kernel: &'a KernelView<'_>,
    found: &RouteLookup,
    source: IpAddr,
    target: IpAddr,
) -> Option<&'a Rule> {
    let ours = subject.rule?;
    kernel.rules.iter().find(|r| {
        r.priority < ours.priority
            && r.table == found.table
            && r.table != ours.table
            && r.src.is_none_or(|src| covers(&src, source))
            && r.dst.is_none_or(|dst| covers(&dst, target))
    })
}

fn rule_text(rule: &Rule) -> String {
    let selector = |net: Option<IpNet>| net.map_or("all".to_string(), |n| n.to_string());
    let mut text = format!("{}: from {}", rule.priority, selector(rule.src));
    if let Some(dst) = rule.dst {
        text.push_str(&format!(" to {dst}"));
    }
    text + &format!(" lookup {}", table_name(rule.table))
}

fn has_default_route(kernel: &KernelView<'_>, table: u32, target: IpAddr) -> bool {
    kernel
        .routes
        .iter()
        .any(|r| r.table == table && r.dst.prefix() == 0 && covers(&r.dst, target))
}

fn path_of(found: &RouteLookup, kernel: &KernelView<'_>) -> Path {
    let dev = found.oif.map_or("-".to_string(), |index| {
        kernel
            .links
            .iter()
            .find(|l| l.index == index)
            .map_or(format!("ifindex {index}"), |l| l.name.clone())
    });
    Path {
        dev,
        gateway: found.gateway,
        table: found.table,
    }
}

/// The metadata service: the kernel's route to it must leave by the primary NIC.
fn check_metadata(
    provider: ProviderKind,
    links: &[LinkStatus],
    kernel: &KernelView<'_>,
    lookup: &mut dyn FnMut(&RouteQuery) -> Result<RouteLookup, NetlinkError>,
) -> Line {
    let address = IpAddr::V4(metadata_v4(provider));
    let primary = links.iter().find(|l| l.device_index == 0);
    let answer = lookup(&RouteQuery {
        dst: address,
        src: None,
        iif: None,
    });
    let via = answer.as_ref().ok().map(|found| path_of(found, kernel));
    let reason = match (&answer, primary) {
        (Err(e), _) => Some(format!("the kernel has no route to it: {e}")),
        (Ok(_), None) => Some("the primary NIC is not among the configured links".to_string()),
        (Ok(found), Some(primary)) if found.oif != Some(primary.ifindex) => {
            Some(format!("not reached by the primary NIC {}", primary.name))
        }
        (Ok(_), Some(_)) => None,
    };
    Line {
        subject: format!("metadata {address}"),
        link: primary.map_or("-".to_string(), |p| p.name.clone()),
        ok: reason.is_none(),
        via,
        reason,
    }
}
