//! The footprint figures measured on the release daemon in a lab VM (memory has its own file,
//! `memory.rs`): start → configured, metadata requests and CPU per refresh, hot-plug → configured,
//! API throughput with a keep-alive load generator on two threads, and SIGTERM during a large
//! apply → exit.

use crate::daemon::{BenchLab, Completion, RunningDaemon, API};
use crate::support::azure::azure_with;
use crate::support::lab::{in_netns, instance_of};
use cloud_network::metadata::ProviderKind;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

pub const AZURE_2NIC: &str = include_str!("../../../src/emulator/scenarios/azure.json");
pub const AZURE_3NIC: &str = include_str!("../scenarios/azure-3nic.json");
pub const AWS_3NIC: &str = include_str!("../scenarios/aws-3nic.json");
pub const GCP_3NIC: &str = include_str!("../scenarios/gcp-3nic.json");
pub const ORACLE_3NIC: &str = include_str!("../scenarios/oracle-3nic.json");
pub const ALIBABA_3NIC: &str = include_str!("../scenarios/alibaba-3nic.json");
pub const DIGITALOCEAN_3NIC: &str = include_str!("../scenarios/digitalocean-3nic.json");
const CONFIGURE_LIMIT: Duration = Duration::from_secs(10);

/// The daemon of a fresh lab, configured and ready.
fn ready_daemon(lab: &BenchLab, extra: &str) -> RunningDaemon {
    ready(lab, lab.daemon(extra))
}

pub fn ready(lab: &BenchLab, daemon: RunningDaemon) -> RunningDaemon {
    ready_within(lab, daemon, CONFIGURE_LIMIT)
}

/// [`ready`], each step within `limit` (a daemon under valgrind needs longer).
pub fn ready_within(lab: &BenchLab, daemon: RunningDaemon, limit: Duration) -> RunningDaemon {
    ready_to(lab, daemon, Completion::Whole, limit)
}

/// [`ready_within`], with the VM configured as `completion` counts it (a baseline from before
/// the main rule never configures it whole).
fn ready_to(
    lab: &BenchLab,
    daemon: RunningDaemon,
    completion: Completion,
    limit: Duration,
) -> RunningDaemon {
    if daemon.wait_ready(limit).is_none() {
        panic!("no READY=1; the daemon's log:\n{}", daemon.log_text());
    }
    lab.wait_completed(Instant::now(), limit, completion)
        .expect("the VM configured");
    daemon
}

/// One start of `binary` on Azure with 2 NICs: spawn → READY=1 and spawn → kernel configured
/// (as `completion` counts it).
pub fn start(binary: &Path, completion: Completion) -> (Duration, Duration) {
    let lab = BenchLab::up(ProviderKind::Azure, AZURE_2NIC);
    let mut netlink = lab.vm_netlink();
    assert!(!lab.configured(&mut netlink), "configured before the start");
    let daemon = lab.daemon_binary(binary, "RefreshTimer = \"1h\"");
    let kernel = lab
        .wait_completed(daemon.started, CONFIGURE_LIMIT, completion)
        .expect("the VM configured");
    let ready = daemon.wait_ready(CONFIGURE_LIMIT).expect("READY=1");
    (ready, kernel)
}

/// Metadata requests and daemon CPU time of one provider with 3 NICs.
pub struct Requests {
    pub at_start: usize,
    /// Per timed refresh (Azure, EC2, OCI, Alibaba, DigitalOcean) or per metadata change (GCP).
    pub per_refresh: Vec<usize>,
    pub cpu_per_refresh: Duration,
    /// GCP: requests during an idle period of `idle` (the long poll waits).
    pub idle: Option<(Duration, usize)>,
}

/// Azure, EC2, OCI, Alibaba and DigitalOcean: refreshes every second for `refreshes` seconds, each burst of requests
/// counted apart. GCP: no timer; `refreshes` metadata changes, then an idle period.
pub fn requests(provider: ProviderKind, refreshes: usize, idle: Duration) -> Requests {
    let scenario = match provider {
        ProviderKind::Azure => AZURE_3NIC,
        ProviderKind::Aws => AWS_3NIC,
        ProviderKind::Gcp => GCP_3NIC,
        ProviderKind::Oracle => ORACLE_3NIC,
        ProviderKind::Alibaba => ALIBABA_3NIC,
        ProviderKind::DigitalOcean => DIGITALOCEAN_3NIC,
    };
    let mut lab = BenchLab::up(provider, scenario);
    let daemon = ready_daemon(&lab, "RefreshTimer = \"1s\"");
    settle(&lab, Duration::from_millis(300));
    let at_start = lab.emulator.requests().len();
    let cpu_before = daemon.cpu_time();
    let per_refresh = match provider {
        ProviderKind::Gcp => gcp_changes(&mut lab, refreshes),
        _ => (0..refreshes).map(|_| next_burst(&lab)).collect(),
    };
    let cpu = daemon.cpu_time() - cpu_before;
    let idle = (provider == ProviderKind::Gcp).then(|| {
        let before = lab.emulator.requests().len();
        std::thread::sleep(idle);
        (idle, lab.emulator.requests().len() - before)
    });
    Requests {
        at_start,
        cpu_per_refresh: cpu / u32::try_from(per_refresh.len().max(1)).unwrap_or(1),
        per_refresh,
        idle,
    }
}

/// Waits until no request arrived for `quiet`.
fn settle(lab: &BenchLab, quiet: Duration) {
    let mut count = lab.emulator.requests().len();
    let mut since = Instant::now();
    while since.elapsed() < quiet {
        std::thread::sleep(Duration::from_millis(5));
        let now = lab.emulator.requests().len();
        if now != count {
            (count, since) = (now, Instant::now());
        }
    }
}

/// The requests of the next refresh: the first one after now, until 300 ms pass without one.
fn next_burst(lab: &BenchLab) -> usize {
    let before = lab.emulator.requests().len();
    let deadline = Instant::now() + Duration::from_secs(5);
    while lab.emulator.requests().len() == before {
        assert!(Instant::now() < deadline, "no refresh within 5 s");
        std::thread::sleep(Duration::from_millis(2));
    }
    settle(lab, Duration::from_millis(300));
    lab.emulator.requests().len() - before
}

/// GCP: each change (one alias range added to the third NIC, then removed) ends the pending
/// long poll; the requests up to the next pending one are counted.
fn gcp_changes(lab: &mut BenchLab, changes: usize) -> Vec<usize> {
    let base: serde_json::Value = serde_json::from_str(GCP_3NIC).expect("GCP scenario");
    (0..changes)
        .map(|n| {
            let mut doc = base.clone();
            if n % 2 == 0 {
                doc["instance"]["networkInterfaces"][2]["ipAliases"] =
                    serde_json::json!(["172.16.2.32/28", "172.16.2.64/28"]);
            }
            let text = doc.to_string();
            let before = lab.emulator.requests().len();
            lab.lab.set_scenario(&text);
            lab.emulator.set_scenario_text(&text).expect("GCP scenario");
            lab.wait_configured(Instant::now(), CONFIGURE_LIMIT)
                .expect("the change applied");
            settle(lab, Duration::from_millis(300));
            lab.emulator.requests().len() - before
        })
        .collect()
}

/// Hot-plug on Azure: the metadata lists a third NIC; its link appears (`metadata_delay`
/// later the metadata does, when given). Time from the link to the kernel configured.
pub fn hotplug(metadata_delay: Option<Duration>) -> Duration {
    let mut lab = BenchLab::up(ProviderKind::Azure, AZURE_2NIC);
    let daemon = ready_daemon(&lab, "RefreshTimer = \"1h\"");
    let grown = instance_of(ProviderKind::Azure, AZURE_3NIC);
    let publish = |lab: &mut BenchLab| {
        lab.lab.set_scenario(AZURE_3NIC);
        lab.emulator
            .set_scenario_text(AZURE_3NIC)
            .expect("Azure scenario");
    };
    if metadata_delay.is_none() {
        publish(&mut lab);
    }
    let appeared = Instant::now();
    lab.lab.attach(2, &grown.nics[2]);
    if let Some(delay) = metadata_delay {
        std::thread::sleep(delay.saturating_sub(appeared.elapsed()));
        publish(&mut lab);
    }
    lab.wait_configured(appeared, CONFIGURE_LIMIT)
        .unwrap_or_else(|| {
            panic!(
                "the hot-plugged NIC was not configured; the daemon's log:\n{}",
                daemon.log_text()
            )
        })
}

/// API load: `GET /api/cloud/network` on two threads, one keep-alive connection each.
pub struct Throughput {
    pub per_second: f64,
    pub p99: Duration,
}

/// `binary`'s API under that load for `duration`.
pub fn api(binary: &Path, duration: Duration) -> Throughput {
    let lab = BenchLab::up(ProviderKind::Azure, AZURE_3NIC);
    // Both builds are timed from the same point: a baseline may predate the main rule.
    let daemon = lab.daemon_binary(binary, "RefreshTimer = \"1h\"");
    let _daemon = ready_to(&lab, daemon, Completion::WithoutMainRule, CONFIGURE_LIMIT);
    let vm = lab.lab.vm.name().to_string();
    // The system view follows the metadata a moment after the kernel is configured.
    let served = in_netns(&vm, || {
        let deadline = Instant::now() + CONFIGURE_LIMIT;
        while Instant::now() < deadline {
            if network_view_served() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    });
    assert!(served, "GET /api/cloud/network never answered 200");
    let start = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| in_netns(&vm, || load(duration))))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("load thread"))
            .collect()
    });
    let elapsed = start.elapsed();
    latencies.sort();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    Throughput {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        p99,
    }
}

/// One `GET /api/cloud/network` answered 200 (503 until the first system view is in).
fn network_view_served() -> bool {
    let Ok(mut stream) = TcpStream::connect(API) else {
        return false;
    };
    let request =
        b"GET /api/cloud/network HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let mut line = String::new();
    stream.write_all(request).is_ok()
        && BufReader::new(stream).read_line(&mut line).is_ok()
        && line.starts_with("HTTP/1.1 200")
}

/// Requests on one keep-alive connection for `duration`; the latency of each.
fn load(duration: Duration) -> Vec<Duration> {
    let stream = TcpStream::connect(API).expect("connect to the API");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    let request = b"GET /api/cloud/network HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let deadline = Instant::now() + duration;
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let sent = Instant::now();
        writer.write_all(request).expect("send a request");
        read_response(&mut reader);
        latencies.push(sent.elapsed());
    }
    latencies
}

/// Reads one response (head, then `Content-Length` bytes), asserting a 200.
fn read_response(reader: &mut BufReader<TcpStream>) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("status line");
    assert!(line.starts_with("HTTP/1.1 200"), "API answered {line:?}");
    let mut length = 0;
    loop {
        line.clear();
        reader.read_line(&mut line).expect("header line");
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().expect("Content-Length");
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).expect("body");
}

/// SIGTERM while the daemon applies 5,000 addresses to Azure's eth1.
pub struct Stop {
    /// From the signal until the process is gone.
    pub took: Duration,
    pub exit_code: Option<i32>,
    /// Addresses on eth1 when the process was gone (they stay: a stop removes nothing).
    pub on_eth1: usize,
}

/// One stop: the daemon is signalled once eth1 holds 1,500 of the addresses.
pub fn stop_mid_apply() -> Stop {
    let addresses: Vec<String> = (0..5000)
        .map(|n| format!("10.4.{}.{}", 16 + n / 250, 1 + n % 250))
        .collect();
    let list: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let lab = BenchLab::up(ProviderKind::Azure, &azure_with(&[(1, &list)]));
    let mut daemon = lab.daemon("RefreshTimer = \"1h\"");
    let on_eth1 = || {
        lab.lab
            .vm
            .run_ok(&["ip", "-4", "-o", "addr", "show", "dev", "eth1"])
            .lines()
            .count()
    };
    let deadline = Instant::now() + CONFIGURE_LIMIT;
    while on_eth1() <= 1500 {
        assert!(
            Instant::now() < deadline,
            "no apply seen; the daemon's log:\n{}",
            daemon.log_text()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let (took, status) = daemon.terminate();
    Stop {
        took,
        exit_code: status.code(),
        on_eth1: on_eth1(),
    }
}
