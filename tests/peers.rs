//! Root-only namespace tests of what the peers configure, through `--oneshot` against the
//! emulator, read back through netlink and `ip -j`: EC2 delegated prefixes.

mod support;

use serde_json::{Map, Value};
use support::aws::{aws_expected, AWS, AWS_SCENARIO};
use support::netns::require_root;
use support::scene::{stdout_ok, Scene};
use support::view::{read_both, View};

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
    if !require_root() {
        return;
    }
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
            "eth0: +2 addresses",
            "eth1: link up, +2 addresses, +1 route table, +10 rules",
            "metadata rules: +2 rules"
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
            "v6 2999 from all to fd00:ec2::254 lookup main",
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
        ["eth1: -6 rules", "metadata rules: -1 rule"]
    );
    assert_eq!(read_both(&scene.ns), aws_expected());
}
