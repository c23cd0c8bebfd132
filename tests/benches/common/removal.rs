//! The footprint bench's `removal` figure: the release daemon in a lab VM holding 8,000
//! addresses of one subnet on eth1 (each a secondary of the first) is told to keep 3; the time
//! from its first kernel change to its last (then the kernel holds the 3), and SIGTERM sent at
//! its first change (mid-removal) → exit.

use crate::apply::{median, ms};
use crate::daemon::BenchLab;
use crate::support::azure::azure_with;
use crate::support::lab::in_netns;
use cloud_network::kernel::Address;
use cloud_network::metadata::ProviderKind;
use cloud_network::netlink::monitor::{Event, Monitor};
use cloud_network::netlink::Netlink;
use serde_json::Value;
use std::time::{Duration, Instant};

const MANY: usize = 8000;
const KEPT: [&str; 3] = ["10.4.1.1", "10.4.9.77", "10.4.32.250"];
const LIMIT: Duration = Duration::from_secs(120);
const QUIET: Duration = Duration::from_secs(1);

/// The Azure scenario with `addresses` on eth1, in one subnet: 10.4.0.0/16.
fn scenario(addresses: &[&str]) -> String {
    let mut doc: Value = serde_json::from_str(&azure_with(&[(1, addresses)])).expect("scenario");
    doc["network"]["interface"][1]["ipv4"]["subnet"][0]["prefix"] = "16".into();
    doc.to_string()
}

fn many() -> Vec<String> {
    (0..MANY)
        .map(|n| format!("10.4.{}.{}", 1 + n / 250, 1 + n % 250))
        .collect()
}

/// What one removal measured.
pub struct Removal {
    /// First kernel change → the kernel holds the 3 (None: stopped on purpose).
    pub removed: Option<Duration>,
    /// SIGTERM at the first change → exit, with the exit code (None: not stopped).
    pub stopped: Option<(Duration, Option<i32>)>,
}

/// eth1's IPv4 addresses; a dump the daemon's changes interrupted is read again.
fn eth1_addresses(netlink: &mut Netlink) -> usize {
    loop {
        let links = netlink.links().expect("read the links");
        let eth1 = links.iter().find(|l| l.name == "eth1").expect("eth1");
        if let Ok(addresses) = netlink.addresses() {
            let on_eth1 = |a: &&Address| a.ifindex == eth1.index && a.addr.addr().is_ipv4();
            return addresses.iter().filter(on_eth1).count();
        }
    }
}

/// One lab at 8,000 addresses, shrunk to 3; with `stop`, SIGTERM at the first change.
pub fn removal(stop: bool) -> Removal {
    let addresses = many();
    let list: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let lab = BenchLab::up(ProviderKind::Azure, &scenario(&list));
    let mut daemon = lab.daemon("RefreshTimer = \"1s\"");
    let mut netlink = lab.vm_netlink();
    let configured = crate::support::running::wait_for(LIMIT, || {
        (eth1_addresses(&mut netlink) >= MANY).then_some(())
    });
    assert!(
        configured.is_some(),
        "not configured:\n{}",
        daemon.log_text()
    );
    std::thread::sleep(Duration::from_secs(2));
    let mut events = in_netns(lab.lab.vm.name(), Monitor::open).expect("events in the VM");
    lab.emulator
        .set_scenario_text(&scenario(&KEPT))
        .expect("the 3-address scenario");
    let removing = |batch: &[Event]| {
        let delete = |e: &Event| matches!(e, Event::RuleDel(_) | Event::AddressDel(_));
        batch.iter().any(delete)
    };
    let asked = Instant::now();
    while !removing(&events.next_batch(LIMIT).expect("kernel events")) {
        assert!(
            asked.elapsed() < LIMIT,
            "no removal:\n{}",
            daemon.log_text()
        );
    }
    let started = Instant::now();
    if stop {
        let (took, status) = daemon.terminate();
        return Removal {
            removed: None,
            stopped: Some((took, status.code())),
        };
    }
    // The last change is the last event before a quiet second; the kernel is read only then,
    // so no dump competes with the daemon for the CPUs meanwhile.
    let mut last = started.elapsed();
    while !events.next_batch(QUIET).expect("kernel events").is_empty() {
        last = started.elapsed();
        assert!(last < LIMIT, "no end:\n{}", daemon.log_text());
    }
    let left = eth1_addresses(&mut netlink);
    assert_eq!(left, KEPT.len(), "not removed:\n{}", daemon.log_text());
    Removal {
        removed: Some(last),
        stopped: None,
    }
}

/// `runs` removals, then `runs` stops mid-removal: the two rows of the figure.
pub fn removal_rows(runs: usize) -> Vec<crate::Row> {
    let removed: Vec<Duration> = (0..runs).filter_map(|_| removal(false).removed).collect();
    let stops: Vec<(Duration, Option<i32>)> =
        (0..runs).filter_map(|_| removal(true).stopped).collect();
    let worst = removed.iter().copied().max().unwrap_or_default();
    let took: Vec<Duration> = stops.iter().map(|s| s.0).collect();
    let worst_stop = took.iter().copied().max().unwrap_or_default();
    let codes: Vec<Option<i32>> = stops.iter().map(|s| s.1).collect();
    vec![
        crate::row(
            "8,000 → 3 addresses of one subnet (Azure, eth1), with their 16,000 rules: first change → last",
            format!("{} (worst {})", ms(median(&removed)), ms(worst)),
            "5f60ef8 (issue 24): about 4 deletes a second, ~30 min",
            "< 1 s",
            Some(worst < Duration::from_secs(1)),
        ),
        crate::row(
            "SIGTERM mid-removal (8,000 → 3) → exit",
            format!(
                "{} (worst {}); exit codes {codes:?}",
                ms(median(&took)),
                ms(worst_stop)
            ),
            "5f60ef8 (issue 24): 7.1 s",
            "≤ 1 s, exit 0",
            Some(worst_stop <= Duration::from_secs(1) && codes.iter().all(|c| *c == Some(0))),
        ),
    ]
}
