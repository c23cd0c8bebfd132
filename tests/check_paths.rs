//! The reply-path check against kernel states built by hand in a namespace (root; runs in CI),
//! run in-process from a thread inside it, as the API's check thread runs it: dual-stack VMs
//! of every provider with IPv6 (IPv6 lookups must use the flags the kernel accepts), a
//! forwarded IP that a strict `rp_filter` drops, and a docker0-like bridge whose route in main
//! our table shadows. The check asks the kernel, so it is right whatever rule set is in place.
mod api_client;
mod support;

use api_client::{get, read_reply};
use cloud_network::api::{self, ApiOptions, Limits};
use cloud_network::check::{self, Budget};
use cloud_network::metadata::ProviderKind;
use cloud_network::privileges::confine::Confinement;
use cloud_network::snapshot::{LinkStatus, RefreshRecord, RuleStatus, SharedSnapshot, Snapshot};
use cloud_network::trigger;
use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;
use support::netns::{require_root, Netns};

/// A two-NIC VM in its own namespace: eth0 (primary, main table) and eth1 (table 10001), each
/// with an IPv4 address in 10.4.0.0/24 and an IPv6 one in `v6`::/64, both gateways `.1`/`::1`.
struct Vm {
    ns: Netns,
    v6: &'static str,
}

impl Vm {
    fn new(tag: &str, v6: &'static str) -> Vm {
        let ns = Netns::new(tag);
        let vm = Vm { ns, v6 };
        vm.run(&["ip", "link", "set", "lo", "up"]);
        for (link, peer, last) in [("eth0", "peer0", "4"), ("eth1", "peer1", "5")] {
            vm.ns.veth(link, peer, None);
            vm.run(&["ip", "link", "set", peer, "up"]);
            vm.run(&["ip", "link", "set", link, "up"]);
            vm.run(&[
                "ip",
                "address",
                "add",
                &format!("10.4.0.{last}/24"),
                "dev",
                link,
            ]);
            let v6_address = format!("{v6}::{last}/64");
            vm.run(&[
                "ip",
                "-6",
                "address",
                "add",
                &v6_address,
                "dev",
                link,
                "nodad",
            ]);
        }
        let gw6 = format!("{v6}::1");
        vm.run(&[
            "ip", "route", "add", "default", "via", "10.4.0.1", "dev", "eth0",
        ]);
        vm.run(&[
            "ip", "-6", "route", "add", "default", "via", &gw6, "dev", "eth0",
        ]);
        let table = ["table", "10001"];
        vm.run(
            &[
                &[
                    "ip", "route", "add", "default", "via", "10.4.0.1", "dev", "eth1",
                ][..],
                &table,
            ]
            .concat(),
        );
        vm.run(
            &[
                &[
                    "ip", "-6", "route", "add", "default", "via", &gw6, "dev", "eth1",
                ][..],
                &table,
            ]
            .concat(),
        );
        for from in ["10.4.0.5".to_string(), format!("{v6}::5")] {
            vm.rule("add", &from);
        }
        vm
    }

    fn run(&self, args: &[&str]) {
        self.ns.run_ok(args);
    }

    fn rule(&self, verb: &str, from: &str) {
        let family = if from.contains(':') { "-6" } else { "-4" };
        self.run(&[
            "ip", family, "rule", verb, "from", from, "lookup", "10001", "priority", "3001",
        ]);
    }

    /// The links as the daemon's status would show them.
    fn links(&self) -> Vec<LinkStatus> {
        let link = |name: &str, device_index: u32, last: &str, table: Option<u32>| LinkStatus {
            name: name.to_string(),
            ifindex: self.ns.ifindex(name),
            mac: format!("02:00:00:00:00:0{device_index}").parse().unwrap(),
            device_index,
            table,
            addresses: vec![
                format!("10.4.0.{last}/24").parse().unwrap(),
                format!("{}::{last}/64", self.v6).parse().unwrap(),
            ],
            routes: Vec::new(),
            rules: Vec::new(),
            refused: Vec::new(),
            unknown: None,
        };
        let mut eth1 = link("eth1", 1, "5", Some(10001));
        for from in ["10.4.0.5/32".to_string(), format!("{}::5/128", self.v6)] {
            eth1.rules.push(rule_status(&from));
        }
        vec![link("eth0", 0, "4", None), eth1]
    }

    /// `cnctl check`'s lines, the check run from a thread inside the namespace.
    fn check(&self, provider: ProviderKind, links: &[LinkStatus]) -> Vec<String> {
        let _inside = self.ns.enter();
        let nobody_waits = || false;
        let budget = Budget {
            limit: Duration::from_secs(60),
            nobody_waits: &nobody_waits,
        };
        let report = check::run(provider, links, &budget).expect("the check runs");
        let lines: Vec<String> = report.lines.iter().map(ToString::to_string).collect();
        assert_eq!(report.ok, lines.iter().all(|l| l.starts_with('✓')));
        lines
    }
}

fn rule_status(from: &str) -> RuleStatus {
    RuleStatus {
        priority: 3001,
        from: Some(from.parse().unwrap()),
        to: None,
        table: 10001,
    }
}

/// Every line of a healthy dual-stack VM passes, IPv6 included, with the kernel's own paths.
fn dual_stack(provider: ProviderKind, tag: &str, v6: &'static str, metadata: &str) {
    require_root();
    let vm = Vm::new(tag, v6);
    assert_eq!(
        vm.check(provider, &vm.links()),
        [
            "✓ 10.4.0.4 (eth0): via 10.4.0.1 dev eth0 table main".to_string(),
            format!("✓ {v6}::4 (eth0): via {v6}::1 dev eth0 table main"),
            "✓ 10.4.0.5 (eth1): via 10.4.0.1 dev eth1 table 10001".to_string(),
            format!("✓ {v6}::5 (eth1): via {v6}::1 dev eth1 table 10001"),
            format!("✓ metadata {metadata} (eth0): via 10.4.0.1 dev eth0 table main"),
        ]
    );
    vm.rule("del", &format!("{v6}::5"));
    let lines = vm.check(provider, &vm.links());
    assert_eq!(
        lines[3],
        format!(
            "✗ {v6}::5 (eth1): missing rule 3001: from {v6}::5/128 lookup 10001 \
             (replies: via {v6}::1 dev eth0 table main)"
        )
    );
}

#[test]
fn ec2_dual_stack_checks_every_ipv6_address() {
    dual_stack(
        ProviderKind::Aws,
        "ck6-ec2",
        "2600:1f14:4",
        "169.254.169.254",
    );
}

#[test]
fn gcp_dual_stack_checks_every_ipv6_address() {
    dual_stack(
        ProviderKind::Gcp,
        "ck6-gcp",
        "2600:1900:4",
        "169.254.169.254",
    );
}

#[test]
fn azure_dual_stack_checks_every_ipv6_address() {
    dual_stack(ProviderKind::Azure, "ck6-az", "fd00:4:1", "169.254.169.254");
}

#[test]
fn oci_dual_stack_checks_every_ipv6_address() {
    dual_stack(
        ProviderKind::Oracle,
        "ck6-oci",
        "2603:c020:4",
        "169.254.169.254",
    );
}

#[test]
fn alibaba_dual_stack_checks_every_ipv6_address() {
    dual_stack(
        ProviderKind::Alibaba,
        "ck6-ali",
        "2408:4004:4",
        "100.100.100.200",
    );
}

#[test]
fn digitalocean_dual_stack_checks_every_ipv6_address() {
    dual_stack(
        ProviderKind::DigitalOcean,
        "ck6-do",
        "2604:a880:4",
        "169.254.169.254",
    );
}

#[test]
fn a_forwarded_ip_without_a_from_rule_under_strict_rp_filter_is_named() {
    require_root();
    let vm = Vm::new("ck-rpf", "2600:1900:4");
    vm.run(&["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"]);
    let forwarded = [
        "10.4.0.50/32",
        "dev",
        "eth1",
        "table",
        "local",
        "proto",
        "201",
        "scope",
        "host",
    ];
    vm.run(&[&["ip", "route", "add", "local"][..], &forwarded].concat());
    let mut links = vm.links();
    links[1].routes.push(format!(
        "local {} table local proto 201 scope host",
        forwarded[..3].join(" ")
    ));
    let lines = vm.check(ProviderKind::Gcp, &links);
    assert_eq!(lines.len(), 6, "{lines:#?}");
    assert_eq!(
        lines[4],
        "✗ 10.4.0.50 (eth1): replies do not leave by eth1; rp_filter=1 on eth1 drops what \
         arrives for it from 198.51.100.1 (it has no from rule): route lookup 10.4.0.50 from \
         198.51.100.1 iif ifindex 5: Invalid argument (os error 22) (replies: via 10.4.0.1 dev \
         eth0 table main)"
    );
    vm.rule("add", "10.4.0.50");
    links[1].rules.push(rule_status("10.4.0.50/32"));
    let lines = vm.check(ProviderKind::Gcp, &links);
    assert_eq!(
        lines[4],
        "✓ 10.4.0.50 (eth1): via 10.4.0.1 dev eth1 table 10001"
    );
    assert!(lines.iter().all(|l| l.starts_with('✓')), "{lines:#?}");
}

#[test]
fn a_docker0_route_in_main_shadowed_by_our_table_is_named() {
    require_root();
    let vm = Vm::new("ck-dock", "2600:1f14:4");
    vm.ns.veth("docker0", "vethc", None);
    vm.run(&["ip", "link", "set", "vethc", "up"]);
    vm.run(&["ip", "link", "set", "docker0", "up"]);
    vm.run(&["ip", "address", "add", "172.17.0.1/16", "dev", "docker0"]);
    let lines = vm.check(ProviderKind::Aws, &vm.links());
    assert_eq!(
        lines[0],
        "✓ 10.4.0.4 (eth0): via 10.4.0.1 dev eth0 table main"
    );
    assert_eq!(
        lines[2],
        "✗ 10.4.0.5 (eth1): main's route 172.17.0.0/16 dev docker0 is shadowed: replies to \
         172.17.0.2 leave via 10.4.0.1 dev eth1 table 10001 (replies: via 10.4.0.1 dev eth1 \
         table 10001)"
    );
    // A rule that lets main's more specific routes win, whatever its exact form.
    vm.run(&[
        "ip",
        "rule",
        "add",
        "lookup",
        "main",
        "suppress_prefixlength",
        "0",
        "priority",
        "100",
    ]);
    let lines = vm.check(ProviderKind::Aws, &vm.links());
    assert!(lines.iter().all(|l| l.starts_with('✓')), "{lines:#?}");
}

#[test]
fn a_check_past_its_budget_or_without_a_client_stops_and_says_so() {
    require_root();
    let vm = Vm::new("ck-budget", "2600:1f14:4");
    let _inside = vm.ns.enter();
    let links = vm.links();
    let never = || false;
    let spent = Budget {
        limit: Duration::ZERO,
        nobody_waits: &never,
    };
    let over = check::run(ProviderKind::Aws, &links, &spent).expect_err("no time at all");
    assert_eq!(
        over.to_string(),
        "the check did not finish within 0 s (0 of 4 items checked)"
    );
    let gone = || true;
    let abandoned = Budget {
        limit: Duration::from_secs(60),
        nobody_waits: &gone,
    };
    let stopped = check::run(ProviderKind::Aws, &links, &abandoned).expect_err("nobody waits");
    assert!(
        matches!(stopped, check::CheckError::NobodyWaits),
        "{stopped}"
    );
}

/// A snapshot after a good round with `links`.
fn configured(provider: ProviderKind, links: Vec<LinkStatus>) -> Snapshot {
    let mut snap = Snapshot::starting(Some(provider), "2024-02-29T00:00:00Z".into());
    snap.status.last_refresh = Some(RefreshRecord {
        time: "2024-02-29T00:00:01Z".into(),
        result: "ok".into(),
        changes: 0,
        summary: Vec::new(),
    });
    snap.status.links = links;
    snap
}

#[test]
fn four_clients_share_one_check_while_the_status_answers() {
    require_root();
    let vm = Vm::new("ck-api", "2600:1900:4");
    let mut links = vm.links();
    links[1].addresses.extend((0..2000u32).map(|i| {
        let [_, _, hi, lo] = (0x0a05_0000 + i).to_be_bytes();
        format!("10.5.{hi}.{lo}/32")
            .parse::<cloud_network::net::IpNet>()
            .unwrap()
    }));
    let _inside = vm.ns.enter();
    let (wake, _triggers) = trigger::channel().expect("trigger channel");
    let listen = "127.0.0.1:5209".parse().unwrap();
    let options = ApiOptions {
        serve_credentials: false,
        listen,
        limits: Limits::default(),
    };
    let snapshot = SharedSnapshot::new(configured(ProviderKind::Gcp, links));
    let _api = api::spawn(listen, snapshot, wake, options, Confinement::NoCapabilities)
        .expect("start the API");
    let connect = || {
        let stream = TcpStream::connect(listen).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
    };
    let mut checks: Vec<TcpStream> = (0..4).map(|_| connect()).collect();
    for stream in &mut checks {
        stream.write_all(get("/api/v1/check").as_bytes()).unwrap();
    }
    let mut status = connect();
    status.write_all(get("/api/v1/status").as_bytes()).unwrap();
    assert_eq!(read_reply(&mut status, false).status, 200);
    let replies: Vec<_> = checks.iter_mut().map(|s| read_reply(s, false)).collect();
    let report: serde_json::Value = serde_json::from_str(&replies[0].body).expect("JSON");
    assert_eq!(replies[0].status, 200, "{}", replies[0].body);
    assert_eq!(report["lines"].as_array().map(Vec::len), Some(2005));
    for reply in &replies[1..] {
        assert_eq!((reply.status, &reply.body), (200, &replies[0].body));
    }
}
