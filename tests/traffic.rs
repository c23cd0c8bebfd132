//! The traffic a real VM gets, in the lab (root; they run in CI), per provider and per VM
//! `rp_filter` mode (strict 1, as GCE images and RHEL ship it; loose 2): the cloud's own
//! load-balancer probers (Azure 168.63.129.16, GCP 35.191.0.0/16 and 130.211.0.0/22), a client
//! outside the VPC and a client in each NIC's subnet connect to every address, alias range,
//! forwarded IP and delegated prefix address of every NIC, each reply counted on the owning
//! NIC and none dropped by the cloud's reverse-path filter; a container behind a `docker0`-like
//! bridge and a host behind a tunnel-like link (routes in main only) connect to every one of
//! them too. IPv6 duplicate address detection is on in the VM, and the daemon's first round
//! holds (no change fails). The scenarios put forwarded and target-instance IPs and an alias
//! range on GCP's second NIC and a delegated prefix on EC2's secondary ENI; Azure's second NIC
//! has three IP configurations.

mod support;

use cloud_network::metadata::{IpNet, ProviderKind};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::lab::{in_netns, unique_name, Lab};
use support::netns::require_root;
use support::probe::{
    cloud_probers, describe, host_networks, probe_targets, vm_rp_filter, HostNetworks, Prober,
};
use support::scene::{ChildGuard, TempDir};

const CONFIGURE_LIMIT: Duration = Duration::from_secs(15);

/// The provider's built-in scenario with the items the probes need on a non-primary NIC.
fn scenario(provider: ProviderKind) -> String {
    let text = match provider {
        ProviderKind::Azure => include_str!("../src/emulator/scenarios/azure.json"),
        ProviderKind::Aws => include_str!("../src/emulator/scenarios/aws.json"),
        ProviderKind::Gcp => include_str!("../src/emulator/scenarios/gcp.json"),
        ProviderKind::Oracle => include_str!("../src/emulator/scenarios/oracle.json"),
        ProviderKind::Alibaba => include_str!("../src/emulator/scenarios/alibaba.json"),
        ProviderKind::DigitalOcean => include_str!("../src/emulator/scenarios/digitalocean.json"),
    };
    let mut doc: Value = serde_json::from_str(text).expect("scenario JSON");
    match provider {
        ProviderKind::Gcp => {
            let nic1 = &mut doc["instance"]["networkInterfaces"][1];
            nic1["forwardedIps"] = serde_json::json!(["192.168.1.50"]);
            nic1["targetInstanceIps"] = serde_json::json!(["192.168.1.51"]);
        }
        ProviderKind::Aws => {
            let leaf = "meta-data/network/interfaces/macs/0a:3f:5c:1e:7d:02/ipv4-prefix";
            doc[leaf] = Value::from("172.31.26.16/28");
        }
        _ => {}
    }
    doc.to_string()
}

/// What the delegated prefixes are used for on a VM: the first address of each is put on its
/// NIC by hand (as a container runtime would), and the cloud routes the prefix to that NIC.
fn use_delegated_prefixes(lab: &Lab) {
    for (position, nic) in lab.instance.nics.iter().enumerate() {
        let first = nic.ipv4.first().expect("an IPv4 address").addr.to_string();
        for prefix in &nic.delegated_prefixes {
            let IpNet::V4(net) = prefix else { continue };
            let port = format!("vp{position}");
            let net_text = net.to_string();
            lab.cloud.run_ok(&[
                "ip", "route", "replace", &net_text, "via", &first, "dev", &port, "onlink",
            ]);
            let host = format!("{}/32", std::net::Ipv4Addr::from(u32::from(net.addr) + 1));
            let link = format!("eth{position}");
            lab.vm
                .run_ok(&["ip", "address", "add", &host, "dev", &link, "noprefixroute"]);
        }
    }
}

/// Starts the daemon in the VM with `Provider=` and a state directory; its log goes to
/// `daemon.log` in `dir`.
fn start_daemon(lab: &Lab, dir: &Path) -> ChildGuard {
    let config = dir.join("cloud-network.toml");
    let text = format!(
        "[System]\nProvider=\"{}\"\nStateDir=\"{}\"\nRefreshTimer=\"60s\"\nLogLevel=\"debug\"\n",
        lab.provider,
        dir.join("state").display(),
    );
    std::fs::write(&config, text).expect("write config");
    let log = std::fs::File::create(dir.join("daemon.log")).expect("daemon log");
    let child = Command::new("ip")
        .args(["netns", "exec", lab.vm.name()])
        .arg(support::binary())
        .args(["daemon", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start the daemon");
    ChildGuard(child)
}

/// Waits until every target answers the peer and the daemon's status shows its first round.
fn wait_configured(lab: &Lab, dir: &Path) {
    let addresses: Vec<_> = lab.targets().into_iter().map(|(_, a)| a).collect();
    lab.wait_reachable(&addresses, CONFIGURE_LIMIT);
    let start = Instant::now();
    while status(lab).is_none_or(|s| s["last_refresh"].is_null()) {
        assert!(
            start.elapsed() < CONFIGURE_LIMIT,
            "no round after {CONFIGURE_LIMIT:?}:\n{}",
            daemon_log(dir)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /api/v1/status` from the daemon's local API inside the VM.
fn status(lab: &Lab) -> Option<Value> {
    in_netns(lab.vm.name(), || {
        let mut stream = TcpStream::connect(("127.0.0.1", 5209)).ok()?;
        let request =
            "GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1:5209\r\nConnection: close\r\n\r\n";
        stream.write_all(request.as_bytes()).ok()?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).ok()?;
        serde_json::from_str(reply.split_once("\r\n\r\n")?.1).ok()
    })
}

fn daemon_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default()
}

/// Every prober connects to every target; a cloud prober's reply must leave by the NIC that
/// owns the target. The failures, described.
fn probe_all(lab: &Lab, nets: &HostNetworks, cloud: &[std::net::Ipv4Addr]) -> Vec<String> {
    let mut probers: Vec<Prober> = cloud.iter().map(|s| Prober::Cloud(*s)).collect();
    probers.extend([Prober::Container, Prober::Tunnel]);
    let mut failures = Vec::new();
    for (position, target) in probe_targets(lab) {
        let link = format!("eth{position}");
        for prober in &probers {
            let before = lab.tx_packets(&link);
            if !nets.connect(lab, *prober, target) {
                failures.push(format!("{}: no connection", describe(*prober, target)));
            } else if matches!(prober, Prober::Cloud(_)) && lab.tx_packets(&link) == before {
                failures.push(format!(
                    "{}: no reply left {link}",
                    describe(*prober, target)
                ));
            }
        }
    }
    failures
}

/// The IPv6 addresses the daemon added (`noprefixroute`) that are still tentative.
fn tentative(lab: &Lab) -> Vec<String> {
    lab.vm
        .run_ok(&["ip", "-6", "address", "show"])
        .lines()
        .filter(|l| l.contains("noprefixroute") && l.contains("tentative"))
        .map(str::to_string)
        .collect()
}

fn real_traffic(provider: ProviderKind, rp_filter: u8) {
    let dir = TempDir::new("traffic");
    let path = dir.path().join("scenario.json");
    std::fs::write(&path, scenario(provider)).expect("write scenario");
    let name = unique_name(&format!("t{}", &provider.to_string()[..2]));
    let lab = Lab::up(&name, provider, &path, &support::binary());
    vm_rp_filter(&lab, rp_filter);
    let nets = host_networks(&lab);
    use_delegated_prefixes(&lab);
    let probers = cloud_probers(&lab);
    let _daemon = start_daemon(&lab, dir.path());
    wait_configured(&lab, dir.path());
    let drops = lab.spoofed_drops();
    let failures = probe_all(&lab, &nets, &probers);
    let log = daemon_log(dir.path());
    assert!(
        failures.is_empty(),
        "{provider}, rp_filter={rp_filter}:\n{}\ndaemon log:\n{log}",
        failures.join("\n")
    );
    assert_eq!(
        lab.spoofed_drops(),
        drops,
        "the cloud dropped replies sent from a NIC that does not own their source"
    );
    assert_eq!(tentative(&lab), Vec::<String>::new(), "DAD is on in the VM");
    assert!(
        !log.contains(" failed: "),
        "the first round held whole:\n{log}"
    );
}

macro_rules! provider_tests {
    ($module:ident, $provider:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn every_prober_reaches_every_item_with_strict_rp_filter() {
                require_root();
                real_traffic($provider, 1);
            }

            #[test]
            fn every_prober_reaches_every_item_with_loose_rp_filter() {
                require_root();
                real_traffic($provider, 2);
            }
        }
    };
}

provider_tests!(azure, ProviderKind::Azure);
provider_tests!(aws, ProviderKind::Aws);
provider_tests!(gcp, ProviderKind::Gcp);
provider_tests!(oracle, ProviderKind::Oracle);
provider_tests!(alibaba, ProviderKind::Alibaba);
provider_tests!(digitalocean, ProviderKind::DigitalOcean);
