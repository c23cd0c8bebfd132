//! The lab: a cloud VM that carries real traffic, built from a metadata scenario file. Three
//! namespaces per lab: `<name>-c`, the cloud (one routed port per NIC, answering ARP for the
//! whole subnet as Azure's and GCP's hosts do, and the metadata service at the provider's address
//! (169.254.169.254:80, Alibaba's 100.100.100.200:80) served by our emulator); `<name>-v`, the VM (eth0 with a DHCP-style primary address and the
//! main default route, eth1… down and bare, MACs from the scenario, `metadata.google.internal`
//! in `/etc/netns/<name>-v/hosts`); and `<name>-p`, a peer host in the primary NIC's subnet.
//!
//! The cloud enforces what real clouds enforce: it routes each metadata address (and alias
//! range) of a NIC to that NIC's port only, with strict reverse-path filtering, so a packet a
//! NIC sends from an address that is not its own is dropped (and counted). An address with its
//! own gateway (DigitalOcean's anchor IP) is routed through a macvlan on the port that holds
//! that gateway with a MAC of its own, so its replies pass only when sent to that gateway. A
//! wrong policy route shows up as a failed connection. Everything goes on drop; `teardown(name)` removes a lab a
//! killed process left behind. Only `ip` and `/proc/sys` are used: no package beyond iproute2.

use super::netns::Netns;
use cloud_network::metadata::{
    alibaba, aws, azure, digitalocean, gcp, oracle, Instance, IpNet, Ipv4Net, Nic, ProviderKind,
    RoutedIpv4,
};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The provider's metadata service address, which the lab puts inside the cloud namespace only.
pub fn imds_address(provider: ProviderKind) -> Ipv4Addr {
    provider.profile().metadata_v4
}
/// The VM listens on this TCP port on every address (connect tests).
pub const TCP_PORT: u16 = 7000;
const HOSTS: &str = "127.0.0.1 localhost\n169.254.169.254 metadata.google.internal metadata\n";
const PEER_HOST: u32 = 100;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The metadata model of a scenario file's text, through the daemon's own parsers.
pub fn instance_of(provider: ProviderKind, text: &str) -> Instance {
    let parsed = match provider {
        ProviderKind::Azure => azure::parse(text),
        ProviderKind::Gcp => gcp::parse(text),
        ProviderKind::Aws => {
            let tree: BTreeMap<String, String> =
                serde_json::from_str(text).expect("EC2 scenario: a JSON map of path to body");
            aws::parse::parse(&tree)
        }
        ProviderKind::Oracle => oracle::parse_document(text),
        ProviderKind::Alibaba => {
            let tree: BTreeMap<String, String> =
                serde_json::from_str(text).expect("Alibaba scenario: a JSON map of path to body");
            alibaba::parse::parse(&tree)
        }
        ProviderKind::DigitalOcean => digitalocean::parse(text),
    };
    parsed.unwrap_or_else(|e| panic!("{provider} scenario does not parse: {e}"))
}

/// A lab name no other lab of this process uses: `cnl<tag>-<pid>-<n>`.
pub fn unique_name(tag: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("cnl{tag}-{}-{n}", std::process::id())
}

fn cloud_ns(name: &str) -> String {
    format!("{name}-c")
}
fn vm_ns(name: &str) -> String {
    format!("{name}-v")
}
fn peer_ns(name: &str) -> String {
    format!("{name}-p")
}
fn hosts_dir(name: &str) -> PathBuf {
    Path::new("/etc/netns").join(vm_ns(name))
}

/// Removes everything a lab called `name` may have left: its processes (found by namespace),
/// its namespaces and its hosts file. Safe to run on a lab that is partly or wholly gone.
pub fn teardown(name: &str) {
    for ns in [vm_ns(name), peer_ns(name), cloud_ns(name)] {
        kill_processes_in(&ns);
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
    }
    let _ = std::fs::remove_dir_all(hosts_dir(name));
}

/// Kills every process left in the namespace `ns` (SIGKILL).
pub fn kill_processes_in(ns: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() else {
        return;
    };
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if let Ok(pid) = pid.parse::<libc::pid_t>() {
            // SAFETY: kill has no memory effects; the pid lives in a namespace this lab made.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// `/etc/netns/<vm>/hosts`, which `ip netns exec` binds over `/etc/hosts`; removed on drop.
struct HostsFile(PathBuf);

impl HostsFile {
    fn write(name: &str) -> HostsFile {
        let dir = hosts_dir(name);
        std::fs::create_dir_all(&dir).expect("create /etc/netns/<vm>");
        let guard = HostsFile(dir);
        std::fs::write(guard.0.join("hosts"), HOSTS).expect("write /etc/netns/<vm>/hosts");
        guard
    }
}

impl Drop for HostsFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One lab. Fields drop in order: the listener and the emulator go, then the hosts file and
/// the namespaces (with everything in them).
pub struct Lab {
    listener: Option<TcpListener>,
    emulator: Option<Child>,
    pub name: String,
    pub provider: ProviderKind,
    pub scenario: PathBuf,
    bin: PathBuf,
    /// The metadata as the scenario file says now.
    pub instance: Instance,
    pub peer_ip: Ipv4Addr,
    _hosts: HostsFile,
    pub vm: Netns,
    pub peer: Netns,
    pub cloud: Netns,
}

impl Lab {
    /// Builds the lab for `scenario` (a file in the emulator's format) and starts the emulator
    /// (`bin emulate`, EC2 and Alibaba with session tokens required) on the provider's metadata
    /// address, port 80, in the cloud.
    pub fn up(name: &str, provider: ProviderKind, scenario: &Path, bin: &Path) -> Lab {
        let text = std::fs::read_to_string(scenario).expect("read the scenario file");
        let instance = instance_of(provider, &text);
        let primary = instance.nics.first().expect("a scenario has a NIC");
        let peer_ip = peer_address(&instance);
        let prefix = subnet_of(primary).prefix;
        let mut lab = Lab {
            listener: None,
            emulator: None,
            name: name.to_string(),
            provider,
            scenario: scenario.to_path_buf(),
            bin: bin.to_path_buf(),
            peer_ip,
            _hosts: HostsFile::write(name),
            vm: Netns::named(&vm_ns(name)),
            peer: Netns::named(&peer_ns(name)),
            cloud: Netns::named(&cloud_ns(name)),
            instance: instance.clone(),
        };
        lab.build_cloud();
        lab.build_peer(prefix);
        lab.vm.run_ok(&["ip", "link", "set", "lo", "up"]);
        for (position, nic) in instance.nics.iter().enumerate() {
            lab.attach(position, nic);
        }
        lab.configure_primary();
        lab.listener = Some(in_netns(lab.vm.name(), || {
            TcpListener::bind((Ipv4Addr::UNSPECIFIED, TCP_PORT)).expect("listen in the VM")
        }));
        lab.start_emulator();
        lab
    }

    fn build_cloud(&self) {
        self.cloud.run_ok(&["ip", "link", "set", "lo", "up"]);
        let imds = format!("{}/32", imds_address(self.provider));
        self.cloud
            .run_ok(&["ip", "address", "add", &imds, "dev", "lo"]);
        self.sysctl("ipv4/ip_forward", "1");
        self.sysctl("ipv4/conf/all/rp_filter", "1");
        self.sysctl("ipv4/conf/all/send_redirects", "0");
        self.sysctl("ipv4/conf/default/send_redirects", "0");
    }

    fn build_peer(&self, prefix: u8) {
        self.link_to_cloud("eth0", None, self.peer.name(), "pp");
        let gateway = gateway_of(&self.instance.nics[0]);
        self.port("pp", gateway);
        let peer = self.peer_ip.to_string();
        self.cloud_route(&[&format!("{peer}/32"), "dev", "pp"]);
        self.peer.run_ok(&["ip", "link", "set", "lo", "up"]);
        self.peer.run_ok(&["ip", "link", "set", "eth0", "up"]);
        let address = format!("{peer}/{prefix}");
        self.peer
            .run_ok(&["ip", "address", "add", &address, "dev", "eth0"]);
        let gateway = gateway.to_string();
        self.peer.run_ok(&[
            "ip", "route", "add", "default", "via", &gateway, "dev", "eth0",
        ]);
    }

    /// Attaches `nic` as `eth<position>` (down, no address) and routes its addresses to its
    /// port in the cloud: a hot-plug when the lab is already up.
    pub fn attach(&self, position: usize, nic: &Nic) {
        let (link, port) = (format!("eth{position}"), format!("vp{position}"));
        let mac = nic.mac.to_string();
        self.link_to_cloud(&link, Some(&mac), self.vm.name(), &port);
        self.port(&port, gateway_of(nic));
        for net in delivered_nets(nic) {
            self.route_to_nic(nic, &port, net);
        }
        for (k, routed) in nic.routed_ipv4.iter().enumerate() {
            self.routed_gateway(&port, k, routed);
        }
    }

    /// The gateway of an address with its own subnet: a macvlan `<port>r<k>` on the port, with
    /// its own MAC, holding the gateway; the address is routed through it. The port no longer
    /// answers ARP for addresses it does not hold itself (`arp_ignore=1`), so the VM reaches
    /// that gateway only at the macvlan's MAC, and a reply sent from the address to the NIC's
    /// own gateway arrives on the port, where strict reverse-path filtering drops it.
    fn routed_gateway(&self, port: &str, k: usize, routed: &RoutedIpv4) {
        let gateway_port = format!("{port}r{k}");
        self.cloud.run_ok(&[
            "ip",
            "link",
            "add",
            "link",
            port,
            "name",
            &gateway_port,
            "type",
            "macvlan",
            "mode",
            "bridge",
        ]);
        self.cloud
            .run_ok(&["ip", "link", "set", &gateway_port, "up"]);
        let gateway = format!("{}/32", routed.gateway);
        self.cloud
            .run_ok(&["ip", "address", "add", &gateway, "dev", &gateway_port]);
        self.sysctl(&format!("ipv4/conf/{port}/arp_ignore"), "1");
        let host = Ipv4Net::host(routed.addr.addr).to_string();
        self.cloud_route(&[&host, "dev", &gateway_port]);
    }

    /// A veth pair created directly inside the namespaces (never in the root namespace).
    fn link_to_cloud(&self, link: &str, mac: Option<&str>, ns: &str, port: &str) {
        let mut args = vec!["link", "add", "name", link];
        if let Some(mac) = mac {
            args.extend(["address", mac]);
        }
        args.extend(["netns", ns, "type", "veth", "peer", "name", port]);
        args.extend(["netns", self.cloud.name()]);
        let out = Command::new("ip").args(&args).output().expect("run ip");
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A cloud port: up, the gateway address on it, answering ARP for what it routes elsewhere.
    fn port(&self, port: &str, gateway: Ipv4Addr) {
        self.cloud.run_ok(&["ip", "link", "set", port, "up"]);
        let gateway = format!("{gateway}/32");
        self.cloud
            .run_ok(&["ip", "address", "add", &gateway, "dev", port]);
        self.sysctl(&format!("ipv4/conf/{port}/proxy_arp"), "1");
        self.sysctl(&format!("ipv4/neigh/{port}/proxy_delay"), "0");
    }

    /// The NIC's own addresses go straight to its port (the cloud asks the VM by ARP); alias
    /// ranges and forwarded IPs go via its first address, as a cloud router sends them.
    fn route_to_nic(&self, nic: &Nic, port: &str, net: IpNet) {
        let own = nic
            .ipv4
            .iter()
            .any(|a| IpNet::V4(Ipv4Net::host(a.addr)) == net);
        let net = net.to_string();
        match nic.ipv4.first() {
            Some(first) if !own => {
                let first = first.addr.to_string();
                self.cloud_route(&[&net, "via", &first, "dev", port, "onlink"])
            }
            _ => self.cloud_route(&[&net, "dev", port]),
        }
    }

    fn cloud_route(&self, args: &[&str]) {
        self.cloud
            .run_ok(&[&["ip", "route", "replace"], args].concat());
    }

    /// The cloud no longer delivers `net` (an address or range taken off a NIC). The cloud
    /// routes IPv4 only, so an IPv6 address has nothing to withdraw.
    pub fn withdraw(&self, net: IpNet) {
        if let IpNet::V4(_) = net {
            self.cloud.run_ok(&["ip", "route", "del", &net.to_string()]);
        }
    }

    /// eth0 as DHCP leaves it: up, the primary address with finite lifetimes, the main table's
    /// default route (after an on-link route to the gateway when it lies outside the prefix).
    fn configure_primary(&self) {
        let nic = &self.instance.nics[0];
        let primary = nic
            .ipv4
            .first()
            .expect("the primary NIC has an IPv4 address");
        let gateway = gateway_of(nic);
        self.vm.dhcp_lease(
            &primary.to_string(),
            &gateway.to_string(),
            !primary.contains(gateway),
        );
    }

    fn sysctl(&self, key: &str, value: &str) {
        write_sysctl(self.cloud.name(), key, value);
    }

    /// Starts the metadata service and waits until it accepts connections.
    pub fn start_emulator(&mut self) {
        let bin = self.bin.to_str().expect("utf-8 binary path");
        let scenario = self.scenario.to_str().expect("utf-8 scenario path");
        let provider = self.provider.to_string();
        let imds = SocketAddr::from((imds_address(self.provider), 80));
        let listen = imds.to_string();
        let mut args = vec!["netns", "exec", self.cloud.name(), bin, "emulate"];
        args.extend(["--provider", &provider, "--listen", &listen]);
        args.extend(["--scenario", scenario]);
        if matches!(self.provider, ProviderKind::Aws | ProviderKind::Alibaba) {
            args.push("--require-token");
        }
        let child = Command::new("ip")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the emulator");
        self.emulator = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !in_netns(self.cloud.name(), || {
            TcpStream::connect_timeout(&imds, Duration::from_millis(100)).is_ok()
        }) {
            assert!(Instant::now() < deadline, "the emulator did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the metadata service: connections to it are refused until it starts again.
    pub fn stop_emulator(&mut self) {
        if let Some(mut child) = self.emulator.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Replaces the scenario (the emulator re-reads it) and the lab's view of the metadata.
    pub fn set_scenario(&mut self, text: &str) {
        self.instance = instance_of(self.provider, text);
        let tmp = self.scenario.with_extension("new");
        std::fs::write(&tmp, text).expect("write the scenario");
        std::fs::rename(&tmp, &self.scenario).expect("replace the scenario");
    }

    /// Every IPv4 address the peer should reach, with the position of the NIC that owns it:
    /// the NIC's addresses and, for GCP, the first address of each alias range and each
    /// forwarded IP.
    pub fn targets(&self) -> Vec<(usize, Ipv4Addr)> {
        let mut targets = Vec::new();
        for (position, nic) in self.instance.nics.iter().enumerate() {
            for net in reachable_nets(nic) {
                if let IpNet::V4(net) = net {
                    let host = if net.prefix >= 31 {
                        net.addr
                    } else {
                        Ipv4Addr::from(u32::from(net.network().addr) + 1)
                    };
                    targets.push((position, host));
                }
            }
        }
        targets
    }

    /// ICMP echo from the peer host: how many of `count` requests were answered.
    pub fn ping(&self, to: Ipv4Addr, count: u16) -> u16 {
        peer_ping(&self.name, to, count)
    }

    /// Whether a TCP connection from the peer host to `to`:TCP_PORT completes.
    pub fn tcp_connect(&self, to: Ipv4Addr) -> bool {
        let addr = SocketAddr::from((to, TCP_PORT));
        in_netns(self.peer.name(), || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
        })
    }

    /// Packets the VM's link `dev` has sent.
    pub fn tx_packets(&self, dev: &str) -> u64 {
        let links = self
            .vm
            .json(&["ip", "-s", "-j", "link", "show", "dev", dev]);
        links[0]["stats64"]["tx"]["packets"]
            .as_u64()
            .unwrap_or_else(|| panic!("no tx packet counter for {dev}: {links}"))
    }

    /// Packets the cloud dropped because they left a NIC that does not own their source.
    pub fn spoofed_drops(&self) -> u64 {
        let text = self.cloud.run_ok(&["cat", "/proc/net/netstat"]);
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("TcpExt:")).collect();
        let (names, values) = (lines[0], lines[1]);
        let index = names
            .split_whitespace()
            .position(|n| n == "IPReversePathFilter")
            .expect("IPReversePathFilter in /proc/net/netstat");
        values
            .split_whitespace()
            .nth(index)
            .expect("value")
            .parse()
            .expect("a counter")
    }

    /// Waits until every target answers a ping, or panics after `limit` naming the silent ones.
    pub fn wait_reachable(&self, targets: &[Ipv4Addr], limit: Duration) -> Duration {
        let start = Instant::now();
        let mut pending: Vec<Ipv4Addr> = targets.to_vec();
        loop {
            pending.retain(|t| self.ping_quick(*t) == 0);
            if pending.is_empty() {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "not reachable after {limit:?}: {pending:?}"
            );
        }
    }

    fn ping_quick(&self, to: Ipv4Addr) -> u16 {
        in_netns(self.peer.name(), || {
            icmp_send_wait(to, 1, Duration::from_millis(100))
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.listener = None;
        self.stop_emulator();
        for ns in [&self.vm, &self.peer, &self.cloud] {
            kill_processes_in(ns.name());
        }
    }
}

/// A NIC's gateway: the metadata's, or the first host of its subnet.
pub fn gateway_of(nic: &Nic) -> Ipv4Addr {
    nic.gateway4
        .unwrap_or_else(|| Ipv4Addr::from(u32::from(subnet_of(nic).network().addr) + 1))
}

pub fn subnet_of(nic: &Nic) -> Ipv4Net {
    nic.subnet4
        .or_else(|| nic.ipv4.first().copied())
        .expect("a NIC with an IPv4 subnet or address")
}

/// What the cloud delivers to a NIC's port: its addresses (as /32), alias ranges and
/// forwarded IPs.
fn delivered_nets(nic: &Nic) -> Vec<IpNet> {
    let addresses = nic.ipv4.iter().map(|a| IpNet::V4(Ipv4Net::host(a.addr)));
    let ranges = nic.ip_ranges.iter().chain(&nic.forwarded).copied();
    addresses
        .chain(ranges)
        .filter(|n| matches!(n, IpNet::V4(_)))
        .collect()
}

/// Everything the peer reaches on a NIC: what its port delivers, and the addresses with their
/// own gateway (as /32).
fn reachable_nets(nic: &Nic) -> Vec<IpNet> {
    let routed = nic.routed_ipv4.iter();
    let routed = routed.map(|r| IpNet::V4(Ipv4Net::host(r.addr.addr)));
    delivered_nets(nic).into_iter().chain(routed).collect()
}

/// The peer host's address: host 100 (or the next free one) of the primary NIC's subnet.
fn peer_address(instance: &Instance) -> Ipv4Addr {
    let primary = &instance.nics[0];
    let base = u32::from(subnet_of(primary).network().addr);
    let taken = |a: Ipv4Addr| {
        a == gateway_of(primary)
            || instance
                .nics
                .iter()
                .any(|n| n.ipv4.iter().any(|x| x.addr == a))
    };
    (PEER_HOST..)
        .map(|host| Ipv4Addr::from(base + host))
        .find(|a| !taken(*a))
        .expect("a free host address")
}

fn write_sysctl(ns: &str, key: &str, value: &str) {
    let path = format!("/proc/sys/net/{key}");
    in_netns(ns, || {
        std::fs::write(&path, value).unwrap_or_else(|e| panic!("write {path}: {e}"))
    });
}

/// Runs `f` on a thread inside the named namespace.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let path = format!("/run/netns/{ns}");
                let target = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                // SAFETY: a valid namespace fd and CLONE_NEWNET; affects this new thread only.
                let rc = unsafe { libc::setns(target.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns {ns}: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// ICMP echo from the peer host of the lab called `name`: replies to `count` requests.
pub fn peer_ping(name: &str, to: Ipv4Addr, count: u16) -> u16 {
    in_netns(&peer_ns(name), || {
        icmp_send_wait(to, count, Duration::from_millis(500))
    })
}

/// Sends `count` ICMP echo requests one after the other over a raw socket, each waiting up to
/// `wait` for its reply; returns the number of replies.
fn icmp_send_wait(to: Ipv4Addr, count: u16, wait: Duration) -> u16 {
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::IPPROTO_ICMP,
        )
    };
    assert!(
        fd >= 0,
        "raw ICMP socket: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    set_receive_timeout(&socket, Duration::from_millis(20));
    let id = (std::process::id() as u16) ^ (COUNTER.fetch_add(1, Ordering::Relaxed) as u16);
    let mut answered = 0;
    for seq in 0..count {
        send_echo(&socket, to, id, seq);
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline {
            if receive_reply(&socket, to, id, seq) {
                answered += 1;
                break;
            }
        }
    }
    answered
}

fn set_receive_timeout(socket: &OwnedFd, timeout: Duration) {
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: libc::suseconds_t::try_from(timeout.as_micros()).expect("short timeout"),
    };
    // SAFETY: a valid socket and a timeval of the size given.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVTIMEO: {}", std::io::Error::last_os_error());
}

fn send_echo(socket: &OwnedFd, to: Ipv4Addr, id: u16, seq: u16) {
    let mut packet = [0u8; 24];
    packet[0] = 8;
    packet[4..6].copy_from_slice(&id.to_be_bytes());
    packet[6..8].copy_from_slice(&seq.to_be_bytes());
    packet[8..].copy_from_slice(b"cloud-network lb");
    let sum = checksum(&packet);
    packet[2..4].copy_from_slice(&sum.to_be_bytes());
    let addr = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(to.octets()),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: a valid socket, buffer and sockaddr_in of the sizes given.
    unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            packet.as_ptr().cast(),
            packet.len(),
            0,
            (&addr as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
}

/// Reads one packet (or times out); true when it is the echo reply from `from` for `id`/`seq`.
fn receive_reply(socket: &OwnedFd, from: Ipv4Addr, id: u16, seq: u16) -> bool {
    let mut buf = [0u8; 1500];
    // SAFETY: a valid socket and a buffer of the length given.
    let n = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    let Ok(n) = usize::try_from(n) else {
        return false;
    };
    let packet = &buf[..n];
    let header = usize::from(packet.first().copied().unwrap_or(0) & 0x0f) * 4;
    if n < header + 8 || packet[12..16] != from.octets() {
        return false;
    }
    let icmp = &packet[header..];
    icmp[0] == 0
        && u16::from_be_bytes([icmp[4], icmp[5]]) == id
        && u16::from_be_bytes([icmp[6], icmp[7]]) == seq
}

fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
