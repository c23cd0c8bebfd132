//! Root-only tests of what the daemon keeps on disk and how it starts, each VM in its own
//! namespace with the Azure emulator: one daemon per StateDir (a lock), a StateDir that could be
//! turned against us refused at start (exit 78), planted symlinks never followed, a tampered
//! ownership record that names the main default route, DHCP's address and the main rule
//! (nothing deleted), a kill -9 in the middle of a large apply (the next start removes exactly
//! what the metadata no longer wants), and SIGHUP with the config deleted or pointing at
//! /dev/zero (the running config stays).

mod support;

use cloud_network::kernel::{Family, KernelState, TABLE_MAIN};
use cloud_network::netlink::Netlink;
use cloud_network::plan::owned::{OwnedAddress, OwnedNic};
use cloud_network::plan::Owned;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};
use support::azure::{azure_expected, AZURE, AZURE_SCENARIO};
use support::netns::require_root;
use support::running::{status, wait_for, write_config, Daemon};
use support::scene::Scene;
use support::view::{from_netlink, read_both, View};

const BIN: &str = env!("CARGO_BIN_EXE_cloud-network");

fn state_dir(scene: &Scene) -> PathBuf {
    scene.dir.path().join("state")
}

fn config(scene: &Scene, network: &str) -> PathBuf {
    let path = write_config(
        &scene.dir.path().join("daemon.toml"),
        "azure",
        &scene.emulator.base_url(),
        &state_dir(scene),
        "RefreshTimer = \"300s\"",
    );
    let mut text = fs::read_to_string(&path).expect("config");
    text.push_str(network);
    fs::write(&path, text).expect("config");
    path
}

/// Starts the daemon (behind `wrapper`) and waits until it reports a good round and the
/// kernel shows `expected`.
fn healthy(scene: &Scene, config: &Path, wrapper: &[&str], expected: &View) -> Daemon {
    let log = scene.dir.path().join("daemon.log");
    let daemon = Daemon::start(&scene.ns, config, &log, wrapper);
    let ok = wait_for(Duration::from_secs(20), || {
        let s = status(Duration::from_secs(1))?;
        (s["last_refresh"]["result"] == "ok" && from_netlink() == *expected).then_some(())
    });
    assert!(
        ok.is_some(),
        "daemon not healthy:\n{}\nkernel: {:#?}",
        daemon.log_text(),
        from_netlink()
    );
    assert_eq!(read_both(&scene.ns), *expected);
    daemon
}

/// `cloud-network daemon --config CONFIG [mode]` in the namespace, killed after 10 s (a
/// daemon that does not refuse would run for ever).
fn run_daemon(scene: &Scene, config: &Path, mode: Option<&str>) -> Output {
    let config = config.to_str().expect("utf-8 path");
    let mut args = vec!["timeout", "10", BIN, "daemon", "--config", config];
    args.extend(mode);
    scene.ns.run(&args)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The kernel of the Azure VM before any reconcile: DHCP's lease on eth0, eth1 down and bare.
fn untouched() -> View {
    let mut view = azure_expected();
    view.links = vec!["eth0 up mtu 1500".into(), "eth1 down mtu 1500".into()];
    view.addresses = vec!["eth0 10.4.0.4/24 dynamic".into()];
    view.tables.clear();
    view.rules = support::view::with_defaults(&[]);
    view.rules.sort();
    view
}

fn hangup(daemon: &Daemon) {
    let pid = libc::pid_t::try_from(daemon.pid).expect("pid fits pid_t");
    // SAFETY: signals our own child, which has not been reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
}

fn wait_log(daemon: &Daemon, needle: &str) -> Vec<String> {
    wait_for(Duration::from_secs(5), || {
        let lines = daemon.log_lines(needle);
        (!lines.is_empty()).then_some(lines)
    })
    .unwrap_or_else(|| panic!("no log line with {needle:?}:\n{}", daemon.log_text()))
}

#[test]
fn a_second_daemon_on_the_same_state_dir_exits_1_naming_the_pid_that_holds_it() {
    require_root();
    let scene = Scene::new("ss-lock", AZURE, None);
    let config = config(&scene, "");
    let mut first = healthy(&scene, &config, &[], &azure_expected());
    let expected = format!(
        "another cloud-network (PID {}) holds StateDir {}; one daemon at a time",
        first.pid,
        state_dir(&scene).display()
    );
    for mode in [None, Some("--oneshot")] {
        let out = run_daemon(&scene, &config, mode);
        assert_eq!(out.status.code(), Some(1), "{mode:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&expected),
            "{mode:?}: {}",
            stderr(&out)
        );
    }
    assert!(first.alive());
    assert!(first.terminate(Duration::from_secs(2)).success());
    let out = run_daemon(&scene, &config, Some("--oneshot"));
    assert_eq!(stdout_lines(&out), ["No changes"], "{}", stderr(&out));
}

fn stdout_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_state_dir_that_is_a_symlink_or_writable_by_others_is_refused_with_exit_78() {
    require_root();
    let scene = Scene::new("ss-refuse", AZURE, None);
    let state = state_dir(&scene);
    let config = config(&scene, "");
    let shown = state.display().to_string();
    let cases: [(&str, &dyn Fn(), String); 4] = [
        (
            "mode 0777",
            &|| {
                fs::create_dir(&state).expect("state dir");
                fs::set_permissions(&state, fs::Permissions::from_mode(0o777)).expect("chmod");
            },
            format!("StateDir {shown} is writable by every user (mode 0777); refused"),
        ),
        (
            "group nobody, 0775",
            &|| {
                fs::create_dir(&state).expect("state dir");
                std::os::unix::fs::chown(&state, None, Some(65534)).expect("chgrp");
                fs::set_permissions(&state, fs::Permissions::from_mode(0o775)).expect("chmod");
            },
            format!("StateDir {shown} is writable by group 65534 (mode 0775); refused"),
        ),
        (
            "owned by nobody",
            &|| {
                fs::create_dir(&state).expect("state dir");
                std::os::unix::fs::chown(&state, Some(65534), None).expect("chown");
            },
            format!("StateDir {shown} is owned by uid 65534, neither root nor the service user"),
        ),
        (
            "a symlink to a root-owned dir",
            &|| {
                let target = scene.dir.path().join("root-only");
                fs::create_dir(&target).expect("target dir");
                fs::set_permissions(&target, fs::Permissions::from_mode(0o700)).expect("chmod");
                symlink(&target, &state).expect("symlink");
            },
            format!("StateDir {shown} is a symbolic link; refused"),
        ),
    ];
    for (case, make, message) in cases {
        let _ = fs::remove_file(&state);
        let _ = fs::remove_dir_all(&state);
        make();
        for mode in [None, Some("--oneshot")] {
            let out = run_daemon(&scene, &config, mode);
            assert_eq!(
                out.status.code(),
                Some(78),
                "{case} {mode:?}: {}",
                stderr(&out)
            );
            assert!(
                stderr(&out).contains(&message),
                "{case} {mode:?}: {}",
                stderr(&out)
            );
            assert_eq!(
                read_both(&scene.ns),
                untouched(),
                "{case}: nothing configured"
            );
        }
    }
    let target = scene.dir.path().join("root-only");
    let meta = fs::metadata(&target).expect("target");
    assert_eq!(
        meta.mode() & 0o7777,
        0o700,
        "the link's target keeps its mode"
    );
    assert_eq!(fs::read_dir(&target).expect("target").count(), 0);
}

#[test]
fn symlinks_planted_in_the_state_dir_are_never_followed() {
    require_root();
    let scene = Scene::new("ss-planted", AZURE, None);
    let state = state_dir(&scene);
    fs::create_dir(&state).expect("state dir");
    let victims = scene.dir.path().join("victims");
    fs::create_dir(&victims).expect("victims");
    let victim_dir = victims.join("dir");
    fs::create_dir(&victim_dir).expect("victim dir");
    for name in ["owned", "system"] {
        fs::write(victims.join(name), "precious\n").expect("victim file");
    }
    symlink(&victim_dir, state.join("links")).expect("links symlink");
    let plant = format!(
        "ln -s {v}/owned {s}/owned.json.tmp.$$ && ln -s {v}/system {s}/system.tmp.$$ \
         && exec \"$0\" \"$@\"",
        v = victims.display(),
        s = state.display()
    );
    let config = config(&scene, "");
    let daemon = healthy(&scene, &config, &["sh", "-c", &plant], &azure_expected());
    let system = wait_for(Duration::from_secs(5), || {
        let text = fs::read_to_string(state.join("system")).ok()?;
        serde_json::from_str::<Value>(&text).ok()
    });
    assert!(
        system.is_some(),
        "system not written:\n{}",
        daemon.log_text()
    );
    for name in ["system", "owned.json"] {
        let meta = fs::symlink_metadata(state.join(name)).expect("state file");
        assert!(meta.is_file(), "{name} is not a regular file");
    }
    for name in ["owned", "system"] {
        assert_eq!(
            fs::read_to_string(victims.join(name)).expect("victim"),
            "precious\n",
            "{name} overwritten through a planted link"
        );
    }
    assert_eq!(fs::read_dir(&victim_dir).expect("victim dir").count(), 0);
    let refused = daemon.log_lines("links is a symlink or not a directory; not followed");
    assert_eq!(refused.len(), 1, "{}", daemon.log_text());
}

/// The kernel's objects a tampered record claims: eth0's DHCP address, the main table's
/// default route (proto boot) and the main rule.
fn foreign_claims(kernel: &KernelState, eth0: u32) -> OwnedNic {
    let dhcp = kernel
        .addresses
        .iter()
        .find(|a| a.ifindex == eth0 && a.valid_lft != u32::MAX)
        .expect("DHCP address");
    let default = kernel
        .routes
        .iter()
        .find(|r| r.table == TABLE_MAIN && r.dst.prefix() == 0 && r.gateway.is_some())
        .expect("main default route");
    assert_eq!(default.protocol, 3, "proto boot");
    let main_rule = kernel
        .rules
        .iter()
        .find(|r| r.priority == 32766 && r.family == Family::V4)
        .expect("main rule");
    OwnedNic {
        ifindex: eth0,
        addresses: [OwnedAddress {
            ifindex: eth0,
            addr: dhcp.addr,
        }]
        .into(),
        routes: [default.clone()].into(),
        rules: [main_rule.clone()].into(),
        vlan: None,
        group: None,
    }
}

#[test]
fn a_tampered_record_naming_the_main_route_dhcp_address_and_main_rule_deletes_nothing() {
    require_root();
    let scene = Scene::new("ss-tamper", AZURE, None);
    let kernel = Netlink::open().expect("netlink").state().expect("kernel");
    let eth0 = scene.ns.ifindex("eth0");
    let mut owned = Owned::default();
    let mac = AZURE.macs[0].parse().expect("mac");
    owned.nics.insert(mac, foreign_claims(&kernel, eth0));
    let state = state_dir(&scene);
    fs::create_dir(&state).expect("state dir");
    let text = serde_json::to_string_pretty(&owned).expect("record");
    fs::write(state.join("owned.json"), text).expect("owned.json");

    let config = config(&scene, "");
    let daemon = healthy(&scene, &config, &[], &azure_expected());
    let main = scene
        .ns
        .json(&["ip", "-j", "route", "show", "table", "main"]);
    assert!(
        main.as_array()
            .expect("routes")
            .iter()
            .any(|r| r["dst"] == "default" && r["gateway"] == "10.4.0.1" && r["dev"] == "eth0"),
        "the default route is gone: {main}"
    );
    let eth0_addrs = scene
        .ns
        .json(&["ip", "-j", "address", "show", "dev", "eth0"]);
    let dhcp = eth0_addrs[0]["addr_info"]
        .as_array()
        .expect("addr_info")
        .iter()
        .find(|a| a["local"] == "10.4.0.4")
        .cloned();
    assert!(
        dhcp.is_some_and(|a| a["valid_life_time"] != json!(4294967295u32)),
        "DHCP's address is gone: {eth0_addrs}"
    );
    let rules = scene.ns.json(&["ip", "-j", "rule", "show"]);
    assert!(
        rules
            .as_array()
            .expect("rules")
            .iter()
            .any(|r| r["priority"] == 32766 && r["table"] == "main"),
        "the main rule is gone: {rules}"
    );
    let dropped = daemon.log_lines("does not carry our marks; not deleted");
    assert_eq!(dropped.len(), 3, "{}", daemon.log_text());
    let record: Owned =
        serde_json::from_str(&fs::read_to_string(state.join("owned.json")).expect("record"))
            .expect("valid record");
    let eth0_record = &record.nics[&mac];
    assert!(eth0_record.routes.is_empty() && eth0_record.rules.is_empty());
    let kept: Vec<String> = eth0_record
        .addresses
        .iter()
        .map(|a| a.addr.to_string())
        .collect();
    assert_eq!(kept, ["10.4.0.8/24", "10.4.0.9/24"]);
}

/// The Azure scenario with eth1 on 10.4.0.0/16 holding `count` addresses from 10.4.0.5 up.
fn azure_eth1_many(count: usize) -> String {
    let mut doc: Value = serde_json::from_str(AZURE_SCENARIO).expect("azure scenario");
    // From 10.4.0.6 up, skipping 10.4.0.8 and 10.4.0.9: eth0 lists those, and an address listed
    // on two NICs is refused on both.
    let addresses: Vec<Value> = (0..count)
        .map(|i| {
            let n = i + 5 + 2 * usize::from(i >= 2);
            json!({"privateIpAddress": format!("10.4.{}.{}", n / 250, n % 250 + 1), "publicIpAddress": ""})
        })
        .collect();
    let eth1 = &mut doc["network"]["interface"][1]["ipv4"];
    eth1["ipAddress"] = Value::Array(addresses);
    eth1["subnet"] = json!([{"address": "10.4.0.0", "prefix": "16"}]);
    doc.to_string()
}

/// Our addresses and rules on eth1 right now.
fn eth1_progress(eth1: u32) -> (usize, usize) {
    let kernel = Netlink::open().expect("netlink").state().expect("kernel");
    let addresses = kernel
        .addresses
        .iter()
        .filter(|a| a.ifindex == eth1 && a.noprefixroute)
        .count();
    let rules = kernel.rules.iter().filter(|r| r.table == 10001).count();
    (addresses, rules)
}

#[test]
fn killed_mid_apply_the_next_start_removes_exactly_what_the_metadata_no_longer_wants() {
    require_root();
    const MANY: usize = 5000;
    let scene = Scene::new("ss-crash", AZURE, None);
    let eth1 = scene.ns.ifindex("eth1");
    scene
        .ns
        .run_ok(&["ip", "address", "add", "10.4.200.1/16", "dev", "eth1"]);
    let marked_like_ours = "10.4.201.1/16";
    scene.ns.run_ok(&[
        "ip",
        "address",
        "add",
        marked_like_ours,
        "dev",
        "eth1",
        "noprefixroute",
    ]);
    scene.ns.run_ok(&[
        "ip", "rule", "add", "priority", "3001", "from", "10.9.9.9", "lookup", "77",
    ]);
    scene
        .emulator
        .set_scenario_text(&azure_eth1_many(MANY))
        .expect("scenario");
    let state = state_dir(&scene);
    fs::create_dir(&state).expect("state dir");
    let config = config(&scene, "");
    let log = scene.dir.path().join("first.log");
    let mut first = Daemon::start(&scene.ns, &config, &log, &[]);
    let started = Instant::now();
    let partway = loop {
        let (addresses, rules) = eth1_progress(eth1);
        if addresses > 1 && rules < 2 * MANY {
            break Some((addresses, rules));
        }
        if started.elapsed() > Duration::from_secs(30) {
            break None;
        }
    };
    let pid = libc::pid_t::try_from(first.pid).expect("pid fits pid_t");
    // SAFETY: signals our own child, which has not been reaped yet.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let (addresses, rules) = partway.unwrap_or_else(|| panic!("{}", first.log_text()));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!first.alive());
    let after = eth1_progress(eth1);
    eprintln!(
        "killed after {:?} at {addresses} addresses and {rules} rules; {after:?} in the kernel",
        started.elapsed()
    );
    assert!(
        after.1 < 2 * MANY,
        "the apply finished before the kill: {after:?}"
    );

    scene
        .emulator
        .set_scenario_text(&azure_eth1_many(3))
        .expect("scenario");
    let mut expected = azure_expected();
    for line in expected.addresses.iter_mut().chain(&mut expected.tables) {
        *line = line
            .replace("eth1 10.4.0.5/24", "eth1 10.4.0.6/16")
            .replace("eth1 10.4.0.6/24", "eth1 10.4.0.7/16")
            .replace("eth1 10.4.0.7/24", "eth1 10.4.0.10/16")
            .replace(
                "10.4.0.0/24 dev eth1 proto 201 scope link src 10.4.0.5",
                "10.4.0.0/16 dev eth1 proto 201 scope link src 10.4.0.6",
            );
    }
    expected.addresses.extend([
        "eth1 10.4.200.1/16 forever".to_string(),
        "eth1 10.4.201.1/16 noprefixroute forever".to_string(),
    ]);
    expected.addresses.sort();
    for line in expected.rules.iter_mut() {
        for (from, to) in [
            ("10.4.0.7", "10.4.0.10"),
            ("10.4.0.6", "10.4.0.7"),
            ("10.4.0.5", "10.4.0.6"),
        ] {
            if line.ends_with(&format!("{from} lookup 10001")) {
                *line = line.replace(from, to);
                break;
            }
        }
    }
    expected
        .rules
        .push("3001 from 10.9.9.9 lookup 77".to_string());
    expected
        .main
        .push("10.4.0.0/16 dev eth1 proto kernel scope link src 10.4.200.1".to_string());
    expected.main.sort();
    expected.rules.sort();
    healthy(&scene, &config, &[], &expected);
}

#[test]
fn sighup_with_the_config_deleted_keeps_the_running_config() {
    require_root();
    let scene = Scene::new("ss-hup-gone", AZURE, None);
    let config = config(&scene, "RouteTableBase = 20000\n");
    let expected = tables_at(20001);
    let daemon = healthy(&scene, &config, &[], &expected);
    let record = state_dir(&scene).join("owned.json");
    let before = fs::metadata(&record).expect("record");
    fs::remove_file(&config).expect("delete the config");
    hangup(&daemon);
    let refused = wait_log(&daemon, "config not reloaded, keeping the running one");
    assert!(
        refused[0].contains(&format!(
            "{}: cannot read the configuration: No such file or directory",
            config.display()
        )),
        "{}",
        refused[0]
    );
    settle(&daemon);
    assert_eq!(read_both(&scene.ns), expected);
    assert!(daemon.log_lines("config reloaded").is_empty());
    let after = fs::metadata(&record).expect("record");
    assert_eq!(
        (after.ino(), after.mtime_nsec()),
        (before.ino(), before.mtime_nsec()),
        "a round without changes rewrote the record"
    );
}

#[test]
fn sighup_with_the_config_a_symlink_to_dev_zero_keeps_the_running_config() {
    require_root();
    let scene = Scene::new("ss-hup-zero", AZURE, None);
    let config = config(&scene, "RouteTableBase = 20000\n");
    let expected = tables_at(20001);
    let mut daemon = healthy(&scene, &config, &[], &expected);
    fs::remove_file(&config).expect("delete the config");
    symlink("/dev/zero", &config).expect("symlink to /dev/zero");
    hangup(&daemon);
    let refused = wait_log(&daemon, "config not reloaded, keeping the running one");
    assert!(
        refused[0]
            .contains("cannot read the configuration: not a regular file (a character device)"),
        "{}",
        refused[0]
    );
    settle(&daemon);
    assert!(daemon.alive());
    let rss = daemon.proc_status("VmRSS");
    assert!(rss < 32 * 1024, "RSS {rss} KiB after reading /dev/zero");
    assert_eq!(read_both(&scene.ns), expected);
    assert!(daemon.terminate(Duration::from_secs(2)).success());
}

/// Lets the round that follows a reload go through (it fetches and applies).
fn settle(daemon: &Daemon) {
    let rounds = |d: &Daemon| d.log_lines("SIGHUP").len();
    assert_eq!(rounds(daemon), 1, "{}", daemon.log_text());
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        status(Duration::from_secs(1)).is_some(),
        "{}",
        daemon.log_text()
    );
}

/// The converged Azure VM with eth1's table at `table` instead of 10001.
fn tables_at(table: u32) -> View {
    let mut view = azure_expected();
    let moved = |line: &mut String| *line = line.replace("10001", &table.to_string());
    view.tables.iter_mut().for_each(moved);
    view.rules.iter_mut().for_each(moved);
    view.tables.sort();
    view.rules.sort();
    view
}
