//! The real daemon binary running inside a test namespace: its config, its log file, its
//! `/proc` figures (RSS, threads), a tiny HTTP client for its API, a wait helper, and the
//! `cloud-network` service user it switches to as packaged. The process is killed on drop
//! unless the test stopped it itself.

use super::netns::Netns;
use super::scene::ChildGuard;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Where the daemon's API listens inside its namespace (each namespace has its own ports).
pub const API: &str = "127.0.0.1:5209";

/// Writes a daemon config; `extra` is appended to `[System]` (e.g. `RefreshTimer = "1s"`).
pub fn write_config(
    path: &Path,
    provider: &str,
    endpoint: &str,
    state_dir: &Path,
    extra: &str,
) -> PathBuf {
    let text = format!(
        "[System]\nProvider = \"{provider}\"\nMetadataEndpoint = \"{endpoint}\"\n\
         StateDir = \"{}\"\nLogLevel = \"info\"\n{extra}\n[Network]\nListen = \"{API}\"\n",
        state_dir.display()
    );
    std::fs::write(path, text).expect("write config");
    path.to_path_buf()
}

/// The daemon, started in `ns` as `ip netns exec NS [wrapper...] cloud-network daemon --config`.
pub struct Daemon {
    child: Option<ChildGuard>,
    pub pid: u32,
    pub log: PathBuf,
}

impl Daemon {
    /// `wrapper` runs before the binary (e.g. `unshare -m sh -c '... exec "$0" "$@"'`); the
    /// command chain must exec, so the child's pid is the daemon's.
    pub fn start(ns: &Netns, config: &Path, log: &Path, wrapper: &[&str]) -> Daemon {
        let stderr = File::create(log).expect("create daemon log");
        let child = Command::new("ip")
            .args(["netns", "exec", ns.name()])
            .args(wrapper)
            .arg(env!("CARGO_BIN_EXE_cloud-network"))
            .args(["daemon", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn the daemon");
        let pid = child.id();
        Daemon {
            child: Some(ChildGuard(child)),
            pid,
            log: log.to_path_buf(),
        }
    }

    pub fn alive(&mut self) -> bool {
        let child = self.child.as_mut().expect("daemon not stopped yet");
        matches!(child.0.try_wait(), Ok(None))
    }

    /// SIGTERM, then waits up to `within` for the exit status.
    pub fn terminate(&mut self, within: Duration) -> ExitStatus {
        let mut guard = self.child.take().expect("daemon not stopped yet");
        let pid = libc::pid_t::try_from(self.pid).expect("pid fits pid_t");
        // SAFETY: signals our own child, which has not been reaped yet.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = guard.0.try_wait().expect("wait for the daemon") {
                return status;
            }
            assert!(Instant::now() < deadline, "the daemon ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Lines of the log containing `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }

    /// A field of `/proc/PID/status` as a number (`VmRSS` in KiB, `Threads`).
    pub fn proc_status(&self, field: &str) -> u64 {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .expect("read /proc/PID/status");
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{field}:")))
            .unwrap_or_else(|| panic!("no {field} in /proc/{}/status", self.pid));
        line.split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad line {line}"))
    }

    pub fn comm(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/comm", self.pid))
            .unwrap_or_default()
            .trim()
            .to_string()
    }
}

/// One HTTP/1.1 request with `Connection: close` from the current thread (which must be in the
/// daemon's namespace); the status and the body. Errors and timeouts are `None`.
pub fn request(addr: &str, method: &str, path: &str, timeout: Duration) -> Option<(u16, String)> {
    let addr: SocketAddr = addr.parse().expect("socket address");
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).ok()?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).ok()?;
    let text = String::from_utf8_lossy(&reply).into_owned();
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// `GET /api/v1/status` as JSON, when the API answers 200.
pub fn status(timeout: Duration) -> Option<serde_json::Value> {
    match request(API, "GET", "/api/v1/status", timeout)? {
        (200, body) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

/// Polls `check` every 50 ms until it returns Some or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `cloud-network` user: the machine's own when it exists (kept), else created for the
/// test or bench and deleted on drop.
pub struct ServiceUser {
    created: bool,
}

impl ServiceUser {
    pub fn ensure() -> ServiceUser {
        if uid_of("cloud-network").is_some() {
            return ServiceUser { created: false };
        }
        let out = Command::new("useradd")
            .args([
                "--system",
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                "cloud-network",
            ])
            .output()
            .expect("run useradd");
        assert!(out.status.success(), "useradd: {out:?}");
        ServiceUser { created: true }
    }

    pub fn uid(&self) -> u32 {
        uid_of("cloud-network").expect("the cloud-network user exists")
    }
}

impl Drop for ServiceUser {
    fn drop(&mut self) {
        if !self.created {
            return;
        }
        // A daemon of this test may take a moment to be gone after it was killed: userdel
        // refuses while a process of the user lives, so try a few times.
        let mut out = None;
        for _ in 0..20 {
            let attempt = Command::new("userdel").arg("cloud-network").output();
            if matches!(&attempt, Ok(o) if o.status.success()) {
                return;
            }
            out = Some(attempt);
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        eprintln!("warning: could not delete the user cloud-network: {out:?}");
    }
}

fn uid_of(user: &str) -> Option<u32> {
    let out = Command::new("id").args(["-u", user]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}
