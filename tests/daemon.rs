//! Root-only end-to-end tests of the long-running daemon: the real binary under
//! `ip netns exec`, one namespace per test with the metadata emulator inside. Convergence per
//! provider with the API bodies and cnctl output asserted, metadata changes, hot-plug, restoring
//! what others delete, changes that fail for a moment (a route from an IPv6 address someone
//! else added, still tentative) applied again without a fetch, IPv6 addresses added without DAD, emulator faults, SIGTERM and a restart without writes, the API's error
//! cases under 200 idle connections, and the privilege drop to the `cloud-network` user.

mod support;

use cloud_network::emulator::Fault;
use cloud_network::metadata::http::{HttpConfig, RetryPolicy};
use serde_json::{json, Value};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};
use support::api::{self, API_PORT, API_URL};
use support::aws::{aws_expected, AWS};
use support::azure::{azure_expected, azure_with, AZURE, AZURE_SCENARIO};
use support::gcp::{gcp_expected, GCP, GCP_SCENARIO};
use support::monitor::IpMonitor;
use support::netns::require_root;
use support::running::ServiceUser;
use support::scene::{ChildGuard, Scene, Vm};
use support::view::{from_netlink, plus, read_both, strs, with_defaults, without, View};

const BIN: &str = env!("CARGO_BIN_EXE_cloud-network");
const POLL: Duration = Duration::from_millis(20);
/// The hot-plug, restore and SIGTERM deadlines the daemon issue names.
const HOTPLUG_DEADLINE: Duration = Duration::from_secs(2);
const RESTORE_DEADLINE: Duration = Duration::from_secs(1);
const SIGTERM_DEADLINE: Duration = Duration::from_secs(1);
/// Start-up to a converged kernel, generously (a loaded CI machine).
const CONVERGE_DEADLINE: Duration = Duration::from_secs(10);
/// Scheduling slack on top of a refresh interval.
const SLACK: Duration = Duration::from_millis(500);

/// The daemon switches to the `cloud-network` user whenever it exists, so the test that
/// creates it runs alone (write lock) and every other daemon test holds a read lock.
static SERVICE_USER: RwLock<()> = RwLock::new(());

fn shared_user() -> RwLockReadGuard<'static, ()> {
    SERVICE_USER.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive_user() -> RwLockWriteGuard<'static, ()> {
    SERVICE_USER.write().unwrap_or_else(|e| e.into_inner())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Polls `probe` every 20 ms until it returns `Some` or `limit` passes; the value and how long
/// it took.
fn within<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<(T, Duration)> {
    let start = Instant::now();
    loop {
        if let Some(value) = probe() {
            return Some((value, start.elapsed()));
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// The daemon binary running in the scene's namespace, its stderr in a log file. Killed on drop.
struct Daemon {
    child: ChildGuard,
    log: PathBuf,
}

impl Daemon {
    fn start(scene: &Scene, config: &Path) -> Daemon {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let log = scene.dir.path().join(format!("daemon-{n}.log"));
        let stderr = File::create(&log).expect("create the daemon log");
        let child = Command::new("ip")
            .args(["netns", "exec", scene.ns.name(), BIN, "daemon", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn the daemon");
        Daemon {
            child: ChildGuard(child),
            log,
        }
    }

    fn pid(&self) -> u32 {
        self.child.0.id()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the daemon's log.
    fn fail(&self, what: &str) -> ! {
        panic!("{what}\n--- daemon log ---\n{}", self.log())
    }

    /// SIGTERM, then waits (3 s at most) for the exit; its status and how long it took.
    fn terminate(&mut self) -> (ExitStatus, Duration) {
        let pid = libc::pid_t::try_from(self.pid()).expect("pid fits pid_t");
        let start = Instant::now();
        // SAFETY: kill with a valid signal to our own child, which has not been reaped yet.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "kill -TERM");
        match within(Duration::from_secs(3), || {
            self.child.0.try_wait().expect("wait for the daemon")
        }) {
            Some((status, _)) => (status, start.elapsed()),
            None => self.fail("the daemon did not exit within 3 s of SIGTERM"),
        }
    }
}

/// A config for the scene's emulator, the API on [`API_PORT`] and `refresh` as RefreshTimer.
fn write_config(scene: &Scene, refresh: &str) -> PathBuf {
    let path = scene.dir.path().join("cloud-network.toml");
    let text = format!(
        "[System]\nProvider = \"{}\"\nMetadataEndpoint = \"{}\"\nStateDir = \"{}\"\n\
         RefreshTimer = \"{refresh}\"\nLogLevel = \"debug\"\n\n[Network]\nListen = \"127.0.0.1:{API_PORT}\"\n",
        scene.vm.provider,
        scene.emulator.base_url(),
        state_dir(scene).display()
    );
    std::fs::write(&path, text).expect("write the config");
    path
}

fn state_dir(scene: &Scene) -> PathBuf {
    scene.dir.path().join("state")
}

/// Waits until the kernel (read through netlink) equals `expected`, then checks it through
/// `ip -j` as well.
fn wait_converged(scene: &Scene, daemon: &Daemon, expected: &View) -> Duration {
    let Some((_, took)) = within(CONVERGE_DEADLINE, || {
        (from_netlink() == *expected).then_some(())
    }) else {
        daemon.fail(&format!(
            "not converged within {CONVERGE_DEADLINE:?}\nkernel: {:#?}\nexpected: {expected:#?}",
            from_netlink()
        ));
    };
    assert_eq!(read_both(&scene.ns), *expected);
    took
}

/// `/api/v1/status` once a round with no changes (the converged state) has been published;
/// asks for a refresh first, so there is such a round even when nothing else triggers one.
fn wait_quiet_status(daemon: &Daemon) -> Value {
    let accepted = within(CONVERGE_DEADLINE, || {
        api::request_with_host("POST", "/api/v1/refresh", "localhost").ok()
    });
    match accepted {
        Some((answer, _)) => assert_eq!(answer.status, 202, "{}", answer.body),
        None => daemon.fail("the API never answered"),
    }
    let quiet = within(CONVERGE_DEADLINE, || {
        let status = api::request_with_host("GET", "/api/v1/status", "localhost").ok()?;
        let body = status.json();
        (body["last_refresh"]["changes"] == 0 && body["last_error"].is_null()).then_some(body)
    });
    let status = match quiet {
        Some((status, _)) => status,
        None => daemon.fail("no quiet round published"),
    };
    // The system view follows the metadata a moment later (EC2: a tree walk).
    let served = within(CONVERGE_DEADLINE, || {
        let answer = api::request_with_host("GET", "/api/cloud/system", "localhost").ok()?;
        (answer.status == 200).then_some(())
    });
    if served.is_none() {
        daemon.fail("the system view was never served");
    }
    status
}

/// The status with its clock readings checked for shape and replaced by "T".
fn masked(mut status: Value) -> Value {
    for pointer in ["/started", "/last_refresh/time", "/last_error/time"] {
        if let Some(time) = status.pointer_mut(pointer) {
            let text = time.as_str().unwrap_or_else(|| panic!("{pointer}: {time}"));
            assert!(
                text.len() == 20 && text.ends_with('Z') && &text[10..11] == "T",
                "{pointer} is not RFC 3339 UTC: {text}"
            );
            *time = json!("T");
        }
    }
    status
}

/// `cloud-network cnctl --url API <args>` in the namespace: its stdout, asserting success.
fn cnctl(scene: &Scene, args: &[&str]) -> String {
    let mut all = vec![BIN, "cnctl", "--url", API_URL];
    all.extend(args);
    let out = scene.ns.run(&all);
    assert!(
        out.status.success(),
        "cnctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).expect("serialize") + "\n"
}

fn lines(text: &[&str]) -> String {
    text.iter().map(|l| format!("{l}\n")).collect()
}

fn scenario_json(text: &str) -> Value {
    serde_json::from_str(text).expect("scenario JSON")
}

/// Gives the emulator `doc` as its scenario.
fn serve(scene: &Scene, doc: &Value) {
    scene
        .emulator
        .set_scenario_text(&doc.to_string())
        .expect("scenario");
}

/// Waits up to `limit` for the netlink view to show `line` (`present`) or not, failing with
/// the daemon's log otherwise; prints and returns how long it took.
fn wait_line(
    daemon: &Daemon,
    limit: Duration,
    line: &str,
    present: bool,
    list: impl Fn(&View) -> &Vec<String>,
) -> Duration {
    let took = within(limit, || {
        (list(&from_netlink()).iter().any(|l| l == line) == present).then_some(())
    })
    .unwrap_or_else(|| {
        daemon.fail(&format!(
            "{line:?} present={present} not seen within {limit:?}"
        ))
    })
    .1;
    eprintln!("{line:?} present={present} after {took:?}");
    took
}

/// The two rules sending traffic from and to `ip` (an eth1 address or range) to table 10001.
fn eth1_rules(ip: &str) -> [String; 2] {
    [
        format!("3001 from {ip} lookup 10001"),
        format!("3001 from all to {ip} lookup 10001"),
    ]
}

/// An Azure NIC entry: MAC `00:0d:3a:4f:6b:1N` with 10.4.N.10/24 (N = `n`).
fn azure_nic(n: u8) -> Value {
    json!({
        "ipv4": {
            "ipAddress": [{"privateIpAddress": format!("10.4.{n}.10"), "publicIpAddress": ""}],
            "subnet": [{"address": format!("10.4.{n}.0"), "prefix": "24"}]
        },
        "ipv6": {"ipAddress": []},
        "macAddress": format!("000D3A4F6B1{n}")
    })
}

/// The Azure scenario plus NICs `azure_nic(n)` for each of `extra`.
fn azure_plus_nics(extra: &[u8]) -> Value {
    let mut doc = scenario_json(AZURE_SCENARIO);
    let list = doc["network"]["interface"]
        .as_array_mut()
        .expect("interfaces");
    list.extend(extra.iter().map(|n| azure_nic(*n)));
    doc
}

fn rule_json(from: Option<&str>, to: Option<&str>) -> Value {
    json!({"priority": 3001, "from": from, "to": to, "table": 10001})
}

/// `/api/v1/links` of the converged Azure VM.
fn azure_links(scene: &Scene) -> Value {
    json!([
        {
            "name": "eth0",
            "ifindex": scene.ns.ifindex("eth0"),
            "mac": "00:0d:3a:4f:6b:10",
            "device_index": 0,
            "table": null,
            "addresses": ["10.4.0.4/24", "10.4.0.8/24", "10.4.0.9/24"],
            "routes": [],
            "rules": []
        },
        {
            "name": "eth1",
            "ifindex": scene.ns.ifindex("eth1"),
            "mac": "00:0d:3a:4f:6b:11",
            "device_index": 1,
            "table": 10001,
            "addresses": ["10.4.0.5/24", "10.4.0.6/24", "10.4.0.7/24"],
            "routes": [
                "10.4.0.0/24 dev eth1 table 10001 proto 201 scope link src 10.4.0.5",
                "default via 10.4.0.1 dev eth1 table 10001 proto 201"
            ],
            "rules": [
                rule_json(Some("10.4.0.5/32"), None),
                rule_json(None, Some("10.4.0.5/32")),
                rule_json(Some("10.4.0.6/32"), None),
                rule_json(None, Some("10.4.0.6/32")),
                rule_json(Some("10.4.0.7/32"), None),
                rule_json(None, Some("10.4.0.7/32")),
            ]
        }
    ])
}

fn azure_status_links_text(scene: &Scene) -> String {
    let eth0 = format!("       Index: {} ", scene.ns.ifindex("eth0"));
    let eth1 = format!("       Index: {} ", scene.ns.ifindex("eth1"));
    lines(&[
        "        Name: eth0 ",
        &eth0,
        " MAC Address: 00:0d:3a:4f:6b:10 ",
        "Device Index: 0 ",
        "       Table: - ",
        "   Addresses: 10.4.0.4/24 10.4.0.8/24 10.4.0.9/24 ",
        "       Rules: - ",
        "      Routes: - ",
        "",
        "        Name: eth1 ",
        &eth1,
        " MAC Address: 00:0d:3a:4f:6b:11 ",
        "Device Index: 1 ",
        "       Table: 10001 ",
        "   Addresses: 10.4.0.5/24 10.4.0.6/24 10.4.0.7/24 ",
        "       Rules: 3001: from 10.4.0.5/32 lookup 10001 ",
        "              3001: to 10.4.0.5/32 lookup 10001 ",
        "              3001: from 10.4.0.6/32 lookup 10001 ",
        "              3001: to 10.4.0.6/32 lookup 10001 ",
        "              3001: from 10.4.0.7/32 lookup 10001 ",
        "              3001: to 10.4.0.7/32 lookup 10001 ",
        "      Routes: 10.4.0.0/24 dev eth1 table 10001 proto 201 scope link src 10.4.0.5 ",
        "              default via 10.4.0.1 dev eth1 table 10001 proto 201 ",
    ])
}

const AZURE_STATUS_NETWORK: &[&str] = &[
    "       Name: eth0 ",
    "MAC Address: 00:0d:3a:4f:6b:10 ",
    "  Public Ip: 20.61.15.7 ",
    " Private Ip: 10.4.0.4/24 10.4.0.8/24 10.4.0.9/24 ",
    "     Subnet: 10.4.0.0 ",
    "",
    "       Name: eth1 ",
    "MAC Address: 00:0d:3a:4f:6b:11 ",
    " Private Ip: 10.4.0.5/24 10.4.0.6/24 10.4.0.7/24 ",
    "     Subnet: 10.4.0.0 ",
];

/// Starts a daemon on a fresh VM and waits for the converged kernel and a quiet round.
fn converged(scene: &Scene, refresh: &str, expected: &View) -> (Daemon, Value) {
    let config = write_config(scene, refresh);
    let daemon = Daemon::start(scene, &config);
    wait_converged(scene, &daemon, expected);
    let status = wait_quiet_status(&daemon);
    (daemon, status)
}

#[test]
fn azure_converges_and_the_api_and_cnctl_show_it_exactly() {
    require_root();
    let _user = shared_user();
    let scene = Scene::new("dm-azure", AZURE, None);
    let (_daemon, status) = converged(&scene, "300s", &azure_expected());
    assert_eq!(
        masked(status),
        json!({
            "provider": "azure",
            "version": env!("CARGO_PKG_VERSION"),
            "started": "T",
            "last_refresh": {"time": "T", "result": "ok", "changes": 0, "summary": []},
            "last_error": null,
            "links": azure_links(&scene)
        })
    );
    assert_eq!(api::get_json("/api/v1/links"), azure_links(&scene));
    assert_eq!(
        api::get_json("/api/cloud/system"),
        scenario_json(AZURE_SCENARIO)
    );
    assert_eq!(
        api::get_json("/api/cloud/network"),
        scenario_json(AZURE_SCENARIO)
    );

    assert_eq!(
        cnctl(&scene, &["status", "links"]),
        azure_status_links_text(&scene)
    );
    assert_eq!(
        cnctl(&scene, &["--json", "status", "links"]),
        pretty(&azure_links(&scene))
    );
    assert_eq!(
        cnctl(&scene, &["status", "network"]),
        lines(AZURE_STATUS_NETWORK)
    );
    assert_eq!(
        cnctl(&scene, &["--json", "status", "network"]),
        pretty(&scenario_json(AZURE_SCENARIO))
    );
    let state = state_dir(&scene);
    let system: Value =
        serde_json::from_slice(&std::fs::read(state.join("system")).expect("state file system"))
            .expect("system JSON");
    assert_eq!(system, scenario_json(AZURE_SCENARIO));
    let eth1 = scene.ns.ifindex("eth1");
    let link: Value = serde_json::from_slice(
        &std::fs::read(state.join(format!("links/{eth1}"))).expect("state file links/eth1"),
    )
    .expect("link JSON");
    assert_eq!(
        link,
        scenario_json(AZURE_SCENARIO)["network"]["interface"][1]
    );
}

/// Asserts that the lines of `cnctl <args>` that are in `wanted` are exactly `wanted`, in order.
fn assert_key_lines(scene: &Scene, args: &[&str], wanted: &[&str]) {
    let text = cnctl(scene, args);
    let found: Vec<&str> = text.lines().filter(|l| wanted.contains(l)).collect();
    assert_eq!(found, wanted, "{text}");
}

/// `cnctl --json <args>`, parsed.
fn cnctl_json(scene: &Scene, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend(args);
    serde_json::from_str(&cnctl(scene, &all)).expect("JSON")
}

#[test]
fn aws_converges_and_the_api_and_cnctl_show_it() {
    require_root();
    let _user = shared_user();
    let scene = Scene::new("dm-aws", AWS, None);
    let (daemon, status) = converged(&scene, "1s", &aws_expected());
    assert_eq!(status["provider"], "aws");
    let links = api::get_json("/api/v1/links");
    assert_eq!(links, status["links"]);
    let eth1 = &links[1];
    assert_eq!(eth1["name"], "eth1");
    assert_eq!(eth1["mac"], "0a:3f:5c:1e:7d:02");
    assert_eq!(eth1["table"], 10001);
    assert_eq!(
        eth1["addresses"],
        json!(["172.31.25.40/20", "172.31.25.41/20"])
    );
    let system = api::get_json("/api/v1/system");
    assert_eq!(
        system["meta-data"]["network"]["interfaces"]["macs"]["0a:3f:5c:1e:7d:02"]["local-ipv4s"],
        "172.31.25.40\n172.31.25.41"
    );
    let original = api::get_json("/api/cloud/system");
    assert_eq!(original["instance-id"], "i-0f1e2d3c4b5a69788");
    assert_eq!(original["network"], system["meta-data"]["network"]);
    assert_eq!(original.get("meta-data"), None);
    let network = api::get_json("/api/cloud/network");
    assert_eq!(
        network,
        system["meta-data"]["network"]["interfaces"]["macs"]
    );
    let document = api::get_json("/api/cloud/dynamicinstanceidentity/document");
    assert_eq!(document["instanceId"], "i-0f1e2d3c4b5a69788");

    assert_key_lines(
        &scene,
        &["status", "links"],
        &[
            "        Name: eth1 ",
            " MAC Address: 0a:3f:5c:1e:7d:02 ",
            "       Table: 10001 ",
            "   Addresses: 172.31.25.40/20 172.31.25.41/20 ",
            "       Rules: 3001: from 172.31.25.40/32 lookup 10001 ",
            "      Routes: 172.31.16.0/20 dev eth1 table 10001 proto 201 scope link src 172.31.25.40 ",
        ],
    );
    assert_key_lines(
        &scene,
        &["status", "network"],
        &[
            "              Name: eth1 ",
            "       MAC Address: 0a:3f:5c:1e:7d:02 ",
            "       Local IPv4s: 172.31.25.40 172.31.25.41 ",
        ],
    );
    assert_eq!(cnctl_json(&scene, &["status", "links"]), links);
    assert_eq!(cnctl_json(&scene, &["status", "network"]), network);

    // Timed refreshes of unchanged metadata read the NIC leaves, never the whole tree.
    scene.emulator.clear_requests();
    let listing = "/latest/meta-data/network/interfaces/macs/";
    let two_refreshes = within(Duration::from_secs(5), || {
        let requests = scene.emulator.requests();
        let refreshes = requests.iter().filter(|r| r.path == listing).count();
        (refreshes >= 2).then_some(requests)
    });
    let Some((requests, _)) = two_refreshes else {
        daemon.fail("no two timed refreshes within 5 s");
    };
    let walked: Vec<&str> = requests
        .iter()
        .map(|r| r.path.as_str())
        .filter(|p| p.ends_with("/ami-id") || p.ends_with("/meta-data/"))
        .collect();
    assert!(walked.is_empty(), "a refresh walked the tree: {walked:?}");
}

/// The GCP scenario with eth1's alias ranges replaced.
fn gcp_with_aliases(aliases: &[&str]) -> Value {
    let mut doc = scenario_json(GCP_SCENARIO);
    doc["instance"]["networkInterfaces"][1]["ipAliases"] = json!(aliases);
    doc
}

#[test]
fn gcp_converges_shows_it_and_applies_a_long_polled_change_at_once() {
    require_root();
    let _user = shared_user();
    let scene = Scene::new("dm-gcp", GCP, None);
    let (daemon, status) = converged(&scene, "300s", &gcp_expected());
    assert_eq!(status["provider"], "gcp");
    let links = api::get_json("/api/v1/links");
    assert_eq!(
        links[1]["routes"],
        json!([
            "192.168.1.1/32 dev eth1 table 10001 proto 201 scope link src 192.168.1.5",
            "default via 192.168.1.1 dev eth1 table 10001 proto 201",
            "local 192.168.1.64/29 dev eth1 table local proto 201 scope host"
        ])
    );
    let system = api::get_json("/api/cloud/system");
    assert_eq!(system["instance"], scenario_json(GCP_SCENARIO)["instance"]);
    assert_key_lines(
        &scene,
        &["status", "network"],
        &[
            "         Name: eth0 ",
            "  MAC Address: 42:01:0a:80:00:0c ",
            "           IP: 10.128.0.12 ",
            "          MTU: 1460 ",
            "   IP Aliases: 10.8.1.0/24 ",
            "Forwarded IPs: 34.120.88.10 ",
            "       Name: eth1 ",
            "         IP: 192.168.1.5 ",
            " IP Aliases: 192.168.1.64/29 ",
        ],
    );
    assert_key_lines(
        &scene,
        &["status", "links"],
        &[
            "        Name: eth1 ",
            "   Addresses: 192.168.1.5/32 ",
            "              local 192.168.1.64/29 dev eth1 table local proto 201 scope host ",
        ],
    );
    assert_eq!(cnctl_json(&scene, &["status", "links"]), links);

    // RefreshTimer is 300 s: only the long-poll can bring this in within 10 s (it takes
    // milliseconds; the margin is for a loaded machine, not a figure).
    serve(
        &scene,
        &gcp_with_aliases(&["192.168.1.64/29", "192.168.1.80/29"]),
    );
    let added = "local 192.168.1.80/29 dev eth1 proto 201 scope host";
    wait_line(&daemon, Duration::from_secs(10), added, true, |v| &v.local);
    let mut expected = gcp_expected();
    expected.local = plus(&expected.local, &[added]);
    expected.rules = plus(&expected.rules, &strs(&eth1_rules("192.168.1.80/29")));
    wait_converged(&scene, &daemon, &expected);
}

#[test]
fn metadata_changes_are_applied_within_one_refresh() {
    require_root();
    let _user = shared_user();
    let scene = Scene::new("dm-change", AZURE, None);
    let refresh = Duration::from_secs(2);
    let (daemon, _) = converged(&scene, "2s", &azure_expected());

    let doc = scenario_json(&azure_with(&[(
        1,
        &["10.4.0.5", "10.4.0.6", "10.4.0.7", "10.4.0.10"],
    )]));
    serve(&scene, &doc);
    let added = "eth1 10.4.0.10/24 noprefixroute forever";
    wait_line(&daemon, refresh + SLACK, added, true, |v| &v.addresses);
    let mut expected = azure_expected();
    expected.addresses = plus(&expected.addresses, &[added]);
    expected.rules = plus(&expected.rules, &strs(&eth1_rules("10.4.0.10")));
    wait_converged(&scene, &daemon, &expected);
    let shown = within(SLACK, || {
        let links = api::get_json("/api/v1/links");
        (links[1]["addresses"][3] == "10.4.0.10/24").then_some(())
    });
    assert!(shown.is_some(), "the API does not show the new address");
    assert_eq!(api::get_json("/api/cloud/system"), doc);
    let network = cnctl(&scene, &["status", "network"]);
    assert!(
        network.contains(" Private Ip: 10.4.0.5/24 10.4.0.6/24 10.4.0.7/24 10.4.0.10/24 \n"),
        "{network}"
    );

    serve(
        &scene,
        &scenario_json(&azure_with(&[(1, &["10.4.0.5", "10.4.0.7", "10.4.0.10"])])),
    );
    let removed = "eth1 10.4.0.6/24 noprefixroute forever";
    wait_line(&daemon, refresh + SLACK, removed, false, |v| &v.addresses);
    expected.addresses = without(&expected.addresses, &[removed]);
    expected.rules = without(&expected.rules, &strs(&eth1_rules("10.4.0.6")));
    wait_converged(&scene, &daemon, &expected);
}

/// The kernel lines a hot-plugged Azure NIC `azure_nic(n)` on `eth{n}` gets.
fn hot_plugged(n: u8) -> View {
    let table = 10000 + u32::from(n);
    let priority = 3000 + u32::from(n);
    View::expect(
        &[&format!("eth{n} up mtu 1500 group 201")],
        &[&format!("eth{n} 10.4.{n}.10/24 noprefixroute forever")],
        &[
            &format!("{table} default via 10.4.{n}.1 dev eth{n} proto 201"),
            &format!("{table} 10.4.{n}.0/24 dev eth{n} proto 201 scope link src 10.4.{n}.10"),
        ],
        &[],
        &[],
        &[
            &format!("{priority} from 10.4.{n}.10 lookup {table}"),
            &format!("{priority} from all to 10.4.{n}.10 lookup {table}"),
        ],
    )
}

/// Whether the addresses, table routes and rules of `part` are all in `view`.
fn contains(view: &View, part: &View) -> bool {
    let has = |all: &[String], some: &[String]| some.iter().all(|l| all.contains(l));
    has(&view.addresses, &part.addresses)
        && has(&view.tables, &part.tables)
        && has(&view.rules, &part.rules)
}

#[test]
fn a_hot_plugged_nic_is_configured_within_2_s() {
    require_root();
    let _user = shared_user();
    let scene = Scene::new(
        "dm-hotplug",
        AZURE,
        Some(&azure_plus_nics(&[2]).to_string()),
    );
    let (daemon, _) = converged(&scene, "300s", &azure_expected());
    let start = Instant::now();
    scene.ns.veth("eth2", "p2", Some("00:0d:3a:4f:6b:12"));
    let configured = within(HOTPLUG_DEADLINE, || {
        contains(&from_netlink(), &hot_plugged(2)).then_some(())
    });
    if configured.is_none() {
        daemon.fail("the hot-plugged NIC was not configured within 2 s");
    }
    eprintln!("hot-plugged NIC configured in {:?}", start.elapsed());
    let expected = azure_expected().merged(&hot_plugged(2));
    wait_converged(&scene, &daemon, &expected);

    // A NIC whose metadata shows up after its link: fetched again every second meanwhile.
    scene.ns.veth("eth3", "p3", Some("00:0d:3a:4f:6b:13"));
    std::thread::sleep(Duration::from_millis(300));
    serve(&scene, &azure_plus_nics(&[2, 3]));
    let start = Instant::now();
    let configured = within(HOTPLUG_DEADLINE, || {
        contains(&from_netlink(), &hot_plugged(3)).then_some(())
    });
    if configured.is_none() {
        daemon.fail("the NIC was not configured within 2 s of its metadata appearing");
    }
    eprintln!(
        "NIC configured {:?} after its metadata appeared",
        start.elapsed()
    );
    wait_converged(&scene, &daemon, &expected.merged(&hot_plugged(3)));
}

/// Deletes one of the daemon's objects with `ip`, checks its `line` left the `list` of the
/// netlink view, and prints how long the daemon took to put it back.
fn delete_and_time_restore(
    scene: &Scene,
    daemon: &Daemon,
    delete: &[&str],
    line: &str,
    list: impl Fn(&View) -> &Vec<String>,
) {
    let back = || list(&from_netlink()).iter().any(|l| l == line);
    scene.ns.run_ok(delete);
    let start = Instant::now();
    assert!(!back(), "{delete:?} did not delete");
    if within(RESTORE_DEADLINE, || back().then_some(())).is_none() {
        daemon.fail(&format!("not restored within 1 s after {delete:?}"));
    }
    eprintln!("{line:?} restored in {:?}", start.elapsed());
}

/// `ip rule del` of the daemon's rule from 10.4.0.6 on the Azure VM.
const DELETE_RULE_6: &[&str] = &[
    "ip", "rule", "del", "from", "10.4.0.6", "lookup", "10001", "priority", "3001",
];

#[test]
fn what_others_delete_is_restored_within_1_s() {
    require_root();
    let _user = shared_user();
    let scene = Scene::new("dm-restore", AZURE, None);
    let (daemon, _) = converged(&scene, "300s", &azure_expected());
    let rule = "3001 from 10.4.0.6 lookup 10001";
    delete_and_time_restore(&scene, &daemon, DELETE_RULE_6, rule, |v| &v.rules);
    let route = "10001 default via 10.4.0.1 dev eth1 proto 201";
    let delete = ["ip", "route", "del", "default", "table", "10001"];
    delete_and_time_restore(&scene, &daemon, &delete, route, |v| &v.tables);
    let address = "eth1 10.4.0.7/24 noprefixroute forever";
    let delete = ["ip", "address", "del", "10.4.0.7/24", "dev", "eth1"];
    delete_and_time_restore(&scene, &daemon, &delete, address, |v| &v.addresses);
    wait_converged(&scene, &daemon, &azure_expected());
}

/// How long the IPv6 routes of a new address may take to show after a refresh.
const REAPPLY_DEADLINE: Duration = Duration::from_secs(5);

/// The Azure scenario with `addresses` as eth1's IPv6 addresses, in subnet fd00:4::/64.
fn azure_eth1_ipv6(addresses: &[&str]) -> Value {
    let mut doc = scenario_json(AZURE_SCENARIO);
    let entries: Vec<Value> = addresses
        .iter()
        .map(|a| json!({"privateIpAddress": a, "publicIpAddress": ""}))
        .collect();
    doc["network"]["interface"][1]["ipv6"] = json!({
        "ipAddress": entries,
        "subnet": [{"address": "fd00:4::", "prefix": "64"}]
    });
    doc
}

/// The kernel lines eth1's IPv6 `addresses` add to the Azure VM (the first is the source of
/// the table's subnet route; the gateway is Azure's fixed link-local one).
fn eth1_ipv6(addresses: &[&str]) -> View {
    let lines = |format: &dyn Fn(&str) -> String| -> Vec<String> {
        addresses.iter().map(|a| format(a)).collect()
    };
    let added = lines(&|a| format!("eth1 {a}/64 noprefixroute forever"));
    let rules: Vec<String> = addresses
        .iter()
        .flat_map(|a| {
            [
                format!("v6 3001 from {a} lookup 10001"),
                format!("v6 3001 from all to {a} lookup 10001"),
            ]
        })
        .chain([
            "v6 2999 from all lookup main suppress_prefixlength 0 suppress_ifgroup 201".to_string(),
        ])
        .collect();
    View::expect(
        &[],
        &strs(&added),
        &strs(&ipv6_table_routes(addresses[0])),
        &[],
        &[],
        &strs(&rules),
    )
}

/// Table 10001's IPv6 routes when `src` is eth1's first IPv6 address, as `eth1_ipv6` lists them.
fn ipv6_table_routes(src: &str) -> Vec<String> {
    vec![
        format!("10001 fd00:4::/64 dev eth1 proto 201 src {src}"),
        "10001 default via fe80::1234:5678:9abc dev eth1 proto 201".to_string(),
    ]
}

/// Table 10001's IPv6 routes read through `ip -j -6 route show table 10001`, rendered
/// `DST[ via GW] dev DEV proto P[ src SRC]`, sorted; none while the kernel has no IPv6 table
/// 10001 yet (`ip` then fails with "FIB table does not exist").
fn ip_ipv6_table(scene: &Scene) -> Vec<String> {
    let out = scene
        .ns
        .run(&["ip", "-j", "-6", "route", "show", "table", "10001"]);
    if !out.status.success() {
        let error = String::from_utf8_lossy(&out.stderr);
        assert!(error.contains("FIB table does not exist"), "{error}");
        return Vec::new();
    }
    let routes: Value = serde_json::from_slice(&out.stdout).expect("ip -j route JSON");
    let text = |route: &Value, key: &str| route[key].as_str().map(str::to_string);
    let mut lines: Vec<String> = routes
        .as_array()
        .expect("ip -j route is an array")
        .iter()
        .map(|r| {
            let mut line = text(r, "dst").unwrap_or_default();
            if let Some(gateway) = text(r, "gateway") {
                line += &format!(" via {gateway}");
            }
            line += &format!(" dev {}", text(r, "dev").unwrap_or_default());
            line += &format!(" proto {}", text(r, "protocol").unwrap_or_default());
            if let Some(src) = text(r, "prefsrc") {
                line += &format!(" src {src}");
            }
            line
        })
        .collect();
    lines.sort();
    lines
}

/// Waits until `ip -j -6 route show table 10001` lists exactly the routes sourced from
/// `src`; how long that took.
fn wait_ipv6_table(scene: &Scene, daemon: &Daemon, src: &str) -> Duration {
    let mut expected: Vec<String> = ipv6_table_routes(src)
        .iter()
        .map(|l| l.trim_start_matches("10001 ").to_string())
        .collect();
    expected.sort();
    match within(REAPPLY_DEADLINE, || {
        (ip_ipv6_table(scene) == expected).then_some(())
    }) {
        Some((_, took)) => took,
        None => daemon.fail(&format!(
            "table 10001's IPv6 routes not {expected:?} within {REAPPLY_DEADLINE:?}: {:?}",
            ip_ipv6_table(scene)
        )),
    }
}

/// Asks for a refresh through the API.
fn refresh(daemon: &Daemon) {
    match api::request_with_host("POST", "/api/v1/refresh", "localhost") {
        Ok(answer) => assert_eq!(answer.status, 202, "{}", answer.body),
        Err(e) => daemon.fail(&format!("POST /api/v1/refresh: {e}")),
    }
}

/// The emulator's request count once no request came for 500 ms (a fetch of the start may
/// still be answering on a loaded machine).
fn requests_once_quiet(scene: &Scene) -> usize {
    let mut count = scene.emulator.requests().len();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = scene.emulator.requests().len();
        if now == count {
            return count;
        }
        count = now;
    }
}

/// The Azure scene converged with eth1's peer up, so eth1 has a carrier once the daemon sets
/// it up and duplicate address detection runs, as on a real VM: it is left on, as the
/// namespace starts.
fn converged_with_dad_on(name: &str) -> (Scene, Daemon) {
    let scene = Scene::new(name, AZURE, None);
    scene.ns.run_ok(&["ip", "link", "set", "p1", "up"]);
    let (daemon, _) = converged(&scene, "300s", &azure_expected());
    let dad = scene
        .ns
        .run_ok(&["cat", "/proc/sys/net/ipv6/conf/eth1/accept_dad"]);
    assert_eq!(dad.trim(), "1", "DAD must be on for eth1");
    (scene, daemon)
}

#[test]
fn ipv6_addresses_are_added_without_dad_and_their_routes_hold_in_the_first_round() {
    require_root();
    let _user = shared_user();
    let (scene, daemon) = converged_with_dad_on("dm-nodad");

    let addresses = ["fd00:4::5", "fd00:4::6"];
    serve(&scene, &azure_eth1_ipv6(&addresses));
    let fetched = requests_once_quiet(&scene);
    refresh(&daemon);
    let took = wait_ipv6_table(&scene, &daemon, addresses[0]);
    eprintln!("IPv6 routes applied after {took:?}");
    let expected = azure_expected().merged(&eth1_ipv6(&addresses));
    wait_converged(&scene, &daemon, &expected);
    assert_eq!(
        scene.emulator.requests().len() - fetched,
        1,
        "one fetch, one round: {:#?}",
        &scene.emulator.requests()[fetched..]
    );
    let shown = scene
        .ns
        .run_ok(&["ip", "-6", "address", "show", "dev", "eth1"]);
    for address in addresses {
        let line = shown
            .lines()
            .find(|l| l.contains(&format!("inet6 {address}/64")))
            .unwrap_or_else(|| panic!("{address} not on eth1:\n{shown}"));
        assert!(line.contains("nodad"), "{line}");
        assert!(!line.contains("tentative"), "{line}");
    }
    let log = daemon.log();
    assert!(
        !log.contains(" failed: "),
        "every change held in the round that made it:\n{log}"
    );
}

#[test]
fn routes_from_an_ipv6_address_still_tentative_are_applied_again_within_seconds_without_a_fetch() {
    require_root();
    let _user = shared_user();
    let (scene, daemon) = converged_with_dad_on("dm-reapply");

    // The daemon adds its IPv6 addresses without DAD; one that is already on the link (added
    // by someone else, as the daemon leaves it) is tentative for a second or two, and the
    // table's route from it fails until then.
    let addresses = ["fd00:4::5", "fd00:4::6"];
    serve(&scene, &azure_eth1_ipv6(&addresses));
    let fetched = requests_once_quiet(&scene);
    add_tentative(&scene, addresses[0]);
    refresh(&daemon);
    let took = wait_ipv6_table(&scene, &daemon, addresses[0]);
    eprintln!("IPv6 routes from a tentative source applied after {took:?}");
    let expected = azure_expected().merged(&eth1_ipv6(&addresses));
    wait_converged(&scene, &daemon, &expected);
    assert_eq!(
        scene.emulator.requests().len() - fetched,
        1,
        "the re-apply fetched: {:#?}",
        &scene.emulator.requests()[fetched..]
    );
    let log = daemon.log();
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("fd00:4::/64") && l.contains(" failed: "))
        .collect();
    assert_eq!(failed.len(), 1, "the failure is logged once:\n{log}");
    assert!(failed[0].ends_with(" (retry in 1s)"), "{}", failed[0]);
    assert!(
        log.contains("all changes applied, after "),
        "no recovery line:\n{log}"
    );
    let status = wait_quiet_status(&daemon);
    assert_eq!(status["last_refresh"]["result"], "ok", "{status}");

    // New addresses, and the next fetch hangs: the re-apply is timed all the same.
    let moved = ["fd00:4::15", "fd00:4::16"];
    add_tentative(&scene, moved[0]);
    serve(&scene, &azure_eth1_ipv6(&moved));
    refresh(&daemon);
    // The address the daemon adds itself: present once the round has run.
    let new_address = "eth1 fd00:4::16/64 noprefixroute forever";
    let round = wait_line(&daemon, CONVERGE_DEADLINE, new_address, true, |v| {
        &v.addresses
    });
    let hanging = scene.emulator.requests().len();
    scene.emulator.set_fault(Fault::Timeout);
    refresh(&daemon);
    let took = wait_ipv6_table(&scene, &daemon, moved[0]);
    eprintln!("IPv6 routes applied {took:?} after the round, while a fetch hung");
    assert!(
        faulted_requests(&scene, hanging, Fault::Timeout) > 0,
        "no fetch hung: {:#?}",
        &scene.emulator.requests()[hanging..]
    );
    let first_attempt = HttpConfig::default().recv_timeout;
    assert!(took < first_attempt, "the fetch may have ended: {took:?}");
    assert!(round + took <= CONVERGE_DEADLINE, "{round:?} + {took:?}");
    // fd00:4::5 was not the daemon's: it stays when the metadata drops it.
    let mut expected = azure_expected().merged(&eth1_ipv6(&moved));
    expected.addresses = plus(
        &expected.addresses,
        &["eth1 fd00:4::5/64 noprefixroute forever"],
    );
    wait_converged(&scene, &daemon, &expected);
}

/// `address` on eth1 as someone else adds it (DAD on, so it starts tentative), marked like the
/// daemon's own so the kernel views read alike.
fn add_tentative(scene: &Scene, address: &str) {
    let address = format!("{address}/64");
    scene.ns.run_ok(&[
        "ip",
        "-6",
        "address",
        "add",
        &address,
        "dev",
        "eth1",
        "noprefixroute",
    ]);
}

/// The emulator's requests since `from` that were answered with `fault`.
fn faulted_requests(scene: &Scene, from: usize, fault: Fault) -> usize {
    let status = match fault {
        Fault::Http500 => 500,
        Fault::Timeout => 0,
        _ => 200,
    };
    scene.emulator.requests()[from..]
        .iter()
        .filter(|r| r.status == status)
        .count()
}

/// Holds `fault` until the daemon saw it on `refreshes` fetches; meanwhile and afterwards the
/// kernel, the links and the documents stay the last good ones and the status shows the error.
fn hold_fault(
    scene: &Scene,
    daemon: &Daemon,
    fault: Fault,
    refreshes: usize,
    expected_error: &str,
) {
    let good_links = azure_links(scene);
    let from = scene.emulator.requests().len();
    scene.emulator.set_fault(fault);
    let attempts = match fault {
        Fault::Http500 | Fault::Timeout => RetryPolicy::default().attempts as usize,
        _ => 1,
    };
    let limit = Duration::from_secs(30);
    let seen = within(limit, || {
        assert_eq!(
            from_netlink(),
            azure_expected(),
            "the kernel changed under {fault}"
        );
        assert_eq!(api::get_json("/api/v1/links"), good_links);
        (faulted_requests(scene, from, fault) >= refreshes * attempts).then_some(())
    });
    if seen.is_none() {
        daemon.fail(&format!(
            "{refreshes} refreshes did not happen under {fault}"
        ));
    }
    let error = within(limit, || {
        let status = api::get_json("/api/v1/status");
        let message = status["last_error"]["message"].as_str()?.to_string();
        Some((status, message))
    });
    let Some(((status, message), _)) = error else {
        daemon.fail(&format!("no last_error under {fault}"));
    };
    assert!(
        message.starts_with("metadata fetch failed, nothing changed (retry in ")
            && message.contains(expected_error),
        "{fault}: {message}"
    );
    assert_eq!(status["last_refresh"]["result"], "ok");
    assert_eq!(status["links"], good_links);
    assert_eq!(
        api::get_json("/api/cloud/system"),
        scenario_json(AZURE_SCENARIO)
    );
    assert_eq!(read_both(&scene.ns), azure_expected());
}

/// Back to no fault: the next fetch succeeds and clears the error.
fn recover(scene: &Scene, daemon: &Daemon, refresh: Duration) -> Duration {
    scene.emulator.set_fault(Fault::None);
    let cleared = within(refresh * 2 + SLACK, || {
        api::get_json("/api/v1/status")["last_error"]
            .is_null()
            .then_some(())
    });
    match cleared {
        Some((_, took)) => took,
        None => daemon.fail("last_error not cleared after the fault ended"),
    }
}

#[test]
fn emulator_faults_change_nothing_show_the_error_and_recover() {
    require_root();
    let _user = shared_user();
    let scene = Scene::new("dm-faults", AZURE, None);
    let refresh = Duration::from_secs(1);
    let (daemon, _) = converged(&scene, "1s", &azure_expected());
    let url = format!(
        "{}/metadata/instance?api-version=2021-02-01",
        scene.emulator.base_url()
    );
    for (fault, error) in [
        (Fault::Http500, format!("{url} answered HTTP 500")),
        (Fault::Garbage, format!("{url}: the body is not UTF-8")),
        (
            Fault::Empty,
            "azure metadata is unusable: reply is not valid JSON: EOF while parsing".to_string(),
        ),
    ] {
        hold_fault(&scene, &daemon, fault, 3, &error);
        let took = recover(&scene, &daemon, refresh);
        eprintln!("{fault}: recovered {took:?} after the fault ended");
    }
    assert_eq!(read_both(&scene.ns), azure_expected());
}

#[test]
fn a_hanging_metadata_service_changes_nothing_blocks_no_restore_and_sigterm_exits_at_once() {
    require_root();
    let _user = shared_user();
    let scene = Scene::new("dm-timeout", AZURE, None);
    let refresh = Duration::from_secs(1);
    let (mut daemon, _) = converged(&scene, "1s", &azure_expected());
    let start = Instant::now();
    hold_fault(&scene, &daemon, Fault::Timeout, 1, "timed out");
    eprintln!(
        "one refresh against a hanging service took {:?}",
        start.elapsed()
    );
    assert_eq!(
        cnctl(&scene, &["status", "network"]),
        lines(AZURE_STATUS_NETWORK)
    );
    recover(&scene, &daemon, refresh);

    let from = scene.emulator.requests().len();
    scene.emulator.set_fault(Fault::Timeout);
    if within(refresh * 2 + SLACK, || {
        (faulted_requests(&scene, from, Fault::Timeout) > 0).then_some(())
    })
    .is_none()
    {
        daemon.fail("no fetch started against the hanging service");
    }
    let rule = "3001 from 10.4.0.6 lookup 10001";
    delete_and_time_restore(&scene, &daemon, DELETE_RULE_6, rule, |v| &v.rules);
    let (status, took) = daemon.terminate();
    eprintln!("SIGTERM during a hanging fetch: exit in {took:?}");
    assert_eq!(status.code(), Some(0), "{}", daemon.log());
    assert!(took <= SIGTERM_DEADLINE, "exit took {took:?}");
    assert_eq!(read_both(&scene.ns), azure_expected());
}

#[test]
fn sigterm_exits_within_1_s_and_a_restart_writes_nothing() {
    require_root();
    let _user = shared_user();
    let scene = Scene::new("dm-restart", GCP, None);
    let config = write_config(&scene, "300s");
    let mut first = Daemon::start(&scene, &config);
    wait_converged(&scene, &first, &gcp_expected());
    wait_quiet_status(&first);
    let (status, took) = first.terminate();
    eprintln!("SIGTERM: exit in {took:?}");
    assert_eq!(status.code(), Some(0), "{}", first.log());
    assert!(took <= SIGTERM_DEADLINE, "exit took {took:?}");
    assert!(
        api::request_with_host("GET", "/api/v1/status", "localhost").is_err(),
        "the API still answers after the exit"
    );
    assert_eq!(read_both(&scene.ns), gcp_expected());

    let mut monitor = IpMonitor::start(&scene.ns, "p0");
    let start = Instant::now();
    let second = Daemon::start(&scene, &config);
    let status = wait_quiet_status(&second);
    assert_eq!(status["links"].as_array().map(Vec::len), Some(2));
    std::thread::sleep(Duration::from_secs(2).saturating_sub(start.elapsed()));
    let events = monitor.events_since_last_marker(&scene.ns);
    assert!(
        events.is_empty(),
        "the restarted daemon changed the kernel: {events:#?}\n{}",
        second.log()
    );
    let status = api::get_json("/api/v1/status");
    assert_eq!(status["last_refresh"]["changes"], 0);
    assert_eq!(status["last_refresh"]["summary"], json!([]));
    assert_eq!(read_both(&scene.ns), gcp_expected());
}

fn error_body(answer: &api::Answer) -> String {
    answer.json()["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error message: {}", answer.body))
        .to_string()
}

#[test]
fn api_refuses_what_it_must_and_answers_beside_200_idle_connections() {
    require_root();
    let _user = shared_user();
    let scene = Scene::new("dm-api", AZURE, None);
    let (daemon, _) = converged(&scene, "300s", &azure_expected());

    let unknown = api::request("GET", "/api/v1/nothing");
    assert_eq!(unknown.status, 404);
    assert_eq!(error_body(&unknown), "no such path: /api/v1/nothing");
    let ec2_only = api::request("GET", "/api/cloud/credentials");
    assert_eq!(ec2_only.status, 404);
    let post = api::request("POST", "/api/v1/status");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    assert_eq!(
        error_body(&post),
        "method POST is not allowed on /api/v1/status; allowed: GET, HEAD"
    );
    let get_refresh = api::request("GET", "/api/v1/refresh");
    assert_eq!(get_refresh.status, 405);
    assert_eq!(get_refresh.header("allow"), Some("POST"));
    let evil = api::request_with_host("GET", "/api/v1/status", "evil.example").expect("answer");
    assert_eq!(evil.status, 403);
    assert_eq!(
        error_body(&evil),
        "Host \"evil.example\" is not a loopback name or address (DNS rebinding protection)"
    );
    assert_eq!(evil.header("content-type"), Some("application/json"));

    let before = scene.emulator.requests().len();
    let refresh = api::request("POST", "/api/v1/refresh");
    assert_eq!(refresh.status, 202);
    assert_eq!(refresh.json(), json!({"status": "refresh requested"}));
    let fetched = within(Duration::from_secs(1), || {
        (scene.emulator.requests().len() > before).then_some(())
    });
    if fetched.is_none() {
        daemon.fail("POST /api/v1/refresh did not make the daemon fetch");
    }

    let silent: Vec<_> = (0..100)
        .map(|_| api::connect().expect("connect a silent client"))
        .collect();
    let mut kept: Vec<_> = (0..100)
        .map(|_| {
            let mut stream = api::connect().expect("connect a keep-alive client");
            let answer = api::keep_alive_get(&mut stream, "/api/v1/links").expect("answer");
            assert_eq!(answer.status, 200);
            stream
        })
        .collect();
    let start = Instant::now();
    assert_eq!(
        cnctl(&scene, &["status", "network"]),
        lines(AZURE_STATUS_NETWORK)
    );
    eprintln!(
        "cnctl status network beside 200 idle connections: {:?}",
        start.elapsed()
    );
    for stream in &mut kept {
        let answer = api::keep_alive_get(stream, "/api/v1/status").expect("still open");
        assert_eq!(answer.status, 200);
    }
    drop(silent);
}

/// The value of `field:` in /proc/PID/status.
fn proc_status(pid: u32, field: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .to_string()
}

fn file_owner(path: &Path) -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .uid()
}

#[test]
fn the_daemon_runs_as_cloud_network_with_only_net_admin_and_still_hot_plugs() {
    require_root();
    let _user_lock = exclusive_user();
    let user = ServiceUser::ensure();
    let uid = user.uid();
    let one_nic = Vm {
        macs: &AZURE.macs[..1],
        ..AZURE
    };
    let scene = Scene::new("dm-privs", one_nic, None);
    let mut expected = azure_expected();
    expected.links = vec!["eth0 up mtu 1500".to_string()];
    expected.addresses.retain(|a| a.starts_with("eth0"));
    expected.tables.clear();
    expected.rules = with_defaults(&[]);
    expected.rules.sort();
    let (daemon, _) = converged(&scene, "300s", &expected);

    let pid = daemon.pid();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("daemon exe");
    assert_eq!(
        exe,
        std::fs::canonicalize(BIN).expect("binary path"),
        "pid {pid} is not the daemon (ip netns exec should exec it)"
    );
    assert_eq!(proc_status(pid, "CapEff"), "0000000000001000");
    assert_eq!(proc_status(pid, "CapPrm"), "0000000000001000");
    assert_eq!(
        proc_status(pid, "Uid"),
        format!("{uid}\t{uid}\t{uid}\t{uid}")
    );
    let state = state_dir(&scene);
    assert_eq!(file_owner(&state), uid);
    assert_eq!(file_owner(&state.join("system")), uid);

    let start = Instant::now();
    scene.ns.veth("eth1", "p1", Some(AZURE.macs[1]));
    let rule = "3001 from 10.4.0.5 lookup 10001".to_string();
    if within(HOTPLUG_DEADLINE, || {
        from_netlink().rules.contains(&rule).then_some(())
    })
    .is_none()
    {
        daemon.fail("the hot-plugged NIC was not configured within 2 s as cloud-network");
    }
    eprintln!(
        "hot-plugged NIC configured as cloud-network in {:?}",
        start.elapsed()
    );
    wait_converged(&scene, &daemon, &azure_expected());
    let eth1 = scene.ns.ifindex("eth1");
    let link_file = state.join(format!("links/{eth1}"));
    let written = within(Duration::from_secs(1), || link_file.exists().then_some(()));
    assert!(written.is_some(), "{} not written", link_file.display());
    assert_eq!(file_owner(&link_file), uid);
    assert_eq!(file_owner(&state.join("owned.json")), uid);
    assert!(
        !daemon.log().contains("not written"),
        "state files failed: {}",
        daemon.log()
    );
}
