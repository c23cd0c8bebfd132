//! The reply-path check behind `GET /api/v1/check` and `cnctl check`: for every address,
//! locally accepted range (alias ranges, forwarded IPs) and `from` prefix (delegated
//! prefixes) the daemon configured, the kernel's own answer to "which link and gateway would a
//! reply from it leave by" (`RTM_GETROUTE`, as `ip route get <off-subnet target> from <ip>`),
//! whether that is the NIC that owns it, and if not, why: the link is down, our rule is
//! missing, a foreign rule at a lower priority shadows it, or the NIC's table has no default
//! route. Then what a user would still hit: a strict `rp_filter` that drops what arrives for
//! it, and main's more specific routes over links we do not manage (docker0, a tunnel) that
//! our table shadows (see `paths`). Also that the metadata service is reached by the primary
//! NIC, and, as failing lines, what the sanity gate refused of each link (never configured, so
//! no reply leaves by it).
//!
//! Where it runs: on a thread of its own that the API starts for it (see `crate::api`), one
//! check at a time, within a time budget, stopped when no client waits for it any more. It
//! opens a netlink socket of its own; everything it does is a read (link, rule and route dumps,
//! route lookups, `rp_filter` from /proc), none of which needs a capability, so it runs with the
//! API thread's credentials (none), and the thread that parses HTTP gets no way to change the
//! kernel. It reads the kernel as it is at that moment, not as the last reconcile round left
//! it, so it also shows what another program changed since; the reconcile thread is never
//! involved or waited on. Time and memory are linear in the subjects: every subject is looked
//! up against indexes built once. Deciding is pure ([`evaluate`], given the dumps and a lookup
//! function); only [`run`] touches the kernel.

#[cfg(test)]
mod tests;

mod paths;
mod subjects;
mod verdict;

use crate::kernel::{Family, Link, Route, RouteType, Rule, TABLE_MAIN};
use crate::net::{IpNet, ProviderKind};
use crate::netlink::{Netlink, NetlinkError, RouteLookup, RouteQuery};
use crate::plan::index::FastSet;
use crate::snapshot::LinkStatus;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use subjects::{subjects, Targets};
use verdict::{check_metadata, check_subject, table_name};

/// Main's routes over unmanaged links looked at, per check: a VM has a few (docker0, a VPN);
/// the bound keeps the lookups linear in the subjects whatever the main table holds.
const MAX_FOREIGN_ROUTES: usize = 8;

/// A route lookup, as the kernel (or a test) answers it.
pub type Lookup<'l> = dyn FnMut(&RouteQuery) -> Result<RouteLookup, NetlinkError> + 'l;

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

/// What the kernel holds now, as the check reads it.
pub struct KernelView<'a> {
    pub links: &'a [Link],
    pub rules: &'a [Rule],
    pub routes: &'a [Route],
    /// `net.ipv4.conf.<name>.rp_filter` by link name, `all` included (absent: 0).
    pub rp_filter: &'a BTreeMap<String, u8>,
}

/// Why the check gave no report.
#[derive(Debug)]
pub enum CheckError {
    /// A dump failed.
    Kernel(NetlinkError),
    /// The time budget ran out after `checked` of `total` subjects.
    OverBudget {
        budget: Duration,
        checked: usize,
        total: usize,
    },
    /// Every client that asked for it has gone: the rest was not computed.
    NobodyWaits,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CheckError::Kernel(e) => write!(f, "cannot read the kernel's routing state: {e}"),
            CheckError::OverBudget {
                budget,
                checked,
                total,
            } => write!(
                f,
                "the check did not finish within {} s ({checked} of {total} items checked)",
                budget.as_secs_f64()
            ),
            CheckError::NobodyWaits => f.write_str("no client waits for the check any more"),
        }
    }
}

impl std::error::Error for CheckError {}

/// How long a check may take, and how it learns that nobody waits for it any more.
pub struct Budget<'a> {
    pub limit: Duration,
    pub nobody_waits: &'a dyn Fn() -> bool,
}

/// The check stopped early: `checked` of `total` subjects were done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    pub checked: usize,
    pub total: usize,
}

/// Reads the kernel of the calling thread's namespace and checks every configured link,
/// within `budget`.
pub fn run(
    provider: ProviderKind,
    links: &[LinkStatus],
    budget: &Budget<'_>,
) -> Result<Report, CheckError> {
    let until = Instant::now() + budget.limit;
    let mut netlink = Netlink::open().map_err(CheckError::Kernel)?;
    let kernel_links = netlink.links().map_err(CheckError::Kernel)?;
    let rules = netlink.rules().map_err(CheckError::Kernel)?;
    let routes = netlink.routes().map_err(CheckError::Kernel)?;
    let rp_filter = read_rp_filter(links);
    let kernel = KernelView {
        links: &kernel_links,
        rules: &rules,
        routes: &routes,
        rp_filter: &rp_filter,
    };
    let mut keep_going = || Instant::now() < until && !(budget.nobody_waits)();
    let lookup = &mut |query: &RouteQuery| netlink.route_get(query);
    evaluate(provider, links, &kernel, lookup, &mut keep_going).map_err(|stopped| {
        if (budget.nobody_waits)() {
            CheckError::NobodyWaits
        } else {
            CheckError::OverBudget {
                budget: budget.limit,
                checked: stopped.checked,
                total: stopped.total,
            }
        }
    })
}

/// `rp_filter` of `all` and of every configured link, from /proc/sys/net/ipv4/conf/.
fn read_rp_filter(links: &[LinkStatus]) -> BTreeMap<String, u8> {
    let names = std::iter::once("all").chain(links.iter().map(|l| l.name.as_str()));
    let mut values = BTreeMap::new();
    values.extend(
        names
            .filter(|name| !name.contains('/') && !matches!(*name, "" | "." | ".."))
            .filter_map(|name| {
                let path = format!("/proc/sys/net/ipv4/conf/{name}/rp_filter");
                let value = std::fs::read_to_string(path).ok()?.trim().parse().ok()?;
                Some((name.to_string(), value))
            }),
    );
    values
}

/// What every line is judged against, built once per check.
pub struct Context<'a> {
    kernel: &'a KernelView<'a>,
    targets: Targets,
    /// The kernel's rules.
    present: FastSet<&'a Rule>,
    /// Main's more specific routes over links we do not manage (at most
    /// [`MAX_FOREIGN_ROUTES`] per family).
    foreign: Vec<&'a Route>,
}

impl<'a> Context<'a> {
    fn new(links: &[LinkStatus], kernel: &'a KernelView<'a>, targets: Targets) -> Context<'a> {
        let present = kernel.rules.iter().collect();
        Context {
            kernel,
            targets,
            present,
            foreign: foreign_routes(links, kernel),
        }
    }

    /// Whether the kernel has the rule `priority: from <from> to <to> lookup <table>`.
    fn has_rule(&self, priority: u32, from: Option<IpNet>, to: Option<IpNet>, table: u32) -> bool {
        let v6 = from.or(to).is_some_and(|net| !net.addr().is_ipv4());
        let rule = Rule {
            family: if v6 { Family::V6 } else { Family::V4 },
            priority,
            src: from,
            dst: to,
            table,
            suppress_prefixlen: None,
            suppress_ifgroup: None,
        };
        self.present.contains(&rule)
    }

    /// The effective mode on a link: the larger of `all` and the link's own.
    fn rp_filter(&self, link: &str) -> u8 {
        let mode = |name: &str| self.kernel.rp_filter.get(name).copied().unwrap_or(0);
        mode("all").max(mode(link))
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

/// Unicast routes of the main table, more specific than a default, over a link that is
/// neither configured by us nor loopback; IPv6 link-local ones left out.
fn foreign_routes<'a>(links: &[LinkStatus], kernel: &'a KernelView<'a>) -> Vec<&'a Route> {
    let loopback = |oif: u32| kernel.links.iter().any(|l| l.index == oif && l.loopback);
    let unmanaged = |oif: u32| !links.iter().any(|l| l.ifindex == oif) && !loopback(oif);
    let link_local =
        |dst: &IpNet| matches!(dst, IpNet::V6(n) if n.addr.segments()[0] & 0xffc0 == 0xfe80);
    let candidates = kernel.routes.iter().filter(|r| {
        r.table == TABLE_MAIN
            && r.kind == RouteType::Unicast
            && r.dst.prefix() > 0
            && !link_local(&r.dst)
            && r.oif.is_some_and(unmanaged)
    });
    let v4 = candidates.clone().filter(|r| r.dst.addr().is_ipv4());
    let v6 = candidates.filter(|r| !r.dst.addr().is_ipv4());
    v4.take(MAX_FOREIGN_ROUTES)
        .chain(v6.take(MAX_FOREIGN_ROUTES))
        .collect()
}

/// The check, from the dumps and a lookup function (pure but for what `lookup` does);
/// `keep_going` is asked before each subject, and a false stops the check.
pub fn evaluate(
    provider: ProviderKind,
    links: &[LinkStatus],
    kernel: &KernelView<'_>,
    lookup: &mut Lookup<'_>,
    keep_going: &mut dyn FnMut() -> bool,
) -> Result<Report, Stopped> {
    let subjects = subjects(links);
    let ctx = Context::new(links, kernel, Targets::avoiding(links, &subjects));
    let mut lines = Vec::with_capacity(subjects.len() + 1);
    for subject in &subjects {
        if !keep_going() {
            return Err(Stopped {
                checked: lines.len(),
                total: subjects.len(),
            });
        }
        lines.push(check_subject(subject, &ctx, lookup));
    }
    lines.extend(refused_lines(links));
    lines.push(check_metadata(provider, links, kernel, lookup));
    Ok(Report {
        ok: lines.iter().all(|l| l.ok),
        targets: vec![ctx.targets.v4, ctx.targets.v6],
        lines,
    })
}
