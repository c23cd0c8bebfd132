//! Root-only reconcile tests against a real kernel, each VM in its own namespace with the
//! metadata emulator inside: apply per provider (read back through netlink and `ip -j`),
//! idempotence, removal, coexistence with what is not ours, restart safety, a link vanishing
//! mid-apply, and the `--dry-run` / `--oneshot` output contract.

mod support;

use cloud_network::daemon::apply::{apply_round, Outcome};
use cloud_network::netlink::monitor::Event;
use cloud_network::netlink::Netlink;
use cloud_network::plan::{plan_round, Owned, PlanSettings};
use serde_json::{Map, Value};
use std::sync::atomic::AtomicBool;
use support::aws::{aws_expected, AWS, AWS_SCENARIO};
use support::azure::{azure_expected, azure_with, AZURE, AZURE_SCENARIO};
use support::events::KernelEvents;
use support::gcp::{gcp_expected, GCP};
use support::monitor::IpMonitor;
use support::netns::require_root;
use support::scene::{stdout_ok, Scene, Vm};
use support::view::{plus, read_both, without, View, DEFAULT_RULES};

const AZURE_3: Vm = Vm {
    macs: &[
        "00:0d:3a:4f:6b:10",
        "00:0d:3a:4f:6b:11",
        "00:0d:3a:4f:6b:12",
    ],
    ..AZURE
};

const AWS_3: Vm = Vm {
    macs: &[
        "0a:3f:5c:1e:7d:01",
        "0a:3f:5c:1e:7d:02",
        "0a:3f:5c:1e:7d:03",
    ],
    ..AWS
};

/// One library-level round in the current thread's namespace, with the changes it planned
/// (every one is sent) and the kernel events they caused.
struct Round {
    outcome: Outcome,
    owned: Owned,
    planned: usize,
    events: Vec<Event>,
}

fn round(scene: &Scene, owned: &Owned) -> Round {
    let instance = scene.fetch();
    let mut nl = Netlink::open().expect("open netlink");
    let mut events = KernelEvents::open();
    let kernel = nl.state().expect("read kernel");
    let planned = plan_round(&instance, &kernel, owned, &PlanSettings::default());
    let planned_changes = planned.changes.len();
    let (outcome, owned) = apply_round(&mut nl, planned, &kernel, &AtomicBool::new(false));
    assert!(
        outcome.failures.is_empty(),
        "failures: {:?}",
        outcome.failures
    );
    Round {
        outcome,
        owned,
        planned: planned_changes,
        events: events.drain(),
    }
}

/// Applies the scenario, checks the kernel exactly, then checks a second round writes nothing.
fn apply_and_check(scene: &Scene, expected: &View) {
    let first = round(scene, &Owned::default());
    assert!(first.planned > 0 && !first.events.is_empty());
    assert_eq!(read_both(&scene.ns), *expected);
    let second = round(scene, &first.owned);
    assert_eq!(
        (second.planned, second.events.as_slice()),
        (0, &[][..]),
        "second round: {:?}",
        second.outcome.summary
    );
    assert!(second.outcome.summary.is_empty());
    assert_eq!(second.owned, first.owned);
    assert_eq!(read_both(&scene.ns), *expected);
}

#[test]
fn azure_apply_reads_back_exactly_and_is_idempotent() {
    require_root();
    let scene = Scene::new("rc-azure", AZURE, None);
    apply_and_check(&scene, &azure_expected());
}

/// The default EC2 scenario plus a third NIC on network card 1 (index 101).
fn aws_three_nics() -> String {
    let mut tree: Map<String, Value> = serde_json::from_str(AWS_SCENARIO).expect("aws scenario");
    let dir = "meta-data/network/interfaces/macs/0a:3f:5c:1e:7d:03/";
    for (leaf, value) in [
        ("device-number", "1"),
        ("network-card", "1"),
        ("interface-id", "eni-0a1b2c3d4e5f60003"),
        ("local-ipv4s", "172.31.30.7\n172.31.30.8"),
        ("mac", "0a:3f:5c:1e:7d:03"),
        ("subnet-ipv4-cidr-block", "172.31.28.0/22"),
    ] {
        tree.insert(format!("{dir}{leaf}"), Value::String(value.to_string()));
    }
    Value::Object(tree).to_string()
}

#[test]
fn ec2_apply_uses_network_card_in_the_index() {
    require_root();
    let scene = Scene::new("rc-aws", AWS_3, Some(&aws_three_nics()));
    let third_nic = View::expect(
        &["eth2 up mtu 1500 group 201"],
        &[
            "eth2 172.31.30.7/22 noprefixroute forever",
            "eth2 172.31.30.8/22 noprefixroute forever",
        ],
        &[
            "10101 default via 172.31.28.1 dev eth2 proto 201",
            "10101 172.31.28.0/22 dev eth2 proto 201 scope link src 172.31.30.7",
        ],
        &[],
        &[],
        &[
            "3101 from 172.31.30.7 lookup 10101",
            "3101 from all to 172.31.30.7 lookup 10101",
            "3101 from 172.31.30.8 lookup 10101",
            "3101 from all to 172.31.30.8 lookup 10101",
        ],
    );
    let expected = aws_expected().merged(&third_nic);
    apply_and_check(&scene, &expected);
}

#[test]
fn gcp_apply_sets_mtu_and_local_routes_and_is_idempotent() {
    require_root();
    let scene = Scene::new("rc-gcp", GCP, None);
    apply_and_check(&scene, &gcp_expected());
}

#[test]
fn removal_takes_only_ours_and_leaves_foreign_objects_alone() {
    require_root();
    let scene = Scene::new("rc-remove", AZURE, None);
    let ns = &scene.ns;
    let first = round(&scene, &Owned::default());
    ns.run_ok(&["ip", "address", "add", "10.4.0.50/24", "dev", "eth1"]);
    ns.run_ok(&[
        "ip", "rule", "add", "from", "10.4.0.6", "lookup", "10001", "priority", "1000",
    ]);
    let mut expected = azure_expected();
    expected.addresses = plus(&expected.addresses, &["eth1 10.4.0.50/24 forever"]);
    expected.rules = plus(&expected.rules, &["1000 from 10.4.0.6 lookup 10001"]);
    assert_eq!(read_both(ns), expected);

    let all_eth0: &[&str] = &["10.4.0.4", "10.4.0.8", "10.4.0.9"];
    let text = azure_with(&[(0, all_eth0), (1, &["10.4.0.5", "10.4.0.7"])]);
    scene.emulator.set_scenario_text(&text).expect("scenario");
    let second = round(&scene, &first.owned);
    assert_eq!(second.outcome.summary, ["eth1: -1 address, -2 rules"]);
    expected.addresses = without(
        &expected.addresses,
        &["eth1 10.4.0.6/24 noprefixroute forever"],
    );
    expected.rules = without(
        &expected.rules,
        &[
            "3001 from 10.4.0.6 lookup 10001",
            "3001 from all to 10.4.0.6 lookup 10001",
        ],
    );
    assert_eq!(read_both(ns), expected);

    let text = azure_with(&[(0, all_eth0), (1, &[])]);
    scene.emulator.set_scenario_text(&text).expect("scenario");
    let third = round(&scene, &second.owned);
    assert_eq!(
        third.outcome.summary,
        [
            "eth0: group 0",
            "eth1: group 0, -2 addresses, -2 routes, -4 rules",
            "main rule: -1 rule",
        ]
    );
    expected.addresses = without(
        &expected.addresses,
        &[
            "eth1 10.4.0.5/24 noprefixroute forever",
            "eth1 10.4.0.7/24 noprefixroute forever",
        ],
    );
    expected.tables.clear();
    expected.links = vec!["eth0 up mtu 1500".into(), "eth1 up mtu 1500".into()];
    expected.main = plus(
        &expected.main,
        &["10.4.0.0/24 dev eth1 proto kernel scope link src 10.4.0.50"],
    );
    expected.rules = plus(
        &DEFAULT_RULES.map(String::from),
        &["1000 from 10.4.0.6 lookup 10001"],
    );
    assert_eq!(read_both(ns), expected);
    assert!(third
        .owned
        .nics
        .keys()
        .all(|mac| mac.to_string() != AZURE.macs[1]));
    let promote = ns.run_ok(&["sysctl", "-n", "net.ipv4.conf.eth1.promote_secondaries"]);
    assert_eq!(promote.trim(), "1");
    assert_dhcp_lease_untouched(&scene);
}

/// eth0's DHCP address still counts down (lifetimes ≤ 3600 s, no `permanent`).
fn assert_dhcp_lease_untouched(scene: &Scene) {
    let links = scene
        .ns
        .json(&["ip", "-j", "address", "show", "dev", "eth0"]);
    let lease = &links[0]["addr_info"][0];
    assert_eq!(lease["local"], "10.4.0.4");
    assert_eq!(lease["dynamic"], true);
    let valid = lease["valid_life_time"].as_u64().expect("valid_lft");
    let preferred = lease["preferred_life_time"]
        .as_u64()
        .expect("preferred_lft");
    assert!(valid <= 3600 && valid > 3000, "valid_lft {valid}");
    assert!(
        preferred <= 3600 && preferred > 3000,
        "preferred_lft {preferred}"
    );
}

#[test]
fn a_present_address_is_not_ours_and_stays_when_the_metadata_drops_it() {
    require_root();
    let scene = Scene::new("rc-present", AZURE, None);
    scene
        .ns
        .run_ok(&["ip", "address", "add", "10.4.0.7/25", "dev", "eth1"]);
    let first = round(&scene, &Owned::default());
    assert_eq!(
        first.outcome.summary,
        [
            "eth0: group 201, +2 addresses",
            "eth1: link up, group 201, +2 addresses, +1 route table, +6 rules",
            "main rule: +1 rule",
        ]
    );
    let text = azure_with(&[(1, &["10.4.0.5", "10.4.0.6"])]);
    scene.emulator.set_scenario_text(&text).expect("scenario");
    let second = round(&scene, &first.owned);
    assert_eq!(second.outcome.summary, ["eth1: -2 rules"]);
    let mut expected = azure_expected();
    expected.addresses = plus(
        &without(
            &expected.addresses,
            &["eth1 10.4.0.7/24 noprefixroute forever"],
        ),
        &["eth1 10.4.0.7/25 forever"],
    );
    expected.main = plus(
        &expected.main,
        &["10.4.0.0/25 dev eth1 proto kernel scope link src 10.4.0.7"],
    );
    expected.rules = without(
        &expected.rules,
        &[
            "3001 from 10.4.0.7 lookup 10001",
            "3001 from all to 10.4.0.7 lookup 10001",
        ],
    );
    assert_eq!(read_both(&scene.ns), expected);
    assert_dhcp_lease_untouched(&scene);
}

#[test]
fn a_link_that_disappears_mid_apply_fails_alone() {
    require_root();
    let mut text: Value = serde_json::from_str(AZURE_SCENARIO).expect("azure scenario");
    let third = serde_json::json!({
        "ipv4": {
            "ipAddress": [{"privateIpAddress": "10.4.1.10", "publicIpAddress": ""}],
            "subnet": [{"address": "10.4.1.0", "prefix": "24"}]
        },
        "ipv6": {"ipAddress": []},
        "macAddress": "000D3A4F6B12"
    });
    text["network"]["interface"]
        .as_array_mut()
        .expect("interfaces")
        .push(third);
    let scene = Scene::new("rc-vanish", AZURE_3, Some(&text.to_string()));
    let instance = scene.fetch();
    let mut nl = Netlink::open().expect("open netlink");
    let kernel = nl.state().expect("read kernel");
    let planned = plan_round(
        &instance,
        &kernel,
        &Owned::default(),
        &PlanSettings::default(),
    );
    let eth2 = scene.ns.ifindex("eth2");
    scene.ns.run_ok(&["ip", "link", "del", "eth2"]);
    let (outcome, owned) = apply_round(&mut nl, planned, &kernel, &AtomicBool::new(false));
    let failed: Vec<(&str, &str)> = outcome
        .failures
        .iter()
        .map(|f| (f.link.as_str(), f.command.as_str()))
        .collect();
    assert_eq!(
        failed,
        [
            ("eth2", "ip link set dev eth2 up"),
            ("eth2", "ip link set dev eth2 group 201"),
            ("eth2", "ip address add 10.4.1.10/24 dev eth2 noprefixroute"),
            (
                "eth2",
                "ip route add 10.4.1.0/24 dev eth2 table 10002 proto 201 scope link src 10.4.1.10"
            ),
            (
                "eth2",
                "ip route add default via 10.4.1.1 dev eth2 table 10002 proto 201"
            ),
        ]
    );
    for failure in &outcome.failures {
        assert!(
            failure.error.starts_with("link disappeared during apply"),
            "{}",
            failure.error
        );
    }
    let mut expected = azure_expected();
    expected.rules = plus(
        &expected.rules,
        &[
            "3002 from 10.4.1.10 lookup 10002",
            "3002 from all to 10.4.1.10 lookup 10002",
        ],
    );
    assert_eq!(read_both(&scene.ns), expected);
    let next = round(&scene, &owned);
    assert_eq!(next.outcome.summary, [format!("if{eth2}: -2 rules")]);
    assert_eq!(read_both(&scene.ns), azure_expected());
}

#[test]
fn restart_removes_what_the_old_process_added_and_an_empty_state_removes_nothing() {
    require_root();
    let scene = Scene::new("rc-restart", AZURE, None);
    let state = scene.dir.path().join("state");
    let config = scene.config(&state);
    assert_eq!(
        stdout_ok(&scene.daemon(&config, "--oneshot")),
        [
            "eth0: group 201, +2 addresses",
            "eth1: link up, group 201, +3 addresses, +1 route table, +6 rules",
            "main rule: +1 rule",
        ]
    );
    let mut expected = azure_expected();
    assert_eq!(read_both(&scene.ns), expected);

    let text = azure_with(&[
        (0, &["10.4.0.4", "10.4.0.8"]),
        (1, &["10.4.0.5", "10.4.0.7"]),
    ]);
    scene.emulator.set_scenario_text(&text).expect("scenario");
    assert_eq!(
        stdout_ok(&scene.daemon(&config, "--oneshot")),
        ["eth0: -1 address", "eth1: -1 address, -2 rules"]
    );
    expected.addresses = without(
        &expected.addresses,
        &[
            "eth0 10.4.0.9/24 noprefixroute forever",
            "eth1 10.4.0.6/24 noprefixroute forever",
        ],
    );
    expected.rules = without(
        &expected.rules,
        &[
            "3001 from 10.4.0.6 lookup 10001",
            "3001 from all to 10.4.0.6 lookup 10001",
        ],
    );
    assert_eq!(read_both(&scene.ns), expected);

    let text = azure_with(&[(0, &["10.4.0.4"]), (1, &["10.4.0.5"])]);
    scene.emulator.set_scenario_text(&text).expect("scenario");
    let empty_state = scene.dir.path().join("empty-state");
    let fresh = scene.config(&empty_state);
    assert_eq!(
        stdout_ok(&scene.daemon(&fresh, "--oneshot")),
        ["No changes"]
    );
    assert_eq!(read_both(&scene.ns), expected);
    assert_dhcp_lease_untouched(&scene);
}

#[test]
fn a_second_oneshot_makes_no_kernel_events() {
    require_root();
    let scene = Scene::new("rc-monitor", GCP, None);
    let config = scene.config(&scene.dir.path().join("state"));
    assert_eq!(
        stdout_ok(&scene.daemon(&config, "--oneshot")),
        [
            "eth0: mtu 1460, group 201, +2 local routes",
            "eth1: link up, mtu 1460, group 201, +1 address, +1 route table, +1 local route, +4 rules",
            "main rule: +1 rule",
        ]
    );
    // The kernel reports eth1's operational state (up without carrier: its peer is down) from
    // its link watch, up to a second after the link went up: wait for it before watching.
    let settled = support::running::wait_for(std::time::Duration::from_secs(5), || {
        let links = scene.ns.json(&["ip", "-j", "link", "show", "dev", "eth1"]);
        (links[0]["operstate"] == "LOWERLAYERDOWN").then_some(())
    });
    assert!(settled.is_some(), "eth1's operational state never settled");
    let mut monitor = IpMonitor::start(&scene.ns, "p0");
    let before = &monitor.startup_events;
    assert!(before.is_empty(), "{before:?}");
    assert_eq!(
        stdout_ok(&scene.daemon(&config, "--oneshot")),
        ["No changes"]
    );
    let events = monitor.events_since_last_marker(&scene.ns);
    assert!(
        events.is_empty(),
        "the second oneshot changed the kernel: {events:?}"
    );
    assert_eq!(read_both(&scene.ns), gcp_expected());
}

fn assert_dry_run(prefix: &str, vm: Vm, expected: &[&str]) {
    let scene = Scene::new(prefix, vm, None);
    let before = read_both(&scene.ns);
    let config = scene.config(&scene.dir.path().join("state"));
    let lines = stdout_ok(&scene.daemon(&config, "--dry-run"));
    for (i, (got, want)) in lines.iter().zip(expected).enumerate() {
        assert_eq!(got, want, "line {}", i + 1);
    }
    assert_eq!(lines.len(), expected.len(), "{lines:#?}");
    assert_eq!(read_both(&scene.ns), before, "--dry-run changed the kernel");
    assert!(!scene.dir.path().join("state/owned.json").exists());
}

#[test]
fn dry_run_azure() {
    require_root();
    assert_dry_run(
        "rc-dry-azure",
        AZURE,
        &[
            "ip link set dev eth0 group 201",
            "ip link set dev eth1 up",
            "ip link set dev eth1 group 201",
            "ip address add 10.4.0.8/24 dev eth0 noprefixroute",
            "ip address add 10.4.0.9/24 dev eth0 noprefixroute",
            "ip address add 10.4.0.5/24 dev eth1 noprefixroute",
            "ip address add 10.4.0.6/24 dev eth1 noprefixroute",
            "ip address add 10.4.0.7/24 dev eth1 noprefixroute",
            "ip route add 10.4.0.0/24 dev eth1 table 10001 proto 201 scope link src 10.4.0.5",
            "ip route add default via 10.4.0.1 dev eth1 table 10001 proto 201",
            "ip rule add from 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule add to 10.4.0.5/32 lookup 10001 priority 3001",
            "ip rule add from 10.4.0.6/32 lookup 10001 priority 3001",
            "ip rule add to 10.4.0.6/32 lookup 10001 priority 3001",
            "ip rule add from 10.4.0.7/32 lookup 10001 priority 3001",
            "ip rule add to 10.4.0.7/32 lookup 10001 priority 3001",
            "ip rule add lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
        ],
    );
}

#[test]
fn dry_run_aws() {
    require_root();
    assert_dry_run(
        "rc-dry-aws",
        AWS,
        &[
            "ip link set dev eth0 group 201",
            "ip link set dev eth1 up",
            "ip link set dev eth1 group 201",
            "ip address add 172.31.20.11/20 dev eth0 noprefixroute",
            "ip address add 172.31.20.12/20 dev eth0 noprefixroute",
            "ip address add 172.31.25.40/20 dev eth1 noprefixroute",
            "ip address add 172.31.25.41/20 dev eth1 noprefixroute",
            "ip route add 172.31.16.0/20 dev eth1 table 10001 proto 201 scope link src 172.31.25.40",
            "ip route add default via 172.31.16.1 dev eth1 table 10001 proto 201",
            "ip rule add from 172.31.25.40/32 lookup 10001 priority 3001",
            "ip rule add to 172.31.25.40/32 lookup 10001 priority 3001",
            "ip rule add from 172.31.25.41/32 lookup 10001 priority 3001",
            "ip rule add to 172.31.25.41/32 lookup 10001 priority 3001",
            "ip rule add lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
        ],
    );
}

#[test]
fn dry_run_gcp() {
    require_root();
    assert_dry_run(
        "rc-dry-gcp",
        GCP,
        &[
            "ip link set dev eth0 mtu 1460",
            "ip link set dev eth0 group 201",
            "ip link set dev eth1 up",
            "ip link set dev eth1 mtu 1460",
            "ip link set dev eth1 group 201",
            "ip address add 192.168.1.5/32 dev eth1 noprefixroute",
            "ip route add local 10.8.1.0/24 dev eth0 table local proto 201 scope host",
            "ip route add local 34.120.88.10/32 dev eth0 table local proto 201 scope host",
            "ip route add 192.168.1.1/32 dev eth1 table 10001 proto 201 scope link src 192.168.1.5",
            "ip route add default via 192.168.1.1 dev eth1 table 10001 proto 201",
            "ip route add local 192.168.1.64/29 dev eth1 table local proto 201 scope host",
            "ip rule add from 192.168.1.5/32 lookup 10001 priority 3001",
            "ip rule add to 192.168.1.5/32 lookup 10001 priority 3001",
            "ip rule add from 192.168.1.64/29 lookup 10001 priority 3001",
            "ip rule add to 192.168.1.64/29 lookup 10001 priority 3001",
            "ip rule add lookup main suppress_prefixlength 0 suppress_ifgroup 201 priority 2999",
        ],
    );
}
