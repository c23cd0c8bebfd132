//! Root-only tests of large removals against a real kernel, the VM in its own namespace with
//! the metadata emulator inside: 8,000 addresses of one subnet shrunk to 3 leave exactly the 3
//! and the foreign addresses of that subnet; the daemon keeps its status while it removes, and
//! SIGTERM in the middle of a removal exits 0 with the ownership record matching the kernel.
//! How fast is the footprint bench's `removal` figure, not a test's.

mod support;

use cloud_network::daemon::apply::apply_round;
use cloud_network::netlink::Netlink;
use cloud_network::plan::{plan_round, Owned, PlanSettings};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use support::azure::{azure_with, AZURE};
use support::netns::require_root;
use support::running::{self, wait_for, Daemon};
use support::scene::Scene;

const CONVERGE: Duration = Duration::from_secs(60);
/// The three addresses eth1 keeps, one of them the subnet's first (its primary in the kernel).
const KEPT: [&str; 3] = ["10.4.1.1", "10.4.9.77", "10.4.32.250"];
/// Addresses of the same subnet added by hand: not ours, never deleted.
const FOREIGN: [&str; 2] = ["10.4.40.1", "10.4.40.2"];

/// `count` addresses for eth1, all in 10.4.0.0/16.
fn many(count: usize) -> Vec<String> {
    (0..count)
        .map(|n| format!("10.4.{}.{}", 1 + n / 250, 1 + n % 250))
        .collect()
}

/// The Azure scenario with `addresses` on eth1, whose subnet is 10.4.0.0/16 (one subnet: the
/// kernel makes the first address its primary and every other one a secondary).
fn scenario(addresses: &[String]) -> String {
    let list: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let mut doc: Value = serde_json::from_str(&azure_with(&[(1, &list)])).expect("scenario");
    doc["network"]["interface"][1]["ipv4"]["subnet"][0]["prefix"] = "16".into();
    doc.to_string()
}

fn kept() -> Vec<String> {
    KEPT.map(String::from).to_vec()
}

/// eth1's IPv4 addresses as the kernel lists them (`ip -j`), without prefix.
fn on_eth1(scene: &Scene) -> BTreeSet<String> {
    let links = scene
        .ns
        .json(&["ip", "-j", "-4", "address", "show", "dev", "eth1"]);
    links[0]["addr_info"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|a| a["local"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn add_foreign(scene: &Scene) {
    for ip in FOREIGN {
        let addr = format!("{ip}/16");
        scene
            .ns
            .run_ok(&["ip", "address", "add", &addr, "dev", "eth1"]);
    }
}

fn library_round(scene: &Scene, owned: &Owned) -> Owned {
    let instance = scene.fetch();
    let mut nl = Netlink::open().expect("open netlink");
    let kernel = nl.state().expect("read kernel");
    let planned = plan_round(&instance, &kernel, owned, &PlanSettings::default());
    let (outcome, owned) = apply_round(&mut nl, planned, &kernel, &AtomicBool::new(false));
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    owned
}

fn expected_after_shrink() -> BTreeSet<String> {
    KEPT.iter().chain(&FOREIGN).map(|s| s.to_string()).collect()
}

#[test]
fn shrinking_8000_addresses_of_one_subnet_to_3_keeps_exactly_those_and_the_foreign_ones() {
    require_root();
    let scene = Scene::new("rm-shrink", AZURE, Some(&scenario(&many(8000))));
    let owned = library_round(&scene, &Owned::default());
    add_foreign(&scene);
    assert_eq!(on_eth1(&scene).len(), 8002);

    scene
        .emulator
        .set_scenario_text(&scenario(&kept()))
        .expect("scenario");
    let owned = library_round(&scene, &owned);
    assert_eq!(on_eth1(&scene), expected_after_shrink());
    let rules = scene.ns.run_ok(&["ip", "rule", "show", "table", "10001"]);
    let mut rules: Vec<&str> = rules.lines().collect();
    rules.sort_unstable();
    let mut wanted: Vec<String> = KEPT
        .iter()
        .flat_map(|ip| {
            [
                format!("3001:\tfrom {ip} lookup 10001"),
                format!("3001:\tfrom all to {ip} lookup 10001"),
            ]
        })
        .collect();
    wanted.sort_unstable();
    assert_eq!(rules, wanted);
    assert_eq!(
        eth1_of(&owned),
        KEPT.map(String::from).into_iter().collect()
    );
}

/// Starts the daemon on the scene's emulator with the API on [`running::API`].
fn start(scene: &Scene) -> Daemon {
    let config = running::write_config(
        &scene.dir.path().join("cloud-network.toml"),
        &scene.vm.provider.to_string(),
        &scene.emulator.base_url(),
        &scene.dir.path().join("state"),
        "RefreshTimer = \"1s\"",
    );
    let log = scene.dir.path().join("daemon.log");
    Daemon::start(&scene.ns, &config, &log, &[])
}

/// eth1's addresses in the daemon's ownership record.
fn recorded_on_eth1(scene: &Scene) -> BTreeSet<String> {
    let path = scene.dir.path().join("state/owned.json");
    let text = std::fs::read_to_string(&path).expect("read owned.json");
    eth1_of(&serde_json::from_str(&text).expect("parse owned.json"))
}

/// eth1's addresses in an ownership record.
fn eth1_of(owned: &Owned) -> BTreeSet<String> {
    owned
        .nics
        .iter()
        .filter(|(mac, _)| mac.to_string() == AZURE.macs[1])
        .flat_map(|(_, nic)| &nic.addresses)
        .map(|a| a.addr.addr().to_string())
        .collect()
}

/// The daemon configured with 8,000 addresses on eth1 and the foreign ones added by hand.
fn configured_daemon(scene: &Scene) -> Daemon {
    let daemon = start(scene);
    let configured = wait_for(CONVERGE, || {
        let status = running::status(Duration::from_secs(2))?;
        let eth1 = status["links"]
            .as_array()?
            .iter()
            .find(|l| l["name"] == "eth1")?;
        (eth1["addresses"].as_array()?.len() == 8000).then_some(())
    });
    assert!(
        configured.is_some(),
        "not configured:\n{}",
        daemon.log_text()
    );
    add_foreign(scene);
    daemon
}

#[test]
fn the_status_keeps_the_last_round_while_a_removal_runs() {
    require_root();
    let scene = Scene::new("rm-status", AZURE, Some(&scenario(&many(8000))));
    let mut daemon = configured_daemon(&scene);
    scene
        .emulator
        .set_scenario_text(&scenario(&kept()))
        .expect("scenario");
    let mut seen = Vec::new();
    let done = wait_for(CONVERGE, || {
        let status = running::status(Duration::from_secs(5))?;
        let links = status["links"].as_array()?;
        let eth1 = links.iter().find(|l| l["name"] == "eth1")?;
        seen.push((links.len(), eth1["addresses"].as_array()?.len()));
        (on_eth1(&scene) == expected_after_shrink()).then_some(())
    });
    assert!(done.is_some(), "not removed:\n{}", daemon.log_text());
    assert!(
        seen.iter().all(|(links, _)| *links == 2),
        "a status without its links: {seen:?}"
    );
    assert!(
        seen.iter().all(|(_, eth1)| *eth1 == 8000 || *eth1 == 3),
        "eth1's addresses in the status: {seen:?}"
    );
    assert!(daemon.terminate(Duration::from_secs(10)).success());
}

#[test]
fn sigterm_mid_removal_exits_0_and_the_record_matches_the_kernel() {
    require_root();
    let scene = Scene::new("rm-term", AZURE, Some(&scenario(&many(8000))));
    let mut daemon = configured_daemon(&scene);
    scene
        .emulator
        .set_scenario_text(&scenario(&kept()))
        .expect("scenario");
    let removing = wait_for(CONVERGE, || (on_eth1(&scene).len() < 8002).then_some(()));
    assert!(
        removing.is_some(),
        "no removal seen:\n{}",
        daemon.log_text()
    );
    let status = daemon.terminate(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", daemon.log_text());
    let kernel = on_eth1(&scene);
    let ours: BTreeSet<String> = kernel
        .iter()
        .filter(|ip| !FOREIGN.contains(&ip.as_str()))
        .cloned()
        .collect();
    assert!(FOREIGN.iter().all(|ip| kernel.contains(*ip)));
    assert!(KEPT.iter().all(|ip| ours.contains(*ip)));
    assert_eq!(recorded_on_eth1(&scene), ours, "{}", daemon.log_text());
}
