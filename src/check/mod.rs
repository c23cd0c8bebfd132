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
//! `report` is the answer (the types served as JSON and read back by `cnctl`; nothing of the
//! kernel in it), `run` reads the kernel and produces it within a time budget. Deciding is
//! pure ([`evaluate`], given the dumps and a lookup function; `subjects`, `verdict` and
//! `paths`). Time and memory are linear in the subjects: every subject is looked up against
//! indexes built once.

#[cfg(test)]
mod tests;

mod paths;
pub(crate) mod report;
mod run;
mod subjects;
mod verdict;

use crate::kernel::{Family, Link, Route, RouteType, Rule, TABLE_MAIN};
use crate::net::{IpNet, ProviderKind};
use crate::netlink::{NetlinkError, RouteLookup, RouteQuery};
use crate::plan::index::FastSet;
use crate::snapshot::LinkStatus;
use report::{Line, Report};
pub use run::{run, Budget, CheckError};
use std::collections::BTreeMap;
use subjects::{subjects, Targets};
use verdict::{check_metadata, check_subject};

/// Main's routes over unmanaged links looked at, per check: a VM has a few (docker0, a VPN);
/// the bound keeps the lookups linear in the subjects whatever the main table holds.
const MAX_FOREIGN_ROUTES: usize = 8;

/// A route lookup, as the kernel (or a test) answers it.
pub type Lookup<'l> = dyn FnMut(&RouteQuery) -> Result<RouteLookup, NetlinkError> + 'l;

/// What the kernel holds now, as the check reads it.
pub struct KernelView<'a> {
    pub links: &'a [Link],
    pub rules: &'a [Rule],
    pub routes: &'a [Route],
    /// `net.ipv4.conf.<name>.rp_filter` by link name, `all` included (absent: 0).
    pub rp_filter: &'a BTreeMap<String, u8>,
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

/// The check stopped early: `checked` of `total` subjects were done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    pub checked: usize,
    pub total: usize,
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
