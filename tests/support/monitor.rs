//! `ip -o monitor` inside a test namespace, with markers: the test adds an address on a link
//! the daemon does not manage and reads events up to it, so "nothing else happened" between
//! two markers is an exact, race-free assertion.

use super::netns::Netns;
use super::scene::ChildGuard;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Address, route, rule and link events of one namespace, one line each.
pub struct IpMonitor {
    _child: ChildGuard,
    lines: mpsc::Receiver<String>,
    /// The link the marker addresses go on.
    marker_link: String,
    next_marker: u32,
    /// The non-marker events seen while waiting for the first marker.
    pub startup_events: Vec<String>,
}

/// True for a line that is one of our markers (10.99.0.0/16 addresses).
pub fn is_marker(line: &str) -> bool {
    line.contains("10.99.")
}

impl IpMonitor {
    /// Starts the monitor and waits until it demonstrably receives events.
    pub fn start(ns: &Netns, marker_link: &str) -> IpMonitor {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns.name()])
            .args(["ip", "-o", "monitor", "address", "route", "rule", "link"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ip monitor");
        let stdout = child.stdout.take().expect("monitor stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut monitor = IpMonitor {
            _child: ChildGuard(child),
            lines,
            marker_link: marker_link.to_string(),
            next_marker: 1,
            startup_events: Vec::new(),
        };
        for _ in 0..50 {
            let Some(seen) = monitor.marker(ns, Duration::from_millis(100)) else {
                continue;
            };
            monitor.startup_events = seen.into_iter().filter(|l| !is_marker(l)).collect();
            return monitor;
        }
        panic!("ip monitor never showed a marker");
    }

    /// Adds the next marker address and returns every event line up to and including it, or
    /// None when it did not show within `wait`.
    pub fn marker(&mut self, ns: &Netns, wait: Duration) -> Option<Vec<String>> {
        let n = self.next_marker;
        self.next_marker += 1;
        let ip = format!("10.99.{}.{}", n / 250, n % 250 + 1);
        ns.run_ok(&[
            "ip",
            "address",
            "add",
            &format!("{ip}/32"),
            "dev",
            &self.marker_link,
        ]);
        let needle = format!("inet {ip}/32");
        let mut seen = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(wait) {
            let done = line.contains(&needle);
            seen.push(line);
            if done {
                return Some(seen);
            }
        }
        None
    }

    /// The events since the last marker that are not markers, ended by a fresh marker.
    pub fn events_since_last_marker(&mut self, ns: &Netns) -> Vec<String> {
        let seen = self
            .marker(ns, Duration::from_secs(5))
            .expect("the monitor shows the closing marker");
        seen.into_iter().filter(|l| !is_marker(l)).collect()
    }
}
