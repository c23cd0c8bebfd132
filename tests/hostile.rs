//! Hostile local clients against the real daemon binary, root-only, in its own namespace with
//! the metadata emulator (`cloud-network emulate`) beside it: 500 concurrent connections —
//! idle ones, 1 MiB request heads, 10 MiB bodies, one byte every 200 ms, invalid UTF-8 paths,
//! a foreign `Host` — each must end with its bounded answer or be closed within the API's
//! documented limits, while `/api/v1/status` keeps answering, a hot-plugged NIC is configured
//! within 2 s, the daemon's RSS stays under a bound and it keeps its four threads.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};
use support::azure::{azure_expected, AZURE};
use support::netns::{require_root, Netns};
use support::running::{self, status, wait_for, write_config, Daemon, API};
use support::scene::{ChildGuard, TempDir};
use support::view::{from_netlink, read_both};

const CLIENTS: usize = 500;
/// The emulator's address inside the namespace.
const METADATA: &str = "127.0.0.1:1338";
/// No connection may outlive the API's longest bound on it: 5 s to send a request (HEAD_TIMEOUT)
/// plus 1 s of lingering after the last answer, with 2 s of slack for a loaded 2-core machine.
const ENDING_BOUND: Duration = Duration::from_secs(8);
/// A client still open after this long is a hang.
const HANG: Duration = Duration::from_secs(15);
/// What the attack may add to the daemon's resident memory, in KiB. Every connection holds
/// at most 12 KiB of input and the server keeps at most 256: 3 MiB, plus allocator slack. An
/// unbounded server would grow with every 1 MiB head and 10 MiB body (hundreds of MiB here).
/// Measured (debug build, x86_64): about 0.7 MiB.
const RSS_GROWTH_BOUND_KIB: u64 = 4 * 1024;
/// The daemon's whole resident memory during the attack. Measured (debug build): 9.7 MiB
/// before the attack (most of it the unoptimised binary's own pages), 10.4 MiB at the peak.
const RSS_BOUND_KIB: u64 = 16 * 1024;
/// main, reconcile, netlink-monitor, api.
const THREADS: u64 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Connects and sends nothing.
    Idle,
    /// A request head of 1 MiB (one endless header).
    BigHead,
    /// A head announcing a 10 MiB body, then the body.
    BigBody,
    /// A valid request, one byte every 200 ms.
    Drip,
    /// A path with bytes that are not UTF-8.
    BadPath,
    /// `Host: evil.example` (DNS rebinding).
    EvilHost,
}

const KINDS: [Kind; 6] = [
    Kind::Idle,
    Kind::BigHead,
    Kind::BigBody,
    Kind::Drip,
    Kind::BadPath,
    Kind::EvilHost,
];

impl Kind {
    /// The only answer this client may get (besides being closed without one).
    fn answer(self) -> Option<u16> {
        match self {
            Kind::Idle => None,
            Kind::BigHead => Some(431),
            Kind::BigBody => Some(413),
            Kind::Drip => Some(408),
            Kind::BadPath => Some(400),
            Kind::EvilHost => Some(403),
        }
    }

    /// What the client sends, in chunks, and the pause after each chunk.
    fn chunks(self) -> (Vec<Vec<u8>>, Duration) {
        let bulk = Duration::from_millis(1);
        match self {
            Kind::Idle => (Vec::new(), bulk),
            Kind::BigHead => {
                let mut chunks =
                    vec![b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nX-Fill: ".to_vec()];
                chunks.extend((0..64).map(|_| vec![b'a'; 16 * 1024]));
                (chunks, bulk)
            }
            Kind::BigBody => {
                let head = b"POST /api/v1/refresh HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10485760\r\n\r\n";
                let mut chunks = vec![head.to_vec()];
                chunks.extend((0..160).map(|_| vec![b'{'; 64 * 1024]));
                (chunks, bulk)
            }
            Kind::Drip => {
                let request = b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n";
                (
                    request.iter().map(|b| vec![*b]).collect(),
                    Duration::from_millis(200),
                )
            }
            Kind::BadPath => (
                vec![b"GET /api/\xff\xfe/status HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec()],
                bulk,
            ),
            Kind::EvilHost => (
                vec![b"GET /api/v1/status HTTP/1.1\r\nHost: evil.example\r\n\r\n".to_vec()],
                bulk,
            ),
        }
    }
}

/// How one client's connection ended.
#[derive(Debug)]
struct Ending {
    kind: Kind,
    /// The status of the response it got; None when closed without one.
    status: Option<u16>,
    /// From the start of the attack.
    after: Duration,
    hung: bool,
}

/// A whole response (head and Content-Length body) at the start of `bytes`: its status.
fn complete_response(bytes: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (body.len() >= length).then_some(status)
}

fn status_of(bytes: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(bytes);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Reads what is there within `wait`; true when the connection is over (a whole response,
/// end of stream or an error).
fn read_some(stream: &mut TcpStream, reply: &mut Vec<u8>, wait: Duration) -> bool {
    let _ = stream.set_read_timeout(Some(wait));
    let mut buf = [0u8; 4096];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(n) => {
            reply.extend_from_slice(&buf[..n]);
            complete_response(reply).is_some()
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(_) => true,
    }
}

/// One hostile client: sends its chunks (stopping at the first write error, the server having
/// closed), watching for an answer between chunks, then waits for the end.
fn client(kind: Kind, mut stream: TcpStream, start: Arc<Barrier>) -> Ending {
    start.wait();
    let began = Instant::now();
    let (chunks, pause) = kind.chunks();
    let mut reply = Vec::new();
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let mut over = false;
    for chunk in chunks {
        if stream.write_all(&chunk).is_err() {
            break;
        }
        over = read_some(&mut stream, &mut reply, pause);
        if over {
            break;
        }
    }
    while !over && began.elapsed() < HANG {
        over = read_some(&mut stream, &mut reply, Duration::from_millis(100));
    }
    Ending {
        kind,
        status: status_of(&reply),
        after: began.elapsed(),
        hung: !over,
    }
}

/// Peaks of the daemon's VmRSS (KiB) and thread count, sampled every 20 ms while running.
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<(u64, u64, u64)>,
}

impl Sampler {
    fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            let read = |field: &str| -> u64 {
                let text =
                    std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                text.lines()
                    .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
                    .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
                    .unwrap_or(0)
            };
            let (mut rss, mut min_threads, mut max_threads) = (0, u64::MAX, 0);
            while !flag.load(Ordering::SeqCst) {
                rss = rss.max(read("VmRSS"));
                let threads = read("Threads");
                min_threads = min_threads.min(threads);
                max_threads = max_threads.max(threads);
                thread::sleep(Duration::from_millis(20));
            }
            (rss, min_threads, max_threads)
        });
        Sampler { stop, thread }
    }

    /// (peak RSS KiB, fewest threads, most threads)
    fn finish(self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("sampler")
    }
}

/// The VM at start: only eth0 (DHCP lease, default route); eth1 is listed by the metadata but
/// its link is hot-plugged later.
fn build_vm(ns: &Netns) {
    ns.run_ok(&["ip", "link", "set", "lo", "up"]);
    ns.veth("eth0", "p0", Some(AZURE.macs[0]));
    ns.dhcp_lease(AZURE.primary, AZURE.gateway, AZURE.gateway_host_route);
}

fn start_emulator(ns: &Netns) -> ChildGuard {
    let child = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(env!("CARGO_BIN_EXE_cloud-network"))
        .args(["emulate", "--provider", "azure", "--listen", METADATA])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the emulator");
    ChildGuard(child)
}

fn eth1_configured() -> bool {
    let view = from_netlink();
    ["10.4.0.5", "10.4.0.6", "10.4.0.7"].iter().all(|ip| {
        view.addresses
            .contains(&format!("eth1 {ip}/24 noprefixroute forever"))
            && view.rules.contains(&format!("3001 from {ip} lookup 10001"))
    })
}

#[test]
fn hostile_clients_get_bounded_answers_while_the_network_is_still_configured() {
    require_root();
    let ns = Netns::new("hostile");
    let dir = TempDir::new("hostile");
    build_vm(&ns);
    let _emulator = start_emulator(&ns);
    let _entered = ns.enter();
    let metadata: SocketAddr = METADATA.parse().expect("address");
    let up = wait_for(Duration::from_secs(5), || {
        TcpStream::connect(metadata).ok().map(|_| ())
    });
    assert!(up.is_some(), "the emulator did not start");
    let config = write_config(
        &dir.path().join("daemon.toml"),
        "azure",
        &format!("http://{METADATA}"),
        &dir.path().join("state"),
        "RefreshTimer = \"5s\"",
    );
    let mut daemon = Daemon::start(&ns, &config, &dir.path().join("daemon.log"), &[]);
    let ready = wait_for(Duration::from_secs(10), || {
        let s = status(Duration::from_secs(1))?;
        (s["last_refresh"]["result"] == "ok").then_some(())
    });
    assert!(ready.is_some(), "daemon not ready:\n{}", daemon.log_text());
    assert_eq!(daemon.comm(), "cloud-network");
    let baseline_rss = daemon.proc_status("VmRSS");
    assert_eq!(daemon.proc_status("Threads"), THREADS);
    assert!(!eth1_configured());

    let sampler = Sampler::start(daemon.pid);
    let api: SocketAddr = API.parse().expect("address");
    let start = Arc::new(Barrier::new(CLIENTS + 1));
    let clients: Vec<thread::JoinHandle<Ending>> = (0..CLIENTS)
        .map(|i| {
            let kind = KINDS[i % KINDS.len()];
            let stream = TcpStream::connect(api).expect("connect (the backlog holds 1024)");
            let start = start.clone();
            thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || client(kind, stream, start))
                .expect("client thread")
        })
        .collect();
    start.wait();
    let attack = Instant::now();

    ns.veth("eth1", "p1", Some(AZURE.macs[1]));
    let plugged = Instant::now();
    let configured = wait_for(Duration::from_secs(2), || eth1_configured().then_some(()));
    let hotplug = plugged.elapsed();
    assert!(
        configured.is_some(),
        "eth1 not configured within 2 s:\n{}",
        daemon.log_text()
    );

    let mut probes = Vec::new();
    while attack.elapsed() < Duration::from_secs(6) {
        let asked = Instant::now();
        let reply = running::request(API, "GET", "/api/v1/status", Duration::from_secs(2));
        probes.push((reply.map(|(code, _)| code), asked.elapsed()));
        thread::sleep(Duration::from_millis(250));
    }
    let endings: Vec<Ending> = clients
        .into_iter()
        .map(|c| c.join().expect("client"))
        .collect();
    let attack_time = attack.elapsed();
    let (peak_rss, min_threads, max_threads) = sampler.finish();

    let slowest_probe = probes.iter().map(|(_, t)| *t).max().unwrap_or_default();
    eprintln!(
        "RSS {baseline_rss} KiB before, peak {peak_rss} KiB; threads {min_threads}..{max_threads}; \
         eth1 configured {hotplug:?} after hot-plug; {} status probes, slowest {slowest_probe:?}; \
         attack over in {attack_time:?}",
        probes.len()
    );
    for kind in KINDS {
        let of_kind: Vec<&Ending> = endings.iter().filter(|e| e.kind == kind).collect();
        let answered = of_kind.iter().filter(|e| e.status.is_some()).count();
        let slowest = of_kind.iter().map(|e| e.after).max().unwrap_or_default();
        eprintln!(
            "{kind:?}: {} clients, {answered} answered, last ended after {slowest:?}",
            of_kind.len()
        );
    }

    let hung: Vec<&Ending> = endings.iter().filter(|e| e.hung).collect();
    assert!(
        hung.is_empty(),
        "{} connections hung: {:?}",
        hung.len(),
        hung.first()
    );
    for ending in &endings {
        assert!(
            ending.status.is_none() || ending.status == ending.kind.answer(),
            "{ending:?}"
        );
        assert!(ending.after <= ENDING_BOUND, "{ending:?}");
    }
    for kind in KINDS.iter().filter(|k| k.answer().is_some()) {
        assert!(
            endings
                .iter()
                .any(|e| e.kind == *kind && e.status.is_some()),
            "no {kind:?} client got its answer"
        );
    }
    assert!(
        probes
            .iter()
            .all(|(code, t)| *code == Some(200) && *t < Duration::from_secs(1)),
        "{probes:?}"
    );
    assert!(probes.len() >= 5, "{probes:?}");
    assert!(peak_rss < RSS_BOUND_KIB, "peak RSS {peak_rss} KiB");
    assert!(
        peak_rss < baseline_rss + RSS_GROWTH_BOUND_KIB,
        "RSS grew from {baseline_rss} to {peak_rss} KiB"
    );
    assert_eq!((min_threads, max_threads), (THREADS, THREADS));
    assert!(daemon.alive());
    assert_eq!(read_both(&ns), azure_expected());
    assert!(daemon.terminate(Duration::from_secs(2)).success());
}
