//! The apply measurement shared by the benches: an 8 NICs × 32 IPv4 instance applied from a
//! clean namespace by our netlink layer and by `ip -batch` (the reference), no-change
//! reconciles with their CPU time, and the machine description. Every namespace and temporary
//! file is removed on drop, also on panic.

use crate::support::netns::Netns;
use cloud_network::daemon::apply::apply_round;
use cloud_network::metadata::{Instance, Ipv4Net, Mac, Nic, ProviderKind};
use cloud_network::netlink::monitor::Monitor;
use cloud_network::netlink::Netlink;
use cloud_network::plan::{dry_run_lines, plan_round, Owned, PlanSettings};
use serde_json::Value;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

pub const NICS: u8 = 8;
pub const ADDRESSES_PER_NIC: u8 = 32;
/// No-change reconciles measured after each apply (each one a sample).
pub const NOOP_REPEATS: usize = 10;
/// 8 links up and into our interface group, 256 addresses, 7 tables × 2 routes,
/// 7 × 32 × 2 rules and the main rule.
pub const EXPECTED_CHANGES: usize = 8 + 8 + 256 + 14 + 448 + 1;

/// One round: our apply and no-change reconciles, then `ip -batch` with the same changes (in
/// the namespace and through `ip netns exec`) and `ip` start-up, checking equal end states.
pub fn measure_round(instance: &Instance, settings: &PlanSettings, figures: &mut Figures) {
    let ours = measure_ours(instance, settings, figures);
    let script = BatchScript::from_lines(&ours.commands);
    let spawned = measure_ip_batch(&script, Launch::InNamespace, &mut figures.ip_batch);
    let exec = measure_ip_batch(&script, Launch::NetnsExec, &mut figures.ip_netns_exec);
    assert_eq!(ours.snapshot, spawned, "ip -batch state differs");
    assert_eq!(ours.snapshot, exec, "ip netns exec state differs");
    figures.ip_startup.push(ip_startup());
}

/// Eight NICs, each with its own /24, gateway .1 and the 32 addresses .10 to .41.
pub fn instance() -> Instance {
    let nics = (0..NICS)
        .map(|n| {
            let mut nic = Nic::new(Mac([2, 0, 0, 0, 0, n]), u32::from(n));
            nic.ipv4 = (10..10 + ADDRESSES_PER_NIC)
                .map(|host| Ipv4Net::new(Ipv4Addr::new(10, 8, n, host), 24))
                .collect();
            nic.gateway4 = Some(Ipv4Addr::new(10, 8, n, 1));
            nic.subnet4 = Some(Ipv4Net::new(Ipv4Addr::new(10, 8, n, 0), 24));
            nic
        })
        .collect();
    Instance {
        provider: ProviderKind::Aws,
        instance_id: "i-bench".to_string(),
        location: "bench".to_string(),
        nics,
        raw: Default::default(),
    }
}

/// Every timed figure, one sample per round (no-change reconciles: `NOOP_REPEATS` per round).
#[derive(Default)]
pub struct Figures {
    pub apply_total: Vec<Duration>,
    pub open_and_state: Vec<Duration>,
    pub plan: Vec<Duration>,
    pub apply_round: Vec<Duration>,
    pub noop_wall: Vec<Duration>,
    pub noop_cpu: Vec<Duration>,
    pub ip_batch: Vec<Duration>,
    pub ip_netns_exec: Vec<Duration>,
    pub ip_startup: Vec<Duration>,
}

/// What our apply left behind: the changes as `ip` commands and the kernel state it made.
struct OursRun {
    commands: Vec<String>,
    snapshot: Snapshot,
}

/// A fresh namespace: open + state + plan + apply from clean, then no-change reconciles.
fn measure_ours(instance: &Instance, settings: &PlanSettings, figures: &mut Figures) -> OursRun {
    let ns = nic_namespace();
    let _entered = ns.enter();
    let start = Instant::now();
    let mut netlink = Netlink::open().expect("open netlink");
    let kernel = netlink.state().expect("read kernel state");
    let open_and_state = start.elapsed();
    let start = Instant::now();
    let planned = plan_round(instance, &kernel, &Owned::default(), settings);
    let plan = start.elapsed();
    let commands = dry_run_lines(&planned, &kernel);
    let start = Instant::now();
    let (outcome, owned) = apply_round(&mut netlink, planned, &kernel, &AtomicBool::new(false));
    let apply = start.elapsed();
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    assert_eq!(outcome.applied, EXPECTED_CHANGES);
    assert_eq!(commands.len(), EXPECTED_CHANGES);
    figures.open_and_state.push(open_and_state);
    figures.plan.push(plan);
    figures.apply_round.push(apply);
    figures.apply_total.push(open_and_state + plan + apply);
    for _ in 0..NOOP_REPEATS {
        let (wall, cpu) = no_change_reconcile(&mut netlink, instance, &owned, settings);
        figures.noop_wall.push(wall);
        figures.noop_cpu.push(cpu);
    }
    OursRun {
        commands,
        snapshot: Snapshot::of(&ns),
    }
}

/// One daemon round on a configured namespace (state, plan and diff, apply of nothing): wall
/// and thread CPU time. Panics unless it planned and wrote nothing.
pub fn no_change_reconcile(
    netlink: &mut Netlink,
    instance: &Instance,
    owned: &Owned,
    settings: &PlanSettings,
) -> (Duration, Duration) {
    let mut events = Monitor::open().expect("subscribe to kernel events");
    let cpu_start = thread_cpu_time();
    let start = Instant::now();
    let kernel = netlink.state().expect("read kernel state");
    let planned = plan_round(instance, &kernel, owned, settings);
    let planned_changes = planned.changes.len();
    let (outcome, _) = apply_round(netlink, planned, &kernel, &AtomicBool::new(false));
    let wall = start.elapsed();
    let cpu = thread_cpu_time() - cpu_start;
    assert_eq!(planned_changes, 0, "no-change reconcile planned changes");
    assert_eq!(outcome.applied, 0);
    // The kernel announces a change before it acknowledges it: anything is queued by now.
    let changed = events
        .next_batch(Duration::ZERO)
        .expect("read kernel events");
    assert!(
        changed.is_empty(),
        "no-change reconcile changed the kernel: {changed:?}"
    );
    (wall, cpu)
}

pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a live timespec to write into.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A fresh namespace with 8 veth pairs `nicN`/`peerN` (MAC 02:00:00:00:00:0N on `nicN`), the
/// peers up and the NICs down, as a booted VM's secondary NICs are before configuration.
pub fn nic_namespace() -> Netns {
    let ns = Netns::new("bench");
    let setup: String = (0..NICS)
        .map(|n| {
            format!(
                "link add name nic{n} address 02:00:00:00:00:{n:02x} type veth peer name peer{n}\n\
                 link set dev peer{n} up\n"
            )
        })
        .collect();
    let file = TempFile::with(&setup);
    ns.run_ok(&["ip", "-batch", file.path_str()]);
    ns
}

/// The planned changes as `ip -batch` input. A batch line takes no options, so `ip -6` lines
/// cannot go in the same file (iproute2 6.1: `Object "-6" is unknown`), and without `-6` a rule
/// is parsed as IPv4. They go to a second file run by `ip -6 -batch` after the first: families
/// are independent in the kernel and each file keeps the plan's order; link changes, which have
/// no family, are in the first file.
struct BatchScript {
    v4: String,
    v6: String,
}

impl BatchScript {
    fn from_lines(commands: &[String]) -> BatchScript {
        let mut script = BatchScript {
            v4: String::new(),
            v6: String::new(),
        };
        for command in commands {
            let (file, line) = match command.strip_prefix("ip -6 ") {
                Some(line) => (&mut script.v6, line),
                None => (
                    &mut script.v4,
                    command.strip_prefix("ip ").expect("ip command"),
                ),
            };
            file.push_str(line);
            file.push('\n');
        }
        script
    }
}

#[derive(Clone, Copy)]
enum Launch {
    /// Spawned by the bench thread while it is inside the namespace: no extra cost.
    InNamespace,
    /// `ip netns exec NS ip -batch FILE`, as a script would run it from outside.
    NetnsExec,
}

/// Times `ip -batch` (and `ip -6 -batch` when there are IPv6 lines) end to end in a fresh
/// namespace, and returns the state it produced.
fn measure_ip_batch(script: &BatchScript, launch: Launch, samples: &mut Vec<Duration>) -> Snapshot {
    let ns = nic_namespace();
    let v4 = TempFile::with(&script.v4);
    let v6 = TempFile::with(&script.v6);
    let mut runs = vec![(None, &v4)];
    if !script.v6.is_empty() {
        runs.push((Some("-6"), &v6));
    }
    let entered = matches!(launch, Launch::InNamespace).then(|| ns.enter());
    let start = Instant::now();
    for (family, file) in runs {
        run_ip_batch(&ns, launch, family, file.path());
    }
    samples.push(start.elapsed());
    drop(entered);
    Snapshot::of(&ns)
}

fn run_ip_batch(ns: &Netns, launch: Launch, family: Option<&str>, file: &Path) {
    let mut command = match launch {
        Launch::InNamespace => Command::new("ip"),
        Launch::NetnsExec => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns.name(), "ip"]);
            c
        }
    };
    command.args(family).arg("-batch").arg(file);
    let out = command.output().expect("run ip -batch");
    assert!(
        out.status.success(),
        "ip -batch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ip -batch /dev/null` inside a namespace: the process start-up part of every batch run.
fn ip_startup() -> Duration {
    let ns = Netns::new("bench");
    let _entered = ns.enter();
    let start = Instant::now();
    let out = Command::new("ip")
        .args(["-batch", "/dev/null"])
        .output()
        .expect("run ip -batch /dev/null");
    let elapsed = start.elapsed();
    assert!(out.status.success());
    elapsed
}

/// The kernel objects both methods must agree on, as sorted `ip -j` objects: IPv4 addresses,
/// routes of tables 10001..=10007, and the policy rules of both families.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    addresses: Vec<String>,
    routes: Vec<String>,
    rules: Vec<String>,
}

impl Snapshot {
    fn of(ns: &Netns) -> Snapshot {
        let snapshot = Snapshot {
            addresses: addresses(ns),
            routes: table_routes(ns),
            rules: sorted(
                [
                    ns.json(&["ip", "-j", "-4", "rule"]),
                    ns.json(&["ip", "-j", "-6", "rule"]),
                ]
                .iter()
                .flat_map(elements)
                .map(Value::to_string)
                .collect(),
            ),
        };
        assert_eq!(snapshot.addresses.len(), 256, "IPv4 addresses");
        assert_eq!(snapshot.routes.len(), 14, "routes in our tables");
        assert_eq!(
            snapshot.rules.len(),
            448 + 1 + 3 + 2,
            "rules (with defaults)"
        );
        snapshot
    }
}

fn addresses(ns: &Netns) -> Vec<String> {
    let links = ns.json(&["ip", "-j", "-4", "address"]);
    let mut out = Vec::new();
    for link in elements(&links) {
        for addr in link["addr_info"].as_array().into_iter().flatten() {
            out.push(format!("{} {addr}", link["ifname"]));
        }
    }
    sorted(out)
}

fn table_routes(ns: &Netns) -> Vec<String> {
    let routes = ns.json(&["ip", "-j", "-4", "route", "show", "table", "all"]);
    let ours = |r: &&Value| {
        r["table"]
            .as_str()
            .and_then(|t| t.parse::<u32>().ok())
            .is_some_and(|t| (10001..=10007).contains(&t))
    };
    sorted(
        elements(&routes)
            .filter(ours)
            .map(Value::to_string)
            .collect(),
    )
}

fn elements(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

/// A uniquely named file in the temporary directory, removed on drop.
pub struct TempFile {
    path: PathBuf,
}

impl TempFile {
    pub fn with(contents: &str) -> TempFile {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("cn-bench-{}-{n}.ip", std::process::id()));
        std::fs::write(&path, contents).expect("write batch file");
        TempFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().expect("temporary path is UTF-8")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

pub fn machine() -> String {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = read_trimmed("/proc/sys/kernel/osrelease");
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let ip = Command::new("ip")
        .arg("-V")
        .output()
        .map_or(String::new(), |o| {
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        });
    format!("Machine: nproc {nproc}, kernel {kernel}, {cpu}; {ip}.")
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map_or_else(|_| "unknown".to_string(), |s| s.trim().to_string())
}
