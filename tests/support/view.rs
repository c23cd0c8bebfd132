//! Kernel state as sorted text lines, read twice and independently: through the netlink layer
//! and through `ip -j`. Both sides render the same line format, so tests compare whole lists.

use super::netns::Netns;
use cloud_network::kernel::{KernelState, Route, RouteType, Rule, Scope};
use cloud_network::metadata::IpNet;
use cloud_network::netlink::Netlink;
use serde_json::Value;

/// What a reconcile may touch, one sorted list per kind of object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// `eth1 up mtu 1460`, for links named `eth*`, and ` group 201` when not in the default group.
    pub links: Vec<String>,
    /// `eth1 10.4.0.5/24 noprefixroute forever`; `dynamic` for a finite lifetime. IPv6
    /// link-local addresses are left out.
    pub addresses: Vec<String>,
    /// Routes of every table but main, local and default: `10001 default via G dev eth1 proto 201`.
    pub tables: Vec<String>,
    /// Local-table routes with protocol 201: `local 10.8.1.0/24 dev eth0 proto 201 scope host`.
    pub local: Vec<String>,
    /// IPv4 main-table routes: `default via 10.4.0.1 dev eth0`.
    pub main: Vec<String>,
    /// IPv4 and IPv6 rules: `3001 from 10.4.0.5 lookup 10001`.
    pub rules: Vec<String>,
}

impl View {
    /// Builds a view from expected lines (any order).
    pub fn expect(
        links: &[&str],
        addresses: &[&str],
        tables: &[&str],
        local: &[&str],
        main: &[&str],
        rules: &[&str],
    ) -> View {
        let own = |lines: &[&str]| sorted(lines.iter().map(|l| l.to_string()).collect());
        View {
            links: own(links),
            addresses: own(addresses),
            tables: own(tables),
            local: own(local),
            main: own(main),
            rules: own(rules),
        }
    }

    /// This view with `extra`'s lines added to each list.
    pub fn merged(&self, extra: &View) -> View {
        let add = |a: &[String], b: &[String]| plus(a, &strs(b));
        View {
            links: add(&self.links, &extra.links),
            addresses: add(&self.addresses, &extra.addresses),
            tables: add(&self.tables, &extra.tables),
            local: add(&self.local, &extra.local),
            main: add(&self.main, &extra.main),
            rules: add(&self.rules, &extra.rules),
        }
    }
}

/// The four IPv4 and two IPv6 rules every namespace starts with.
pub const DEFAULT_RULES: [&str; 5] = [
    "0 from all lookup local",
    "32766 from all lookup main",
    "32767 from all lookup default",
    "v6 0 from all lookup local",
    "v6 32766 from all lookup main",
];

/// `rules` followed by the namespace's `DEFAULT_RULES`.
pub fn with_defaults(rules: &[&str]) -> Vec<String> {
    rules
        .iter()
        .chain(&DEFAULT_RULES)
        .map(|r| r.to_string())
        .collect()
}

/// The lines as `&str`, for `View::expect`.
pub fn strs(lines: &[String]) -> Vec<&str> {
    lines.iter().map(String::as_str).collect()
}

/// `lines` without the ones in `gone` (each must be there).
pub fn without(lines: &[String], gone: &[&str]) -> Vec<String> {
    for line in gone {
        assert!(lines.iter().any(|l| l == line), "{line} not in {lines:#?}");
    }
    lines
        .iter()
        .filter(|l| !gone.contains(&l.as_str()))
        .cloned()
        .collect()
}

/// `lines` with `added`, sorted.
pub fn plus(lines: &[String], added: &[&str]) -> Vec<String> {
    let mut all: Vec<String> = lines
        .iter()
        .cloned()
        .chain(added.iter().map(|a| a.to_string()))
        .collect();
    all.sort();
    all
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

fn host_or_net(net: &IpNet) -> String {
    let full = if net.addr().is_ipv4() { 32 } else { 128 };
    match net.prefix() {
        0 => "default".to_string(),
        p if p == full => net.addr().to_string(),
        _ => net.to_string(),
    }
}

fn protocol_name(protocol: u8) -> Option<String> {
    match protocol {
        2 => Some("kernel".to_string()),
        3 => None,
        other => Some(other.to_string()),
    }
}

fn table_name(table: u32) -> String {
    match table {
        253 => "default".to_string(),
        254 => "main".to_string(),
        255 => "local".to_string(),
        other => other.to_string(),
    }
}

/// The shared route line: `[TABLE ][TYPE ]DST[ via GW] dev DEV[ proto P][ scope S][ src SRC]`.
struct RouteLine<'a> {
    table: Option<String>,
    kind: Option<&'a str>,
    dst: String,
    gateway: Option<String>,
    dev: String,
    protocol: Option<String>,
    scope: Option<&'a str>,
    src: Option<String>,
}

impl RouteLine<'_> {
    fn render(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        parts.extend(self.table.clone());
        parts.extend(self.kind.map(str::to_string));
        parts.push(self.dst.clone());
        parts.extend(self.gateway.as_ref().map(|g| format!("via {g}")));
        parts.push(format!("dev {}", self.dev));
        parts.extend(self.protocol.as_ref().map(|p| format!("proto {p}")));
        parts.extend(self.scope.map(|s| format!("scope {s}")));
        parts.extend(self.src.as_ref().map(|s| format!("src {s}")));
        parts.join(" ")
    }
}

/// A link line with ` group N` unless the link is in the default group.
fn with_group(line: String, group: &str) -> String {
    match group {
        "0" | "default" => line,
        other => format!("{line} group {other}"),
    }
}

/// A rule's `from`/`to` selectors and what its lookup suppresses (prefix length, ifgroup).
struct RuleSelectors {
    src: Option<String>,
    dst: Option<String>,
    suppress_prefixlen: Option<u64>,
    suppress_ifgroup: Option<String>,
}

fn rule_line(v6: bool, priority: u64, selectors: RuleSelectors, table: &str) -> String {
    let mut line = format!(
        "{}{priority} from {}",
        if v6 { "v6 " } else { "" },
        selectors.src.unwrap_or_else(|| "all".to_string())
    );
    if let Some(dst) = selectors.dst {
        line.push_str(&format!(" to {dst}"));
    }
    line.push_str(&format!(" lookup {table}"));
    if let Some(len) = selectors.suppress_prefixlen {
        line.push_str(&format!(" suppress_prefixlength {len}"));
    }
    if let Some(group) = selectors.suppress_ifgroup {
        line.push_str(&format!(" suppress_ifgroup {group}"));
    }
    line
}

/// The view through the netlink layer (a fresh connection in the current thread's namespace).
pub fn from_netlink() -> View {
    let mut nl = Netlink::open().expect("open netlink");
    let state = nl.state().expect("read kernel state");
    netlink_view(&state)
}

pub fn netlink_view(state: &KernelState) -> View {
    let name = |index: u32| {
        state
            .links
            .iter()
            .find(|l| l.index == index)
            .map_or_else(|| format!("if{index}"), |l| l.name.clone())
    };
    let ours = |index: u32| name(index).starts_with("eth");
    let links = state
        .links
        .iter()
        .filter(|l| l.name.starts_with("eth"))
        .map(|l| {
            let line = format!(
                "{} {} mtu {}",
                l.name,
                if l.up { "up" } else { "down" },
                l.mtu
            );
            with_group(line, &l.group.to_string())
        })
        .collect();
    let addresses = state
        .addresses
        .iter()
        .filter(|a| ours(a.ifindex) && !is_link_local(&a.addr))
        .map(|a| {
            address_line(
                &name(a.ifindex),
                &a.addr.to_string(),
                a.noprefixroute,
                a.valid_lft == u32::MAX,
            )
        })
        .collect();
    let line = |r: &Route, table: Option<String>| netlink_route_line(r, table, &name);
    let tables = state
        .routes
        .iter()
        .filter(|r| !(253..=255).contains(&r.table))
        .map(|r| line(r, Some(table_name(r.table))))
        .collect();
    let local = state
        .routes
        .iter()
        .filter(|r| r.table == 255 && r.protocol == 201)
        .map(|r| line(r, None))
        .collect();
    let main = state
        .routes
        .iter()
        .filter(|r| r.table == 254 && r.dst.addr().is_ipv4())
        .map(|r| line(r, None))
        .collect();
    let rules = state.rules.iter().map(netlink_rule_line).collect();
    View {
        links: sorted(links),
        addresses: sorted(addresses),
        tables: sorted(tables),
        local: sorted(local),
        main: sorted(main),
        rules: sorted(rules),
    }
}

fn is_link_local(net: &IpNet) -> bool {
    matches!(net, IpNet::V6(n) if n.addr.segments()[0] & 0xffc0 == 0xfe80)
}

fn address_line(dev: &str, addr: &str, noprefixroute: bool, forever: bool) -> String {
    format!(
        "{dev} {addr}{} {}",
        if noprefixroute { " noprefixroute" } else { "" },
        if forever { "forever" } else { "dynamic" }
    )
}

fn netlink_route_line(r: &Route, table: Option<String>, name: &dyn Fn(u32) -> String) -> String {
    RouteLine {
        table,
        kind: match r.kind {
            RouteType::Unicast => None,
            RouteType::Local => Some("local"),
            RouteType::Other(_) => Some("other"),
        },
        dst: host_or_net(&r.dst),
        gateway: r.gateway.map(|g| g.to_string()),
        dev: r.oif.map_or_else(|| "none".to_string(), name),
        protocol: protocol_name(r.protocol),
        scope: match r.scope {
            Scope::Universe => None,
            Scope::Link => Some("link"),
            Scope::Host => Some("host"),
            Scope::Other(_) => Some("other"),
        },
        src: r.src.map(|s| s.to_string()),
    }
    .render()
}

fn netlink_rule_line(r: &Rule) -> String {
    let selectors = RuleSelectors {
        src: r.src.as_ref().map(host_or_net),
        dst: r.dst.as_ref().map(host_or_net),
        suppress_prefixlen: r.suppress_prefixlen.map(u64::from),
        suppress_ifgroup: r.suppress_ifgroup.map(|g| g.to_string()),
    };
    rule_line(
        r.family == cloud_network::kernel::Family::V6,
        u64::from(r.priority),
        selectors,
        &table_name(r.table),
    )
}

/// The view through `ip -j`, run inside `ns`.
pub fn from_ip(ns: &Netns) -> View {
    let links = array(&ns.json(&["ip", "-j", "link", "show"]))
        .iter()
        .filter(|l| text(l, "ifname").starts_with("eth"))
        .map(|l| {
            let up = l["flags"]
                .as_array()
                .is_some_and(|f| f.iter().any(|x| x == "UP"));
            let mtu = l["mtu"].as_u64().expect("mtu");
            let line = format!(
                "{} {} mtu {mtu}",
                text(l, "ifname"),
                if up { "up" } else { "down" }
            );
            with_group(line, &text(l, "group"))
        })
        .collect();
    // Without `-4`, `ip route show table all` lists the IPv6 routes as well.
    let both = |args: &[&str]| -> Vec<Value> {
        let v4 = ns.json(&[&["ip", "-4", "-j"], args].concat());
        let v6 = ns.json(&[&["ip", "-6", "-j"], args].concat());
        [array(&v4), array(&v6)].concat()
    };
    let tables = both(&["route", "show", "table", "all"])
        .iter()
        .filter(|r| {
            !matches!(
                r["table"].as_str(),
                None | Some("local" | "main" | "default")
            )
        })
        .map(|r| ip_route_line(r, Some(text(r, "table")), None))
        .collect();
    let local = both(&["route", "show", "table", "local", "proto", "201"])
        .iter()
        .map(|r| ip_route_line(r, None, Some("201")))
        .collect();
    let main = array(&ns.json(&["ip", "-j", "route", "show", "table", "main"]))
        .iter()
        .map(|r| ip_route_line(r, None, None))
        .collect();
    let mut rules: Vec<String> = ip_rules(&ns.json(&["ip", "-j", "rule", "show"]), false);
    rules.extend(ip_rules(
        &ns.json(&["ip", "-6", "-j", "rule", "show"]),
        true,
    ));
    View {
        links: sorted(links),
        addresses: sorted(ip_addresses(ns)),
        tables: sorted(tables),
        local: sorted(local),
        main: sorted(main),
        rules: sorted(rules),
    }
}

fn array(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn text(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key} in {v}"))
        .to_string()
}

fn opt(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().map(str::to_string)
}

fn ip_addresses(ns: &Netns) -> Vec<String> {
    let mut lines = Vec::new();
    for link in array(&ns.json(&["ip", "-j", "address", "show"])) {
        let dev = text(&link, "ifname");
        if !dev.starts_with("eth") {
            continue;
        }
        for a in array(&link["addr_info"]) {
            if a["scope"] == "link" && a["family"] == "inet6" {
                continue;
            }
            let addr = format!("{}/{}", text(&a, "local"), a["prefixlen"]);
            let noprefixroute = a["noprefixroute"].as_bool().unwrap_or(false);
            let forever = a["valid_life_time"].as_u64() == Some(u64::from(u32::MAX));
            lines.push(address_line(&dev, &addr, noprefixroute, forever));
        }
    }
    lines
}

/// `filtered_protocol`: the protocol a `proto P` filter selected (ip then omits it).
fn ip_route_line(r: &Value, table: Option<String>, filtered_protocol: Option<&str>) -> String {
    RouteLine {
        table,
        kind: r["type"].as_str(),
        dst: text(r, "dst"),
        gateway: opt(r, "gateway"),
        dev: text(r, "dev"),
        protocol: opt(r, "protocol").or(filtered_protocol.map(str::to_string)),
        scope: r["scope"].as_str(),
        src: opt(r, "prefsrc"),
    }
    .render()
}

fn ip_rules(rules: &Value, v6: bool) -> Vec<String> {
    let selector = |r: &Value, key: &str, len: &str| {
        opt(r, key)
            .filter(|s| s != "all")
            .map(|s| match r[len].as_u64() {
                Some(n) => format!("{s}/{n}"),
                None => s,
            })
    };
    array(rules)
        .iter()
        .map(|r| {
            let selectors = RuleSelectors {
                src: selector(r, "src", "srclen"),
                dst: selector(r, "dst", "dstlen"),
                suppress_prefixlen: r["suppress_prefixlen"].as_u64(),
                suppress_ifgroup: opt(r, "suppress_ifgroup"),
            };
            rule_line(
                v6,
                r["priority"].as_u64().expect("rule priority"),
                selectors,
                &text(r, "table"),
            )
        })
        .collect()
}

/// Reads both views and asserts they agree; returns the one view.
pub fn read_both(ns: &Netns) -> View {
    let through_netlink = from_netlink();
    let through_ip = from_ip(ns);
    assert_eq!(
        through_netlink, through_ip,
        "the netlink layer and ip -j disagree"
    );
    through_netlink
}
