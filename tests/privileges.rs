//! Root-only tests of the privilege drop. Each drop happens in a forked child (capabilities
//! and ids are per process, and the test harness has threads), inside a namespace the test
//! entered before forking; the child reports its /proc status and what it could still do
//! through a pipe. Users are throwaway system users, removed afterwards.

mod support;

use cloud_network::kernel::{Change, Family, Rule};
use cloud_network::netlink::Netlink;
use cloud_network::privileges::confine::spawn_confined;
use cloud_network::privileges::{drop_privileges, lookup_user, PrivilegePlan};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::FromRawFd;
use std::os::unix::fs::MetadataExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use support::netns::{require_root, Netns};

const NET_ADMIN: &str = "0000000000001000";
const NET_ADMIN_AND_BIND_SERVICE: &str = "0000000000001400";
const NO_CAPS: &str = "0000000000000000";

static COUNTER: AtomicU32 = AtomicU32::new(0);
/// useradd and userdel lock /etc/passwd: one at a time.
static USER_DB: Mutex<()> = Mutex::new(());

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// A system user without home or login shell, deleted on drop.
struct TestUser {
    name: String,
}

impl TestUser {
    fn create() -> TestUser {
        let name = unique("cn-test");
        let _lock = USER_DB.lock().unwrap_or_else(|e| e.into_inner());
        let args = [
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
        ];
        let out = Command::new("useradd")
            .args(args)
            .arg(&name)
            .output()
            .unwrap();
        assert!(out.status.success(), "useradd: {out:?}");
        TestUser { name }
    }

    fn id(&self, flag: &str) -> u32 {
        let out = Command::new("id")
            .args([flag, &self.name])
            .output()
            .unwrap();
        assert!(out.status.success(), "id {flag}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _lock = USER_DB.lock().unwrap_or_else(|e| e.into_inner());
        let out = Command::new("userdel").arg(&self.name).output();
        if !matches!(&out, Ok(o) if o.status.success()) {
            eprintln!("warning: could not delete user {}: {out:?}", self.name);
        }
    }
}

/// A directory under the system temp dir, removed with its contents on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let path = std::env::temp_dir().join(unique("cn-priv"));
        fs::create_dir(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// What the child saw after dropping: its report line, its main thread's and a confined
/// thread's /proc status, and whether a netlink write and a bind to port 80 still worked.
struct ChildView {
    report: String,
    status: String,
    confined: String,
    rule_added: String,
    bound_port_80: String,
}

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("{key} in {status}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

impl ChildView {
    fn field(&self, key: &str) -> String {
        status_field(&self.status, key)
    }

    /// A field of the status of the thread started by `spawn_confined` during the drop.
    fn confined_field(&self, key: &str) -> String {
        status_field(&self.confined, key)
    }
}

/// Forks; the child drops privileges with `plan`, then tries a rule add and a bind, and sends
/// what it saw through a pipe before `_exit`. The caller's thread must be in a namespace with
/// `lo` up.
fn drop_in_child(plan: &PrivilegePlan) -> ChildView {
    let mut fds = [0; 2];
    // SAFETY: a valid array of two fds for pipe to fill.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: the child only runs the code below and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: the write end is ours alone in the child.
        let mut out = unsafe { File::from_raw_fd(fds[1]) };
        let text = catch_unwind(AssertUnwindSafe(|| child(plan)))
            .unwrap_or_else(|_| "report=child panicked".to_string());
        let code = i32::from(out.write_all(text.as_bytes()).is_err());
        // SAFETY: ends the child without running the parent's destructors or harness.
        unsafe { libc::_exit(code) };
    }
    // SAFETY: the write end belongs to the child now.
    unsafe { libc::close(fds[1]) };
    let mut text = String::new();
    // SAFETY: the read end is ours alone.
    unsafe { File::from_raw_fd(fds[0]) }
        .read_to_string(&mut text)
        .unwrap();
    let mut status = 0;
    // SAFETY: waits for our own child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert_eq!(status, 0, "child exit status");
    let (report, rest) = text.split_once('\n').expect("report line");
    let (status, rest) = rest.split_once("\n--\n").expect("status block");
    let (confined, rest) = rest.split_once("\n--\n").expect("confined status block");
    let (rule_added, bound_port_80) = rest.split_once('\n').expect("rule and bind lines");
    ChildView {
        report: report.to_string(),
        status: status.to_string(),
        confined: confined.to_string(),
        rule_added: rule_added.to_string(),
        bound_port_80: bound_port_80.to_string(),
    }
}

/// Drops as the daemon does: the drop, a confined thread (which reports its own status), the
/// finish.
fn child(plan: &PrivilegePlan) -> String {
    let mut confined = String::new();
    let report = match drop_privileges(plan) {
        Ok(dropping) => {
            let (tx, rx) = std::sync::mpsc::channel();
            let spawned = spawn_confined("confined", dropping.confinement(), move || {
                let status = fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
                let _ = tx.send(status);
            });
            let confirmed = spawned.and_then(|thread| thread.confirmed());
            match confirmed.map(|thread| (rx.recv(), thread.join())) {
                Ok((Ok(status), _)) => confined = status,
                other => confined = format!("confined thread failed: {other:?}"),
            }
            match dropping.finish() {
                Ok(report) => report.to_string(),
                Err(e) => format!("error: {e}"),
            }
        }
        Err(e) => format!("error: {e}"),
    };
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rule_added = match Netlink::open().map(|mut nl| nl.apply(&[Change::AddRule(rule())])) {
        Ok(results) => match &results[..] {
            [Ok(())] => "ok".to_string(),
            other => format!("{other:?}"),
        },
        Err(e) => e.to_string(),
    };
    let bound = match TcpListener::bind("127.0.0.1:80") {
        Ok(_) => "ok".to_string(),
        Err(e) => e.kind().to_string(),
    };
    format!("{report}\n{status}\n--\n{confined}\n--\n{rule_added}\n{bound}")
}

fn rule() -> Rule {
    Rule {
        family: Family::V4,
        priority: 4242,
        src: Some("10.9.0.1/32".parse().unwrap()),
        dst: None,
        table: 10001,
        suppress_prefixlen: None,
        suppress_ifgroup: None,
    }
}

/// A namespace with `lo` up.
fn namespace(prefix: &str) -> Netns {
    let ns = Netns::new(prefix);
    ns.run_ok(&["ip", "link", "set", "lo", "up"]);
    ns
}

fn rule_listed(ns: &Netns) -> bool {
    ns.run_ok(&["ip", "rule", "show", "priority", "4242"])
        .contains("from 10.9.0.1 lookup 10001")
}

#[test]
fn switching_to_the_user_keeps_only_net_admin_and_hands_over_the_state_dir() {
    require_root();
    let user = TestUser::create();
    let (uid, gid) = (user.id("-u"), user.id("-g"));
    let dir = TempDir::new();
    let state_dir = dir.0.join("run/cloud-network");
    fs::create_dir_all(state_dir.join("links")).unwrap();
    fs::write(state_dir.join("links/3"), "{}").unwrap();
    let ns = namespace("privuser");
    let entered = ns.enter();
    let seen = drop_in_child(&PrivilegePlan {
        user: user.name.clone(),
        account: lookup_user(&user.name).expect("look the user up"),
        state_dir: state_dir.clone(),
        keep_bind_service: false,
    });
    drop(entered);

    let expected = format!(
        "running as user {} (uid {uid}) with CAP_NET_ADMIN",
        user.name
    );
    assert_eq!(seen.report, expected);
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(seen.field(set), NET_ADMIN, "{set}");
    }
    for set in ["CapInh", "CapAmb"] {
        assert_eq!(seen.field(set), NO_CAPS, "{set}");
    }
    assert_eq!(seen.field("NoNewPrivs"), "1");
    for set in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
        assert_eq!(seen.confined_field(set), NO_CAPS, "confined {set}");
    }
    assert_eq!(seen.confined_field("CapBnd"), NET_ADMIN);
    assert_eq!(seen.confined_field("NoNewPrivs"), "1");
    assert_eq!(
        seen.confined_field("Uid"),
        format!("{uid} {uid} {uid} {uid}")
    );
    assert_eq!(seen.field("Uid"), format!("{uid} {uid} {uid} {uid}"));
    assert_eq!(seen.field("Gid"), format!("{gid} {gid} {gid} {gid}"));
    assert_eq!(seen.field("Groups"), "");
    assert_eq!(seen.rule_added, "ok");
    assert!(rule_listed(&ns));
    assert_eq!(seen.bound_port_80, "permission denied");
    for path in [
        &state_dir,
        &state_dir.join("links"),
        &state_dir.join("links/3"),
    ] {
        let meta = fs::metadata(path).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (uid, gid), "{}", path.display());
    }
    assert_eq!(fs::metadata(&state_dir).unwrap().mode() & 0o7777, 0o755);
    assert_eq!(fs::metadata(dir.0.join("run")).unwrap().uid(), 0);
}

#[test]
fn keeping_bind_service_allows_port_80() {
    require_root();
    let user = TestUser::create();
    let dir = TempDir::new();
    let ns = namespace("privbind");
    let entered = ns.enter();
    let seen = drop_in_child(&PrivilegePlan {
        user: user.name.clone(),
        account: lookup_user(&user.name).expect("look the user up"),
        state_dir: dir.0.join("state"),
        keep_bind_service: true,
    });
    drop(entered);

    let expected = format!(
        "running as user {} (uid {}) with CAP_NET_ADMIN and CAP_NET_BIND_SERVICE",
        user.name,
        user.id("-u")
    );
    assert_eq!(seen.report, expected);
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(seen.field(set), NET_ADMIN_AND_BIND_SERVICE, "{set}");
    }
    for set in ["CapInh", "CapAmb"] {
        assert_eq!(seen.field(set), NO_CAPS, "{set}");
    }
    assert_eq!(seen.bound_port_80, "ok");
    assert_eq!(seen.rule_added, "ok");
}

#[test]
fn without_the_user_root_keeps_only_net_admin_even_in_the_bounding_set() {
    require_root();
    let dir = TempDir::new();
    let state_dir = dir.0.join("a/b/state");
    let ns = namespace("privroot");
    let entered = ns.enter();
    let absent = unique("cn-absent");
    let seen = drop_in_child(&PrivilegePlan {
        user: absent.clone(),
        account: lookup_user(&absent).expect("look the user up"),
        state_dir: state_dir.clone(),
        keep_bind_service: false,
    });
    drop(entered);

    let expected = format!("user {absent} not found: staying root with only CAP_NET_ADMIN");
    assert_eq!(seen.report, expected);
    for set in ["CapEff", "CapPrm", "CapBnd"] {
        assert_eq!(seen.field(set), NET_ADMIN, "{set}");
    }
    for set in ["CapInh", "CapAmb"] {
        assert_eq!(seen.field(set), NO_CAPS, "{set}");
    }
    assert_eq!(seen.field("NoNewPrivs"), "1");
    assert_eq!(seen.field("Uid"), "0 0 0 0");
    for set in ["CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd"] {
        assert_eq!(seen.confined_field(set), NO_CAPS, "confined {set}");
    }
    assert_eq!(seen.confined_field("Uid"), "65534 65534 65534 65534");
    assert_eq!(seen.confined_field("Gid"), "65534 65534 65534 65534");
    assert_eq!(seen.confined_field("Groups"), "");
    assert_eq!(seen.confined_field("NoNewPrivs"), "1");
    assert_eq!(seen.rule_added, "ok");
    assert!(rule_listed(&ns));
    assert_eq!(seen.bound_port_80, "permission denied");
    let meta = fs::metadata(&state_dir).unwrap();
    assert!(meta.is_dir());
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o755));
}
