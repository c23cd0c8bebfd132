//! A cloud VM in a namespace for reconcile tests: veth links carrying a scenario's MACs, a
//! DHCP-style primary address and default route, the metadata emulator listening inside, and
//! guards for the temp dir and child processes it uses. Everything goes on drop.

use super::netns::{EnteredGuard, Netns};
use cloud_network::emulator::{self, Emulator, EmulatorConfig};
use cloud_network::metadata::http::{Http, HttpConfig};
use cloud_network::metadata::{new_provider, Instance, ProviderKind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A directory under the system temp dir, removed on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("cn-{tag}-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A child process killed and reaped on drop.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The shape of a VM: provider, the MACs of eth0, eth1, ..., and eth0's DHCP lease.
#[derive(Debug, Clone, Copy)]
pub struct Vm {
    pub provider: ProviderKind,
    pub macs: &'static [&'static str],
    /// eth0's address as DHCP gives it, with its prefix.
    pub primary: &'static str,
    pub gateway: &'static str,
    /// The gateway lies outside the primary's prefix (GCP /32): reach it by a host route first.
    pub gateway_host_route: bool,
}

/// The namespace, the thread inside it and the emulator. Fields drop in order: the emulator
/// stops, the thread goes back, the namespace goes, the temp dir goes.
pub struct Scene {
    pub emulator: Emulator,
    _entered: EnteredGuard,
    pub ns: Netns,
    pub dir: TempDir,
    pub vm: Vm,
}

impl Scene {
    /// Builds the VM and enters its namespace; `scenario` replaces the emulator's built-in one.
    pub fn new(prefix: &str, vm: Vm, scenario: Option<&str>) -> Scene {
        let ns = Netns::new(prefix);
        build_links(&ns, &vm);
        let entered = ns.enter();
        let mut config = EmulatorConfig::new(vm.provider);
        config.listen = "127.0.0.1:0".parse().expect("listen address");
        let emulator = emulator::start(config).expect("start the emulator");
        if let Some(text) = scenario {
            emulator.set_scenario_text(text).expect("scenario");
        }
        Scene {
            emulator,
            _entered: entered,
            ns,
            dir: TempDir::new(prefix),
            vm,
        }
    }

    /// The metadata as the daemon's provider fetches it from the emulator.
    pub fn fetch(&self) -> Instance {
        let base = self.emulator.base_url();
        let mut provider = new_provider(
            self.vm.provider,
            Some(&base),
            Http::new(HttpConfig::default()),
        );
        provider.fetch().expect("fetch the metadata")
    }

    /// Writes a config for the emulator and `state_dir`; returns its path.
    pub fn config(&self, state_dir: &Path) -> PathBuf {
        let path = self.dir.path().join(format!(
            "cloud-network-{}.toml",
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let text = format!(
            "[System]\nProvider = \"{}\"\nMetadataEndpoint = \"{}\"\nStateDir = \"{}\"\nLogLevel = \"warning\"\n",
            self.vm.provider,
            self.emulator.base_url(),
            state_dir.display()
        );
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// `cloud-network daemon --config CONFIG <mode>` inside the namespace.
    pub fn daemon(&self, config: &Path, mode: &str) -> Output {
        let config = config.to_str().expect("utf-8 path");
        self.ns.run(&[
            env!("CARGO_BIN_EXE_cloud-network"),
            "daemon",
            "--config",
            config,
            mode,
        ])
    }

    /// Starts `args` in the namespace with stdout piped.
    pub fn spawn(&self, args: &[&str]) -> ChildGuard {
        let child = Command::new("ip")
            .args(["netns", "exec", self.ns.name()])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn in namespace");
        ChildGuard(child)
    }
}

fn build_links(ns: &Netns, vm: &Vm) {
    ns.run_ok(&["ip", "link", "set", "lo", "up"]);
    for (i, mac) in vm.macs.iter().enumerate() {
        ns.veth(&format!("eth{i}"), &format!("p{i}"), Some(mac));
    }
    ns.dhcp_lease(vm.primary, vm.gateway, vm.gateway_host_route);
}

/// Panics unless `out` (of `what`) succeeded, with its status and both outputs.
pub fn assert_succeeded(out: &Output, what: &dyn std::fmt::Display) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs `command` to its end, asserting it succeeded (its output in the message if not).
pub fn run_ok(command: &mut Command) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert_succeeded(&out, &format_args!("{command:?}"));
    out
}

/// stdout of a finished process, asserting it succeeded.
pub fn stdout_ok(out: &Output) -> Vec<String> {
    assert_succeeded(out, &"the process");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}
