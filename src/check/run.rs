//! The check's run: reads the kernel of the calling thread's namespace on a netlink socket of
//! its own (link, rule and route dumps, route lookups, `rp_filter` from /proc) and evaluates
//! every configured link against it, within a time budget, stopped as soon as nobody waits
//! for the answer any more. Everything it does is a read, none of which needs a capability:
//! a thread without any can run it and gets no way to change the kernel. It reads the kernel
//! as it is at that moment, not as the last reconcile round left it, so it also shows what
//! another program changed since; no other thread is involved or waited on.

use super::report::Report;
use super::{evaluate, KernelView};
use crate::net::ProviderKind;
use crate::netlink::{Netlink, NetlinkError, RouteQuery};
use crate::snapshot::LinkStatus;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

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
