//! Root-only: the main rule and the interface group through the netlink layer, read back by
//! netlink and `ip -j`, and the routing decisions they give (`ip route get`) on a VM shaped as
//! on Azure: eth0 (primary, DHCP's 10.4.0.0/24 route and default route in main) and eth1
//! (10.4.0.5, table 10001) in one subnet, a `docker0`-like bridge in main. Also: an IPv6 address
//! added `nodad` is usable at once with DAD on.

mod support;

use cloud_network::kernel::{Address, Change, Family, Rule, TABLE_MAIN};
use cloud_network::netlink::Netlink;
use cloud_network::plan::desired::main_rule;
use cloud_network::plan::PlanSettings;
use support::netns::{require_root, Netns};

const GROUP: u32 = 201;

/// eth0 with DHCP's lease, eth1 with 10.4.0.5 and table 10001 (subnet and default routes) and
/// its `from` rule, docker0 with 172.17.0.1/16; DAD on everywhere.
fn azure_like_vm(ns: &Netns) {
    ns.run_ok(&["ip", "link", "set", "lo", "up"]);
    ns.veth("eth0", "p0", None);
    ns.veth("eth1", "p1", None);
    for link in ["p0", "p1", "eth1"] {
        ns.run_ok(&["ip", "link", "set", link, "up"]);
    }
    ns.dhcp_lease("10.4.0.4/24", "10.4.0.1", false);
    let ip = |args: &[&str]| ns.run_ok(&[&["ip"][..], args].concat());
    ip(&[
        "address",
        "add",
        "10.4.0.5/24",
        "dev",
        "eth1",
        "noprefixroute",
    ]);
    ip(&[
        "route",
        "add",
        "10.4.0.0/24",
        "dev",
        "eth1",
        "table",
        "10001",
        "src",
        "10.4.0.5",
    ]);
    ip(&[
        "route", "add", "default", "via", "10.4.0.1", "dev", "eth1", "table", "10001",
    ]);
    ip(&[
        "rule", "add", "from", "10.4.0.5", "lookup", "10001", "priority", "3001",
    ]);
    ip(&["link", "add", "docker0", "type", "bridge"]);
    ip(&["address", "add", "172.17.0.1/16", "dev", "docker0"]);
    ip(&["link", "set", "docker0", "up"]);
}

/// `ip route get` as `dev D` (and `table T` when not main).
fn route_get(ns: &Netns, args: &[&str]) -> String {
    let got = ns.json(&[&["ip", "-j", "route", "get"][..], args].concat());
    let route = &got[0];
    let mut text = format!("dev {}", route["dev"].as_str().expect("dev"));
    if let Some(table) = route["table"].as_str().filter(|t| *t != "main") {
        text.push_str(&format!(" table {table}"));
    }
    text
}

fn set_group(nl: &mut Netlink, ns: &Netns, link: &str, group: u32) {
    let change = Change::SetGroup {
        ifindex: ns.ifindex(link),
        name: link.to_string(),
        group,
    };
    assert!(nl.apply(&[change]).iter().all(Result::is_ok));
}

#[test]
fn the_main_rule_lets_the_host_networks_win_and_keeps_each_subnet_on_its_nic() {
    require_root();
    let ns = Netns::new("mainrule");
    let _entered = ns.enter();
    azure_like_vm(&ns);
    let mut nl = Netlink::open().expect("open netlink");
    let settings = PlanSettings::default();
    let rules: Vec<Rule> = [Family::V4, Family::V6]
        .into_iter()
        .map(|f| main_rule(f, &settings))
        .collect();
    let adds: Vec<Change> = rules.iter().cloned().map(Change::AddRule).collect();
    assert!(nl.apply(&adds).iter().all(Result::is_ok));
    for link in ["eth0", "eth1"] {
        set_group(&mut nl, &ns, link, GROUP);
    }

    let state = nl.state().expect("read kernel state");
    assert!(rules.iter().all(|r| state.rules.contains(r)), "{state:?}");
    let grouped: Vec<(&str, u32)> = state
        .links
        .iter()
        .map(|l| (l.name.as_str(), l.group))
        .filter(|(name, _)| name.starts_with("eth") || *name == "docker0")
        .collect();
    assert_eq!(grouped, [("eth0", GROUP), ("eth1", GROUP), ("docker0", 0)]);
    let shown = ns.json(&["ip", "-j", "rule", "show", "priority", "2999"]);
    assert_eq!(shown[0]["table"], "main");
    assert_eq!(shown[0]["suppress_prefixlen"], 0);
    assert_eq!(shown[0]["suppress_ifgroup"], "201");

    let decisions = [
        (
            &["10.4.0.99", "from", "10.4.0.5"][..],
            "dev eth1 table 10001",
        ),
        (&["172.17.0.2", "from", "10.4.0.5"], "dev docker0"),
        (
            &["168.63.129.16", "from", "10.4.0.5"],
            "dev eth1 table 10001",
        ),
        (&["203.0.113.7", "from", "10.4.0.5"], "dev eth1 table 10001"),
        (&["169.254.169.254"], "dev eth0"),
        (&["10.4.0.99", "from", "10.4.0.4"], "dev eth0"),
    ];
    for (args, want) in decisions {
        assert_eq!(route_get(&ns, args), want, "ip route get {args:?}");
    }

    // Gone again: the rules deleted, the links back in the default group.
    let dels: Vec<Change> = rules.iter().cloned().map(Change::DelRule).collect();
    assert!(nl.apply(&dels).iter().all(Result::is_ok));
    for link in ["eth0", "eth1"] {
        set_group(&mut nl, &ns, link, 0);
    }
    let state = nl.state().expect("read kernel state");
    assert!(state
        .rules
        .iter()
        .all(|r| r.table != TABLE_MAIN || r.priority == 32766));
    assert!(state.links.iter().all(|l| l.group == 0));
    assert_eq!(
        route_get(&ns, &["172.17.0.2", "from", "10.4.0.5"]),
        "dev eth1 table 10001",
        "without the main rule eth1's table shadows docker0"
    );
    // nm-cloud-setup's bare rule, without the group: main's 10.4.0.0/24 dev eth0 takes eth1's
    // replies to its own subnet out of eth0.
    ns.run_ok(&[
        "ip",
        "rule",
        "add",
        "priority",
        "2999",
        "lookup",
        "main",
        "suppress_prefixlength",
        "0",
    ]);
    assert_eq!(
        route_get(&ns, &["10.4.0.99", "from", "10.4.0.5"]),
        "dev eth0"
    );
}

#[test]
fn an_ipv6_address_added_nodad_is_usable_at_once_with_dad_on() {
    require_root();
    let ns = Netns::new("nodad");
    let _entered = ns.enter();
    ns.veth("eth1", "p1", None);
    for link in ["p1", "eth1"] {
        ns.run_ok(&["ip", "link", "set", link, "up"]);
    }
    let dad = ns.run_ok(&["cat", "/proc/sys/net/ipv6/conf/eth1/accept_dad"]);
    assert_eq!(dad.trim(), "1");
    let mut nl = Netlink::open().expect("open netlink");
    let address = Address {
        ifindex: ns.ifindex("eth1"),
        addr: "fd00:4::5/64".parse().unwrap(),
        noprefixroute: true,
        valid_lft: u32::MAX,
        preferred_lft: u32::MAX,
    };
    assert!(nl
        .apply(&[Change::AddAddress(address)])
        .iter()
        .all(Result::is_ok));
    let shown = ns.run_ok(&["ip", "-6", "address", "show", "dev", "eth1"]);
    let line = shown
        .lines()
        .find(|l| l.contains("fd00:4::5/64"))
        .unwrap_or_else(|| panic!("{shown}"));
    assert!(
        line.contains("nodad") && !line.contains("tentative"),
        "{line}"
    );
    ns.run_ok(&[
        "ip",
        "-6",
        "route",
        "add",
        "fd00:4::/64",
        "dev",
        "eth1",
        "table",
        "10001",
        "src",
        "fd00:4::5",
    ]);
}
