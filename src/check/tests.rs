//! The check's verdicts on plain data: a two-NIC VM, the kernel's dumps as given, and a
//! lookup function that answers as the kernel would for each case; exact lines expected.

use super::*;
use crate::kernel::{Family, OperState, RouteType, Scope, TABLE_LOCAL};
use crate::netlink::KernelError;
use crate::snapshot::RuleStatus;
use std::net::IpAddr;

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn link_status(name: &str, ifindex: u32, device_index: u32, table: Option<u32>) -> LinkStatus {
    LinkStatus {
        name: name.into(),
        ifindex,
        mac: format!("02:00:00:00:00:0{ifindex}").parse().unwrap(),
        device_index,
        table,
        addresses: Vec::new(),
        routes: Vec::new(),
        rules: Vec::new(),
        refused: Vec::new(),
        unknown: None,
    }
}

fn rule_status(priority: u32, from: &str, table: u32) -> RuleStatus {
    RuleStatus {
        priority,
        from: Some(net(from)),
        to: None,
        table,
    }
}

/// eth0 (primary, main table) with 10.4.0.4; eth1 with 10.4.1.5 and the delegated prefix
/// 10.4.1.64/28, both routed by rules at 3001 into table 10001.
fn links() -> Vec<LinkStatus> {
    let mut eth0 = link_status("eth0", 2, 0, None);
    eth0.addresses = vec![net("10.4.0.4/24")];
    let mut eth1 = link_status("eth1", 3, 1, Some(10001));
    eth1.addresses = vec![net("10.4.1.5/24")];
    eth1.rules = vec![
        rule_status(3001, "10.4.1.5/32", 10001),
        rule_status(3001, "10.4.1.64/28", 10001),
    ];
    vec![eth0, eth1]
}

fn kernel_link(name: &str, index: u32, up: bool) -> Link {
    Link {
        index,
        name: name.into(),
        mac: None,
        mtu: 1500,
        up,
        oper_state: if up { OperState::Up } else { OperState::Down },
        kind: None,
        master: None,
        loopback: false,
        ethernet: true,
        group: 0,
    }
}

fn kernel_rule(priority: u32, src: Option<&str>, table: u32) -> Rule {
    Rule {
        family: Family::V4,
        priority,
        src: src.map(net),
        dst: None,
        table,
        suppress_prefixlen: None,
        suppress_ifgroup: None,
    }
}

fn default_route(table: u32, gateway: &str, oif: u32) -> Route {
    Route {
        table,
        dst: net("0.0.0.0/0"),
        gateway: Some(ip(gateway)),
        src: None,
        oif: Some(oif),
        protocol: 201,
        scope: Scope::Universe,
        kind: RouteType::Unicast,
        onlink: false,
        advertised: None,
    }
}

/// The kernel after a good round.
struct Kernel {
    links: Vec<Link>,
    rules: Vec<Rule>,
    routes: Vec<Route>,
}

fn configured() -> Kernel {
    Kernel {
        links: vec![kernel_link("eth0", 2, true), kernel_link("eth1", 3, true)],
        rules: vec![
            kernel_rule(0, None, TABLE_LOCAL),
            kernel_rule(3001, Some("10.4.1.5/32"), 10001),
            kernel_rule(3001, Some("10.4.1.64/28"), 10001),
            kernel_rule(32766, None, TABLE_MAIN),
        ],
        routes: vec![
            default_route(TABLE_MAIN, "10.4.0.1", 2),
            default_route(10001, "10.4.1.1", 3),
        ],
    }
}

fn answer(table: u32, gateway: &str, oif: u32) -> Result<RouteLookup, NetlinkError> {
    Ok(RouteLookup {
        table,
        oif: Some(oif),
        gateway: Some(ip(gateway)),
        prefsrc: None,
    })
}

fn unreachable(query: &RouteQuery) -> Result<RouteLookup, NetlinkError> {
    Err(NetlinkError::Unreachable(KernelError {
        errno: libc::ENETUNREACH,
        object: format!("route lookup {}", query.dst),
        ext_ack: None,
    }))
}

/// The kernel's answers for the healthy VM: eth1's sources by table 10001, the rest by main;
/// the prefix (not local) only as forwarded traffic.
fn healthy(query: &RouteQuery) -> Result<RouteLookup, NetlinkError> {
    match (query.src, query.iif) {
        (Some(src), None) if src == ip("10.4.1.65") => unreachable(query),
        (Some(src), _) if src.to_string().starts_with("10.4.1.") => answer(10001, "10.4.1.1", 3),
        _ => answer(TABLE_MAIN, "10.4.0.1", 2),
    }
}

/// Table 10001 empty (deleted, or flushed with its link): everything leaves by main, and the
/// prefix, not local and not forwarded anywhere, has no route.
fn without_table_10001(query: &RouteQuery) -> Result<RouteLookup, NetlinkError> {
    match query.src {
        Some(src) if src == ip("10.4.1.65") => unreachable(query),
        _ => answer(TABLE_MAIN, "10.4.0.1", 2),
    }
}

fn lines(
    links: &[LinkStatus],
    kernel: &Kernel,
    lookup: &mut dyn FnMut(&RouteQuery) -> Result<RouteLookup, NetlinkError>,
) -> (bool, Vec<String>) {
    let no_rp_filter = BTreeMap::new();
    let view = KernelView {
        links: &kernel.links,
        rules: &kernel.rules,
        routes: &kernel.routes,
        rp_filter: &no_rp_filter,
    };
    let report = evaluate(ProviderKind::Aws, links, &view, lookup, &mut || true).unwrap();
    let text = report.lines.iter().map(ToString::to_string).collect();
    (report.ok, text)
}

#[test]
fn a_healthy_vm_passes_every_line() {
    let mut queries = Vec::new();
    let (ok, text) = lines(&links(), &configured(), &mut |q| {
        queries.push(*q);
        healthy(q)
    });
    assert_eq!(
        text,
        [
            "✓ 10.4.0.4 (eth0): via 10.4.0.1 dev eth0 table main",
            "✓ 10.4.1.5 (eth1): via 10.4.1.1 dev eth1 table 10001",
            "✓ 10.4.1.64/28 (eth1): via 10.4.1.1 dev eth1 table 10001",
            "✓ metadata 169.254.169.254 (eth0): via 10.4.0.1 dev eth0 table main",
        ]
    );
    assert!(ok);
    let target = ip("198.51.100.1");
    let asked: Vec<RouteQuery> = [
        (Some("10.4.0.4"), None),
        (Some("10.4.1.5"), None),
        (Some("10.4.1.65"), None),
        (Some("10.4.1.65"), Some(3)),
    ]
    .into_iter()
    .map(|(src, iif)| RouteQuery {
        dst: target,
        src: src.map(ip),
        iif,
    })
    .chain([RouteQuery {
        dst: ip("169.254.169.254"),
        src: None,
        iif: None,
    }])
    .collect();
    assert_eq!(queries, asked);
}

/// Issue 24: what the gate refused is named, failing, beside the lines that pass.
#[test]
fn what_the_gate_refused_is_a_failing_line() {
    let mut links = links();
    links[1].refused = vec![
        "delegated prefix 10.4.1.0/28 refused: contains 10.4.1.1, the gateway of NIC \
         02:00:00:00:00:03"
            .to_string(),
    ];
    let (ok, text) = lines(&links, &configured(), &mut healthy);
    assert_eq!(
        text[3],
        "✗ delegated prefix 10.4.1.0/28 refused: contains 10.4.1.1, the gateway of NIC \
         02:00:00:00:00:03 (eth1): not configured"
    );
    assert_eq!(text.len(), 5, "{text:?}");
    assert!(text[..3]
        .iter()
        .chain(&text[4..])
        .all(|l| l.starts_with('✓')));
    assert!(!ok);
}

#[test]
fn a_missing_rule_is_named() {
    let mut kernel = configured();
    kernel.rules.retain(|r| r.src != Some(net("10.4.1.5/32")));
    let (ok, text) = lines(&links(), &kernel, &mut |q| match q.src {
        Some(src) if src == ip("10.4.1.5") => answer(TABLE_MAIN, "10.4.0.1", 2),
        _ => healthy(q),
    });
    assert!(!ok);
    assert_eq!(
        text[1],
        "✗ 10.4.1.5 (eth1): missing rule 3001: from 10.4.1.5/32 lookup 10001 \
         (replies: via 10.4.0.1 dev eth0 table main)"
    );
    assert!(text[2].starts_with('✓'), "{}", text[2]);
}

#[test]
fn a_foreign_rule_before_ours_is_named() {
    let mut kernel = configured();
    kernel.rules.insert(1, kernel_rule(100, None, 50));
    let (ok, text) = lines(&links(), &kernel, &mut |q| match q.src {
        Some(_) => answer(50, "10.4.0.1", 2),
        None => healthy(q),
    });
    assert!(!ok);
    assert_eq!(text[0], "✓ 10.4.0.4 (eth0): via 10.4.0.1 dev eth0 table 50");
    assert_eq!(
        text[1],
        "✗ 10.4.1.5 (eth1): rule 3001 is shadowed by the foreign rule 100: from all lookup 50 \
         (replies: via 10.4.0.1 dev eth0 table 50)"
    );
}

#[test]
fn a_table_without_default_route_is_named() {
    let mut kernel = configured();
    kernel.routes.retain(|r| r.table != 10001);
    let (ok, text) = lines(&links(), &kernel, &mut without_table_10001);
    assert!(!ok);
    assert_eq!(
        text[1],
        "✗ 10.4.1.5 (eth1): table 10001 has no default route \
         (replies: via 10.4.0.1 dev eth0 table main)"
    );
}

#[test]
fn a_link_down_is_named_first() {
    let mut kernel = configured();
    kernel.links[1] = kernel_link("eth1", 3, false);
    kernel.routes.retain(|r| r.table != 10001);
    let (ok, text) = lines(&links(), &kernel, &mut without_table_10001);
    assert!(!ok);
    assert_eq!(
        text[1],
        "✗ 10.4.1.5 (eth1): link eth1 is down (replies: via 10.4.0.1 dev eth0 table main)"
    );
    assert_eq!(text[2], "✗ 10.4.1.64/28 (eth1): link eth1 is down");
}

#[test]
fn the_metadata_service_must_be_reached_by_the_primary_nic() {
    let (ok, text) = lines(&links(), &configured(), &mut |q| match q.src {
        None => answer(10001, "10.4.1.1", 3),
        Some(_) => healthy(q),
    });
    assert!(!ok);
    assert_eq!(
        text[3],
        "✗ metadata 169.254.169.254 (eth0): not reached by the primary NIC eth0 \
         (replies: via 10.4.1.1 dev eth1 table 10001)"
    );
}

#[test]
fn targets_avoid_every_configured_subnet() {
    let mut links = links();
    links[1].addresses.push(net("198.51.100.7/24"));
    let mut asked = Vec::new();
    let view = configured();
    let no_rp_filter = BTreeMap::new();
    let kernel = KernelView {
        links: &view.links,
        rules: &view.rules,
        routes: &view.routes,
        rp_filter: &no_rp_filter,
    };
    let report = evaluate(
        ProviderKind::Aws,
        &links,
        &kernel,
        &mut |q| {
            asked.push(q.dst);
            healthy(q)
        },
        &mut || true,
    )
    .unwrap();
    assert_eq!(report.targets, [ip("203.0.113.1"), ip("2001:db8:ffff::1")]);
    assert_eq!(asked[0], ip("203.0.113.1"));
}

fn view<'a>(kernel: &'a Kernel, rp_filter: &'a BTreeMap<String, u8>) -> KernelView<'a> {
    KernelView {
        links: &kernel.links,
        rules: &kernel.rules,
        routes: &kernel.routes,
        rp_filter,
    }
}

static NO_RP_FILTER: BTreeMap<String, u8> = BTreeMap::new();

#[test]
fn a_check_stops_at_the_next_item_when_told() {
    let kernel = configured();
    let mut asked = 0;
    let mut keep_going = || {
        asked += 1;
        asked <= 2
    };
    let stopped = evaluate(
        ProviderKind::Aws,
        &links(),
        &view(&kernel, &NO_RP_FILTER),
        &mut healthy,
        &mut keep_going,
    );
    assert_eq!(
        stopped,
        Err(Stopped {
            checked: 2,
            total: 3
        })
    );
}

#[test]
fn forwarded_ips_and_alias_ranges_are_checked_once_each() {
    let mut links = links();
    links[1].routes = vec![
        "10.4.1.0/24 dev eth1 table 10001 proto 201 scope link src 10.4.1.5".into(),
        "local 10.4.1.50/32 dev eth1 table local proto 201 scope host".into(),
        "local 10.4.1.64/28 dev eth1 table local proto 201 scope host".into(),
    ];
    let (ok, text) = lines(&links, &configured(), &mut healthy);
    assert_eq!(
        text,
        [
            "✓ 10.4.0.4 (eth0): via 10.4.0.1 dev eth0 table main",
            "✓ 10.4.1.5 (eth1): via 10.4.1.1 dev eth1 table 10001",
            "✓ 10.4.1.50 (eth1): via 10.4.1.1 dev eth1 table 10001",
            "✓ 10.4.1.64/28 (eth1): via 10.4.1.1 dev eth1 table 10001",
            "✓ metadata 169.254.169.254 (eth0): via 10.4.0.1 dev eth0 table main",
        ]
    );
    assert!(ok);
}
