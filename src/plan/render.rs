//! Human renderings of changes: iproute2 commands a person could paste (`--dry-run`) and the
//! one-line per-NIC summary (`--oneshot`, logs).

use super::diff::PlannedChange;
use crate::kernel::{
    Change, Family, KernelState, Route, RouteType, RouterPref, Rule, Scope, TABLE_LOCAL, TABLE_MAIN,
};
use crate::metadata::IpNet;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

/// Names links by index from a kernel snapshot (`if<N>` for one that is gone).
pub fn link_namer(kernel: &KernelState) -> impl Fn(u32) -> String + '_ {
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
pub fn ip_command(change: &Change, name_of: &dyn Fn(u32) -> String) -> String {
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
pub fn route_spec(r: &Route, name_of: &dyn Fn(u32) -> String) -> String {
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
pub fn summary(changes: &[PlannedChange], name_of: &dyn Fn(u32) -> String) -> Vec<String> {
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
