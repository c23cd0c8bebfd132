//! DigitalOcean's anchor IP through the sanity gate, in a namespace (root), against the
//! emulator (issue 24's table): an anchor equal to the primary's own address (with a gateway
//! that does not exist), a public anchor (8.8.8.8) and one with netmask 0.0.0.0 are each
//! refused with one warning; no table, rule or address is made for them, the primary's
//! replies still leave by main, and the private NIC is configured as usual.

mod support;

use cloud_network::metadata::ProviderKind;
use serde_json::{json, Value};
use support::netns::require_root;
use support::scene::{Scene, Vm};

const PUBLIC: &str = "7a:1e:52:3c:0d:01";

const DROPLET: Vm = Vm {
    provider: ProviderKind::DigitalOcean,
    macs: &[PUBLIC, "7a:1e:52:3c:0d:02"],
    primary: "192.0.2.15/24",
    gateway: "192.0.2.1",
    gateway_host_route: false,
};

const SCENARIO: &str = include_str!("../src/emulator/scenarios/digitalocean.json");

/// The default droplet with the public NIC's anchor as given.
fn with_anchor(ip: &str, netmask: &str, gateway: &str) -> String {
    let mut doc: Value = serde_json::from_str(SCENARIO).expect("digitalocean scenario");
    doc["interfaces"]["public"][0]["anchor_ipv4"] =
        json!({"ip_address": ip, "netmask": netmask, "gateway": gateway});
    doc.to_string()
}

#[test]
fn an_anchor_that_is_the_primary_public_or_without_netmask_is_refused_alone() {
    require_root();
    let cases = [
        (
            with_anchor("192.0.2.15", "255.255.0.0", "192.0.2.99"),
            format!(
                "NIC {PUBLIC}: address 192.0.2.15/16 with its own gateway refused: already an \
                 address of NIC {PUBLIC}"
            ),
        ),
        (
            with_anchor("8.8.8.8", "255.255.0.0", "8.8.0.1"),
            format!(
                "NIC {PUBLIC}: address 8.8.8.8/16 with its own gateway refused: not a private \
                 address (RFC 1918)"
            ),
        ),
        (
            with_anchor("10.18.0.5", "0.0.0.0", "10.18.0.1"),
            format!(
                "NIC {PUBLIC}: address 10.18.0.5/0 with its own gateway refused: every \
                 destination"
            ),
        ),
    ];
    for (scenario, warning) in cases {
        let scene = Scene::new("do-anchor", DROPLET, Some(&scenario));
        let config = scene.config(&scene.dir.path().join("state"));
        let out = scene.daemon(&config, "--oneshot");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert_eq!(
            stderr.matches(&warning).count(),
            1,
            "{warning:?} in: {stderr}"
        );
        let rules = scene.ns.run_ok(&["ip", "rule", "show"]);
        assert!(!rules.contains("lookup 20000"), "{rules}");
        assert!(rules.contains("from 10.110.0.2 lookup 10001"), "{rules}");
        let tables = scene.ns.run_ok(&["ip", "route", "show", "table", "all"]);
        assert!(!tables.contains("table 20000"), "{tables}");
        assert!(!tables.contains("8.8.0.1"), "{tables}");
        let addresses = scene
            .ns
            .run_ok(&["ip", "-o", "-4", "address", "show", "dev", "eth0"]);
        assert!(
            !addresses.contains("8.8.8.8") && !addresses.contains("/16"),
            "{addresses}"
        );
        let reply = scene
            .ns
            .run_ok(&["ip", "route", "get", "198.51.100.1", "from", "192.0.2.15"]);
        assert!(
            reply.contains("via 192.0.2.1 dev eth0"),
            "the primary's replies: {reply}"
        );
    }
}
