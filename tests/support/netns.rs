//! Network namespace guard for kernel tests: a uniquely named namespace per test, entered by
//! the current thread only, with commands run inside it, deleted on drop (also on panic).

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Fails the test unless it runs as root: the kernel tests build network namespaces, and a
/// test that cannot run must not report `ok`.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test needs root (it builds network namespaces): run the tests as root"
    );
}

/// A network namespace `cn-<prefix>-<pid>-<n>`, removed when dropped.
pub struct Netns {
    name: String,
}

/// The current thread inside a namespace; dropping it moves the thread back where it was.
pub struct EnteredGuard {
    original: File,
}

impl Netns {
    pub fn new(prefix: &str) -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Netns::named(&format!("cn-{prefix}-{}-{n}", std::process::id()))
    }

    /// A namespace with exactly this name (the caller makes it unique).
    pub fn named(name: &str) -> Netns {
        let name = name.to_string();
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .expect("run ip netns add");
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            stderr(&out)
        );
        Netns { name }
    }

    /// The network namespace process `pid` is in (a container's), under `name` for `ip netns`
    /// until dropped. Dropping removes only the name; the namespace lives on with its processes.
    pub fn attach(name: &str, pid: u32) -> Netns {
        let out = Command::new("ip")
            .args(["netns", "attach", name, &pid.to_string()])
            .output()
            .expect("run ip netns attach");
        assert!(
            out.status.success(),
            "ip netns attach {name} {pid}: {}",
            stderr(&out)
        );
        Netns {
            name: name.to_string(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Moves the calling thread (only it) into the namespace until the guard is dropped.
    pub fn enter(&self) -> EnteredGuard {
        let original = File::open("/proc/thread-self/ns/net").expect("open current netns");
        let target = File::open(format!("/run/netns/{}", self.name)).expect("open netns");
        setns(&target).unwrap_or_else(|e| panic!("setns into {}: {e}", self.name));
        EnteredGuard { original }
    }

    /// Runs `args` (program first) inside the namespace via `ip netns exec`.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {} {args:?}: {e}", self.name))
    }

    /// Runs `args` inside the namespace, panicking with its stderr if it fails.
    pub fn run_ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} in {}: {}",
            self.name,
            stderr(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs an `ip -j ...` style command inside the namespace and parses its JSON output.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let text = self.run_ok(args);
        if text.trim().is_empty() {
            return serde_json::Value::Array(Vec::new());
        }
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
    }

    /// A veth pair with both ends in this namespace; `mac` for the first end if given.
    pub fn veth(&self, name: &str, peer: &str, mac: Option<&str>) {
        let mut args = vec!["ip", "link", "add", "name", name];
        if let Some(mac) = mac {
            args.extend(["address", mac]);
        }
        args.extend(["type", "veth", "peer", "name", peer]);
        self.run_ok(&args);
    }

    /// eth0 as DHCP leaves it: up, `primary` (`addr/prefix`) with finite lifetimes, and the
    /// main table's default route via `gateway`, after an on-link route to it when
    /// `gateway_off_link` (the gateway lies outside the primary's prefix).
    pub fn dhcp_lease(&self, primary: &str, gateway: &str, gateway_off_link: bool) {
        self.run_ok(&["ip", "link", "set", "eth0", "up"]);
        self.run_ok(&[
            "ip",
            "address",
            "add",
            primary,
            "dev",
            "eth0",
            "valid_lft",
            "3600",
            "preferred_lft",
            "3600",
        ]);
        if gateway_off_link {
            self.run_ok(&["ip", "route", "add", gateway, "dev", "eth0"]);
        }
        self.run_ok(&[
            "ip", "route", "add", "default", "via", gateway, "dev", "eth0",
        ]);
    }

    /// The interface index of a link in this namespace.
    pub fn ifindex(&self, link: &str) -> u32 {
        let links = self.json(&["ip", "-j", "link", "show", "dev", link]);
        let index = links[0]["ifindex"].as_u64().expect("ifindex in ip -j link");
        u32::try_from(index).expect("ifindex fits u32")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let deleted = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        if !matches!(&deleted, Ok(out) if out.status.success()) {
            eprintln!("warning: could not delete netns {}: {deleted:?}", self.name);
        }
    }
}

impl Drop for EnteredGuard {
    fn drop(&mut self) {
        if let Err(e) = setns(&self.original) {
            eprintln!("warning: could not return to the original netns: {e}");
        }
    }
}

fn setns(ns: &File) -> std::io::Result<()> {
    // SAFETY: a valid namespace fd and CLONE_NEWNET; affects only the calling thread.
    match unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
