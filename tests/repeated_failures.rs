//! A change the kernel refuses round after round, in a namespace (root), through the daemon
//! (issue 24: 126 VLAN links whose adds failed were 1,893 error lines in 15 s): 70 IPv6
//! addresses on a link whose IPv6 is disabled fail every round, more kinds of failure than the
//! error memory's bound; each is logged once while the rounds retry (1 s, 2 s, 4 s, 8 s), and
//! the status keeps the last one with its retry delay.

mod support;

use serde_json::{Map, Value};
use std::time::Duration;
use support::api;
use support::aws::{AWS, AWS_SCENARIO};
use support::netns::require_root;
use support::running::{wait_for, write_config, Daemon};
use support::scene::Scene;

const ADDRESSES: usize = 70;
const LIMIT: Duration = Duration::from_secs(30);

/// The default EC2 scenario with `ADDRESSES` IPv6 addresses on the secondary NIC.
fn scenario() -> String {
    let mut tree: Map<String, Value> = serde_json::from_str(AWS_SCENARIO).expect("aws scenario");
    let dir = "meta-data/network/interfaces/macs/0a:3f:5c:1e:7d:02/";
    let ipv6s: Vec<String> = (1..=ADDRESSES)
        .map(|n| format!("2600:1f14:abc:de01::{n:x}"))
        .collect();
    let leaves = [
        ("ipv6s", ipv6s.join("\n")),
        (
            "subnet-ipv6-cidr-blocks",
            "2600:1f14:abc:de01::/64".to_string(),
        ),
    ];
    for (leaf, body) in leaves {
        tree.insert(format!("{dir}{leaf}"), Value::String(body));
    }
    Value::Object(tree).to_string()
}

#[test]
fn a_change_refused_every_round_is_logged_once_however_many_are() {
    require_root();
    let scene = Scene::new("fail-once", AWS, Some(&scenario()));
    scene
        .ns
        .run_ok(&["sysctl", "-qw", "net.ipv6.conf.eth1.disable_ipv6=1"]);
    let state = scene.dir.path().join("state");
    let config = write_config(
        &scene.dir.path().join("daemon.toml"),
        "aws",
        &scene.emulator.base_url(),
        &state,
        "RefreshTimer = \"60s\"",
    );
    let daemon = Daemon::start(&scene.ns, &config, &scene.dir.path().join("d.log"), &[]);
    let add = |n: usize| format!("ip address add 2600:1f14:abc:de01::{n:x}/64 dev eth1 ");
    let first = wait_for(LIMIT, || {
        (!daemon.log_lines(&add(1)).is_empty()).then_some(())
    });
    assert!(first.is_some(), "log: {}", daemon.log_text());
    // The fourth failing round says its retry comes in 8 s.
    let fourth = wait_for(LIMIT, || {
        let status = api::get_json("/api/v1/status");
        let message = status["last_error"]["message"].as_str()?.to_string();
        message.ends_with("(retry in 8s)").then_some(message)
    });
    assert!(fourth.is_some(), "log: {}", daemon.log_text());
    for n in 1..=ADDRESSES {
        let lines = daemon.log_lines(&add(n));
        assert_eq!(lines.len(), 1, "{}: {lines:#?}", add(n));
        assert!(lines[0].contains("failed"), "{}", lines[0]);
    }
}
