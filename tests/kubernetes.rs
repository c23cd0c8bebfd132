//! Kubernetes nodes in the lab (root; they run in CI): for each CNI that hands the VM's
//! metadata addresses to pods — the AWS VPC CNI (EKS), Azure CNI (AKS), GKE's alias-IP pods —
//! a pod namespace holds such an address on a veth, wired as the CNI wires it, and the peer
//! host reaches the pod before and after the daemon runs with the settings cloud-network(8)
//! gives for that flavour ("KUBERNETES NODES"); nothing of ours lands on what the CNI owns,
//! and the rest of the VM is still configured. Without those settings the VM takes the pod's
//! address for its own and the pod is cut off: each test checks that too.

mod support;

use cloud_network::metadata::ProviderKind;
use serde_json::Value;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::binary;
use support::lab::{in_netns, unique_name, Lab};
use support::netns::require_root;
use support::pod::Pod;
use support::running::{request, wait_for, Daemon, API};
use support::scene::TempDir;

/// One flavour: the cloud, the pod's address and the NIC it comes from, the CNI's own rule
/// (`ip rule add ...` arguments) if it makes one, and the settings of cloud-network(8).
struct Flavour {
    provider: ProviderKind,
    scenario: &'static str,
    pod_ip: &'static str,
    nic: &'static str,
    cni_rule: &'static [&'static str],
    settings: &'static str,
}

const EKS: Flavour = Flavour {
    provider: ProviderKind::Aws,
    scenario: include_str!("../src/emulator/scenarios/aws.json"),
    pod_ip: "172.31.20.11",
    nic: "eth0",
    cni_rule: &["to", "172.31.20.11/32", "lookup", "main", "priority", "512"],
    settings: "SecondaryAddresses = false\nDelegatedPrefixes = false\nIgnoreDeviceIndexes = \"1-1000000\"\n",
};

const AKS: Flavour = Flavour {
    provider: ProviderKind::Azure,
    scenario: include_str!("../src/emulator/scenarios/azure.json"),
    pod_ip: "10.4.0.8",
    nic: "eth0",
    cni_rule: &[],
    settings: "SecondaryAddresses = false\n",
};

const GKE: Flavour = Flavour {
    provider: ProviderKind::Gcp,
    scenario: include_str!("../src/emulator/scenarios/gcp.json"),
    pod_ip: "10.8.1.5",
    nic: "eth0",
    cni_rule: &[],
    settings: "AliasRanges = false\n",
};

struct Node {
    pod: Pod,
    lab: Lab,
    dir: TempDir,
}

impl Node {
    fn up(flavour: &Flavour) -> Node {
        let dir = TempDir::new("k8s");
        let scenario = dir.path().join("scenario.json");
        std::fs::write(&scenario, flavour.scenario).expect("write scenario");
        let name = unique_name(&format!("k{}", &flavour.provider.to_string()[..1]));
        let lab = Lab::up(&name, flavour.provider, &scenario, &binary());
        let ip: Ipv4Addr = flavour.pod_ip.parse().expect("pod address");
        let pod = Pod::up(&lab, ip, flavour.nic);
        if !flavour.cni_rule.is_empty() {
            lab.vm
                .run_ok(&[&["ip", "rule", "add"], flavour.cni_rule].concat());
        }
        Node { pod, lab, dir }
    }

    /// `cloud-network daemon --oneshot` in the VM with `network` as its `[Network]` section.
    fn oneshot(&self, network: &str) {
        let config = self.dir.path().join("cloud-network.toml");
        let text = format!(
            "[System]\nProvider=\"{}\"\nStateDir=\"{}\"\n[Network]\n{network}",
            self.lab.provider,
            self.dir.path().join("state").display()
        );
        std::fs::write(&config, text).expect("write config");
        run_oneshot(self.lab.vm.name(), &config);
    }

    fn json(&self, args: &[&str]) -> Vec<Value> {
        match self.lab.vm.json(args) {
            Value::Array(items) => items,
            other => panic!("{args:?}: not a list: {other}"),
        }
    }

    /// Everything in the VM that takes the pod's address and is not the CNI's: addresses,
    /// rules other than the CNI's, routes of ours to it alone or making it local (a NIC's
    /// subnet route in its own table, for replies from the NIC's addresses, is not one).
    fn ours_on_the_pod(&self, flavour: &Flavour) -> Vec<String> {
        let ip = self.pod.ip;
        let mut found = Vec::new();
        for link in self.json(&["ip", "-j", "-4", "address", "show"]) {
            for info in link["addr_info"].as_array().into_iter().flatten() {
                if info["local"] == ip.to_string() {
                    found.push(format!("address on {}", link["ifname"]));
                }
            }
        }
        for rule in self.json(&["ip", "-j", "-4", "rule", "show"]) {
            let names_pod = [&rule["src"], &rule["dst"]]
                .iter()
                .any(|v| v.as_str() == Some(&ip.to_string()));
            let cni = !flavour.cni_rule.is_empty() && rule["priority"] == 512;
            if names_pod && !cni {
                found.push(format!("rule {rule}"));
            }
        }
        for route in self.json(&["ip", "-j", "-4", "route", "show", "table", "all"]) {
            let dst = route["dst"].as_str().unwrap_or_default();
            let ours = route["protocol"] == "201";
            let takes_pod = route["type"] == "local" && covers(dst, ip) || dst == ip.to_string();
            if ours && takes_pod {
                found.push(format!("route {route}"));
            }
        }
        found
    }
}

fn run_oneshot(vm: &str, config: &Path) {
    let out = Command::new("ip")
        .args(["netns", "exec", vm])
        .arg(binary())
        .args(["daemon", "--oneshot", "--config"])
        .arg(config)
        .output()
        .expect("run the daemon");
    assert!(
        out.status.success(),
        "oneshot: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether the route destination `dst` (`a.b.c.d`, `a.b.c.d/n` or `default`) holds `ip`.
fn covers(dst: &str, ip: Ipv4Addr) -> bool {
    let (addr, prefix) = match dst.split_once('/') {
        Some((addr, prefix)) => (addr, prefix.parse::<u32>().unwrap_or(32)),
        None if dst == "default" => return false,
        None => (dst, 32),
    };
    let Ok(addr) = addr.parse::<Ipv4Addr>() else {
        return false;
    };
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(addr) & mask == u32::from(ip) & mask
}

/// The pod is reachable before and after the daemon runs with the flavour's settings, nothing
/// of ours names its address, and the daemon still configured `configured` (an address that
/// must be on the VM after the round).
fn pod_keeps_its_address(flavour: &Flavour, configured: &str) {
    let node = Node::up(flavour);
    assert!(
        node.pod.reachable_from_peer(&node.lab),
        "pod before the daemon"
    );
    node.oneshot(flavour.settings);
    assert!(
        node.pod.reachable_from_peer(&node.lab),
        "pod after the daemon"
    );
    assert_eq!(node.ours_on_the_pod(flavour), Vec::<String>::new());
    node.oneshot(flavour.settings);
    assert!(
        node.pod.reachable_from_peer(&node.lab),
        "pod after a second round"
    );
    let addresses = node.lab.vm.run_ok(&["ip", "-4", "address", "show"]);
    assert!(
        addresses.contains(&format!(" {configured}/")),
        "{configured} not configured:\n{addresses}"
    );
}

/// Without the settings the daemon takes the pod's address (or range) for the VM: the pod is
/// cut off. This is what the settings are for.
fn without_the_settings_the_pod_is_cut_off(flavour: &Flavour) {
    let node = Node::up(flavour);
    assert!(
        node.pod.reachable_from_peer(&node.lab),
        "pod before the daemon"
    );
    node.oneshot("");
    assert!(
        !node.pod.reachable_from_peer(&node.lab),
        "pod after the daemon"
    );
    assert_ne!(node.ours_on_the_pod(flavour), Vec::<String>::new());
}

#[test]
fn eks_vpc_cni_pod_keeps_its_secondary_address() {
    require_root();
    pod_keeps_its_address(&EKS, "172.31.20.10");
    let node = Node::up(&EKS);
    node.oneshot(EKS.settings);
    let eth1 = node
        .lab
        .vm
        .run_ok(&["ip", "-4", "address", "show", "dev", "eth1"]);
    assert!(
        !eth1.contains("inet "),
        "the CNI's ENI is left alone: {eth1}"
    );
    without_the_settings_the_pod_is_cut_off(&EKS);
}

#[test]
fn aks_azure_cni_pod_keeps_its_secondary_address() {
    require_root();
    pod_keeps_its_address(&AKS, "10.4.0.5");
    without_the_settings_the_pod_is_cut_off(&AKS);
}

#[test]
fn gke_alias_ip_pod_keeps_its_alias_range_address() {
    require_root();
    pod_keeps_its_address(&GKE, "192.168.1.5");
    without_the_settings_the_pod_is_cut_off(&GKE);
}

/// Whether the VM has `ip` on any link.
fn vm_has(lab: &Lab, ip: &str) -> bool {
    let shown = lab.vm.run_ok(&["ip", "-4", "address", "show"]);
    shown.contains(&format!(" {ip}/"))
}

/// An opt-out set at SIGHUP releases what the daemon added there: the metadata then drops a
/// secondary address and the daemon, which would have removed it before, leaves it (on
/// 5f60ef8 the key is unknown and the address goes).
#[test]
fn an_opt_out_set_at_sighup_forgets_the_addresses_without_deleting_them() {
    require_root();
    let node = Node::up(&AKS);
    let config = node.dir.path().join("cloud-network.toml");
    let write = |network: &str| {
        let text = format!(
            "[System]\nProvider=\"azure\"\nStateDir=\"{}\"\nRefreshTimer=\"1s\"\n[Network]\n{network}",
            node.dir.path().join("state").display()
        );
        std::fs::write(&config, text).expect("write config");
    };
    write("");
    let log = node.dir.path().join("daemon.log");
    let daemon = Daemon::start(&node.lab.vm, &config, &log, &[]);
    let configured = wait_for(Duration::from_secs(15), || {
        vm_has(&node.lab, "10.4.0.9").then_some(())
    });
    assert!(
        configured.is_some(),
        "10.4.0.9 configured:\n{}",
        daemon.log_text()
    );
    write("SecondaryAddresses = false\n");
    // SAFETY: kill has no memory effects; the pid is the daemon this test started.
    assert_eq!(
        unsafe { libc::kill(daemon.pid as libc::pid_t, libc::SIGHUP) },
        0
    );
    let reloaded = wait_for(Duration::from_secs(10), || {
        (!daemon.log_lines("config reloaded").is_empty()).then_some(())
    });
    assert!(reloaded.is_some(), "{}", daemon.log_text());
    let mut doc: Value = serde_json::from_str(AKS.scenario).expect("scenario");
    let addresses = doc["network"]["interface"][0]["ipv4"]["ipAddress"]
        .as_array_mut()
        .expect("eth0 addresses");
    addresses.retain(|a| a["privateIpAddress"] != "10.4.0.9");
    let mut lab = node.lab;
    lab.set_scenario(&doc.to_string());
    let seen = wait_for(Duration::from_secs(15), || {
        in_netns(lab.vm.name(), || {
            let (_, body) = request(API, "GET", "/api/v1/system", Duration::from_secs(2))?;
            (!body.contains("10.4.0.9") && body.contains("10.4.0.8")).then_some(())
        })
    });
    assert!(
        seen.is_some(),
        "the daemon did not read the new metadata:\n{}",
        daemon.log_text()
    );
    assert!(
        vm_has(&lab, "10.4.0.9"),
        "released, not deleted:\n{}",
        daemon.log_text()
    );
    assert!(vm_has(&lab, "10.4.0.8"));
    drop(daemon);
    drop(node.pod);
}
