//! The reply-path check's peak memory and time at 256, 2,000 and 8,000 addresses on one NIC
//! (each with its `from` rule), each size in a child process of its own (`footprint
//! --check-child N`) so its peak is its own: the child builds a namespace by hand, enters it,
//! resets its peak (`/proc/self/clear_refs`), runs the check as the API's check thread does,
//! and prints the peak over the resident size before, the time and the number of lines.

use crate::support::netns::Netns;
use cloud_network::check::{self, Budget};
use cloud_network::metadata::ProviderKind;
use cloud_network::snapshot::{LinkStatus, RuleStatus};
use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

/// Child mode: `footprint --check-child N` measures one check of N addresses.
pub const CHILD_FLAG: &str = "--check-child";
pub const SIZES: [usize; 3] = [256, 2000, 8000];

/// One size, as the child measured it.
pub struct CheckFigure {
    pub addresses: usize,
    pub peak_kib: u64,
    pub took: Duration,
    pub lines: usize,
}

/// Runs the child for each size.
pub fn measure() -> Vec<CheckFigure> {
    let exe = std::env::current_exe().expect("the bench's own path");
    SIZES
        .iter()
        .map(|&n| {
            let out = Command::new(&exe)
                .args([CHILD_FLAG, &n.to_string()])
                .output()
                .expect("run the check child");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let fields: Vec<u64> = text
                .split_whitespace()
                .map(|f| f.parse().unwrap())
                .collect();
            CheckFigure {
                addresses: n,
                peak_kib: fields[0],
                took: Duration::from_micros(fields[1]),
                lines: fields[2] as usize,
            }
        })
        .collect()
}

/// The child: one check of `n` addresses on eth1, printed as `peak_kib micros lines`.
pub fn child(n: usize) {
    let ns = Netns::new("bench-check");
    ns.run_ok(&["ip", "link", "set", "lo", "up"]);
    for (link, peer, address) in [
        ("eth0", "peer0", "10.4.0.4/24"),
        ("eth1", "peer1", "10.4.0.5/24"),
    ] {
        ns.veth(link, peer, None);
        ns.run_ok(&["ip", "link", "set", peer, "up"]);
        ns.run_ok(&["ip", "link", "set", link, "up"]);
        ns.run_ok(&["ip", "address", "add", address, "dev", link]);
    }
    ns.run_ok(&[
        "ip", "route", "add", "default", "via", "10.4.0.1", "dev", "eth0",
    ]);
    ns.run_ok(&[
        "ip", "route", "add", "default", "via", "10.4.0.1", "dev", "eth1", "table", "10001",
    ]);
    let addresses: Vec<String> = (0..n as u32)
        .map(|i| {
            let [_, _, hi, lo] = i.to_be_bytes();
            format!("10.5.{hi}.{lo}")
        })
        .collect();
    let batch = std::env::temp_dir().join(format!("cn-bench-check-{}", std::process::id()));
    let mut file = std::fs::File::create(&batch).expect("batch file");
    for a in &addresses {
        writeln!(
            file,
            "address add {a}/32 dev eth1\nrule add from {a} lookup 10001 priority 3001"
        )
        .expect("write the batch");
    }
    drop(file);
    ns.run_ok(&["ip", "-batch", &batch.display().to_string()]);
    let _ = std::fs::remove_file(&batch);
    let links = status(&ns, &addresses);
    let _inside = ns.enter();
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak");
    let before = status_kib("VmRSS");
    let nobody_waits = || false;
    let budget = Budget {
        limit: Duration::from_secs(600),
        nobody_waits: &nobody_waits,
    };
    let started = Instant::now();
    let report = check::run(ProviderKind::Aws, &links, &budget).expect("the check");
    let took = started.elapsed();
    let peak = status_kib("VmHWM").saturating_sub(before);
    println!("{peak} {} {}", took.as_micros(), report.lines.len());
}

/// eth0 and eth1 as the daemon's status shows them, eth1 with every address and its rule.
fn status(ns: &Netns, addresses: &[String]) -> Vec<LinkStatus> {
    let link = |name: &str, index: u32, address: &str, table| LinkStatus {
        name: name.to_string(),
        ifindex: ns.ifindex(name),
        mac: format!("02:00:00:00:00:0{index}").parse().unwrap(),
        device_index: index,
        table,
        addresses: vec![address.parse().unwrap()],
        routes: Vec::new(),
        rules: Vec::new(),
        refused: Vec::new(),
        unknown: None,
    };
    let mut eth1 = link("eth1", 1, "10.4.0.5/24", Some(10001));
    for a in addresses {
        eth1.addresses.push(format!("{a}/32").parse().unwrap());
        eth1.rules.push(RuleStatus {
            priority: 3001,
            from: Some(format!("{a}/32").parse().unwrap()),
            to: None,
            table: 10001,
        });
    }
    vec![link("eth0", 0, "10.4.0.4/24", None), eth1]
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("the field")
}
