//! Root-only tests of the sanity gate and the reply caps against a real kernel, each VM in its
//! own namespace with the metadata emulator inside (issue 13's table): GCP alias `0.0.0.0/0`,
//! GCP forwarded IP 169.254.169.254 with MTU 68, Azure's special addresses (with the API's
//! and `cnctl`'s report and one log line per change), a 4 MB reply with 30,000 NICs refused
//! whole within a memory bound (the daemon's RSS read from /proc); and (issue 15) one NIC
//! with a malformed field left exactly as it is while the others are configured; (issues 22
//! and 24) EC2 delegated prefixes and GCP forwarded IPv6 ranges the gate refuses, each alone
//! (shown in `/api/v1/links` and as a failing line of `cnctl check`), and a WSFC attribute
//! that does not parse, which blocks nothing.

mod support;

use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;
use support::api::{self, API_URL};
use support::aws::{aws_expected, AWS, AWS_SCENARIO};
use support::azure::{azure_expected, AZURE, AZURE_SCENARIO};
use support::gcp::{gcp_expected, GCP, GCP_SCENARIO};
use support::netns::require_root;
use support::running::{wait_for, write_config, Daemon};
use support::scene::{stdout_ok, Scene, Vm};
use support::view::{from_netlink, plus, read_both, without, View};

const BIN: &str = env!("CARGO_BIN_EXE_cloud-network");
const CONVERGE: Duration = Duration::from_secs(10);

fn gcp_with(edit: impl FnOnce(&mut Value)) -> String {
    let mut doc: Value = serde_json::from_str(GCP_SCENARIO).expect("gcp scenario");
    edit(&mut doc["instance"]["networkInterfaces"]);
    doc.to_string()
}

/// `daemon --oneshot` in the scene; its stdout lines and stderr.
fn oneshot(scene: &Scene) -> (Vec<String>, String) {
    let config = scene.config(&scene.dir.path().join("state"));
    let out = scene.daemon(&config, "--oneshot");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "oneshot failed: {stderr}");
    (stdout_ok(&out), stderr)
}

#[test]
fn gcp_alias_range_for_every_destination_is_refused_and_the_rest_configured() {
    require_root();
    let scenario = gcp_with(|nics| nics[1]["ipAliases"] = json!(["0.0.0.0/0"]));
    let scene = Scene::new("sn-gcp-all", GCP, Some(&scenario));
    let (_, stderr) = oneshot(&scene);
    let mut expected = gcp_expected();
    expected.local = without(
        &expected.local,
        &["local 192.168.1.64/29 dev eth1 proto 201 scope host"],
    );
    expected.rules = without(
        &expected.rules,
        &[
            "3001 from 192.168.1.64/29 lookup 10001",
            "3001 from all to 192.168.1.64/29 lookup 10001",
        ],
    );
    assert_eq!(read_both(&scene.ns), expected);
    let local = scene
        .ns
        .run_ok(&["ip", "route", "show", "table", "local", "proto", "201"]);
    assert!(!local.contains("default"), "local table: {local}");
    assert!(
        stderr.contains("NIC 42:01:c0:a8:01:05: alias range 0.0.0.0/0 refused: every destination"),
        "stderr: {stderr}"
    );
}

#[test]
fn gcp_forwarded_metadata_address_and_mtu_68_are_refused() {
    require_root();
    let scenario = gcp_with(|nics| {
        nics[0]["forwardedIps"] = json!(["169.254.169.254", "34.120.88.10"]);
        nics[1]["mtu"] = json!(68);
    });
    let scene = Scene::new("sn-gcp-md", GCP, Some(&scenario));
    let (_, stderr) = oneshot(&scene);
    let mut expected = gcp_expected();
    expected.links = vec![
        "eth0 up mtu 1460 group 201".into(),
        "eth1 up mtu 1500 group 201".into(),
    ];
    assert_eq!(read_both(&scene.ns), expected);
    let got = scene.ns.run_ok(&["ip", "route", "get", "169.254.169.254"]);
    assert!(
        !got.starts_with("local"),
        "the metadata service became local: {got}"
    );
    for line in [
        "NIC 42:01:0a:80:00:0c: forwarded IP 169.254.169.254/32 refused: contains the metadata service's address 169.254.169.254",
        "NIC 42:01:c0:a8:01:05: MTU 68 refused: outside 1280–9216",
    ] {
        assert!(stderr.contains(line), "no {line:?} in: {stderr}");
    }
}

/// Azure's eth1 listing its good address beside every special one of issue 13.
fn azure_special() -> String {
    let mut doc: Value = serde_json::from_str(AZURE_SCENARIO).expect("azure scenario");
    let eth1 = &mut doc["network"]["interface"][1];
    let v4: Vec<Value> = [
        "10.4.0.5",
        "169.254.169.254",
        "168.63.129.16",
        "127.0.0.5",
        "224.0.0.5",
        "255.255.255.255",
    ]
    .iter()
    .map(|a| json!({"privateIpAddress": a, "publicIpAddress": ""}))
    .collect();
    eth1["ipv4"]["ipAddress"] = Value::Array(v4);
    let v6: Vec<Value> = ["::1", "ff02::1", "fe80::1"]
        .iter()
        .map(|a| json!({"privateIpAddress": a}))
        .collect();
    eth1["ipv6"] = json!({"ipAddress": v6, "subnet": [{"address": "fe80::", "prefix": "0"}]});
    doc.to_string()
}

const AZURE_REFUSED: [&str; 8] = [
    "address 169.254.169.254/32 refused: the metadata service's address 169.254.169.254",
    "address 168.63.129.16/32 refused: the metadata service's address 168.63.129.16",
    "address 127.0.0.5/32 refused: a loopback address",
    "address 224.0.0.5/32 refused: a multicast address",
    "address 255.255.255.255/32 refused: a broadcast address",
    "address ::1/0 refused: a loopback address",
    "address ff02::1/0 refused: a multicast address",
    "address fe80::1/0 refused: a link-local address",
];

#[test]
fn azure_special_addresses_are_refused_shown_in_status_and_logged_once() {
    require_root();
    let scene = Scene::new("sn-azure", AZURE, Some(&azure_special()));
    let state = scene.dir.path().join("state");
    let config = write_config(
        &scene.dir.path().join("daemon.toml"),
        "azure",
        &scene.emulator.base_url(),
        &state,
        "RefreshTimer = \"1s\"",
    );
    let daemon = Daemon::start(&scene.ns, &config, &scene.dir.path().join("d.log"), &[]);
    let mut expected = azure_expected();
    let gone = [
        "eth1 10.4.0.6/24 noprefixroute forever",
        "eth1 10.4.0.7/24 noprefixroute forever",
    ];
    expected.addresses = without(&expected.addresses, &gone);
    expected.rules = without(
        &expected.rules,
        &[
            "3001 from 10.4.0.6 lookup 10001",
            "3001 from all to 10.4.0.6 lookup 10001",
            "3001 from 10.4.0.7 lookup 10001",
            "3001 from all to 10.4.0.7 lookup 10001",
        ],
    );
    // The refused IPv6 items are held on eth1, which has a table: the IPv6 main rule stays
    // with them.
    expected.rules = plus(
        &expected.rules,
        &["v6 2999 from all lookup main suppress_prefixlength 0 suppress_ifgroup 201"],
    );
    let converged = wait_for(CONVERGE, || (from_netlink() == expected).then_some(()));
    assert!(
        converged.is_some(),
        "kernel: {:#?}\nlog: {}",
        from_netlink(),
        daemon.log_text()
    );
    assert_eq!(read_both(&scene.ns), expected);
    let v6 = scene
        .ns
        .run_ok(&["ip", "-6", "address", "show", "dev", "eth1"]);
    assert!(!v6.contains("fe80::1/") && !v6.contains("::1/128"), "{v6}");
    let refused = wait_for(CONVERGE, || {
        let links = api::get_json("/api/v1/links");
        let eth1 = links
            .as_array()?
            .iter()
            .find(|l| l["name"] == "eth1")?
            .clone();
        eth1.get("refused").cloned()
    })
    .expect("eth1's refusals in /api/v1/links");
    assert_eq!(refused, json!(AZURE_REFUSED));
    let out = scene
        .ns
        .run(&[BIN, "cnctl", "--url", API_URL, "status", "links"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("     Refused: {} \n", AZURE_REFUSED[0])),
        "cnctl status links: {text}"
    );
    // Three more refresh rounds: the refusals are still one line.
    std::thread::sleep(Duration::from_millis(3500));
    let lines = daemon.log_lines("NIC 00:0d:3a:4f:6b:11: address 169.254.169.254/32 refused");
    assert_eq!(lines.len(), 1, "log: {}", daemon.log_text());
    assert_eq!(
        lines[0],
        format!(
            "warning NIC 00:0d:3a:4f:6b:11: {}",
            AZURE_REFUSED.join("; ")
        )
    );
}

/// Azure's document with 30,000 extra NICs: just under the 4 MiB body cap.
fn azure_30000_nics() -> String {
    let mut doc: Value = serde_json::from_str(AZURE_SCENARIO).expect("azure scenario");
    let list = doc["network"]["interface"]
        .as_array_mut()
        .expect("interfaces");
    for i in 0..30_000u32 {
        let [_, a, b, c] = i.to_be_bytes();
        list.push(json!({
            "macAddress": format!("0022{i:08X}"),
            "ipv4": {
                "ipAddress": [{"privateIpAddress": format!("10.{}.{b}.{c}", 100 + a)}],
                "subnet": [{"address": "10.0.0.0", "prefix": "8"}]
            }
        }));
    }
    let text = serde_json::to_string(&doc).expect("serialize");
    assert!(
        text.len() > 4_000_000 && text.len() < 4 * 1024 * 1024,
        "{}",
        text.len()
    );
    text
}

/// What the hostile reply may cost the daemon: its whole RSS stays under 32 MiB, and once the
/// reply is normal again RSS is within 8 MiB of the baseline (the 4 MiB body buffer may stay
/// in the allocator's free lists). Measured (debug build): 8.6 MiB before, 12.4 MiB at the
/// peak, 12.4 MiB after. Without the caps: 850 MiB, 770 MiB after.
const RSS_BOUND_KIB: u64 = 32 * 1024;
const RSS_BACK_SLACK_KIB: u64 = 8 * 1024;

#[test]
fn a_4mb_reply_with_30000_nics_is_refused_whole_within_32_mib() {
    require_root();
    let scene = Scene::new("sn-30k", AZURE, None);
    let state = scene.dir.path().join("state");
    let config: PathBuf = write_config(
        &scene.dir.path().join("daemon.toml"),
        "azure",
        &scene.emulator.base_url(),
        &state,
        "RefreshTimer = \"1s\"",
    );
    let daemon = Daemon::start(&scene.ns, &config, &scene.dir.path().join("d.log"), &[]);
    let expected = azure_expected();
    assert!(
        wait_for(CONVERGE, || (from_netlink() == expected).then_some(())).is_some(),
        "log: {}",
        daemon.log_text()
    );
    std::thread::sleep(Duration::from_secs(2));
    let baseline = daemon.proc_status("VmRSS");
    let hostile = azure_30000_nics();
    scene
        .emulator
        .set_scenario_text(&hostile)
        .expect("hostile scenario");
    let refused =
        "the reply lists 180051 JSON objects and arrays, more than 8192: refused as nonsensical";
    let seen = wait_for(CONVERGE, || {
        (daemon.log_lines(refused).len() == 1).then_some(())
    });
    assert!(seen.is_some(), "log: {}", daemon.log_text());
    // Several more refused refreshes (1 s timer, backoff).
    std::thread::sleep(Duration::from_secs(4));
    let peak = daemon.proc_status("VmHWM");
    assert_eq!(
        read_both(&scene.ns),
        expected,
        "a refused reply changed the kernel"
    );
    assert_eq!(
        daemon.log_lines(refused).len(),
        1,
        "log: {}",
        daemon.log_text()
    );
    assert!(
        daemon.log_text().lines().count() < 40,
        "log: {}",
        daemon.log_text()
    );
    scene
        .emulator
        .set_scenario_text(AZURE_SCENARIO)
        .expect("normal scenario");
    let recovered = wait_for(CONVERGE, || {
        (!daemon.log_lines("metadata fetch recovered").is_empty()).then_some(())
    });
    assert!(recovered.is_some(), "log: {}", daemon.log_text());
    std::thread::sleep(Duration::from_secs(2));
    let after = daemon.proc_status("VmRSS");
    println!("RSS baseline {baseline} KiB, peak {peak} KiB, after {after} KiB");
    assert!(
        peak < RSS_BOUND_KIB,
        "peak RSS {peak} KiB (baseline {baseline} KiB)"
    );
    assert!(
        after < baseline + RSS_BACK_SLACK_KIB,
        "RSS {after} KiB after, baseline {baseline} KiB"
    );
    assert_eq!(read_both(&scene.ns), expected);
}

const AZURE_3: Vm = Vm {
    macs: &[
        "00:0d:3a:4f:6b:10",
        "00:0d:3a:4f:6b:11",
        "00:0d:3a:4f:6b:12",
    ],
    ..AZURE
};
const AZURE_3_SCENARIO: &str = include_str!("benches/scenarios/azure-3nic.json");

#[test]
fn one_nic_with_a_malformed_field_is_left_as_it_is_and_the_others_configured() {
    require_root();
    let scene = Scene::new("sn-unknown", AZURE_3, Some(AZURE_3_SCENARIO));
    oneshot(&scene);
    let before = read_both(&scene.ns);
    assert!(before
        .addresses
        .contains(&"eth1 10.4.0.7/24 noprefixroute forever".to_string()));
    let mut doc: Value = serde_json::from_str(AZURE_3_SCENARIO).expect("scenario");
    let eth1 = &mut doc["network"]["interface"][1]["ipv4"];
    eth1["subnet"][0]["prefix"] = json!("33");
    eth1["ipAddress"].as_array_mut().expect("addresses").pop();
    doc["network"]["interface"][2]["ipv4"]["ipAddress"]
        .as_array_mut()
        .expect("addresses")
        .push(json!({"privateIpAddress": "10.4.0.22", "publicIpAddress": ""}));
    scene
        .emulator
        .set_scenario_text(&doc.to_string())
        .expect("scenario");
    let config = scene.config(&scene.dir.path().join("state"));
    let out = scene.daemon(&config, "--oneshot");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let unknown = "NIC 00:0d:3a:4f:6b:11 is unknown this round, nothing on it is added or removed: \
                   field 'network.interface[1].ipv4.subnet[0].prefix': invalid prefix length '33' (expected 0 to 32)";
    assert!(
        stderr.contains(&format!("cloud-network: {unknown}")),
        "stderr: {stderr}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "eth2: +1 address, +2 rules\n"
    );
    let mut expected = before.clone();
    expected.addresses = plus(
        &expected.addresses,
        &["eth2 10.4.0.22/24 noprefixroute forever"],
    );
    expected.rules = plus(
        &expected.rules,
        &[
            "3002 from 10.4.0.22 lookup 10002",
            "3002 from all to 10.4.0.22 lookup 10002",
        ],
    );
    assert_eq!(
        read_both(&scene.ns),
        expected,
        "eth1 kept all it had, 10.4.0.7 too"
    );
}

/// The default EC2 scenario with `ipv4-prefix` on the secondary NIC (eth1, 172.31.25.40 and
/// .41 in 172.31.16.0/20, gateway 172.31.16.1).
fn aws_with_prefixes(prefixes: &str) -> String {
    let mut tree: serde_json::Map<String, Value> =
        serde_json::from_str(AWS_SCENARIO).expect("aws scenario");
    let dir = "meta-data/network/interfaces/macs/0a:3f:5c:1e:7d:02/";
    tree.insert(format!("{dir}ipv4-prefix"), json!(prefixes));
    Value::Object(tree).to_string()
}

/// The default EC2 kernel with the rules of the good prefix 172.31.26.16/28 on eth1.
fn aws_with_good_prefix() -> View {
    let rules = [
        "3001 from 172.31.26.16/28 lookup 10001",
        "3001 from all to 172.31.26.16/28 lookup 10001",
    ];
    aws_expected().merged(&View::expect(&[], &[], &[], &[], &[], &rules))
}

#[test]
fn ec2_delegated_prefixes_the_gate_refuses_cost_only_themselves() {
    require_root();
    // Issue 22: a prefix outside the subnet (amazon-ec2-net-utils' test data). Issue 24: one
    // holding the gateway and the primary's DHCP address, and the whole subnet. One good.
    let scenario =
        aws_with_prefixes("10.0.0.0/28\n172.31.16.0/28\n172.31.16.0/20\n172.31.26.16/28");
    let scene = Scene::new("sn-ec2-pd", AWS, Some(&scenario));
    let (_, stderr) = oneshot(&scene);
    // eth1's two addresses, its table and rules are there: the NIC is not unknown.
    assert_eq!(read_both(&scene.ns), aws_with_good_prefix());
    let line = "NIC 0a:3f:5c:1e:7d:02: delegated prefix 10.0.0.0/28 refused: outside the NIC's \
                subnet; delegated prefix 172.31.16.0/28 refused: contains 172.31.16.1, the \
                gateway of NIC 0a:3f:5c:1e:7d:01; delegated prefix 172.31.16.0/20 refused: \
                contains 172.31.16.1, the gateway of NIC 0a:3f:5c:1e:7d:01";
    assert!(stderr.contains(line), "no {line:?} in: {stderr}");
    let primary = scene
        .ns
        .run_ok(&["ip", "route", "get", "8.8.8.8", "from", "172.31.20.10"]);
    assert!(
        primary.contains("dev eth0"),
        "the primary's replies: {primary}"
    );
}

#[test]
fn a_wsfc_attribute_that_does_not_parse_blocks_nothing() {
    require_root();
    // Issue 22: a typo any project editor can make; the refresh reads the instance's.
    let mut doc: Value = serde_json::from_str(GCP_SCENARIO).expect("gcp scenario");
    doc["instance"]["attributes"]["wsfc-addrs"] = json!("192.168.0");
    doc["instance"]["attributes"]["enable-wsfc"] = json!("yes");
    let scene = Scene::new("sn-gcp-wsfc", GCP, Some(&doc.to_string()));
    oneshot(&scene);
    assert_eq!(read_both(&scene.ns), gcp_expected());
}

#[test]
fn gcp_forwarded_ipv6_ranges_too_wide_or_special_are_refused_not_routed() {
    require_root();
    let scenario = gcp_with(|nics| {
        nics[0]["forwardedIpv6s"] = json!([
            "2001:4860::/32",
            "64:ff9b::/96",
            "::ffff:0:0/96",
            "2600:1900:4000:8a::/96"
        ])
    });
    let scene = Scene::new("sn-gcp-fwd6", GCP, Some(&scenario));
    let (_, stderr) = oneshot(&scene);
    let mut expected = gcp_expected();
    expected.local = plus(
        &expected.local,
        &["local 2600:1900:4000:8a::/96 dev eth0 proto 201"],
    );
    assert_eq!(read_both(&scene.ns), expected);
    for target in ["2001:4860:4860::8888", "64:ff9b::808:808"] {
        let out = scene.ns.run(&["ip", "-6", "route", "get", target]);
        let got = String::from_utf8_lossy(&out.stdout);
        assert!(!got.starts_with("local"), "{target} became local: {got}");
    }
    for line in [
        "forwarded IP 2001:4860::/32 refused: wider than /96",
        "forwarded IP 64:ff9b::/96 refused: outside the unicast blocks a cloud hands out",
        "forwarded IP ::ffff:0.0.0.0/96 refused: outside the unicast blocks a cloud hands out",
    ] {
        assert!(stderr.contains(line), "no {line:?} in: {stderr}");
    }
}

#[test]
fn a_refused_delegated_prefix_is_shown_in_status_and_fails_cnctl_check() {
    require_root();
    let scenario = aws_with_prefixes("172.31.16.0/28\n172.31.26.16/28");
    let scene = Scene::new("sn-ec2-check", AWS, Some(&scenario));
    let state = scene.dir.path().join("state");
    let config = write_config(
        &scene.dir.path().join("daemon.toml"),
        "aws",
        &scene.emulator.base_url(),
        &state,
        "",
    );
    let daemon = Daemon::start(&scene.ns, &config, &scene.dir.path().join("d.log"), &[]);
    let expected = aws_with_good_prefix();
    let converged = wait_for(CONVERGE, || (from_netlink() == expected).then_some(()));
    assert!(converged.is_some(), "log: {}", daemon.log_text());
    let refusal = "delegated prefix 172.31.16.0/28 refused: contains 172.31.16.1, the gateway \
                   of NIC 0a:3f:5c:1e:7d:01";
    let refused = wait_for(CONVERGE, || {
        let links = api::get_json("/api/v1/links");
        let eth1 = links.as_array()?.iter().find(|l| l["name"] == "eth1")?;
        eth1.get("refused").cloned()
    });
    assert_eq!(
        refused,
        Some(json!([refusal])),
        "log: {}",
        daemon.log_text()
    );
    let out = scene.ns.run(&[BIN, "cnctl", "--url", API_URL, "check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "cnctl check: {text}");
    let line = format!("✗ {refusal} (eth1): not configured\n");
    assert!(text.contains(&line), "no {line:?} in cnctl check: {text}");
    assert_eq!(text.matches("refused").count(), 1, "{text}");
}
