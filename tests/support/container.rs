//! A Debian bookworm container with a real systemd as PID 1, booted by systemd-nspawn with its
//! network private (`--private-network`: only `lo` inside, no path to the host's network), for
//! the package tests (tests/systemd.rs, tests/network_manager.rs; their README is
//! tests/systemd/README.md).
//!
//! The root file systems ([`BOOKWORM`] with debootstrap, [`BOOKWORM_NM`] as a copy of it with
//! NetworkManager) are built once into a cache and reused while present; each container runs
//! on a tmpfs overlay of one (`--volatile=overlay`), so nothing a test does reaches the cache.
//! Commands run inside through `nsenter` (the host's PID 1 is not systemd: no machinectl).
//! The container's network namespace is also named for `ip netns` on the host, so the
//! `netns`, `view` and `monitor` helpers read it. Dropping the container kills its PID 1,
//! which ends every process inside and frees every namespace and link made there.

use super::netns::Netns;
use super::scene::{assert_succeeded, run_ok};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A cached root file system: where it is kept (rebuilt when missing; `rm -rf` it to force a
/// rebuild), the one it starts as a copy of (else debootstrap's), what `apt-get` adds at pinned
/// versions, and the unit that manages the NICs (the base's is disabled).
pub struct RootFs {
    pub dir: &'static str,
    pub base: Option<&'static RootFs>,
    pub packages: &'static [&'static str],
    pub enable: &'static str,
}

/// systemd (with networkd) as init, D-Bus for networkctl, iproute2 (tests/systemd.rs).
pub const BOOKWORM: RootFs = RootFs {
    dir: "/var/cache/cloud-network-test/bookworm",
    base: None,
    packages: &[],
    enable: "systemd-networkd",
};
/// The same with NetworkManager managing the NICs instead, as on RHEL, and dnsmasq for the
/// cloud's DHCP server (tests/network_manager.rs): bookworm's versions, pinned.
pub const BOOKWORM_NM: RootFs = RootFs {
    dir: "/var/cache/cloud-network-test/bookworm-nm",
    base: Some(&BOOKWORM),
    packages: &[
        "network-manager=1.42.4-1+deb12u1",
        "dnsmasq-base=2.90-4~deb12u2",
    ],
    enable: "NetworkManager",
};
/// What debootstrap puts in the first.
const DEBOOTSTRAP: [&str; 3] = [
    "--variant=minbase",
    "--include=systemd,systemd-sysv,dbus,iproute2",
    "bookworm",
];
const TOOLS: [&str; 3] = ["systemd-nspawn", "debootstrap", "nsenter"];
const BOOT_LIMIT: Duration = Duration::from_secs(60);
const PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

static COUNTER: AtomicU32 = AtomicU32::new(0);
static ROOTFS_BUILD: Mutex<()> = Mutex::new(());

/// Panics naming what is missing: the test runs only where it can (`.ci/run` installs it all).
pub fn require_tools() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "the container test needs root"
    );
    let missing: Vec<&str> = TOOLS.into_iter().filter(|tool| !on_path(tool)).collect();
    assert!(
        missing.is_empty(),
        "the container test needs {missing:?} (apt-get install systemd-container debootstrap)"
    );
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
        .unwrap_or(false)
}

/// The cached root file system of tests/systemd.rs, built now when missing.
pub fn rootfs() -> PathBuf {
    cached(&BOOKWORM)
}

/// `spec`'s cached root file system, built now when missing.
pub fn cached(spec: &RootFs) -> PathBuf {
    let _one_builder = ROOTFS_BUILD.lock().unwrap_or_else(|e| e.into_inner());
    build(spec)
}

/// Builds into a temporary directory renamed into place when complete, so an interrupted
/// build is never mistaken for a cache.
fn build(spec: &RootFs) -> PathBuf {
    let root = PathBuf::from(spec.dir);
    if root.join("usr/lib/systemd/systemd").exists() {
        return root;
    }
    let partial = root.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(root.parent().expect("a cache parent")).expect("create the cache");
    let chroot = |args: &[&str]| {
        let mut command = Command::new("chroot");
        command.arg(&partial).args(args);
        run_ok(command.env("DEBIAN_FRONTEND", "noninteractive"));
    };
    match spec.base {
        Some(base) => {
            run_ok(Command::new("cp").arg("-a").arg(build(base)).arg(&partial));
            chroot(&["systemctl", "disable", base.enable]);
        }
        None => {
            run_ok(Command::new("debootstrap").args(DEBOOTSTRAP).arg(&partial));
        }
    }
    if !spec.packages.is_empty() {
        let install = ["apt-get", "install", "-y", "-q", "--no-install-recommends"];
        chroot(&[&install[..], spec.packages].concat());
    }
    chroot(&["systemctl", "enable", spec.enable]);
    std::fs::rename(&partial, &root).expect("move the root file system into the cache");
    root
}

/// The .deb, built with `cargo deb` (which builds the release binary first) into `out_dir`.
pub fn built_deb(out_dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(out_dir);
    std::fs::create_dir_all(out_dir).expect("create the .deb's directory");
    let out = Command::new("cargo")
        .args(["deb", "--locked", "--output"])
        .arg(out_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo deb (cargo install cargo-deb)");
    assert!(
        out.status.success(),
        "cargo deb failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_dir(out_dir)
        .expect("list the .deb's directory")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("cargo deb wrote a .deb")
}

/// A booted container. Fields drop after [`Drop::drop`] has killed it: its cgroups and the
/// host's name for its network namespace go last.
pub struct Container {
    nspawn: Option<Child>,
    _cgroups: Cgroups,
    /// The container's PID 1 as the host sees it.
    pub leader: u32,
    pub name: String,
    console: PathBuf,
    /// The container's network namespace, named on the host.
    pub net: Netns,
}

impl Container {
    /// Boots a container on an overlay of `rootfs`, with each `(host, inside)` directory
    /// bound read-only, and waits until systemd reports `running`.
    pub fn boot(tag: &str, rootfs: &Path, binds: &[(&Path, &str)]) -> Container {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("cn{tag}{}x{n}", std::process::id());
        let console = std::env::temp_dir().join(format!("{name}.console"));
        let log = File::create(&console).expect("create the console log");
        let cgroups = Cgroups::create(&name);
        let mut command = Command::new("systemd-nspawn");
        command
            .arg("--directory")
            .arg(rootfs)
            .args([
                "--volatile=overlay",
                "--boot",
                "--register=no",
                "--keep-unit",
            ])
            .args(["--private-network", "--console=pipe", "--machine", &name]);
        for (host, inside) in binds {
            command.arg(format!("--bind-ro={}:{inside}", host.display()));
        }
        cgroups.enter_on_exec(&mut command);
        let nspawn = command
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log"))
            .stderr(log)
            .spawn()
            .expect("start systemd-nspawn");
        let nspawn_pid = nspawn.id();
        let mut nspawn = Some(nspawn);
        let leader = wait_for_leader(nspawn_pid, &console, &mut nspawn);
        let net = Netns::attach(&name, leader);
        let container = Container {
            nspawn,
            _cgroups: cgroups,
            leader,
            name,
            console,
            net,
        };
        container.wait_running();
        container
    }

    fn wait_running(&self) {
        let deadline = Instant::now() + BOOT_LIMIT;
        loop {
            let out = self.exec(&["systemctl", "is-system-running"]);
            let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
            match state.as_str() {
                "running" => return,
                "degraded" => panic!(
                    "the container booted degraded:\n{}",
                    self.run(&["systemctl", "--failed", "--no-pager"])
                ),
                _ => {}
            }
            assert!(
                Instant::now() < deadline,
                "the container is not running after {BOOT_LIMIT:?} ({state}); console:\n{}",
                self.console_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the container printed on its console (systemd's boot messages).
    pub fn console_log(&self) -> String {
        std::fs::read_to_string(&self.console).unwrap_or_default()
    }

    /// A command inside the container (every namespace of its PID 1), with a plain PATH and
    /// none of the test's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("nsenter");
        command
            .args(["--target", &self.leader.to_string(), "--all", "--"])
            .args(args)
            .env_clear()
            .env("PATH", PATH)
            .env("LANG", "C.UTF-8")
            .env("SYSTEMD_PAGER", "");
        command
    }

    pub fn exec(&self, args: &[&str]) -> Output {
        self.command(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("nsenter {args:?}: {e}"))
    }

    /// Runs `args` inside; panics with its output unless it succeeds; returns its stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.exec(args);
        assert_succeeded(&out, &format_args!("{args:?} in the container"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `sh -c script` inside, as [`Container::run`].
    pub fn sh(&self, script: &str) -> String {
        self.run(&["sh", "-c", script])
    }

    /// A process inside that keeps running (killed with the container at the latest).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("nsenter {args:?}: {e}"))
    }

    /// A path of the container's file system as the host reaches it.
    pub fn path(&self, inside: &str) -> PathBuf {
        Path::new(&format!("/proc/{}/root", self.leader)).join(inside.trim_start_matches('/'))
    }

    /// Writes a file inside the container (its directory is created).
    pub fn write(&self, inside: &str, contents: &str) {
        let path = self.path(inside);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir for {inside}: {e}"));
        }
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {inside}: {e}"));
    }
}

/// The container's PID 1: systemd-nspawn's child once it runs systemd.
fn wait_for_leader(nspawn: u32, console: &Path, child: &mut Option<Child>) -> u32 {
    let deadline = Instant::now() + BOOT_LIMIT;
    loop {
        let children = std::fs::read_to_string(format!("/proc/{nspawn}/task/{nspawn}/children"))
            .unwrap_or_default();
        let systemd = children
            .split_whitespace()
            .filter_map(|pid| pid.parse::<u32>().ok())
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|comm| comm.trim() == "systemd")
            });
        if let Some(pid) = systemd {
            return pid;
        }
        let exited = child.as_mut().and_then(|c| c.try_wait().ok().flatten());
        assert!(
            exited.is_none() && Instant::now() < deadline,
            "systemd-nspawn did not start systemd ({exited:?}); its output:\n{}",
            std::fs::read_to_string(console).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("container {} console:\n{}", self.name, self.console_log());
        }
        let leader = libc::pid_t::try_from(self.leader).expect("pid fits pid_t");
        // SAFETY: kill has no memory effects; the pid is this container's PID 1, whose death
        // ends every process of its PID namespace.
        unsafe { libc::kill(leader, libc::SIGKILL) };
        if let Some(mut nspawn) = self.nspawn.take() {
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(nspawn.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = nspawn.kill();
            let _ = nspawn.wait();
        }
        let _ = std::fs::remove_file(&self.console);
    }
}

/// A cgroup of the container's own in each hierarchy the test runs in (on this machine the
/// named `systemd` one and the unified one). With `--keep-unit` nspawn stays in the cgroup it
/// starts in and puts the container's systemd in `payload/` below it: two containers started
/// from one cgroup would share it, and each systemd would manage (and kill) the other's units.
/// Removed (deepest first) on drop, after the container's processes are gone.
struct Cgroups {
    dirs: Vec<PathBuf>,
}

impl Cgroups {
    fn create(name: &str) -> Cgroups {
        let own = std::fs::read_to_string("/proc/self/cgroup").expect("read /proc/self/cgroup");
        let dirs: Vec<PathBuf> = own
            .lines()
            .filter_map(|line| {
                let (_, rest) = line.split_once(':')?;
                let (hierarchy, path) = rest.split_once(':')?;
                let mount = match hierarchy {
                    "name=systemd" => PathBuf::from("/sys/fs/cgroup/systemd"),
                    "" if Path::new("/sys/fs/cgroup/unified").is_dir() => {
                        PathBuf::from("/sys/fs/cgroup/unified")
                    }
                    "" => PathBuf::from("/sys/fs/cgroup"),
                    _ => return None,
                };
                Some(mount.join(path.trim_start_matches('/')).join(name))
            })
            .collect();
        for dir in &dirs {
            std::fs::create_dir(dir).unwrap_or_else(|e| panic!("create cgroup {dir:?}: {e}"));
        }
        Cgroups { dirs }
    }

    /// Makes the spawned process join every one of these cgroups before it runs.
    fn enter_on_exec(&self, command: &mut Command) {
        let procs: Vec<std::ffi::CString> = self
            .dirs
            .iter()
            .map(|dir| {
                let path = dir.join("cgroup.procs");
                std::ffi::CString::new(path.into_os_string().into_encoded_bytes())
                    .expect("no NUL in a cgroup path")
            })
            .collect();
        let join = move || -> std::io::Result<()> {
            for file in &procs {
                // SAFETY: open/write/close on a NUL-terminated path prepared before fork: only
                // async-signal-safe calls between fork and exec.
                let written = unsafe {
                    let fd = libc::open(file.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                    let n = if fd >= 0 {
                        libc::write(fd, b"0".as_ptr().cast(), 1)
                    } else {
                        -1
                    };
                    if fd >= 0 {
                        libc::close(fd);
                    }
                    n
                };
                if written != 1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        };
        // SAFETY: the closure only makes async-signal-safe calls (see above).
        unsafe { std::os::unix::process::CommandExt::pre_exec(command, join) };
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for dir in &self.dirs {
            remove_cgroup_tree(dir);
        }
    }
}

/// Removes an empty cgroup and the ones below it (rmdir, deepest first).
fn remove_cgroup_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&entry.path());
            }
        }
    }
    // A cgroup stays busy for a moment after its last process has died.
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Err(e) = std::fs::remove_dir(dir) {
        if e.kind() == std::io::ErrorKind::NotFound {
            return;
        }
        if Instant::now() > deadline {
            eprintln!("warning: could not remove cgroup {}: {e}", dir.display());
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
