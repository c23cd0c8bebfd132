//! The traffic a real VM gets, in the lab (`lab.rs`): the cloud's load-balancer probers and
//! clients outside the VPC and inside each NIC's subnet (addresses on the cloud namespace's
//! loopback, which the cloud routes like any other), and, in the VM, a `docker0`-like bridge
//! with a container and a tunnel-like link to a remote network, each connecting to every
//! address of every NIC. The extra namespaces (`<lab>-d`, `<lab>-t`) go on drop.

use super::lab::{in_netns, subnet_of, Lab, TCP_PORT};
use super::netns::Netns;
use cloud_network::metadata::{IpNet, ProviderKind};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// Where a probe comes from: a source address in the cloud namespace, or the container or the
/// tunnel's remote host in the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prober {
    Cloud(Ipv4Addr),
    Container,
    Tunnel,
}

/// The container behind the VM's `docker0` (172.17.0.1/16).
pub const CONTAINER: Ipv4Addr = Ipv4Addr::new(172, 17, 0, 2);
/// The tunnel's remote host, reached by main's `10.99.8.0/24 via 10.99.0.2 dev tun0`.
pub const TUNNEL_REMOTE: Ipv4Addr = Ipv4Addr::new(10, 99, 8, 1);
/// A client outside the VPC, reached through the cloud's gateway.
pub const OUTSIDE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);

/// The cloud's own probe sources: Azure's load balancer (WireServer's address), GCP's health
/// checkers; the other clouds' load balancers are clients outside the VPC.
pub fn lb_sources(provider: ProviderKind) -> Vec<Ipv4Addr> {
    match provider {
        ProviderKind::Azure => vec![Ipv4Addr::new(168, 63, 129, 16)],
        ProviderKind::Gcp => vec![Ipv4Addr::new(35, 191, 0, 9), Ipv4Addr::new(130, 211, 0, 9)],
        ProviderKind::Aws
        | ProviderKind::Oracle
        | ProviderKind::Alibaba
        | ProviderKind::DigitalOcean => Vec::new(),
    }
}

/// The container and tunnel namespaces; deleted on drop.
pub struct HostNetworks {
    pub container: Netns,
    pub tunnel: Netns,
}

/// The cloud's probe sources (`lb_sources`, `OUTSIDE`, and per NIC subnet its last host, on
/// NICs whose port answers ARP for the cloud's own addresses) on the cloud's loopback.
pub fn cloud_probers(lab: &Lab) -> Vec<Ipv4Addr> {
    let mut sources = lb_sources(lab.provider);
    sources.push(OUTSIDE);
    for nic in lab
        .instance
        .nics
        .iter()
        .filter(|n| n.routed_ipv4.is_empty())
    {
        let subnet = subnet_of(nic);
        if subnet.prefix >= 31 {
            continue;
        }
        let last = u32::from(subnet.network().addr) | (u32::MAX >> subnet.prefix);
        let client = Ipv4Addr::from(last - 1);
        if !sources.contains(&client) && !lab.targets().iter().any(|(_, t)| *t == client) {
            sources.push(client);
        }
    }
    for source in &sources {
        let host = format!("{source}/32");
        lab.cloud
            .run_ok(&["ip", "address", "add", &host, "dev", "lo"]);
    }
    sources
}

/// A `docker0`-like bridge in the VM with a container on it, and a tunnel-like veth `tun0` to
/// a host that routes the remote network 10.99.8.0/24; both routes only in the VM's main table.
pub fn host_networks(lab: &Lab) -> HostNetworks {
    let container = Netns::named(&format!("{}-d", lab.name));
    let tunnel = Netns::named(&format!("{}-t", lab.name));
    let vm = &lab.vm;
    vm.run_ok(&["ip", "link", "add", "docker0", "type", "bridge"]);
    vm.run_ok(&["ip", "address", "add", "172.17.0.1/16", "dev", "docker0"]);
    vm.run_ok(&["ip", "link", "set", "docker0", "up"]);
    veth(vm, "vethc0", &container, "eth0");
    vm.run_ok(&["ip", "link", "set", "vethc0", "master", "docker0", "up"]);
    inside(&container, "172.17.0.2/16", "172.17.0.1");
    veth(vm, "tun0", &tunnel, "eth0");
    vm.run_ok(&["ip", "address", "add", "10.99.0.1/24", "dev", "tun0"]);
    vm.run_ok(&["ip", "link", "set", "tun0", "up"]);
    inside(&tunnel, "10.99.0.2/24", "10.99.0.1");
    tunnel.run_ok(&["ip", "address", "add", "10.99.8.1/32", "dev", "lo"]);
    vm.run_ok(&[
        "ip",
        "route",
        "add",
        "10.99.8.0/24",
        "via",
        "10.99.0.2",
        "dev",
        "tun0",
    ]);
    HostNetworks { container, tunnel }
}

/// A veth pair made straight into two namespaces.
fn veth(a: &Netns, a_name: &str, b: &Netns, b_name: &str) {
    let args = [
        "ip",
        "link",
        "add",
        "name",
        a_name,
        "netns",
        a.name(),
        "type",
        "veth",
        "peer",
        "name",
        b_name,
        "netns",
        b.name(),
    ];
    let out = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `eth0` up with `address` and the default route via `gateway`, in `ns`.
fn inside(ns: &Netns, address: &str, gateway: &str) {
    ns.run_ok(&["ip", "link", "set", "lo", "up"]);
    ns.run_ok(&["ip", "link", "set", "eth0", "up"]);
    ns.run_ok(&["ip", "address", "add", address, "dev", "eth0"]);
    ns.run_ok(&["ip", "route", "add", "default", "via", gateway]);
}

/// `rp_filter` of every VM link (`all` and `default`; the kernel uses the larger of `all` and
/// the link's own).
pub fn vm_rp_filter(lab: &Lab, mode: u8) {
    for scope in ["all", "default"] {
        let path = format!("/proc/sys/net/ipv4/conf/{scope}/rp_filter");
        in_netns(lab.vm.name(), || {
            std::fs::write(&path, mode.to_string()).unwrap_or_else(|e| panic!("{path}: {e}"))
        });
    }
}

impl HostNetworks {
    /// Whether a TCP connection from `prober` to `to`:TCP_PORT completes.
    pub fn connect(&self, lab: &Lab, prober: Prober, to: Ipv4Addr) -> bool {
        let (ns, from) = match prober {
            Prober::Cloud(source) => (lab.cloud.name(), source),
            Prober::Container => (self.container.name(), CONTAINER),
            Prober::Tunnel => (self.tunnel.name(), TUNNEL_REMOTE),
        };
        in_netns(ns, || tcp_connect_from(from, to))
    }
}

/// Every IPv4 address the probes reach, with the position of the NIC that owns it: the lab's
/// targets and the first address of each delegated IPv4 prefix (which the test puts on its NIC).
pub fn probe_targets(lab: &Lab) -> Vec<(usize, Ipv4Addr)> {
    let mut targets = lab.targets();
    for (position, nic) in lab.instance.nics.iter().enumerate() {
        for prefix in &nic.delegated_prefixes {
            if let IpNet::V4(net) = prefix {
                targets.push((position, Ipv4Addr::from(u32::from(net.addr) + 1)));
            }
        }
    }
    targets
}

/// A TCP connection from `from` (bound before connecting) to `to`:TCP_PORT within 500 ms.
fn tcp_connect_from(from: Ipv4Addr, to: Ipv4Addr) -> bool {
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: fd is a fresh descriptor nobody else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let local = sockaddr(SocketAddrV4::new(from, 0));
    // SAFETY: a valid socket and a sockaddr_in of the size given.
    let bound = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&local as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(bound, 0, "bind {from}: {}", std::io::Error::last_os_error());
    let remote = sockaddr(SocketAddrV4::new(to, TCP_PORT));
    // SAFETY: as above; a non-blocking connect returns EINPROGRESS.
    unsafe {
        libc::connect(
            socket.as_raw_fd(),
            (&remote as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    let mut poll = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    let wait = Duration::from_millis(500).as_millis() as libc::c_int;
    // SAFETY: one valid pollfd.
    let ready = unsafe { libc::poll(&mut poll, 1, wait) };
    ready == 1 && poll.revents & (libc::POLLERR | libc::POLLHUP) == 0 && connected(&socket)
}

/// SO_ERROR is 0: the handshake completed.
fn connected(socket: &OwnedFd) -> bool {
    let mut error: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: a valid socket and an int of the size given.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut error as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0 && error == 0
}

fn sockaddr(addr: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(addr.ip().octets()),
        },
        sin_zero: [0; 8],
    }
}

/// For a log line: `168.63.129.16 → 10.4.0.5:7000`.
pub fn describe(prober: Prober, to: Ipv4Addr) -> String {
    let from = match prober {
        Prober::Cloud(source) => source.to_string(),
        Prober::Container => format!("container {CONTAINER}"),
        Prober::Tunnel => format!("tunnel host {TUNNEL_REMOTE}"),
    };
    format!("{from} → {}", SocketAddr::from((to, TCP_PORT)))
}
