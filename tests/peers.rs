//! Root-only namespace tests of what the peers configure, through `--oneshot` against the
//! emulator (or the daemon itself), read back through netlink and `ip -j`: EC2 delegated
//! prefixes, a NIC table following the kernel's RA-learned IPv6 default route, GCP's forwarded
//! IPv6 addresses, which WSFC attributes leave local.

mod support;

use serde_json::{Map, Value};
use std::time::Duration;
use support::aws::{aws_expected, AWS, AWS_SCENARIO};
use support::gcp::{gcp_expected, GCP, GCP_SCENARIO};
use support::netns::require_root;
use support::running::{wait_for, write_config, Daemon};
use support::scene::{stdout_ok, Scene};
use support::view::{from_ip, from_netlink, read_both, View};

/// The default EC2 scenario with `leaves` added under the secondary NIC's directory.
fn aws_secondary_with(leaves: &[(&str, &str)]) -> String {
    let mut tree: Map<String, Value> = serde_json::from_str(AWS_SCENARIO).expect("aws scenario");
    let dir = "meta-data/network/interfaces/macs/0a:3f:5c:1e:7d:02/";
    for (leaf, body) in leaves {
        tree.insert(format!("{dir}{leaf}"), Value::String(body.to_string()));
    }
    Value::Object(tree).to_string()
}

#[test]
fn ec2_delegated_prefixes_get_rules_in_the_kernel_and_no_address() {
    require_root();
    let scenario = aws_secondary_with(&[
        ("ipv4-prefix", "172.31.26.16/28\n172.31.26.32/28"),
        ("subnet-ipv6-cidr-blocks", "2600:1f14:abc:de01::/64"),
        ("ipv6-prefix", "2600:1f14:abc:de01:7::/80"),
    ]);
    let scene = Scene::new("peers-pd", AWS, Some(&scenario));
    let config = scene.config(&scene.dir.path().join("state"));
    assert_eq!(
        stdout_ok(&scene.daemon(&config, "--oneshot")),
        [
            "eth0: group 201, +2 addresses",
            "eth1: link up, group 201, +2 addresses, +1 route table, +10 rules",
            "main rule: +2 rules",
        ]
    );
    let prefixes = View::expect(
        &[],
        &[],
        &[],
        &[],
        &[],
        &[
            "3001 from 172.31.26.16/28 lookup 10001",
            "3001 from all to 172.31.26.16/28 lookup 10001",
            "3001 from 172.31.26.32/28 lookup 10001",
            "3001 from all to 172.31.26.32/28 lookup 10001",
            "v6 3001 from 2600:1f14:abc:de01:7::/80 lookup 10001",
            "v6 3001 from all to 2600:1f14:abc:de01:7::/80 lookup 10001",
            "v6 2999 from all lookup main suppress_prefixlength 0 suppress_ifgroup 201",
        ],
    );
    assert_eq!(read_both(&scene.ns), aws_expected().merged(&prefixes));

    // The prefixes leave the metadata: their rules go, the rest stays.
    scene
        .emulator
        .set_scenario_text(AWS_SCENARIO)
        .expect("scenario");
    assert_eq!(
        stdout_ok(&scene.daemon(&config, "--oneshot")),
        ["eth1: -6 rules", "main rule: -1 rule"]
    );
    assert_eq!(read_both(&scene.ns), aws_expected());
}

/// The IPv6 routes of table 10001 when netlink and `ip -j` read the same (None mid-apply).
fn eth1_table_v6(scene: &Scene) -> Option<Vec<String>> {
    let through_netlink = from_netlink();
    (through_netlink == from_ip(&scene.ns)).then(|| {
        through_netlink
            .tables
            .into_iter()
            .filter(|line| line.starts_with("10001 ") && line.contains(':'))
            .collect()
    })
}

/// Waits (up to 10 s) until table 10001's IPv6 routes are `want` (sorted), read both ways.
fn wait_for_table(scene: &Scene, daemon: &Daemon, want: &[&str]) {
    let reached = wait_for(Duration::from_secs(10), || {
        eth1_table_v6(scene).filter(|lines| lines == want)
    });
    assert!(
        reached.is_some(),
        "table 10001 is {:?}, not {want:?}\n{}",
        eth1_table_v6(scene),
        daemon.log_text()
    );
}

#[test]
fn ec2_nic_table_follows_the_ra_default_route_the_kernel_learned() {
    require_root();
    let scenario = aws_secondary_with(&[
        ("ipv6s", "2600:1f14:abc:de01::3c"),
        ("subnet-ipv6-cidr-blocks", "2600:1f14:abc:de01::/64"),
    ]);
    let scene = Scene::new("peers-ra", AWS, Some(&scenario));
    let dir = scene.dir.path();
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let config = write_config(
        &dir.join("daemon.toml"),
        "aws",
        &scene.emulator.base_url(),
        &state,
        "RefreshTimer = \"1h\"",
    );
    let daemon = Daemon::start(&scene.ns, &config, &dir.join("daemon.log"), &[]);
    let subnet = "10001 2600:1f14:abc:de01::/64 dev eth1 proto 201 src 2600:1f14:abc:de01::3c";
    wait_for_table(&scene, &daemon, &[subnet]);

    // Only route events wake the daemon from here on: its refresh is an hour away.
    let ra = |verb: &str, gateway: &str| {
        scene.ns.run_ok(&[
            "ip", "-6", "route", verb, "default", "via", gateway, "dev", "eth1", "proto", "ra",
            "metric", "1024",
        ]);
    };
    ra("add", "fe80::1");
    let via = |gateway: &str| format!("10001 default via {gateway} dev eth1 proto 201");
    wait_for_table(&scene, &daemon, &[subnet, &via("fe80::1")]);
    ra("replace", "fe80::2");
    wait_for_table(&scene, &daemon, &[subnet, &via("fe80::2")]);
    ra("del", "fe80::2");
    wait_for_table(&scene, &daemon, &[subnet]);
}

#[test]
fn gcp_forwarded_ipv6s_are_local_and_wsfc_attributes_change_nothing() {
    require_root();
    let mut doc: Value = serde_json::from_str(GCP_SCENARIO).expect("gcp scenario");
    doc["instance"]["networkInterfaces"][0]["forwardedIpv6s"] =
        serde_json::json!(["2600:1900:4000:8a::1"]);
    let scene = Scene::new("peers-fwd6", GCP, Some(&doc.to_string()));
    let config = scene.config(&scene.dir.path().join("state"));
    stdout_ok(&scene.daemon(&config, "--oneshot"));
    // IPv6 routes have no scope: the kernel reports none.
    let local6 = "local 2600:1900:4000:8a::1 dev eth0 proto 201";
    let mut expected = gcp_expected();
    expected.local = support::view::plus(&expected.local, &[local6]);
    assert_eq!(read_both(&scene.ns), expected);
    assert_eq!(
        stdout_ok(&scene.daemon(&config, "--oneshot")),
        ["No changes"],
        "a second round changes nothing"
    );

    // Issue 23: WSFC attributes set for a Windows cluster elsewhere in the project, and on
    // this instance (which the refresh reads). google-guest-agent applies them on Windows only:
    // on Linux every forwarded IP stays local.
    doc["instance"]["attributes"]["wsfc-addrs"] =
        serde_json::json!("2600:1900:4000:8a::1,34.120.88.10");
    doc["instance"]["attributes"]["enable-wsfc"] = serde_json::json!("true");
    doc["project"]["attributes"]["enable-wsfc"] = serde_json::json!("true");
    scene
        .emulator
        .set_scenario_text(&doc.to_string())
        .expect("scenario");
    assert_eq!(
        stdout_ok(&scene.daemon(&config, "--oneshot")),
        ["No changes"]
    );
    assert_eq!(read_both(&scene.ns), expected);
}
