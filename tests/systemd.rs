//! The package as operators install it: the .deb (cargo-deb, release binary) installed with
//! dpkg in a Debian bookworm container whose PID 1 is a real systemd, started with
//! `systemctl start cloud-network` exactly as packaged, on a small cloud built inside the
//! container's private network (veth NICs with the scenario's MACs, the emulator from the
//! package on the provider's metadata address in a namespace of the container, EC2 with
//! IMDSv2 required). It proves the unit's sandbox lets the daemon do its work (READY=1,
//! STATUS=, the kernel state, cnctl, uid, capabilities, no_new_privs, seccomp, a journal free
//! of warnings, reload, stop, restart without writes, the watchdog fed), that it coexists with
//! systemd-networkd as Debian runs it, and that remove and purge leave what Debian policy
//! says. Every container and everything made inside it goes when the test ends, also on
//! failure. Needs root, systemd-nspawn, debootstrap and cargo-deb: `.ci/run` installs them
//! and runs these tests; by hand, see tests/systemd/README.md.

mod support;

use cloud_network::metadata::{Instance, Ipv4Net, ProviderKind};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use support::container::{self, Container};
use support::lab::{gateway_of, imds_address, instance_of};
use support::monitor::IpMonitor;
use support::scene::ChildGuard;
use support::view::{from_ip, View};

const TOP: &str = env!("CARGO_MANIFEST_DIR");
const AZURE: &str = include_str!("../src/emulator/scenarios/azure.json");
const AWS: &str = include_str!("../src/emulator/scenarios/aws.json");
const UNIT: &str = "cloud-network";
const CONFIG: &str = "/etc/cloud-network/cloud-network.toml";
const NETWORKD_DROP_IN: &str = "/usr/lib/systemd/networkd.conf.d/cloud-network.conf";
/// Where the package is bound into the container.
const DEB_DIR: &str = "/mnt/cloud-network";
const SCENARIO: &str = "/root/scenario.json";
const CLOUD_NS: &str = "cloud";
const MARKER_LINK: &str = "cnmark0";
/// The defaults of the packaged config.
const TABLE_BASE: u32 = 10000;
const PRIORITY_BASE: u32 = 3000;
/// CAP_NET_ADMIN (12) as /proc/<pid>/status prints a capability set.
const NET_ADMIN_ONLY: &str = "0000000000001000";
const NO_CAPS: &str = "0000000000000000";
const CONFIGURE_LIMIT: Duration = Duration::from_secs(15);
/// How long networkd may take to configure eth0 (generous: a loaded CI machine).
const NETWORKD_LIMIT: Duration = Duration::from_secs(30);
/// How long networkd's deletions of our rules, routes or addresses may last.
const RESTORE_LIMIT: Duration = Duration::from_secs(1);
/// The watchdog interval the test sets to see it fed without waiting 2 × 30 s.
const SHORT_WATCHDOG_SECS: u64 = 2;

#[test]
#[ignore = "boots a Debian container (root, systemd-nspawn, debootstrap, cargo-deb): .ci/run runs it, or cargo test --test systemd -- --ignored"]
fn azure_package_under_systemd() {
    package_under_systemd(ProviderKind::Azure, AZURE);
}

#[test]
#[ignore = "boots a Debian container (root, systemd-nspawn, debootstrap, cargo-deb): .ci/run runs it, or cargo test --test systemd -- --ignored"]
fn aws_imdsv2_package_under_systemd() {
    package_under_systemd(ProviderKind::Aws, AWS);
}

fn package_under_systemd(provider: ProviderKind, scenario: &str) {
    container::require_tools();
    let mut clock = Phases::new(provider);
    let deb = built_deb();
    clock.done("cargo deb");
    let rootfs = container::rootfs();
    clock.done("root file system");
    let deb_dir = deb.parent().expect("the .deb's directory");
    let mut vm = Vm::boot(provider, scenario, &rootfs, deb_dir);
    clock.done("boot and cloud");
    vm.install(&deb);
    vm.start_emulator();
    vm.starts_as_packaged();
    vm.reload_rereads_the_config();
    vm.stop_leaves_the_configuration();
    vm.restart_writes_nothing();
    clock.done("install, start, reload, stop, restart");
    vm.watchdog_is_fed();
    clock.done("watchdog");
    vm.coexists_with_networkd();
    clock.done("networkd");
    vm.remove_and_purge();
    clock.done("remove and purge");
}

/// How long each phase took, on stderr (`--nocapture`), for the CI budget.
struct Phases {
    provider: ProviderKind,
    since: Instant,
}

impl Phases {
    fn new(provider: ProviderKind) -> Phases {
        Phases {
            provider,
            since: Instant::now(),
        }
    }

    fn done(&mut self, phase: &str) {
        eprintln!("{}: {phase}: {:.1?}", self.provider, self.since.elapsed());
        self.since = Instant::now();
    }
}

/// The .deb, built once per run with `cargo deb` (which builds the release binary first).
fn built_deb() -> PathBuf {
    static DEB: OnceLock<PathBuf> = OnceLock::new();
    DEB.get_or_init(|| container::built_deb(&Path::new(TOP).join("target/systemd-test")))
        .clone()
}

/// The VM: a booted container with the scenario's NICs, its cloud, and the emulator.
struct Vm {
    provider: ProviderKind,
    instance: Instance,
    emulator: Option<ChildGuard>,
    container: Container,
}

impl Vm {
    fn boot(provider: ProviderKind, scenario: &str, rootfs: &Path, deb_dir: &Path) -> Vm {
        let tag = if provider == ProviderKind::Aws {
            "a"
        } else {
            "z"
        };
        let container = Container::boot(tag, rootfs, &[(deb_dir, DEB_DIR)]);
        container.write(SCENARIO, scenario);
        let vm = Vm {
            provider,
            instance: instance_of(provider, scenario),
            emulator: None,
            container,
        };
        vm.build_cloud();
        vm
    }

    fn c(&self) -> &Container {
        &self.container
    }

    fn ip(&self, args: &[&str]) {
        self.c().run(&[&["ip"], args].concat());
    }

    fn cloud(&self, args: &[&str]) {
        self.c()
            .run(&[&["ip", "netns", "exec", CLOUD_NS], args].concat());
    }

    /// The cloud namespace inside the container (the metadata address on its `lo`, a routed
    /// port per NIC answering ARP for its gateway), eth0 managed by networkd with the primary
    /// address as a DHCP client would get it, eth1… bare, and a marker link for the monitor.
    fn build_cloud(&self) {
        let primary = &self.instance.nics[0];
        let address = primary.ipv4[0];
        self.c().write(
            "/etc/systemd/network/10-eth0.network",
            &format!(
                "[Match]\nName=eth0\n\n[Network]\nAddress={address}\n\n\
                 [Route]\nGateway={}\nGatewayOnLink=yes\n",
                gateway_of(primary)
            ),
        );
        self.ip(&["netns", "add", CLOUD_NS]);
        self.cloud(&["ip", "link", "set", "lo", "up"]);
        let imds = format!("{}/32", imds_address(self.provider));
        self.cloud(&["ip", "address", "add", &imds, "dev", "lo"]);
        for (position, nic) in self.instance.nics.iter().enumerate() {
            let (link, port) = (format!("eth{position}"), format!("vp{position}"));
            let mac = nic.mac.to_string();
            self.ip(&[
                "link", "add", "name", &link, "address", &mac, "type", "veth", "peer", "name",
                &port, "netns", CLOUD_NS,
            ]);
            self.cloud(&["ip", "link", "set", &port, "up"]);
            let gateway = format!("{}/32", gateway_of(nic));
            self.cloud(&["ip", "address", "add", &gateway, "dev", &port]);
            for own in &nic.ipv4 {
                let host = Ipv4Net::host(own.addr).to_string();
                self.cloud(&["ip", "route", "replace", &host, "dev", &port]);
            }
        }
        self.ip(&[
            "link",
            "add",
            MARKER_LINK,
            "type",
            "veth",
            "peer",
            "name",
            "cnmark1",
        ]);
        self.ip(&["link", "set", MARKER_LINK, "up"]);
        self.c().run(&["networkctl", "reload"]);
        self.wait_eth0_configured();
    }

    fn wait_eth0_configured(&self) {
        let deadline = Instant::now() + NETWORKD_LIMIT;
        loop {
            let list = self.c().run(&["networkctl", "list", "--no-legend", "eth0"]);
            if list.split_whitespace().last() == Some("configured") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "networkd did not configure eth0: {list}\n{}\njournal:\n{}",
                self.c()
                    .run(&["networkctl", "status", "--no-pager", "eth0"]),
                self.c()
                    .run(&["journalctl", "--no-pager", "-q", "-u", "systemd-networkd"])
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `dpkg -i`, then the provider in the packaged config (detection reads DMI, which here
    /// is the host's).
    fn install(&self, deb: &Path) {
        let file = deb.file_name().expect("a file name").to_string_lossy();
        self.c().run(&["dpkg", "-i", &format!("{DEB_DIR}/{file}")]);
        assert_eq!(self.state(), "inactive", "dpkg -i started the unit");
        self.set_config(&format!("[System]\nProvider=\"{}\"\n", self.provider));
    }

    fn set_config(&self, text: &str) {
        self.c().write(CONFIG, text);
    }

    /// The packaged binary's emulator in the cloud namespace; EC2 requires IMDSv2 tokens.
    fn start_emulator(&mut self) {
        let listen = format!("{}:80", imds_address(self.provider));
        let provider = self.provider.to_string();
        let mut args = vec!["ip", "netns", "exec", CLOUD_NS, "/usr/bin/cloud-network"];
        args.extend(["emulate", "--provider", &provider, "--listen", &listen]);
        args.extend(["--scenario", SCENARIO]);
        if self.provider == ProviderKind::Aws {
            args.push("--require-token");
        }
        let child: Child = self.c().spawn(&args);
        self.emulator = Some(ChildGuard(child));
        let probe = format!("http://{listen}/");
        let deadline = Instant::now() + CONFIGURE_LIMIT;
        while !self
            .c()
            .exec(&[
                "ip",
                "netns",
                "exec",
                CLOUD_NS,
                "bash",
                "-c",
                &tcp_probe(&listen),
            ])
            .status
            .success()
        {
            assert!(
                Instant::now() < deadline,
                "the emulator at {probe} did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn show(&self, property: &str) -> String {
        let value = self
            .c()
            .run(&["systemctl", "show", UNIT, "--value", "-p", property]);
        value.trim().to_string()
    }

    fn state(&self) -> String {
        format!("{} ({})", self.show("ActiveState"), self.show("SubState"))
            .replace("inactive (dead)", "inactive")
    }

    fn systemctl(&self, verb: &str) {
        let out = self.c().exec(&["systemctl", verb, UNIT]);
        assert!(
            out.status.success(),
            "systemctl {verb} {UNIT} failed: {}\njournal:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.journal("debug")
        );
    }

    /// The unit's journal lines at `priority` or more severe (systemd's own about the unit
    /// included), each with its priority.
    fn journal(&self, priority: &str) -> String {
        self.c().run(&[
            "journalctl",
            "--no-pager",
            "--quiet",
            "-o",
            "with-unit",
            "-u",
            UNIT,
            "-p",
            priority,
        ])
    }

    fn main_pid(&self) -> u32 {
        self.show("MainPID").parse().expect("MainPID is a number")
    }

    /// A fresh `ip monitor` of the container (the last one's marker addresses removed).
    fn monitor(&self) -> IpMonitor {
        self.ip(&["address", "flush", "dev", MARKER_LINK]);
        IpMonitor::start(&self.c().net, MARKER_LINK)
    }

    fn view(&self) -> View {
        from_ip(&self.c().net)
    }

    /// The routing table and rule priority of the NIC at `position` (its device index).
    fn table_of(&self, position: usize) -> (u32, u32) {
        let index = self.instance.nics[position].index;
        (TABLE_BASE + index, PRIORITY_BASE + index)
    }

    /// What the daemon configures for the secondary NIC as `view` lines: each address, its
    /// rule, and its table's default route.
    fn secondary_nic_lines(&self) -> (Vec<String>, Vec<String>, String) {
        let nic = &self.instance.nics[1];
        let (table, priority) = self.table_of(1);
        let addresses = nic.ipv4.iter().map(|a| format!("eth1 {a} ")).collect();
        let rules = nic
            .ipv4
            .iter()
            .map(|a| format!("{priority} from {} lookup {table}", a.addr))
            .collect();
        let default = format!("{table} default via {} dev eth1", gateway_of(nic));
        (addresses, rules, default)
    }

    fn wait_configured(&self) -> View {
        let deadline = Instant::now() + CONFIGURE_LIMIT;
        loop {
            let view = self.view();
            if self.secondary_nic_missing(&view).is_empty() {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "eth1 not configured: missing {:?} in {view:#?}\njournal:\n{}",
                self.secondary_nic_missing(&view),
                self.journal("debug")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn secondary_nic_missing(&self, view: &View) -> Vec<String> {
        let (addresses, rules, default) = self.secondary_nic_lines();
        let has = |lines: &[String], prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
        let mut missing: Vec<String> = addresses
            .into_iter()
            .filter(|a| !has(&view.addresses, a))
            .collect();
        missing.extend(rules.into_iter().filter(|r| !view.rules.contains(r)));
        if !has(&view.tables, &default) {
            missing.push(default);
        }
        missing
    }

    /// Build step 3: active (running) after READY=1 with a STATUS= line, the secondary NIC
    /// configured, cnctl answering, the process as the unit confines it, no warnings.
    fn starts_as_packaged(&self) {
        let packaged =
            std::fs::read_to_string(Path::new(TOP).join("packaging/cloud-network.service"))
                .expect("read packaging/cloud-network.service");
        let installed = self.c().run(&["cat", &self.show("FragmentPath")]);
        assert_eq!(
            installed, packaged,
            "the installed unit is not the packaged one"
        );
        assert_eq!(self.show("DropInPaths"), "", "a drop-in changes the unit");
        self.systemctl("start");
        assert_eq!(self.state(), "active (running)");
        let status = self.show("StatusText");
        assert!(!status.is_empty(), "no STATUS= line reached systemd");
        self.wait_configured();
        self.cnctl_answers();
        self.confined(self.main_pid());
        let warnings = self.journal("warning");
        assert_eq!(warnings, "", "the journal has warnings or worse");
    }

    /// cnctl shows the secondary NIC. The network view comes from the metadata views, which
    /// the daemon fetches after the NICs (on EC2 a walk of the whole tree), so until they are
    /// in, cnctl answers "no metadata yet" and is asked again.
    fn cnctl_answers(&self) {
        let nic = &self.instance.nics[1];
        let network = self.cnctl_once_views_are_in(&["cnctl", "status", "network"]);
        let address = nic.ipv4[0].addr.to_string();
        assert!(
            network.contains(&address),
            "cnctl status network does not show {address}:\n{network}"
        );
        let links = self.c().run(&["cnctl", "status", "links"]);
        assert!(
            links.contains("eth1") && links.contains(&nic.mac.to_string()),
            "cnctl status links does not show eth1 with its MAC:\n{links}"
        );
    }

    fn cnctl_once_views_are_in(&self, args: &[&str]) -> String {
        let deadline = Instant::now() + CONFIGURE_LIMIT;
        loop {
            let out = self.c().exec(args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            assert!(
                stderr.contains("no metadata yet") && Instant::now() < deadline,
                "{args:?} in the container failed ({}):\n{stderr}\njournal:\n{}",
                out.status,
                self.journal("debug")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every thread of `pid` runs as the service user with no capability but CAP_NET_ADMIN in
    /// any set (the bounding set exactly that, nothing inheritable or ambient), no_new_privs
    /// and a seccomp filter; the `api` and `metadata` threads hold none at all; the
    /// `reconcile` thread, the one writer to the kernel, has CAP_NET_ADMIN effective.
    fn confined(&self, pid: u32) {
        let uid = self.c().run(&["id", "-u", "cloud-network"]);
        let all_uid = [uid.trim(); 4].join(" ");
        let threads = self.c().run(&["ls", &format!("/proc/{pid}/task")]);
        let mut writer_caps = None;
        for task in threads.split_whitespace() {
            let path = format!("/proc/{pid}/task/{task}/status");
            let status = self.c().run(&["cat", &path]);
            let field = |name: &str| -> String {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(&format!("{name}:")))
                    .unwrap_or_else(|| panic!("no {name} in {path}"))
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let thread = format!("thread {task} ({}) of {pid}", field("Name"));
            for (name, value) in [
                ("Uid", all_uid.as_str()),
                ("CapBnd", NET_ADMIN_ONLY),
                ("NoNewPrivs", "1"),
                ("Seccomp", "2"),
            ] {
                assert_eq!(field(name), value, "{name} of {thread}");
            }
            for set in ["CapInh", "CapAmb"] {
                assert_eq!(field(set), NO_CAPS, "{set} of {thread}");
            }
            // The threads that parse HTTP dropped CAP_NET_ADMIN too (capset under the filter).
            let parses_http = matches!(field("Name").as_str(), "api" | "metadata");
            for set in ["CapPrm", "CapEff"] {
                let caps = field(set);
                let allowed = caps == NO_CAPS || (caps == NET_ADMIN_ONLY && !parses_http);
                assert!(allowed, "{set} of {thread} is {caps}");
            }
            if field("Name") == "reconcile" {
                writer_caps = Some(field("CapEff"));
            }
        }
        assert_eq!(
            writer_caps.as_deref(),
            Some(NET_ADMIN_ONLY),
            "the reconcile thread's effective capabilities"
        );
    }

    /// `systemctl reload` (SIGHUP) re-reads the config: eth0 listed in Supplementary= gets
    /// its own table and rule.
    fn reload_rereads_the_config(&self) {
        let (table, priority) = self.table_of(0);
        let primary = self.instance.nics[0].ipv4[0].addr;
        let rule = format!("{priority} from {primary} lookup {table}");
        assert!(!self.view().rules.contains(&rule), "{rule} before reload");
        let pid = self.main_pid();
        self.set_config(&format!(
            "[System]\nProvider=\"{}\"\n\n[Network]\nSupplementary=\"eth0\"\n",
            self.provider
        ));
        self.systemctl("reload");
        let deadline = Instant::now() + CONFIGURE_LIMIT;
        while !self.view().rules.contains(&rule) {
            assert!(
                Instant::now() < deadline,
                "{rule} not added after reload: {:#?}\njournal:\n{}",
                self.view().rules,
                self.journal("debug")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(self.main_pid(), pid, "reload restarted the daemon");
        assert_eq!(self.journal("warning"), "", "warnings after reload");
    }

    /// `systemctl stop`: a clean exit (status 0) and the configuration left in place.
    fn stop_leaves_the_configuration(&self) {
        let before = self.view();
        self.systemctl("stop");
        assert_eq!(self.state(), "inactive");
        assert_eq!(self.show("Result"), "success");
        assert_eq!(self.show("ExecMainStatus"), "0");
        assert_eq!(self.view(), before, "stop changed the configuration");
    }

    /// `systemctl start` on the configuration it left, then `systemctl restart`: no address,
    /// route, rule or link event at all.
    fn restart_writes_nothing(&self) {
        let mut monitor = self.monitor();
        self.systemctl("start");
        self.wait_round_done();
        self.systemctl("restart");
        self.wait_round_done();
        let events = monitor.events_since_last_marker(&self.c().net);
        assert_eq!(events, Vec::<String>::new(), "start or restart wrote");
        self.confined(self.main_pid());
    }

    /// READY=1 comes after the first reconcile attempt; the STATUS= line says its outcome.
    fn wait_round_done(&self) {
        assert_eq!(self.state(), "active (running)");
        assert!(!self.show("StatusText").is_empty());
    }

    /// WatchdogUSec as packaged (30 s); then, with a 2 s watchdog (a drop-in that tightens
    /// only), the same process still running after twice that.
    fn watchdog_is_fed(&self) {
        assert_eq!(self.show("WatchdogUSec"), "30s");
        let drop_in = "/etc/systemd/system/cloud-network.service.d/watchdog.conf";
        self.c().write(
            drop_in,
            &format!("[Service]\nWatchdogSec={SHORT_WATCHDOG_SECS}s\n"),
        );
        self.c().run(&["systemctl", "daemon-reload"]);
        self.systemctl("restart");
        assert_eq!(self.show("WatchdogUSec"), format!("{SHORT_WATCHDOG_SECS}s"));
        let pid = self.main_pid();
        let restarts = self.show("NRestarts");
        std::thread::sleep(Duration::from_secs(2 * SHORT_WATCHDOG_SECS + 1));
        assert_eq!(self.state(), "active (running)");
        assert_eq!(self.main_pid(), pid, "the watchdog killed the daemon");
        assert_eq!(self.show("NRestarts"), restarts);
        self.c().run(&["rm", drop_in]);
        self.c().run(&["systemctl", "daemon-reload"]);
        self.systemctl("restart");
        assert_eq!(self.show("WatchdogUSec"), "30s");
        assert_eq!(self.journal("warning"), "", "warnings around the watchdog");
    }

    /// Build step 4. networkd manages eth0; with the packaged drop-in (read when networkd
    /// starts) `networkctl reconfigure eth0` and `networkctl reload` delete nothing of ours;
    /// without it, what networkd deletes is back within a second.
    fn coexists_with_networkd(&self) {
        self.c().run(&["systemctl", "restart", "systemd-networkd"]);
        self.wait_eth0_configured();
        let ours = self.wait_configured();
        let mut monitor = self.monitor();
        self.c().run(&["networkctl", "reconfigure", "eth0"]);
        self.wait_eth0_configured();
        self.c().run(&["networkctl", "reload"]);
        self.wait_eth0_configured();
        let events = monitor.events_since_last_marker(&self.c().net);
        let deleted = deleted_of_ours(&events, &ours);
        assert_eq!(deleted, Vec::<String>::new(), "networkd deleted ours");
        // eth0's DHCP address renewed under reconfigure can take routes with it in the kernel
        // (no event names ours deleted): the daemon puts them back.
        self.wait_restored(&ours, "networkctl reload");

        self.c().run(&["rm", NETWORKD_DROP_IN]);
        let mut deleted = Vec::new();
        for action in [
            &["systemctl", "restart", "systemd-networkd"][..],
            &["networkctl", "reconfigure", "eth0"],
        ] {
            self.c().run(action);
            self.wait_restored(&ours, &action.join(" "));
            self.wait_eth0_configured();
            let events = monitor.events_since_last_marker(&self.c().net);
            deleted.extend(deleted_of_ours(&events, &ours));
        }
        assert!(
            !deleted.is_empty(),
            "without the drop-in networkd deleted nothing of ours: the check with it proves nothing"
        );
        eprintln!(
            "{}: without the drop-in networkd deleted {} of ours, all back within {RESTORE_LIMIT:?}",
            self.provider,
            deleted.len()
        );
        assert_eq!(self.state(), "active (running)");
        assert_eq!(
            self.journal("warning"),
            "",
            "warnings while networkd deleted ours"
        );
    }

    /// Waits until the kernel holds exactly `ours` again after `action`.
    fn wait_restored(&self, ours: &View, action: &str) {
        let done = Instant::now();
        while self.view() != *ours {
            assert!(
                done.elapsed() < RESTORE_LIMIT,
                "not restored within {RESTORE_LIMIT:?} of `{action}`: {:#?} instead of {ours:#?}",
                self.view()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Build step 5. remove: the daemon stopped, binary and unit gone, the conffile and the
    /// system user kept (Debian policy keeps both); purge: the config, the state directory and
    /// the enablement gone, no file left that the user owns, the user still there.
    fn remove_and_purge(&self) {
        self.c()
            .run(&["apt-get", "remove", "-y", "-q", "cloud-network"]);
        assert_eq!(self.state(), "inactive");
        for gone in ["/usr/bin/cloud-network", "/usr/bin/cnctl"] {
            assert!(!self.exists(gone), "{gone} after remove");
        }
        assert!(!self.unit_file_exists(), "the unit after remove");
        assert!(self.exists(CONFIG), "remove deleted the conffile");
        self.c().run(&["id", "cloud-network"]);

        self.c()
            .run(&["apt-get", "purge", "-y", "-q", "cloud-network"]);
        let status = self.c().exec(&["dpkg-query", "-W", "cloud-network"]);
        assert!(!status.status.success(), "dpkg still knows the package");
        let left = self.c().sh(
            "find / /run -xdev \\( -path /proc -o -path /sys -o -path /mnt \\) -prune -o \
             \\( -name '*cloud-network*' -o -user cloud-network -o -group cloud-network \\) \
             -print | sort -u",
        );
        assert_eq!(left, "", "purge left these behind");
        self.c().run(&["id", "cloud-network"]);
    }

    fn exists(&self, inside: &str) -> bool {
        self.c().exec(&["test", "-e", inside]).status.success()
    }

    fn unit_file_exists(&self) -> bool {
        ["/lib/systemd/system", "/usr/lib/systemd/system"]
            .iter()
            .any(|dir| self.exists(&format!("{dir}/cloud-network.service")))
    }
}

/// `bash -c` text that connects to `listen` (host:port) once: exit status 0 when it accepts.
fn tcp_probe(listen: &str) -> String {
    let (host, port) = listen.rsplit_once(':').expect("host:port");
    format!("exec 3<>/dev/tcp/{host}/{port}")
}

/// `ip monitor` deletions of an address, route or rule in `ours` (the daemon's, as a view).
fn deleted_of_ours(events: &[String], ours: &View) -> Vec<String> {
    let our_tables: Vec<String> = ours
        .tables
        .iter()
        .filter_map(|l| l.split_whitespace().next())
        .map(|t| format!("table {t}"))
        .collect();
    let our_rules: Vec<String> = ours
        .rules
        .iter()
        .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest.to_string()))
        .filter(|rest| rest.contains("lookup 1"))
        .collect();
    events
        .iter()
        .filter(|e| e.starts_with("Deleted"))
        .filter(|e| {
            our_tables.iter().any(|t| e.contains(t.as_str()))
                || our_rules.iter().any(|r| e.contains(r.as_str()))
                || e.contains("dev eth1") && e.contains("inet ")
                || e.contains(": eth1 ") && e.contains("inet ")
        })
        .cloned()
        .collect()
}
