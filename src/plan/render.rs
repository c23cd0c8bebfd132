//! Human renderings of a plan: iproute2 commands a person could paste (`--dry-run`), the
//! one-line per-NIC summary (`--oneshot`, logs), and the lines a pass reports: the record
//! entries dropped, the NICs skipped or unknown, what the sanity gate refused.

use super::diff::PlannedChange;
use super::pass::Planned;
use super::sanity::Refusal;
use super::{Desired, Skipped};
use crate::kernel::{
    Change, Family, KernelState, Route, RouteType, RouterPref, Rule, Scope, TABLE_LOCAL, TABLE_MAIN,
};
use crate::metadata::IpNet;
use crate::net::Mac;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Names links by index from a kernel snapshot (`if<N>` for one that is gone).
pub(crate) fn link_namer(kernel: &KernelState) -> impl Fn(u32) -> String + '_ {
    move |index| {
        kernel
            .links
            .iter()
            .find(|l| l.index == index)
            .map(|l| l.name.clone())
            .unwrap_or_else(|| format!("if{index}"))
    }
}

/// The `ip` command equivalent to a change. `name_of` turns an ifindex into a link name.
pub(crate) fn ip_command(change: &Change, name_of: &dyn Fn(u32) -> String) -> String {
    match change {
        Change::LinkUp { name, .. } => format!("ip link set dev {name} up"),
        Change::SetMtu { name, mtu, .. } => format!("ip link set dev {name} mtu {mtu}"),
        Change::PromoteSecondaries { name, .. } => {
            format!("sysctl -w net.ipv4.conf.{name}.promote_secondaries=1")
        }
        Change::SetGroup { name, group, .. } => format!("ip link set dev {name} group {group}"),
        Change::AddAddress(a) => format!(
            "ip address add {} dev {}{}{}",
            a.addr,
            name_of(a.ifindex),
            if a.noprefixroute {
                " noprefixroute"
            } else {
                ""
            },
            if Family::of_net(&a.addr) == Family::V6 {
                " nodad"
            } else {
                ""
            }
        ),
        Change::DelAddress(a) => format!("ip address del {} dev {}", a.addr, name_of(a.ifindex)),
        Change::AddRoute(r) => route_command("add", r, name_of),
        Change::AdoptRoute(r) => route_command("replace", r, name_of),
        Change::DelRoute(r) => route_command("del", r, name_of),
        Change::AddRule(r) => rule_command("add", r),
        Change::DelRule(r) => rule_command("del", r),
        Change::AddVlan {
            name,
            parent_name,
            mac,
            id,
            ..
        } => format!("ip link add link {parent_name} name {name} address {mac} type vlan id {id}"),
        Change::DelVlan { name, .. } => format!("ip link del dev {name}"),
    }
}

fn ip(family: Family) -> &'static str {
    match family {
        Family::V4 => "ip",
        Family::V6 => "ip -6",
    }
}

fn table_name(table: u32) -> String {
    match table {
        TABLE_MAIN => "main".to_string(),
        TABLE_LOCAL => "local".to_string(),
        other => other.to_string(),
    }
}

fn destination(dst: &IpNet) -> String {
    if dst.prefix() == 0 {
        "default".to_string()
    } else {
        dst.to_string()
    }
}

/// An add also sets the lifetime the route has left, when it expires.
fn route_command(verb: &str, r: &Route, name_of: &dyn Fn(u32) -> String) -> String {
    let mut cmd = format!("{} route {verb} {}", ip(r.family()), route_spec(r, name_of));
    let expires = r.advertised.and_then(|a| a.expires);
    if let Some(expires) = expires.filter(|_| verb == "add") {
        let _ = write!(cmd, " expires {expires}");
    }
    cmd
}

/// A route as `ip route` arguments: `default via 10.4.0.1 dev eth1 table 10001 proto 201`.
pub(crate) fn route_spec(r: &Route, name_of: &dyn Fn(u32) -> String) -> String {
    let mut cmd = String::new();
    if r.kind == RouteType::Local {
        cmd.push_str("local ");
    }
    cmd.push_str(&destination(&r.dst));
    if let Some(gw) = r.gateway {
        let _ = write!(cmd, " via {gw}");
    }
    if let Some(oif) = r.oif {
        let _ = write!(cmd, " dev {}", name_of(oif));
    }
    let _ = write!(cmd, " table {} proto {}", table_name(r.table), r.protocol);
    match r.scope {
        Scope::Link => cmd.push_str(" scope link"),
        Scope::Host => cmd.push_str(" scope host"),
        Scope::Universe | Scope::Other(_) => {}
    }
    if let Some(src) = r.src {
        let _ = write!(cmd, " src {src}");
    }
    if r.onlink {
        cmd.push_str(" onlink");
    }
    if let Some(advertised) = r.advertised {
        let pref = match advertised.pref {
            RouterPref::High => "high",
            RouterPref::Medium => "medium",
            RouterPref::Low => "low",
        };
        let _ = write!(cmd, " pref {pref}");
    }
    cmd
}

fn rule_command(verb: &str, r: &Rule) -> String {
    let mut cmd = format!("{} rule {verb}", ip(r.family));
    if let Some(src) = r.src {
        let _ = write!(cmd, " from {src}");
    }
    if let Some(dst) = r.dst {
        let _ = write!(cmd, " to {dst}");
    }
    let _ = write!(cmd, " lookup {}", table_name(r.table));
    if let Some(len) = r.suppress_prefixlen {
        let _ = write!(cmd, " suppress_prefixlength {len}");
    }
    if let Some(group) = r.suppress_ifgroup {
        let _ = write!(cmd, " suppress_ifgroup {group}");
    }
    let _ = write!(cmd, " priority {}", r.priority);
    cmd
}

/// Per-NIC tallies for the summary line.
#[derive(Default)]
struct Tally {
    vlans: Vec<String>,
    link: Vec<String>,
    addresses: (usize, usize),
    tables: BTreeSet<u32>,
    local_routes: usize,
    routes_removed: usize,
    rules: (usize, usize),
}

fn count(n: usize, sign: char, one: &str, many: &str) -> Option<String> {
    (n > 0).then(|| format!("{sign}{n} {}", if n == 1 { one } else { many }))
}

impl Tally {
    fn add(&mut self, change: &Change) {
        match change {
            Change::LinkUp { .. } => self.link.push("link up".to_string()),
            Change::SetMtu { mtu, .. } => self.link.push(format!("mtu {mtu}")),
            Change::PromoteSecondaries { .. } => {}
            Change::SetGroup { group, .. } => self.link.push(format!("group {group}")),
            Change::AddAddress(_) => self.addresses.0 += 1,
            Change::DelAddress(_) => self.addresses.1 += 1,
            Change::AddRoute(r) | Change::AdoptRoute(r) if r.table == TABLE_LOCAL => {
                self.local_routes += 1
            }
            Change::AddRoute(r) | Change::AdoptRoute(r) => {
                self.tables.insert(r.table);
            }
            Change::DelRoute(_) => self.routes_removed += 1,
            Change::AddRule(_) => self.rules.0 += 1,
            Change::DelRule(_) => self.rules.1 += 1,
            Change::AddVlan { name, id, .. } => self.vlans.push(format!("+VLAN {id} link {name}")),
            Change::DelVlan { name, .. } => self.vlans.push(format!("-VLAN link {name}")),
        }
    }

    fn render(&self) -> String {
        let parts = self.vlans.iter().chain(&self.link).cloned().chain(
            [
                count(self.addresses.0, '+', "address", "addresses"),
                count(self.addresses.1, '-', "address", "addresses"),
                count(self.tables.len(), '+', "route table", "route tables"),
                count(self.local_routes, '+', "local route", "local routes"),
                count(self.routes_removed, '-', "route", "routes"),
                count(self.rules.0, '+', "rule", "rules"),
                count(self.rules.1, '-', "rule", "rules"),
            ]
            .into_iter()
            .flatten(),
        );
        parts.collect::<Vec<_>>().join(", ")
    }
}

/// One line per NIC with changes (`eth1: +3 addresses, +1 route table, +6 rules`), then one
/// for the main rule (`desired::main_rule`); empty when there is nothing to do.
pub(crate) fn summary(changes: &[PlannedChange], name_of: &dyn Fn(u32) -> String) -> Vec<String> {
    let mut per_link: BTreeMap<u32, Tally> = BTreeMap::new();
    let mut global = Tally::default();
    for planned in changes {
        match planned.nic {
            Some(nic) => per_link.entry(nic.ifindex).or_default(),
            None => &mut global,
        }
        .add(&planned.change);
    }
    let mut lines: Vec<String> = per_link
        .iter()
        .map(|(index, tally)| format!("{}: {}", name_of(*index), tally.render()))
        .collect();
    let global_line = global.render();
    if !global_line.is_empty() {
        lines.push(format!("main rule: {global_line}"));
    }
    lines
}

/// One line per record entry dropped for lacking our marks, naming the delete not sent.
pub(crate) fn disowned_lines(planned: &Planned, kernel: &KernelState) -> Vec<String> {
    let name_of = link_namer(kernel);
    planned
        .disowned
        .iter()
        .map(|d| {
            format!(
                "the ownership record names {}, which does not carry our marks; not deleted, \
                 dropped from the record: {}",
                d.reason,
                ip_command(&d.delete, &name_of)
            )
        })
        .collect()
}

/// The `--dry-run` rendering: one `ip` command per change (then the second pass's, for VLAN
/// links it creates), or "No changes".
pub fn dry_run_lines(planned: &Planned, kernel: &KernelState) -> Vec<String> {
    if planned.changes.is_empty() {
        return vec!["No changes".to_string()];
    }
    let mut after = kernel.clone();
    after.links.extend(planned.preview_links.iter().cloned());
    let name_of = link_namer(&after);
    planned
        .changes
        .iter()
        .chain(&planned.preview)
        .map(|p| ip_command(&p.change, &name_of))
        .collect()
}

/// The skipped NICs, for the log: those that need an operator, one line each (the first
/// list), and those without their link yet, normal during hot-plug, all in one line.
pub(crate) fn skipped_lines<'a>(
    skipped: impl IntoIterator<Item = &'a Skipped>,
) -> (Vec<String>, Option<String>) {
    let mut operator = Vec::new();
    let mut no_link = Vec::new();
    for skip in skipped {
        match skip {
            Skipped::NoLink { mac } => no_link.push(*mac),
            Skipped::Ambiguous { .. }
            | Skipped::IndexOutOfRange { .. }
            | Skipped::NoParent { .. }
            | Skipped::VlanClash { .. }
            | Skipped::MacInUse { .. } => operator.push(skip.to_string()),
        }
    }
    let waiting = match no_link.as_slice() {
        [] => None,
        [mac] => Some(Skipped::NoLink { mac: *mac }.to_string()),
        macs => Some(format!("{}: no link with these MACs (yet)", nic_list(macs))),
    };
    (operator, waiting)
}

/// `NICs a, b, c and 7 more`: at most five MACs named.
fn nic_list(macs: &[Mac]) -> String {
    const NAMED: usize = 5;
    let named: Vec<String> = macs.iter().take(NAMED).map(ToString::to_string).collect();
    let more = macs.len().saturating_sub(NAMED);
    if more == 0 {
        format!("NICs {}", named.join(", "))
    } else {
        format!("NICs {} and {more} more", named.join(", "))
    }
}

/// The NICs unknown this round, then what the sanity gate refused: one line per NIC each.
pub(crate) fn nic_problem_lines(desired: &Desired) -> Vec<String> {
    let unknown = desired.unknown.iter().map(ToString::to_string);
    unknown.chain(refusal_lines(&desired.refused)).collect()
}

/// What the sanity gate refused, one line per NIC (`NIC <mac>: address … refused: …; MTU …`).
fn refusal_lines(refused: &[Refusal]) -> Vec<String> {
    let mut lines: Vec<(Mac, String)> = Vec::new();
    for refusal in refused {
        match lines.iter_mut().find(|(mac, _)| *mac == refusal.mac) {
            Some((_, line)) => line.push_str(&format!("; {refusal}")),
            None => lines.push((refusal.mac, format!("NIC {}: {refusal}", refusal.mac))),
        }
    }
    lines.into_iter().map(|(_, line)| line).collect()
}
