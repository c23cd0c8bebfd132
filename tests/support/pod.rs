//! A Kubernetes pod beside a lab VM, wired as a CNI wires one: a namespace of its own holding
//! one of the VM's metadata addresses (a secondary IP, or an address of an alias range) on a
//! veth, the VM forwarding to it through a host route in the main table (plus the CNI's own
//! rule where it makes one), and the cloud delivering the address to the VM's NIC. A TCP
//! listener in the pod on [`POD_PORT`] tells whether the peer host reaches the pod itself: an
//! address the VM took for its own answers with a reset there. Removed on drop.
use super::lab::{in_netns, Lab};
use super::netns::Netns;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

/// The port only the pod listens on.
pub const POD_PORT: u16 = 7001;
/// The pod's gateway, on the host side of its veth (as the AWS VPC CNI and Calico do it).
const POD_GATEWAY: &str = "169.254.1.1";

pub struct Pod {
    _listener: TcpListener,
    pub ip: Ipv4Addr,
    /// The host side of the pod's veth, in the VM.
    pub host_link: String,
    pub ns: Netns,
}

impl Pod {
    /// A pod holding `ip`, which the cloud delivers to the VM's NIC `nic_link` (`eth0`…).
    pub fn up(lab: &Lab, ip: Ipv4Addr, nic_link: &str) -> Pod {
        let ns = Netns::named(&format!("{}-k", lab.name));
        let host_link = "vpod0".to_string();
        veth_between(lab.vm.name(), &host_link, ns.name());
        let host = format!("{ip}/32");
        for args in [
            vec!["ip", "link", "set", "lo", "up"],
            vec!["ip", "link", "set", "eth0", "up"],
            vec!["ip", "address", "add", &host, "dev", "eth0"],
            vec![
                "ip",
                "route",
                "add",
                POD_GATEWAY,
                "dev",
                "eth0",
                "scope",
                "link",
            ],
            vec![
                "ip",
                "route",
                "add",
                "default",
                "via",
                POD_GATEWAY,
                "dev",
                "eth0",
            ],
        ] {
            ns.run_ok(&args);
        }
        lab.vm.run_ok(&["ip", "link", "set", &host_link, "up"]);
        lab.vm.run_ok(&[
            "ip", "route", "add", &host, "dev", &host_link, "scope", "link",
        ]);
        for key in [
            "ip_forward".to_string(),
            format!("conf/{host_link}/proxy_arp"),
        ] {
            let path = format!("/proc/sys/net/ipv4/{key}");
            in_netns(lab.vm.name(), || {
                std::fs::write(&path, "1").unwrap_or_else(|e| panic!("write {path}: {e}"))
            });
        }
        deliver_to_nic(lab, ip, nic_link);
        let listener = in_netns(ns.name(), || {
            TcpListener::bind((ip, POD_PORT)).expect("listen in the pod")
        });
        Pod {
            _listener: listener,
            ip,
            host_link,
            ns,
        }
    }

    /// Whether a TCP connection from the lab's peer host to the pod completes.
    pub fn reachable_from_peer(&self, lab: &Lab) -> bool {
        let addr = SocketAddr::from((self.ip, POD_PORT));
        in_netns(lab.peer.name(), || {
            TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
        })
    }
}

/// A veth pair made directly in the namespaces: `host_link` in `vm`, `eth0` in `pod`.
fn veth_between(vm: &str, host_link: &str, pod: &str) {
    let args = [
        "link", "add", "name", host_link, "netns", vm, "type", "veth", "peer", "name", "eth0",
        "netns", pod,
    ];
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The cloud sends `ip` to the NIC `nic_link` of the VM at its MAC, as the provider's fabric
/// does for a secondary address, whether or not the VM answers ARP for it.
fn deliver_to_nic(lab: &Lab, ip: Ipv4Addr, nic_link: &str) {
    let links = lab.vm.json(&["ip", "-j", "link", "show", "dev", nic_link]);
    let mac = links[0]["address"].as_str().expect("the NIC's MAC");
    let port = format!("vp{}", nic_link.trim_start_matches("eth"));
    let ip = ip.to_string();
    lab.cloud.run_ok(&[
        "ip",
        "neigh",
        "replace",
        &ip,
        "lladdr",
        mac,
        "dev",
        &port,
        "nud",
        "permanent",
    ]);
}
