//! The release daemon in a lab VM for the footprint bench: a lab whose metadata service is an
//! in-process emulator (so its request log can be read), the daemon spawned straight into the
//! VM namespace with a `NOTIFY_SOCKET` the bench listens on, its `/proc` figures, and the
//! kernel side of "configured" (our own planner finds nothing left to do).

use crate::support::lab::{imds_address, in_netns, unique_name, Lab};
use crate::support::scene::{ChildGuard, TempDir};
use cloud_network::config::Config;
use cloud_network::daemon::setup::plan_settings;
use cloud_network::emulator::{self, Emulator, EmulatorConfig};
use cloud_network::kernel::{Change, Rule, TABLE_MAIN};
use cloud_network::metadata::{Instance, ProviderKind};
use cloud_network::netlink::monitor::Monitor;
use cloud_network::netlink::Netlink;
use cloud_network::plan::{plan_round, Owned};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Where the daemon's API listens inside the VM namespace.
pub const API: &str = "127.0.0.1:5209";

/// A lab with its emulator in this process. Fields drop in order: emulator, lab, files.
pub struct BenchLab {
    pub emulator: Emulator,
    pub lab: Lab,
    pub dir: TempDir,
}

impl BenchLab {
    /// A lab for `scenario` (text in the emulator's format) with an in-process emulator on
    /// the provider's metadata address, port 80, in its cloud namespace (EC2 and Alibaba: session
    /// tokens required).
    pub fn up(provider: ProviderKind, scenario: &str) -> BenchLab {
        let dir = TempDir::new("fp");
        let path = dir.path().join("scenario.json");
        std::fs::write(&path, scenario).expect("write the scenario");
        let binary = Path::new(env!("CARGO_BIN_EXE_cloud-network"));
        let mut lab = Lab::up(&unique_name("fp"), provider, &path, binary);
        lab.stop_emulator();
        let config = EmulatorConfig {
            provider,
            scenario: Some(path),
            listen: (imds_address(provider), 80).into(),
            fault: emulator::Fault::None,
            require_token: matches!(provider, ProviderKind::Aws | ProviderKind::Alibaba),
        };
        let emulator = in_netns(lab.cloud.name(), || emulator::start(config))
            .expect("start the emulator in the cloud namespace");
        BenchLab { emulator, lab, dir }
    }

    /// Starts the release daemon in the VM; `extra` goes into `[System]`.
    pub fn daemon(&self, extra: &str) -> RunningDaemon {
        let binary = Path::new(env!("CARGO_BIN_EXE_cloud-network"));
        RunningDaemon::start(self, &[], binary, extra, None)
    }

    /// Starts `binary` (a build of the daemon) in the VM.
    pub fn daemon_binary(&self, binary: &Path, extra: &str) -> RunningDaemon {
        RunningDaemon::start(self, &[], binary, extra, None)
    }

    /// Starts `binary` in the VM under `launcher` (a program and its arguments, e.g.
    /// valgrind's; none: the binary itself), with `passwd` bind-mounted over `/etc/passwd` in
    /// a private mount namespace when given.
    pub fn daemon_under(
        &self,
        launcher: &[String],
        binary: &Path,
        extra: &str,
        passwd: Option<&Path>,
    ) -> RunningDaemon {
        RunningDaemon::start(self, launcher, binary, extra, passwd)
    }

    /// True when the kernel of the VM holds everything the lab's metadata asks for.
    pub fn configured(&self, netlink: &mut Netlink) -> bool {
        configured(netlink, &self.lab.instance, Completion::Whole)
    }

    /// A netlink socket opened inside the VM namespace.
    pub fn vm_netlink(&self) -> Netlink {
        in_netns(self.lab.vm.name(), Netlink::open).expect("netlink in the VM")
    }

    /// Waits until the VM is configured: checked at once, then after each batch of kernel
    /// events in the VM. A subscription, not a poll: the bench neither competes for the CPUs
    /// nor dumps the kernel's tables while the daemon works, and the time is that of the
    /// events that completed the configuration, not of the next look. The time from `since`,
    /// or None after `limit`.
    pub fn wait_configured(&self, since: Instant, limit: Duration) -> Option<Duration> {
        self.wait_completed(since, limit, Completion::Whole)
    }

    /// [`Self::wait_configured`], for what `completion` counts as configured.
    pub fn wait_completed(
        &self,
        since: Instant,
        limit: Duration,
        completion: Completion,
    ) -> Option<Duration> {
        let mut events = in_netns(self.lab.vm.name(), Monitor::open).expect("events in the VM");
        let mut netlink = self.vm_netlink();
        let mut arrived = since.elapsed();
        loop {
            if configured(&mut netlink, &self.lab.instance, completion) {
                return Some(arrived);
            }
            let left = limit.checked_sub(since.elapsed())?;
            events
                .next_batch(left)
                .expect("read the VM's kernel events");
            arrived = since.elapsed();
        }
    }
}

/// What counts as a configured VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// Everything this build configures.
    Whole,
    /// Everything but the main rule and the interface group (issue 22's additions): what
    /// builds from before them configure too, so that a start can be timed against theirs.
    WithoutMainRule,
}

/// Nothing left to add for `instance`: the daemon's planner (default settings) plans no change
/// (with `Completion::WithoutMainRule`, none but the main rule and the interface group).
pub fn configured(netlink: &mut Netlink, instance: &Instance, completion: Completion) -> bool {
    let Ok(kernel) = netlink.state() else {
        return false;
    };
    let settings = plan_settings(&Config::default());
    let planned = plan_round(instance, &kernel, &Owned::default(), &settings);
    planned.changes.iter().all(|planned| match completion {
        Completion::Whole => false,
        Completion::WithoutMainRule => matches!(
            &planned.change,
            Change::SetGroup { .. }
                | Change::AddRule(Rule {
                    table: TABLE_MAIN,
                    ..
                })
        ),
    })
}

/// Makes `command` run in a private mount namespace (nothing propagates back) where `passwd`
/// is bind-mounted over `/etc/passwd`.
fn own_passwd(command: &mut Command, passwd: &Path) {
    let source = CString::new(passwd.as_os_str().as_bytes()).expect("no NUL in the path");
    let hook = move || {
        // SAFETY: plain system calls with valid NUL-terminated paths, in the forked child
        // before exec (async-signal-safe: no allocation).
        let failed = unsafe {
            libc::unshare(libc::CLONE_NEWNS) != 0
                || libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) != 0
                || libc::mount(
                    source.as_ptr(),
                    c"/etc/passwd".as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ) != 0
        };
        if failed {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    // SAFETY: the hook only makes system calls (see above).
    unsafe { command.pre_exec(hook) };
}

/// The daemon process, killed on drop, and the socket its `READY=1` arrives on.
pub struct RunningDaemon {
    child: ChildGuard,
    pub pid: u32,
    pub started: Instant,
    notify: UnixDatagram,
    log: PathBuf,
}

impl RunningDaemon {
    fn start(
        lab: &BenchLab,
        launcher: &[String],
        binary: &Path,
        extra: &str,
        passwd: Option<&Path>,
    ) -> RunningDaemon {
        let dir = lab.dir.path();
        let state = dir.join("state");
        let config = dir.join("cloud-network.toml");
        let text = format!(
            "[System]\nProvider = \"{}\"\nMetadataEndpoint = \"http://{}\"\n\
             StateDir = \"{}\"\nLogLevel = \"info\"\n{extra}\n[Network]\nListen = \"{API}\"\n",
            lab.lab.provider,
            imds_address(lab.lab.provider),
            state.display()
        );
        std::fs::write(&config, text).expect("write the daemon config");
        let socket_path = dir.join("notify");
        let _ = std::fs::remove_file(&socket_path);
        let notify = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
        // The daemon may switch to the `cloud-network` user before it notifies.
        let writable = std::fs::Permissions::from_mode(0o666);
        std::fs::set_permissions(&socket_path, writable).expect("chmod the notify socket");
        let log = dir.join("daemon.log");
        let stderr = std::fs::File::create(&log).expect("create the daemon log");
        let mut command = match launcher.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        command
            .args(["daemon", "--config"])
            .arg(&config)
            .env("NOTIFY_SOCKET", &socket_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        if let Some(passwd) = passwd {
            own_passwd(&mut command, passwd);
        }
        let (child, started) = in_netns(lab.lab.vm.name(), move || {
            let started = Instant::now();
            (command.spawn().expect("spawn the daemon"), started)
        });
        RunningDaemon {
            pid: child.id(),
            child: ChildGuard(child),
            started,
            notify,
            log,
        }
    }

    /// Time from spawning to the `READY=1` datagram, or None after `limit`.
    pub fn wait_ready(&self, limit: Duration) -> Option<Duration> {
        self.notify
            .set_read_timeout(Some(limit))
            .expect("notify socket timeout");
        let mut buf = [0u8; 512];
        loop {
            let n = self.notify.recv(&mut buf).ok()?;
            if buf[..n].split(|b| *b == b'\n').any(|l| l == b"READY=1") {
                return Some(self.started.elapsed());
            }
        }
    }

    /// Sends SIGTERM: the time until the process is gone, and its exit status. Past 10 s the
    /// daemon ignored SIGTERM, and the bench stops there.
    pub fn terminate(&mut self) -> (Duration, ExitStatus) {
        self.terminate_within(Duration::from_secs(10))
    }

    /// [`Self::terminate`] with another limit (a daemon under valgrind stops slowly).
    pub fn terminate_within(&mut self, limit: Duration) -> (Duration, ExitStatus) {
        let pid = libc::pid_t::try_from(self.pid).expect("pid fits pid_t");
        let sent = Instant::now();
        // SAFETY: signals our own child, which has not been reaped yet.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "kill -TERM");
        loop {
            if let Some(status) = self.child.0.try_wait().expect("wait for the daemon") {
                return (sent.elapsed(), status);
            }
            assert!(
                sent.elapsed() < limit,
                "the daemon ignored SIGTERM; its log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// What the daemon logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A numeric field of `/proc/PID/status` (`VmHWM` in KiB, `Threads`).
    pub fn proc_status(&mut self, field: &str) -> u64 {
        assert!(
            matches!(self.child.0.try_wait(), Ok(None)),
            "the daemon died; its log:\n{}",
            self.log_text()
        );
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .expect("read /proc/PID/status");
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/{}/status", self.pid))
    }

    /// CPU time of all the daemon's threads so far (`/proc/PID/task/*/schedstat`, in ns).
    pub fn cpu_time(&self) -> Duration {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.pid)).expect("task dir");
        let nanos: u64 = tasks
            .flatten()
            .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum();
        Duration::from_nanos(nanos)
    }
}
