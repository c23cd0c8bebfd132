//! The package beside NetworkManager, as on RHEL: the .deb installed with dpkg in a Debian
//! bookworm container booted with systemd-nspawn whose NICs NetworkManager 1.42 manages (eth0
//! with the primary address, eth1 by DHCP from dnsmasq on the cloud side of the container's
//! private network, renewing every few seconds), with the daemon started as packaged. Over one
//! minute NetworkManager renews eth1's lease several times and `nmcli device reapply eth1`
//! runs once: the daemon's addresses, rules and table on eth1 are never missing for more than
//! a second, and the kernel events of that minute are a bounded few, not an add/remove loop.
//! Everything runs inside the container and goes with it, also on failure. Needs root,
//! systemd-nspawn, debootstrap and cargo-deb: `.ci/run` installs them and runs it; by hand,
//! see tests/systemd/README.md.

mod support;

use cloud_network::metadata::{Instance, Ipv4Net, Nic, ProviderKind};
use std::path::Path;
use std::time::{Duration, Instant};
use support::container::{self, Container, BOOKWORM_NM};
use support::lab::{gateway_of, imds_address, instance_of, subnet_of};
use support::monitor::IpMonitor;
use support::scene::ChildGuard;
use support::view::{from_ip, View};

const TOP: &str = env!("CARGO_MANIFEST_DIR");
const AZURE: &str = include_str!("../src/emulator/scenarios/azure.json");
const PROVIDER: ProviderKind = ProviderKind::Azure;
const CONFIG: &str = "/etc/cloud-network/cloud-network.toml";
const DEB_DIR: &str = "/mnt/cloud-network";
const SCENARIO: &str = "/root/scenario.json";
const CLOUD_NS: &str = "cloud";
const MARKER_LINK: &str = "cnmark0";
const DHCP_LOG: &str = "/run/cloud-dhcp.log";
/// The defaults of the packaged config.
const TABLE_BASE: u32 = 10000;
const PRIORITY_BASE: u32 = 3000;
/// The lease the cloud's DHCP server hands out (dnsmasq's minimum) and the renewal (T1) and
/// rebinding (T2) times it sets, so that NetworkManager renews several times a minute.
const LEASE: &str = "2m";
const RENEW_SECS: u32 = 10;
const REBIND_SECS: u32 = 15;
/// How long the two run side by side: the floor of the "no loop" check.
const SOAK: Duration = Duration::from_secs(60);
/// When in the soak `nmcli device reapply eth1` runs.
const REAPPLY_AT: Duration = Duration::from_secs(25);
/// eth1's kernel events a renewal may cause (NetworkManager updates the lease's lifetimes).
const EVENTS_PER_RENEWAL: usize = 4;
/// How long any of ours may be missing from the kernel.
const RESTORE_LIMIT: Duration = Duration::from_secs(1);
/// Generous waits for a loaded CI machine.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

#[test]
#[ignore = "boots a Debian container with NetworkManager (root, systemd-nspawn, debootstrap, cargo-deb): .ci/run runs it, or cargo test --test network_manager -- --ignored"]
fn network_manager_renewals_and_reapply_leave_ours_on_eth1() {
    container::require_tools();
    let deb = container::built_deb(&Path::new(TOP).join("target/nm-test"));
    let rootfs = container::cached(&BOOKWORM_NM);
    let deb_dir = deb.parent().expect("the .deb's directory");
    let mut vm = Vm::boot(&rootfs, deb_dir);
    vm.dhcp_server();
    vm.network_manager_connects();
    vm.install_and_start(&deb);
    vm.side_by_side_for_a_minute();
}

struct Vm {
    instance: Instance,
    _emulator: Option<ChildGuard>,
    _dhcp: Option<ChildGuard>,
    container: Container,
}

impl Vm {
    fn boot(rootfs: &Path, deb_dir: &Path) -> Vm {
        let container = Container::boot("n", rootfs, &[(deb_dir, DEB_DIR)]);
        container.write(SCENARIO, AZURE);
        let vm = Vm {
            instance: instance_of(PROVIDER, AZURE),
            _emulator: None,
            _dhcp: None,
            container,
        };
        vm.build_cloud();
        vm
    }

    fn c(&self) -> &Container {
        &self.container
    }

    fn cloud(&self, args: &[&str]) {
        self.c()
            .run(&[&["ip", "netns", "exec", CLOUD_NS], args].concat());
    }

    fn secondary(&self) -> &Nic {
        &self.instance.nics[1]
    }

    /// The cloud namespace (the metadata address on its `lo`, a routed port per NIC), the
    /// NICs as veths with the scenario's MACs, and a marker link for the monitor. eth1's port
    /// holds its gateway on the NIC's subnet, where the DHCP server answers.
    fn build_cloud(&self) {
        self.c().run(&["ip", "netns", "add", CLOUD_NS]);
        self.cloud(&["ip", "link", "set", "lo", "up"]);
        let imds = format!("{}/32", imds_address(PROVIDER));
        self.cloud(&["ip", "address", "add", &imds, "dev", "lo"]);
        for (position, nic) in self.instance.nics.iter().enumerate() {
            let (link, port) = (format!("eth{position}"), format!("vp{position}"));
            let mac = nic.mac.to_string();
            self.c().run(&[
                "ip", "link", "add", "name", &link, "address", &mac, "type", "veth", "peer",
                "name", &port, "netns", CLOUD_NS,
            ]);
            self.cloud(&["ip", "link", "set", &port, "up"]);
            let prefix = if position == 1 {
                subnet_of(nic).prefix
            } else {
                32
            };
            let gateway = format!("{}/{prefix}", gateway_of(nic));
            self.cloud(&["ip", "address", "add", &gateway, "dev", &port]);
            for own in &nic.ipv4 {
                let host = Ipv4Net::host(own.addr).to_string();
                self.cloud(&["ip", "route", "replace", &host, "dev", &port]);
            }
        }
        self.c().run(&[
            "ip",
            "link",
            "add",
            MARKER_LINK,
            "type",
            "veth",
            "peer",
            "name",
            "cnmark1",
        ]);
        self.c().run(&["ip", "link", "set", MARKER_LINK, "up"]);
        // The marker link is the test's: NetworkManager would try DHCP on it and flush it.
        for link in [MARKER_LINK, "cnmark1"] {
            self.c()
                .run(&["nmcli", "device", "set", link, "managed", "no"]);
        }
    }

    /// dnsmasq in the cloud namespace, answering only on eth1's port with eth1's primary
    /// address for its MAC, the NIC's gateway as router, and short renewal times.
    fn dhcp_server(&mut self) {
        let nic = self.secondary();
        let subnet = subnet_of(nic);
        let network = subnet.network().addr;
        let mask = std::net::Ipv4Addr::from(u32::MAX << (32 - u32::from(subnet.prefix)));
        let args = [
            "--keep-in-foreground".to_string(),
            "--conf-file=/dev/null".into(),
            "--port=0".into(),
            "--bind-interfaces".into(),
            "--interface=vp1".into(),
            "--user=root".into(),
            "--pid-file".into(),
            "--dhcp-leasefile=/run/cloud-dhcp.leases".into(),
            format!("--dhcp-range={network},static,{mask},{LEASE}"),
            format!("--dhcp-host={},{}", nic.mac, nic.ipv4[0].addr),
            format!("--dhcp-option=option:router,{}", gateway_of(nic)),
            format!("--dhcp-option=option:T1,{RENEW_SECS}"),
            format!("--dhcp-option=option:T2,{REBIND_SECS}"),
            format!("--log-facility={DHCP_LOG}"),
            "--log-dhcp".into(),
        ];
        let mut command = vec!["ip", "netns", "exec", CLOUD_NS, "dnsmasq"];
        command.extend(args.iter().map(String::as_str));
        self._dhcp = Some(ChildGuard(self.c().spawn(&command)));
    }

    /// The DHCP server's acknowledgements so far (the first lease and each renewal).
    fn dhcp_acks(&self) -> usize {
        let log = self.c().exec(&["cat", DHCP_LOG]);
        String::from_utf8_lossy(&log.stdout)
            .lines()
            .filter(|l| l.contains("DHCPACK(vp1)"))
            .count()
    }

    /// NetworkManager profiles as an image ships them: eth0 with the primary address and the
    /// default route, eth1 by DHCP (both with NetworkManager's defaults otherwise); eth1 is
    /// connected once the DHCP address is on it.
    fn network_manager_connects(&self) {
        let primary = &self.instance.nics[0];
        let eth0 = format!(
            "[connection]\nid=eth0\ntype=ethernet\ninterface-name=eth0\n\n\
             [ipv4]\nmethod=manual\naddress1={},{}\n\n[ipv6]\nmethod=ignore\n",
            primary.ipv4[0],
            gateway_of(primary)
        );
        let eth1 = "[connection]\nid=eth1\ntype=ethernet\ninterface-name=eth1\n\n\
                    [ipv4]\nmethod=auto\n\n[ipv6]\nmethod=ignore\n";
        for (name, text) in [("eth0", eth0.as_str()), ("eth1", eth1)] {
            let path = format!("/etc/NetworkManager/system-connections/{name}.nmconnection");
            self.c().write(&path, text);
            self.c().run(&["chmod", "600", &path]);
        }
        self.c().run(&["nmcli", "connection", "reload"]);
        for name in ["eth0", "eth1"] {
            let out = self
                .c()
                .exec(&["nmcli", "--wait", "30", "connection", "up", name]);
            assert!(
                out.status.success(),
                "nmcli connection up {name}: {}\njournal:\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.journal("NetworkManager", "debug")
            );
        }
        let lease = format!("eth1 {} ", self.secondary().ipv4[0]);
        let view = self.view();
        assert!(
            view.addresses
                .iter()
                .any(|l| l.starts_with(&lease) && l.ends_with(" dynamic")),
            "no DHCP lease on eth1: {view:#?}"
        );
    }

    fn journal(&self, unit: &str, priority: &str) -> String {
        self.c().run(&[
            "journalctl",
            "--no-pager",
            "--quiet",
            "-o",
            "with-unit",
            "-u",
            unit,
            "-p",
            priority,
        ])
    }

    fn view(&self) -> View {
        from_ip(&self.c().net)
    }

    /// `dpkg -i`, the provider in the packaged config, the emulator, `systemctl start`, and
    /// eth1 configured.
    fn install_and_start(&mut self, deb: &Path) {
        let file = deb.file_name().expect("a file name").to_string_lossy();
        self.c().run(&["dpkg", "-i", &format!("{DEB_DIR}/{file}")]);
        self.c()
            .write(CONFIG, &format!("[System]\nProvider=\"{PROVIDER}\"\n"));
        let listen = format!("{}:80", imds_address(PROVIDER));
        let provider = PROVIDER.to_string();
        let mut args = vec!["ip", "netns", "exec", CLOUD_NS, "/usr/bin/cloud-network"];
        args.extend(["emulate", "--provider", &provider, "--listen", &listen]);
        args.extend(["--scenario", SCENARIO]);
        self._emulator = Some(ChildGuard(self.c().spawn(&args)));
        let (host, port) = listen.rsplit_once(':').expect("host:port");
        let probe = format!("exec 3<>/dev/tcp/{host}/{port}");
        self.until("the emulator accepts", || {
            let args = ["ip", "netns", "exec", CLOUD_NS, "bash", "-c", &probe];
            self.c().exec(&args).status.success()
        });
        self.c().run(&["systemctl", "start", "cloud-network"]);
        self.until("eth1 configured", || self.missing(&self.view()).is_empty());
    }

    fn until(&self, what: &str, done: impl Fn() -> bool) {
        let deadline = Instant::now() + SETTLE_LIMIT;
        while !done() {
            assert!(
                Instant::now() < deadline,
                "{what}: not within {SETTLE_LIMIT:?}; the daemon's journal:\n{}",
                self.journal("cloud-network", "debug")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the daemon configures on eth1 and `view` lacks: each secondary address, its rule,
    /// and the table's default route.
    fn missing(&self, view: &View) -> Vec<String> {
        let nic = self.secondary();
        let (table, priority) = (TABLE_BASE + nic.index, PRIORITY_BASE + nic.index);
        let mut missing: Vec<String> = nic.ipv4[1..]
            .iter()
            .map(|a| format!("eth1 {a} "))
            .filter(|a| !view.addresses.iter().any(|l| l.starts_with(a)))
            .collect();
        missing.extend(
            nic.ipv4
                .iter()
                .map(|a| format!("{priority} from {} lookup {table}", a.addr))
                .filter(|r| !view.rules.contains(r)),
        );
        let default = format!("{table} default via {} dev eth1", gateway_of(nic));
        if !view.tables.iter().any(|l| l.starts_with(&default)) {
            missing.push(default);
        }
        missing
    }

    /// One minute side by side, watched every 50 ms: NetworkManager renews eth1's lease
    /// (the DHCP server's log counts them) and `nmcli device reapply eth1` runs once; none of
    /// ours is missing for longer than RESTORE_LIMIT at a time, and the minute's kernel events
    /// stay a bounded few (a loop would add and remove ours again and again).
    fn side_by_side_for_a_minute(&self) {
        let pid = self.main_pid();
        let acks_before = self.dhcp_acks();
        let mut monitor = IpMonitor::start(&self.c().net, MARKER_LINK);
        let start = Instant::now();
        let mut reapplied = false;
        let mut gaps: Vec<Duration> = Vec::new();
        let mut missing_since: Option<(Instant, Vec<String>)> = None;
        while start.elapsed() < SOAK {
            if !reapplied && start.elapsed() >= REAPPLY_AT {
                self.c().run(&["nmcli", "device", "reapply", "eth1"]);
                reapplied = true;
            }
            let missing = self.missing(&self.view());
            match (&missing_since, missing.is_empty()) {
                (None, false) => missing_since = Some((Instant::now(), missing)),
                (Some((since, first)), false) => assert!(
                    since.elapsed() <= RESTORE_LIMIT,
                    "{first:?} missing for longer than {RESTORE_LIMIT:?} (now {missing:?}); \
                     the daemon's journal:\n{}",
                    self.journal("cloud-network", "debug")
                ),
                (Some((since, _)), true) => {
                    gaps.push(since.elapsed());
                    missing_since = None;
                }
                (None, true) => {}
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let events = monitor.events_since_last_marker(&self.c().net);
        let renewals = self.dhcp_acks() - acks_before;
        eprintln!(
            "NetworkManager: {renewals} renewals and a reapply in {SOAK:?}: ours missing {} \
             times (longest {:?}), {} kernel events:\n{}",
            gaps.len(),
            gaps.iter().max(),
            events.len(),
            events.join("\n")
        );
        self.no_loop(&events, renewals);
        assert!(
            renewals >= 3,
            "NetworkManager renewed eth1's lease {renewals} times in {SOAK:?}: the check proves nothing"
        );
        assert_eq!(missing_since, None, "ours missing at the end of the minute");
        assert_eq!(self.main_pid(), pid, "the daemon restarted");
        assert_eq!(self.journal("cloud-network", "warning"), "");
    }

    fn main_pid(&self) -> u32 {
        let out = self.c().run(&[
            "systemctl",
            "show",
            "cloud-network",
            "--value",
            "-p",
            "MainPID",
        ]);
        out.trim().parse().expect("MainPID is a number")
    }

    /// The minute's kernel events are what the renewals and the reapply explain: our addresses
    /// deleted by the reapply (at least one) and each added back by the daemon once, no event
    /// on our rules or table, and eth1's events a bounded few per renewal.
    fn no_loop(&self, events: &[String], renewals: usize) {
        let nic = self.secondary();
        let mut deleted = 0;
        for address in &nic.ipv4[1..] {
            let inet = format!("inet {address} ");
            let ours = |removed: bool| {
                events
                    .iter()
                    .filter(|e| e.contains(&inet) && e.starts_with("Deleted") == removed)
                    .count()
            };
            assert!(ours(true) <= 1, "{address} deleted {} times", ours(true));
            assert_eq!(ours(false), ours(true), "{address} added back, deleted");
            deleted += ours(true);
        }
        // NetworkManager's reapply reverts what it did not configure on eth1: else the checks
        // that ours come back would prove nothing.
        assert!(deleted > 0, "the reapply deleted none of ours");
        let table = TABLE_BASE + nic.index;
        let on_ours: Vec<&String> = events
            .iter()
            .filter(|e| {
                e.contains(&format!("lookup {table}")) || e.contains(&format!("table {table}"))
            })
            .collect();
        assert_eq!(
            on_ours,
            Vec::<&String>::new(),
            "events on our rules or table"
        );
        let on_eth1 = events.iter().filter(|e| e.contains("eth1")).count();
        let bound = EVENTS_PER_RENEWAL * (renewals + 1) + 4 * nic.ipv4.len();
        assert!(
            on_eth1 <= bound,
            "{on_eth1} events on eth1 in {SOAK:?} (at most {bound} for {renewals} renewals and a reapply)"
        );
    }
}
