//! `cnctl check` in the lab (root; runs in CI): the daemon configures an Azure VM with two
//! NICs, `check` passes every line; then the configuring daemon is replaced by one started as
//! `nobody` without any capability (it serves the API and the check, which needs none, but
//! cannot repair anything), and each thing is broken by hand in turn: a rule deleted, a
//! foreign rule added before ours, the NIC table's default route deleted, the link set down.
//! Each time `check` names it, with exact output and exit status 1, and passes again once the
//! breakage is undone by hand.

mod support;

use cloud_network::metadata::ProviderKind;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::lab::{unique_name, Lab};
use support::netns::require_root;
use support::scene::{ChildGuard, TempDir};

const SCENARIO: &str = include_str!("../src/emulator/scenarios/azure.json");
const CONFIGURE_LIMIT: Duration = Duration::from_secs(15);
const NOBODY: &str = "65534";

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cloud-network"))
}

/// What a healthy check prints for the Azure scenario: eth0's three addresses by the main
/// table, eth1's three by table 10001, the metadata service by eth0.
const HEALTHY: [&str; 7] = [
    "✓ 10.4.0.4 (eth0): via 10.4.0.1 dev eth0 table main",
    "✓ 10.4.0.8 (eth0): via 10.4.0.1 dev eth0 table main",
    "✓ 10.4.0.9 (eth0): via 10.4.0.1 dev eth0 table main",
    "✓ 10.4.0.5 (eth1): via 10.4.0.1 dev eth1 table 10001",
    "✓ 10.4.0.6 (eth1): via 10.4.0.1 dev eth1 table 10001",
    "✓ 10.4.0.7 (eth1): via 10.4.0.1 dev eth1 table 10001",
    "✓ metadata 169.254.169.254 (eth0): via 10.4.0.1 dev eth0 table main",
];

struct Run {
    daemon: Option<ChildGuard>,
    lab: Lab,
    dir: TempDir,
}

impl Run {
    fn new() -> Run {
        let dir = TempDir::new("check");
        let scenario = dir.path().join("scenario.json");
        std::fs::write(&scenario, SCENARIO).expect("write scenario");
        let lab = Lab::up(
            &unique_name("ck"),
            ProviderKind::Azure,
            &scenario,
            &binary(),
        );
        Run {
            daemon: None,
            lab,
            dir,
        }
    }

    /// A config with its own state directory, owned by the user the daemon runs as (the
    /// daemon refuses one that others may write).
    fn config(&self, tag: &str, owner: Option<u32>) -> PathBuf {
        let state = self.dir.path().join(format!("state-{tag}"));
        std::fs::create_dir_all(&state).expect("state dir");
        if let Some(uid) = owner {
            std::os::unix::fs::chown(&state, Some(uid), Some(uid)).expect("chown state dir");
        }
        let path = self.dir.path().join(format!("{tag}.toml"));
        let text = format!(
            "[System]\nProvider=\"azure\"\nStateDir=\"{}\"\nRefreshTimer=\"300s\"\nLogLevel=\"debug\"\n",
            state.display()
        );
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// Starts the daemon in the VM, as root or (`as_nobody`) as an unprivileged user with no
    /// capability at all; its log goes to `daemon.log`.
    fn start_daemon(&mut self, tag: &str, as_nobody: bool) {
        let nobody: u32 = NOBODY.parse().expect("uid");
        let config = self.config(tag, as_nobody.then_some(nobody));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .expect("daemon log");
        let mut command = Command::new("ip");
        command.args(["netns", "exec", self.lab.vm.name()]);
        if as_nobody {
            command.args([
                "setpriv",
                "--reuid",
                NOBODY,
                "--regid",
                NOBODY,
                "--clear-groups",
            ]);
            command.args(["--inh-caps=-all", "--bounding-set=-all", "--"]);
        }
        let child = command
            .arg(binary())
            .args(["daemon", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the daemon");
        self.daemon = Some(ChildGuard(child));
    }

    fn stop_daemon(&mut self) {
        if let Some(mut guard) = self.daemon.take() {
            guard.0.kill().expect("kill the daemon");
            guard.0.wait().expect("reap the daemon");
        }
    }

    /// `cnctl check` (or `cnctl --json check`) in the VM: stdout and exit code.
    fn check(&self, json: bool) -> (String, i32) {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", self.lab.vm.name()])
            .arg(binary())
            .arg("cnctl");
        if json {
            command.arg("--json");
        }
        let out = command.arg("check").output().expect("run cnctl check");
        let code = out.status.code().expect("cnctl exited");
        (String::from_utf8_lossy(&out.stdout).into_owned(), code)
    }

    /// Polls `cnctl check` until it prints `expected` (the daemon's first round may still be
    /// under way); panics with the last output after the limit.
    fn wait_check(&self, expected: &[String], limit: Duration) -> i32 {
        let want: String = expected.iter().map(|l| format!("{l}\n")).collect();
        let start = Instant::now();
        loop {
            let (text, code) = self.check(false);
            if text == want {
                return code;
            }
            assert!(
                start.elapsed() < limit,
                "cnctl check printed\n{text}(exit {code}), expected\n{want}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The running daemon's real uid and effective capabilities, from `/proc` (`ip netns exec`
    /// and `setpriv` exec in place, so the child is the daemon).
    fn daemon_credentials(&self) -> (String, String) {
        let pid = self.daemon.as_ref().expect("a daemon").0.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .expect("field")
                .to_string()
        };
        (field("Uid:"), field("CapEff:"))
    }

    fn vm(&self, args: &[&str]) {
        self.lab.vm.run_ok(args);
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.stop_daemon();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("daemon.log"));
            eprintln!("daemon log:\n{}", log.unwrap_or_default());
        }
    }
}

fn healthy() -> Vec<String> {
    HEALTHY.iter().map(|l| l.to_string()).collect()
}

/// `healthy()` with line `index` replaced.
fn with_line(index: usize, line: &str) -> Vec<String> {
    let mut lines = healthy();
    lines[index] = line.to_string();
    lines
}

#[test]
fn check_names_each_broken_reply_path() {
    require_root();
    let mut run = Run::new();
    run.start_daemon("root", false);
    let addresses: Vec<_> = run.lab.targets().into_iter().map(|(_, a)| a).collect();
    run.lab.wait_reachable(&addresses, CONFIGURE_LIMIT);
    assert_eq!(run.wait_check(&healthy(), CONFIGURE_LIMIT), 0);

    run.stop_daemon();
    run.start_daemon("nobody", true);
    assert_eq!(run.wait_check(&healthy(), CONFIGURE_LIMIT), 0);
    let (uid, caps) = run.daemon_credentials();
    assert_eq!((uid.as_str(), caps.as_str()), (NOBODY, "0000000000000000"));
    let (json, code) = run.check(true);
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(&json).expect("check JSON");
    assert_eq!(report["ok"], true);
    assert_eq!(
        report["targets"],
        serde_json::json!(["198.51.100.1", "2001:db8:ffff::1"])
    );
    assert_eq!(
        report["lines"][3],
        serde_json::json!({"subject": "10.4.0.5", "link": "eth1", "ok": true,
            "via": {"dev": "eth1", "gateway": "10.4.0.1", "table": 10001}, "reason": null})
    );

    // Our rule for 10.4.0.6 goes: its replies fall through to main and leave by eth0.
    let rule = ["from", "10.4.0.6", "lookup", "10001", "priority", "3001"];
    run.vm(&[&["ip", "rule", "del"][..], &rule[..]].concat());
    let missing = "✗ 10.4.0.6 (eth1): missing rule 3001: from 10.4.0.6/32 lookup 10001 \
                   (replies: via 10.4.0.1 dev eth0 table main)";
    assert_eq!(run.wait_check(&with_line(4, missing), CONFIGURE_LIMIT), 1);
    run.vm(&[&["ip", "rule", "add"][..], &rule[..]].concat());
    assert_eq!(run.wait_check(&healthy(), CONFIGURE_LIMIT), 0);

    // A foreign rule before ours sends everything to a table of its own, by eth0.
    run.vm(&[
        "ip", "route", "add", "default", "via", "10.4.0.1", "dev", "eth0", "table", "50",
    ]);
    run.vm(&[
        "ip", "rule", "add", "from", "all", "lookup", "50", "priority", "100",
    ]);
    let shadowed = |address: &str, priority: u32| {
        format!(
            "✗ {address} (eth1): rule {priority} is shadowed by the foreign rule 100: from all \
             lookup 50 (replies: via 10.4.0.1 dev eth0 table 50)"
        )
    };
    let mut expected = healthy();
    for (index, address) in [(3, "10.4.0.5"), (4, "10.4.0.6"), (5, "10.4.0.7")] {
        expected[index] = shadowed(address, 3001);
    }
    for index in [0, 1, 2, 6] {
        expected[index] = expected[index].replace("table main", "table 50");
    }
    assert_eq!(run.wait_check(&expected, CONFIGURE_LIMIT), 1);
    run.vm(&["ip", "rule", "del", "priority", "100"]);
    run.vm(&["ip", "route", "del", "default", "table", "50"]);
    assert_eq!(run.wait_check(&healthy(), CONFIGURE_LIMIT), 0);

    // Table 10001 loses its default route.
    run.vm(&["ip", "route", "del", "default", "table", "10001"]);
    let mut expected = healthy();
    for (index, address) in [(3, "10.4.0.5"), (4, "10.4.0.6"), (5, "10.4.0.7")] {
        expected[index] = format!(
            "✗ {address} (eth1): table 10001 has no default route \
             (replies: via 10.4.0.1 dev eth0 table main)"
        );
    }
    assert_eq!(run.wait_check(&expected, CONFIGURE_LIMIT), 1);
    run.vm(&[
        "ip", "route", "add", "default", "via", "10.4.0.1", "dev", "eth1", "table", "10001",
    ]);
    assert_eq!(run.wait_check(&healthy(), CONFIGURE_LIMIT), 0);

    // eth1 goes down (the kernel drops its routes with it).
    run.vm(&["ip", "link", "set", "eth1", "down"]);
    let mut expected = healthy();
    for (index, address) in [(3, "10.4.0.5"), (4, "10.4.0.6"), (5, "10.4.0.7")] {
        expected[index] = format!(
            "✗ {address} (eth1): link eth1 is down (replies: via 10.4.0.1 dev eth0 table main)"
        );
    }
    assert_eq!(run.wait_check(&expected, CONFIGURE_LIMIT), 1);
}
