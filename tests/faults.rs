//! Faults, root-only, each VM in its own namespace. Library level, where a race must be
//! deterministic: an object deleted or added by someone else between plan and apply, a link
//! renamed between them. Binary level, where the point is that the daemon stays up and the
//! network keeps working: metadata answering 500, never, garbage or nothing for many refresh
//! cycles, or a 20 MB document; a state directory that is read-only or full; a corrupt (truncated) ownership record.

mod support;

use cloud_network::daemon::apply::{apply_round, Outcome};
use cloud_network::emulator::Fault;
use cloud_network::netlink::monitor::Event;
use cloud_network::netlink::Netlink;
use cloud_network::plan::{plan_round, Owned, PlanSettings};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use support::azure::{azure_expected, azure_with, azure_without_6, AZURE};
use support::events::KernelEvents;
use support::netns::require_root;
use support::running::{status, wait_for, write_config, Daemon};
use support::scene::{stdout_ok, Scene};
use support::view::{from_netlink, plus, read_both, without, View};

/// A library-level round in the current thread's namespace: fetch, plan, apply. Also how
/// many changes it planned (every one is sent) and the kernel events they caused.
fn round(scene: &Scene, owned: &Owned) -> (Outcome, Owned, (usize, Vec<Event>)) {
    let instance = scene.fetch();
    let mut nl = Netlink::open().expect("open netlink");
    let mut events = KernelEvents::open();
    let kernel = nl.state().expect("read kernel");
    let planned = plan_round(&instance, &kernel, owned, &PlanSettings::default());
    let planned_changes = planned.changes.len();
    let (outcome, owned) = apply_round(&mut nl, planned, &kernel, &AtomicBool::new(false));
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    (outcome, owned, (planned_changes, events.drain()))
}

/// Plans a round, lets `meanwhile` act on the kernel, then applies the plan.
fn round_with_race(scene: &Scene, owned: &Owned, meanwhile: impl FnOnce()) -> (Outcome, Owned) {
    let instance = scene.fetch();
    let mut nl = Netlink::open().expect("open netlink");
    let kernel = nl.state().expect("read kernel");
    let planned = plan_round(&instance, &kernel, owned, &PlanSettings::default());
    meanwhile();
    apply_round(&mut nl, planned, &kernel, &AtomicBool::new(false))
}

fn eth1_owned(owned: &Owned) -> (Vec<String>, usize) {
    let eth1 = owned
        .nics
        .iter()
        .find(|(mac, _)| mac.to_string() == AZURE.macs[1])
        .map(|(_, nic)| nic)
        .expect("eth1 in the record");
    let addresses = eth1.addresses.iter().map(|a| a.addr.to_string()).collect();
    (addresses, eth1.rules.len())
}

#[test]
fn an_address_deleted_by_someone_else_before_apply_counts_as_gone() {
    require_root();
    let scene = Scene::new("ft-gone", AZURE, None);
    let (_, owned, _) = round(&scene, &Owned::default());
    let text = azure_with(&[(1, &["10.4.0.5", "10.4.0.7"])]);
    scene.emulator.set_scenario_text(&text).expect("scenario");
    let (outcome, owned) = round_with_race(&scene, &owned, || {
        scene
            .ns
            .run_ok(&["ip", "address", "del", "10.4.0.6/24", "dev", "eth1"]);
        scene.ns.run_ok(&[
            "ip", "rule", "del", "from", "10.4.0.6", "lookup", "10001", "priority", "3001",
        ]);
    });
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    assert_eq!(outcome.summary, ["eth1: -1 rule"], "only what we removed");
    assert_eq!(
        eth1_owned(&owned),
        (
            vec!["10.4.0.5/24".to_string(), "10.4.0.7/24".to_string()],
            4
        )
    );
    assert_eq!(read_both(&scene.ns), azure_without_6());
    let (_, again, writes) = round(&scene, &owned);
    assert_eq!((writes, again), ((0, Vec::new()), owned));
}

#[test]
fn an_address_added_by_someone_else_before_apply_is_theirs_and_never_deleted() {
    require_root();
    let scene = Scene::new("ft-exists", AZURE, None);
    let (outcome, owned) = round_with_race(&scene, &Owned::default(), || {
        scene
            .ns
            .run_ok(&["ip", "address", "add", "10.4.0.6/24", "dev", "eth1"]);
        scene.ns.run_ok(&[
            "ip", "rule", "add", "to", "10.4.0.6", "lookup", "10001", "priority", "3001",
        ]);
    });
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    assert_eq!(
        outcome.summary,
        [
            "eth0: group 201, +2 addresses",
            "eth1: link up, group 201, +2 addresses, +1 route table, +5 rules",
            "main rule: +1 rule",
        ]
    );
    assert_eq!(
        eth1_owned(&owned),
        (
            vec!["10.4.0.5/24".to_string(), "10.4.0.7/24".to_string()],
            5
        )
    );
    let theirs = |view: View| View {
        addresses: plus(
            &without(&view.addresses, &["eth1 10.4.0.6/24 noprefixroute forever"]),
            &["eth1 10.4.0.6/24 forever"],
        ),
        main: plus(
            &view.main,
            &["10.4.0.0/24 dev eth1 proto kernel scope link src 10.4.0.6"],
        ),
        ..view
    };
    assert_eq!(read_both(&scene.ns), theirs(azure_expected()));

    let text = azure_with(&[(1, &["10.4.0.5", "10.4.0.7"])]);
    scene.emulator.set_scenario_text(&text).expect("scenario");
    let (outcome, _, _) = round(&scene, &owned);
    assert_eq!(outcome.summary, ["eth1: -1 rule"]);
    let mut expected = theirs(azure_expected());
    expected.rules = without(&expected.rules, &["3001 from 10.4.0.6 lookup 10001"]);
    assert_eq!(
        read_both(&scene.ns),
        expected,
        "their address and rule stay"
    );
}

#[test]
fn a_link_renamed_between_plan_and_apply_is_configured_by_its_index() {
    require_root();
    let scene = Scene::new("ft-rename", AZURE, None);
    let (outcome, owned) = round_with_race(&scene, &Owned::default(), || {
        scene
            .ns
            .run_ok(&["ip", "link", "set", "dev", "eth1", "name", "eth9"]);
    });
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    assert_eq!(
        outcome.summary,
        [
            "eth0: group 201, +2 addresses",
            "eth1: link up, group 201, +3 addresses, +1 route table, +6 rules",
            "main rule: +1 rule",
        ],
        "named as planned"
    );
    let renamed = |lines: &[String]| -> Vec<String> {
        let mut out: Vec<String> = lines.iter().map(|l| l.replace("eth1", "eth9")).collect();
        out.sort();
        out
    };
    let expected = azure_expected();
    let expected = View {
        links: renamed(&expected.links),
        addresses: renamed(&expected.addresses),
        tables: renamed(&expected.tables),
        ..expected
    };
    assert_eq!(read_both(&scene.ns), expected);
    let (_, again, writes) = round(&scene, &owned);
    assert_eq!((writes, again), ((0, Vec::new()), owned));
}

/// A daemon with `RefreshTimer=1s` on the scene's emulator, configured and healthy.
fn healthy_daemon(scene: &Scene, wrapper: &[&str]) -> Daemon {
    let dir = scene.dir.path();
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let config = write_config(
        &dir.join("daemon.toml"),
        "azure",
        &scene.emulator.base_url(),
        &state,
        "RefreshTimer = \"1s\"",
    );
    let daemon = Daemon::start(&scene.ns, &config, &dir.join("daemon.log"), wrapper);
    let ok = wait_for(Duration::from_secs(10), || {
        let s = status(Duration::from_secs(1))?;
        (s["last_refresh"]["result"] == "ok" && s["links"].as_array()?.len() == 2).then_some(())
    });
    assert!(ok.is_some(), "daemon not healthy:\n{}", daemon.log_text());
    assert_eq!(read_both(&scene.ns), azure_expected());
    daemon
}

fn requests_seen(scene: &Scene) -> usize {
    scene
        .emulator
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/metadata/instance"))
        .count()
}

/// Under `fault` for at least `requests` metadata requests (≥ 5 refresh cycles), while the
/// scenario drops 10.4.0.6: the kernel does not change, the daemon runs and reports the error.
/// Healthy again: the drop is applied and the error cleared.
fn metadata_fault_changes_nothing(prefix: &str, fault: Fault, requests: usize, symptom: &str) {
    let scene = Scene::new(prefix, AZURE, None);
    let mut daemon = healthy_daemon(&scene, &[]);
    scene.emulator.set_fault(fault);
    let text = azure_with(&[(1, &["10.4.0.5", "10.4.0.7"])]);
    scene.emulator.set_scenario_text(&text).expect("scenario");
    scene.emulator.clear_requests();
    let started = Instant::now();
    let seen = wait_for(Duration::from_secs(45), || {
        (requests_seen(&scene) >= requests).then_some(())
    });
    assert!(seen.is_some(), "{:?}", scene.emulator.requests());
    let during = status(Duration::from_secs(1)).expect("the API answers during the fault");
    let error = during["last_error"]["message"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("metadata fetch failed, nothing changed") && error.contains(symptom),
        "{error}"
    );
    assert!(daemon.alive());
    assert_eq!(
        read_both(&scene.ns),
        azure_expected(),
        "a failed fetch acted"
    );
    eprintln!(
        "{fault:?}: {} requests in {:?}",
        requests_seen(&scene),
        started.elapsed()
    );

    scene.emulator.set_fault(Fault::None);
    let recovered = wait_for(Duration::from_secs(15), || {
        let s = status(Duration::from_secs(1))?;
        (s["last_error"].is_null() && from_netlink() == azure_without_6()).then_some(())
    });
    assert!(recovered.is_some(), "not recovered:\n{}", daemon.log_text());
    assert_eq!(read_both(&scene.ns), azure_without_6());
    assert_eq!(daemon.log_lines("metadata fetch recovered after").len(), 1);
    assert_eq!(
        daemon.log_lines("metadata fetch failed").len(),
        1,
        "logged once, not every round"
    );
    assert!(daemon.terminate(Duration::from_secs(2)).success());
}

#[test]
fn metadata_http500_for_many_cycles_changes_nothing() {
    require_root();
    metadata_fault_changes_nothing("ft-500", Fault::Http500, 5 * 4, "500");
}

#[test]
fn metadata_garbage_for_many_cycles_changes_nothing() {
    require_root();
    metadata_fault_changes_nothing("ft-garbage", Fault::Garbage, 5, "not UTF-8");
}

#[test]
fn metadata_empty_for_many_cycles_changes_nothing() {
    require_root();
    metadata_fault_changes_nothing("ft-empty", Fault::Empty, 5, "JSON");
}

/// One fetch under `timeout` takes 4 attempts × the 5 s receive timeout, so five unanswered
/// requests (more than one whole failed fetch) stand for "many cycles" here.
#[test]
fn metadata_timeout_changes_nothing_and_the_api_still_answers() {
    require_root();
    metadata_fault_changes_nothing("ft-timeout", Fault::Timeout, 5, "timed out");
}

/// A metadata document of 20 MB (a huge `userData`) while the scenario drops 10.4.0.6: every
/// refresh fails with the body-size error, nothing changes, the daemon runs. Back to a normal
/// size, the drop is applied.
#[test]
fn a_20_mb_metadata_body_is_refused_and_changes_nothing() {
    require_root();
    let scene = Scene::new("ft-huge", AZURE, None);
    let mut daemon = healthy_daemon(&scene, &[]);
    let dropped = azure_with(&[(1, &["10.4.0.5", "10.4.0.7"])]);
    let mut huge: serde_json::Value = serde_json::from_str(&dropped).expect("scenario JSON");
    huge["compute"]["userData"] = serde_json::Value::String("x".repeat(20 * 1000 * 1000));
    scene
        .emulator
        .set_scenario_text(&huge.to_string())
        .expect("scenario");
    scene.emulator.clear_requests();
    let refused = wait_for(Duration::from_secs(20), || {
        (requests_seen(&scene) >= 3).then_some(())
    });
    assert!(refused.is_some(), "{:?}", scene.emulator.requests());
    let during = status(Duration::from_secs(1)).expect("the API answers");
    let error = during["last_error"]["message"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("metadata fetch failed, nothing changed")
            && error.contains("sent a body larger than 4194304 bytes"),
        "{error}"
    );
    assert!(daemon.alive());
    assert_eq!(
        read_both(&scene.ns),
        azure_expected(),
        "a refused body acted"
    );

    scene
        .emulator
        .set_scenario_text(&dropped)
        .expect("scenario");
    let recovered = wait_for(Duration::from_secs(15), || {
        let s = status(Duration::from_secs(1))?;
        (s["last_error"].is_null() && from_netlink() == azure_without_6()).then_some(())
    });
    assert!(recovered.is_some(), "not recovered:\n{}", daemon.log_text());
    assert!(daemon.terminate(Duration::from_secs(2)).success());
}

/// The state directory is made unwritable for the daemon alone (a private mount namespace):
/// it still configures, serves and follows metadata changes, logs the lost write once, and
/// exits 0 on SIGTERM.
fn unwritable_state_dir(prefix: &str, mount: &str, errno_text: &str) {
    let scene = Scene::new(prefix, AZURE, None);
    let state = scene.dir.path().join("state");
    let script = format!(
        "{} && exec \"$0\" \"$@\"",
        mount.replace("STATE", &state.display().to_string())
    );
    let wrapper = [
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
    ];
    let mut daemon = healthy_daemon(&scene, &wrapper);
    assert_eq!(daemon.comm(), "cloud-network", "the wrapper must exec");
    let text = azure_with(&[(1, &["10.4.0.5", "10.4.0.7"])]);
    scene.emulator.set_scenario_text(&text).expect("scenario");
    let followed = wait_for(Duration::from_secs(5), || {
        (from_netlink() == azure_without_6()).then_some(())
    });
    assert!(followed.is_some(), "{}", daemon.log_text());
    assert_eq!(read_both(&scene.ns), azure_without_6());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(daemon.alive());
    let lost = daemon.log_lines("ownership record not saved");
    assert_eq!(lost.len(), 1, "{}", daemon.log_text());
    assert!(
        lost[0].contains("owned.json") && lost[0].contains(errno_text),
        "{}",
        lost[0]
    );
    assert_eq!(daemon.log_lines("state files not written").len(), 1);
    assert!(status(Duration::from_secs(1)).is_some());
    assert!(daemon.terminate(Duration::from_secs(2)).success());
}

#[test]
fn a_read_only_state_dir_costs_the_record_not_the_network() {
    require_root();
    unwritable_state_dir(
        "ft-rostate",
        "mount --bind STATE STATE && mount -o remount,bind,ro STATE",
        "Read-only file system",
    );
}

#[test]
fn a_full_state_dir_costs_the_record_not_the_network() {
    require_root();
    unwritable_state_dir(
        "ft-fullstate",
        "mount -t tmpfs -o size=16k,mode=0755 tmpfs STATE && { cat /dev/zero > STATE/filler 2>/dev/null; true; }",
        "No space left on device",
    );
}

/// Truncates `owned.json` to half its length, as a crash mid-write on a filesystem without
/// atomic rename could.
fn truncate_record(state: &Path) {
    let path = state.join("owned.json");
    let text = std::fs::read(&path).expect("owned.json");
    std::fs::write(&path, &text[..text.len() / 2]).expect("truncate owned.json");
}

fn record(state: &Path) -> Owned {
    let text = std::fs::read_to_string(state.join("owned.json")).expect("owned.json");
    serde_json::from_str(&text).expect("owned.json is valid again")
}

#[test]
fn a_truncated_record_removes_nothing_and_is_rebuilt_from_the_kernel() {
    require_root();
    let scene = Scene::new("ft-corrupt", AZURE, None);
    let state = scene.dir.path().join("state");
    let config = scene.config(&state);
    stdout_ok(&scene.daemon(&config, "--oneshot"));
    truncate_record(&state);
    let text = azure_with(&[(1, &["10.4.0.5", "10.4.0.7"])]);
    scene.emulator.set_scenario_text(&text).expect("scenario");
    let out = scene.daemon(&config, "--oneshot");
    assert_eq!(stdout_ok(&out), ["No changes"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let complaint: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("is not a valid ownership record"))
        .collect();
    assert_eq!(complaint.len(), 1, "{stderr}");
    assert!(
        complaint[0].contains(&state.join("owned.json").display().to_string()),
        "{}",
        complaint[0]
    );
    assert_eq!(read_both(&scene.ns), azure_expected(), "nothing removed");
    let rebuilt = record(&state);
    assert_eq!(
        eth1_owned(&rebuilt),
        (
            vec!["10.4.0.5/24".to_string(), "10.4.0.7/24".to_string()],
            4
        ),
        "10.4.0.6, no longer listed, is not adopted"
    );
    assert_eq!(
        rebuilt.len(),
        2 + 2 + 2 + 4 + 1,
        "eth0 .8 .9, eth1 .5 .7, 2 routes, 4+1 rules"
    );

    let text = azure_with(&[(1, &["10.4.0.5"])]);
    scene.emulator.set_scenario_text(&text).expect("scenario");
    assert_eq!(
        stdout_ok(&scene.daemon(&config, "--oneshot")),
        ["eth1: -1 address, -2 rules"],
        "what was adopted is ours again"
    );
    let mut expected = azure_expected();
    expected.addresses = without(
        &expected.addresses,
        &["eth1 10.4.0.7/24 noprefixroute forever"],
    );
    expected.rules = without(
        &expected.rules,
        &[
            "3001 from 10.4.0.7 lookup 10001",
            "3001 from all to 10.4.0.7 lookup 10001",
        ],
    );
    assert_eq!(
        read_both(&scene.ns),
        expected,
        "10.4.0.6 stays: never adopted"
    );
}

#[test]
fn the_daemon_rebuilds_a_truncated_record_and_keeps_running() {
    require_root();
    let scene = Scene::new("ft-corrupt-d", AZURE, None);
    let state = scene.dir.path().join("state");
    stdout_ok(&scene.daemon(&scene.config(&state), "--oneshot"));
    truncate_record(&state);
    let text = azure_with(&[(1, &["10.4.0.5", "10.4.0.7"])]);
    scene.emulator.set_scenario_text(&text).expect("scenario");
    let mut daemon = healthy_daemon(&scene, &[]);
    let complaint = daemon.log_lines("is not a valid ownership record");
    assert_eq!(complaint.len(), 1, "{}", daemon.log_text());
    assert!(complaint[0].contains("owned.json"));
    assert_eq!(daemon.log_lines("ownership record rebuilt").len(), 1);
    assert_eq!(record(&state).len(), 11);
    assert_eq!(read_both(&scene.ns), azure_expected(), "nothing removed");
    assert!(daemon.alive());
    assert!(daemon.terminate(Duration::from_secs(2)).success());
}
