//! End-to-end tests in the lab (root; they run in CI): for Azure, EC2 (IMDSv2 required), GCP
//! OCI (IMDS v2, VM shape: each VNIC its own NIC), Alibaba (security hardening mode required,
//! metadata at 100.100.100.200) and DigitalOcean, the daemon with only `Provider=` set (default metadata endpoints) makes every address
//! of every NIC reachable from a peer host, replies leaving by the NIC that owns them; without
//! it the cloud's anti-spoofing drops them; a hot-plugged NIC, a removed address, a metadata
//! outage and a `kill -9` with restart each end as they should. `CLOUD_NETWORK_TEST_BIN`
//! names another build to run (`.ci/run` runs `reaches_every_address` with the static musl one).

mod support;

use cloud_network::metadata::{IpNet, Ipv4Net, Ipv6Net, ProviderKind};
use cloud_network::netlink::monitor::Event;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::events::KernelEvents;
use support::guest_agent::GuestAgent;
use support::lab::{in_netns, instance_of, unique_name, Lab};
use support::netns::require_root;
use support::scene::{ChildGuard, TempDir};
use support::view::{from_ip, View};

const CONFIGURE_LIMIT: Duration = Duration::from_secs(15);

/// A provider's built-in scenario and how the tests change it.
struct Cloud {
    provider: ProviderKind,
    scenario: &'static str,
    /// The scenario with a third NIC, which the test attaches as eth2.
    add_nic: fn(&str) -> String,
    /// The scenario without one secondary address (or range) of eth1, and that address.
    remove_secondary: fn(&str) -> (String, IpNet),
}

const AZURE: Cloud = Cloud {
    provider: ProviderKind::Azure,
    scenario: include_str!("../src/emulator/scenarios/azure.json"),
    add_nic: azure_add_nic,
    remove_secondary: azure_remove_secondary,
};

const AWS: Cloud = Cloud {
    provider: ProviderKind::Aws,
    scenario: include_str!("../src/emulator/scenarios/aws.json"),
    add_nic: aws_add_nic,
    remove_secondary: aws_remove_secondary,
};

const GCP: Cloud = Cloud {
    provider: ProviderKind::Gcp,
    scenario: include_str!("../src/emulator/scenarios/gcp.json"),
    add_nic: gcp_add_nic,
    remove_secondary: gcp_remove_secondary,
};

const ORACLE: Cloud = Cloud {
    provider: ProviderKind::Oracle,
    scenario: include_str!("../src/emulator/scenarios/oracle.json"),
    add_nic: oracle_add_nic,
    remove_secondary: oracle_remove_secondary,
};

const ALIBABA: Cloud = Cloud {
    provider: ProviderKind::Alibaba,
    scenario: include_str!("../src/emulator/scenarios/alibaba.json"),
    add_nic: alibaba_add_nic,
    remove_secondary: alibaba_remove_secondary,
};

const DIGITALOCEAN: Cloud = Cloud {
    provider: ProviderKind::DigitalOcean,
    scenario: include_str!("../src/emulator/scenarios/digitalocean.json"),
    add_nic: digitalocean_add_nic,
    remove_secondary: digitalocean_remove_anchor,
};

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("scenario JSON")
}

fn host(addr: &str) -> IpNet {
    IpNet::V4(Ipv4Net::host(addr.parse().expect("IPv4 address")))
}

fn azure_add_nic(text: &str) -> String {
    let mut doc = json(text);
    let nic = serde_json::json!({
        "ipv4": {
            "ipAddress": [
                {"privateIpAddress": "10.4.0.20", "publicIpAddress": ""},
                {"privateIpAddress": "10.4.0.21", "publicIpAddress": ""}
            ],
            "subnet": [{"address": "10.4.0.0", "prefix": "24"}]
        },
        "ipv6": {"ipAddress": []},
        "macAddress": "000D3A4F6B12"
    });
    doc["network"]["interface"]
        .as_array_mut()
        .expect("interfaces")
        .push(nic);
    doc.to_string()
}

fn azure_remove_secondary(text: &str) -> (String, IpNet) {
    let mut doc = json(text);
    let addresses = doc["network"]["interface"][1]["ipv4"]["ipAddress"]
        .as_array_mut()
        .expect("eth1 addresses");
    let removed = addresses.pop().expect("a secondary address");
    let ip = removed["privateIpAddress"].as_str().expect("address");
    (doc.to_string(), host(ip))
}

const AWS_MACS: &str = "meta-data/network/interfaces/macs/";

fn aws_add_nic(text: &str) -> String {
    let mut doc = json(text);
    let dir = format!("{AWS_MACS}0a:3f:5c:1e:7d:03/");
    let leaves = [
        ("device-number", "2"),
        ("network-card", "0"),
        ("interface-id", "eni-0a1b2c3d4e5f60003"),
        ("mac", "0a:3f:5c:1e:7d:03"),
        ("local-ipv4s", "172.31.26.50\n172.31.26.51"),
        ("subnet-ipv4-cidr-block", "172.31.16.0/20"),
        ("vpc-ipv4-cidr-block", "172.31.0.0/16"),
    ];
    for (leaf, body) in leaves {
        doc[format!("{dir}{leaf}")] = Value::from(body);
    }
    doc.to_string()
}

fn aws_remove_secondary(text: &str) -> (String, IpNet) {
    let mut doc = json(text);
    let key = format!("{AWS_MACS}0a:3f:5c:1e:7d:02/local-ipv4s");
    assert_eq!(doc[&key], "172.31.25.40\n172.31.25.41");
    doc[&key] = Value::from("172.31.25.40");
    (doc.to_string(), host("172.31.25.41"))
}

fn alibaba_add_nic(text: &str) -> String {
    let mut doc = json(text);
    let dir = format!("{AWS_MACS}00:16:3e:2a:51:03/");
    let leaves = [
        ("network-interface-id", "eni-bp1emu0cloudnet0003"),
        ("primary-ip-address", "172.16.20.50"),
        ("private-ipv4s", r#"["172.16.20.50","172.16.20.51"]"#),
        ("netmask", "255.255.255.0"),
        ("gateway", "172.16.20.253"),
        ("vswitch-cidr-block", "172.16.20.0/24"),
        ("vpc-cidr-block", "172.16.0.0/12"),
    ];
    for (leaf, body) in leaves {
        doc[format!("{dir}{leaf}")] = Value::from(body);
    }
    doc.to_string()
}

fn alibaba_remove_secondary(text: &str) -> (String, IpNet) {
    let mut doc = json(text);
    let key = format!("{AWS_MACS}00:16:3e:2a:51:02/private-ipv4s");
    assert_eq!(doc[&key], r#"["172.16.20.40","172.16.20.41"]"#);
    doc[&key] = Value::from(r#"["172.16.20.40"]"#);
    (doc.to_string(), host("172.16.20.41"))
}

fn gcp_add_nic(text: &str) -> String {
    let mut doc = json(text);
    let nic = serde_json::json!({
        "accessConfigs": [],
        "dnsServers": ["169.254.169.254"],
        "forwardedIps": [],
        "gateway": "172.16.2.1",
        "ip": "172.16.2.7",
        "ipAliases": ["172.16.2.32/28"],
        "mac": "42:01:ac:10:02:07",
        "mtu": 1460,
        "network": "projects/734128890125/networks/storage",
        "subnetmask": "255.255.255.0",
        "targetInstanceIps": []
    });
    doc["instance"]["networkInterfaces"]
        .as_array_mut()
        .expect("interfaces")
        .push(nic);
    doc.to_string()
}

fn gcp_remove_secondary(text: &str) -> (String, IpNet) {
    let mut doc = json(text);
    let aliases = &mut doc["instance"]["networkInterfaces"][1]["ipAliases"];
    assert_eq!(*aliases, serde_json::json!(["192.168.1.64/29"]));
    *aliases = serde_json::json!([]);
    let range = IpNet::V4(Ipv4Net::new(Ipv4Addr::new(192, 168, 1, 64), 29));
    (doc.to_string(), range)
}

fn oracle_add_nic(text: &str) -> String {
    let mut doc = json(text);
    let vnic = serde_json::json!({
        "macAddr": "02:00:17:0A:3C:12",
        "privateIp": "10.0.0.30",
        "subnetCidrBlock": "10.0.0.0/24",
        "virtualRouterIp": "10.0.0.1",
        "vlanTag": 1023,
        "vnicId": "ocid1.vnic.oc1.eu-frankfurt-1.abtheljtthirddemo"
    });
    doc["vnics"].as_array_mut().expect("vnics").push(vnic);
    doc.to_string()
}

/// OCI lists one private IPv4 per VNIC and no secondary ones: the secondary address taken off
/// eth1 is one of its IPv6 addresses.
fn oracle_remove_secondary(text: &str) -> (String, IpNet) {
    let mut doc = json(text);
    let addresses = doc["vnics"][1]["ipv6Addresses"]
        .as_array_mut()
        .expect("eth1 IPv6 addresses");
    let removed = addresses.pop().expect("a second IPv6 address");
    let ip: std::net::Ipv6Addr = removed.as_str().expect("address").parse().expect("IPv6");
    (doc.to_string(), IpNet::V6(Ipv6Net::host(ip)))
}

/// A second public interface: `public[1]`, device index 2.
fn digitalocean_add_nic(text: &str) -> String {
    let mut doc = json(text);
    let nic = serde_json::json!({
        "ipv4": {"ip_address": "192.0.2.40", "netmask": "255.255.255.0", "gateway": "192.0.2.1"},
        "mac": "7a:1e:52:3c:0d:03",
        "type": "public"
    });
    doc["interfaces"]["public"]
        .as_array_mut()
        .expect("public interfaces")
        .push(nic);
    doc.to_string()
}

/// A droplet's only address besides each NIC's own is the anchor IP of eth0.
fn digitalocean_remove_anchor(text: &str) -> (String, IpNet) {
    let mut doc = json(text);
    let public = doc["interfaces"]["public"][0]
        .as_object_mut()
        .expect("public[0]");
    let anchor = public.remove("anchor_ipv4").expect("an anchor IP");
    let ip = anchor["ip_address"].as_str().expect("anchor address");
    (doc.to_string(), host(ip))
}

/// A lab, its files and the daemon. Fields drop in order: daemon, lab, files.
struct Run {
    daemon: Option<ChildGuard>,
    lab: Lab,
    dir: TempDir,
    refresh: &'static str,
}

impl Run {
    fn new(cloud: &Cloud, refresh: &'static str) -> Run {
        let dir = TempDir::new("e2e");
        let scenario = dir.path().join("scenario.json");
        std::fs::write(&scenario, cloud.scenario).expect("write scenario");
        let name = unique_name(&cloud.provider.to_string()[..2]);
        let lab = Lab::up(&name, cloud.provider, &scenario, &binary());
        Run {
            daemon: None,
            lab,
            dir,
            refresh,
        }
    }

    /// The config a user writes: the provider, plus where state goes and the refresh period.
    fn config(&self) -> PathBuf {
        let path = self.dir.path().join("cloud-network.toml");
        let text = format!(
            "[System]\nProvider=\"{}\"\nStateDir=\"{}\"\nRefreshTimer=\"{}\"\nLogLevel=\"debug\"\n",
            self.lab.provider,
            self.dir.path().join("state").display(),
            self.refresh
        );
        std::fs::write(&path, text).expect("write config");
        path
    }

    fn start_daemon(&mut self) {
        let config = self.config();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .expect("daemon log");
        let child = Command::new("ip")
            .args(["netns", "exec", self.lab.vm.name()])
            .arg(binary())
            .args(["daemon", "--config"])
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the daemon");
        self.daemon = Some(ChildGuard(child));
    }

    /// `kill -9`: no clean-up of any kind.
    fn kill_daemon(&mut self) {
        if let Some(mut guard) = self.daemon.take() {
            guard.0.kill().expect("SIGKILL the daemon");
            guard.0.wait().expect("reap the daemon");
        }
    }

    fn addresses(&self) -> Vec<Ipv4Addr> {
        self.lab.targets().into_iter().map(|(_, a)| a).collect()
    }

    /// Starts the daemon and waits until every address answers.
    fn configured(&mut self) {
        self.start_daemon();
        self.lab.wait_reachable(&self.addresses(), CONFIGURE_LIMIT);
    }

    /// Every address answers a ping and accepts a TCP connection.
    fn assert_all_reachable(&self) {
        for address in self.addresses() {
            assert_eq!(self.lab.ping(address, 2), 2, "ping {address}");
            assert!(self.lab.tcp_connect(address), "TCP connect to {address}");
        }
    }

    /// `GET /api/v1/status` from the daemon's local API inside the VM.
    fn status(&self) -> Option<Value> {
        in_netns(self.lab.vm.name(), || {
            let mut stream = TcpStream::connect(("127.0.0.1", 5209)).ok()?;
            stream
                .write_all(b"GET /api/v1/status HTTP/1.1\r\nHost: 127.0.0.1:5209\r\nConnection: close\r\n\r\n")
                .ok()?;
            let mut reply = String::new();
            stream.read_to_string(&mut reply).ok()?;
            let body = reply.split_once("\r\n\r\n")?.1;
            serde_json::from_str(body).ok()
        })
    }

    /// Polls the status until `done` holds (panics after `limit`); returns that status.
    fn wait_status(&self, limit: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            if let Some(status) = self.status().filter(|s| done(s)) {
                return status;
            }
            assert!(
                start.elapsed() < limit,
                "status not reached after {limit:?}: {:?}",
                self.status()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn view(&self) -> View {
        from_ip(&self.lab.vm)
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("daemon.log"));
            eprintln!("daemon log:\n{}", log.unwrap_or_default());
        }
    }
}

fn binary() -> PathBuf {
    support::binary()
}

/// The daemon configures eth1 (and eth0's secondaries): the peer reaches every address by ping
/// and TCP, each reply leaves by the NIC that owns the address, and the cloud drops nothing.
fn reaches_every_address(cloud: &Cloud) {
    let mut run = Run::new(cloud, "2s");
    run.configured();
    let drops = run.lab.spoofed_drops();
    for (position, address) in run.lab.targets() {
        let link = format!("eth{position}");
        let before = run.lab.tx_packets(&link);
        assert_eq!(run.lab.ping(address, 3), 3, "ping {address}");
        assert!(run.lab.tcp_connect(address), "TCP connect to {address}");
        let sent = run.lab.tx_packets(&link) - before;
        assert!(
            sent >= 4,
            "{link} sent {sent} packets for 3 echo replies and a SYN-ACK from {address}"
        );
    }
    assert_eq!(
        run.lab.spoofed_drops(),
        drops,
        "the cloud dropped packets sent from a NIC that does not own their source"
    );
}

/// Without the daemon, the usual hand configuration (every address on its NIC, no policy
/// routing) leaves the second NIC unreachable: its replies leave by eth0, and the cloud drops
/// them; so is an address with its own gateway (DigitalOcean's anchor IP, added as cloud-init
/// does), whose replies leave by the NIC's gateway instead of its own. The primary NIC's
/// addresses answer, so the lab itself is sound.
fn fails_without_daemon(cloud: &Cloud) {
    let run = Run::new(cloud, "2s");
    let lab = &run.lab;
    let mut unreachable = Vec::new();
    for (position, nic) in lab.instance.nics.iter().enumerate() {
        let link = format!("eth{position}");
        lab.vm.run_ok(&["ip", "link", "set", &link, "up"]);
        for address in nic.ipv4.iter().skip(usize::from(position == 0)) {
            lab.vm
                .run_ok(&["ip", "address", "add", &address.to_string(), "dev", &link]);
        }
        for routed in &nic.routed_ipv4 {
            lab.vm.run_ok(&[
                "ip",
                "address",
                "add",
                &routed.addr.to_string(),
                "dev",
                &link,
            ]);
            unreachable.push(routed.addr.addr);
        }
        if position > 0 {
            unreachable.extend(nic.ipv4.iter().map(|a| a.addr));
        }
    }
    let primary = &lab.instance.nics[0];
    for address in &primary.ipv4 {
        assert_eq!(
            lab.ping(address.addr, 1),
            1,
            "primary NIC address {address}"
        );
    }
    let drops = lab.spoofed_drops();
    for address in unreachable {
        assert_eq!(lab.ping(address, 2), 0, "{address} answered");
        assert!(!lab.tcp_connect(address), "TCP to {address} connected");
    }
    assert!(
        lab.spoofed_drops() > drops,
        "the cloud saw no packet from the wrong NIC"
    );
}

/// A NIC attached while the daemon runs (long refresh period: only the hot-plug path can pick
/// it up in time) is reachable within 2 s of its metadata appearing.
fn hotplug_third_nic(cloud: &Cloud) {
    let mut run = Run::new(cloud, "60s");
    run.configured();
    let text = (cloud.add_nic)(cloud.scenario);
    let grown = instance_of(cloud.provider, &text);
    run.lab.attach(2, &grown.nics[2]);
    std::thread::sleep(Duration::from_millis(300));
    run.lab.set_scenario(&text);
    let new: Vec<Ipv4Addr> = run
        .lab
        .targets()
        .into_iter()
        .filter(|(position, _)| *position == 2)
        .map(|(_, a)| a)
        .collect();
    assert!(!new.is_empty());
    let took = run.lab.wait_reachable(&new, Duration::from_secs(2));
    eprintln!(
        "{}: eth2 reachable {took:?} after its metadata",
        cloud.provider
    );
    for address in new {
        let before = run.lab.tx_packets("eth2");
        assert_eq!(run.lab.ping(address, 3), 3, "ping {address}");
        assert!(
            run.lab.tx_packets("eth2") - before >= 3,
            "replies left by eth2"
        );
    }
    run.assert_all_reachable();
}

/// The view's address, local-route and rule lines that name `net` (an address: with any prefix).
fn mentions(view: &View, net: &IpNet) -> Vec<String> {
    let (addr, whole) = (net.addr().to_string(), net.to_string());
    let names = |token: &str| match net {
        IpNet::V4(n) if n.prefix == 32 => token.split('/').next() == Some(addr.as_str()),
        IpNet::V6(n) if n.prefix == 128 => token.split('/').next() == Some(addr.as_str()),
        _ => token == whole,
    };
    [&view.addresses, &view.local, &view.rules]
        .into_iter()
        .flatten()
        .filter(|line| line.split_whitespace().any(names))
        .cloned()
        .collect()
}

/// A secondary address taken off eth1 in the metadata is removed from the VM (address, local
/// route, rules); every other address keeps working.
fn removed_address_goes(cloud: &Cloud) {
    let mut run = Run::new(cloud, "1s");
    run.configured();
    let (text, removed) = (cloud.remove_secondary)(cloud.scenario);
    let configured = mentions(&run.view(), &removed);
    assert_eq!(
        configured.len(),
        3,
        "first an address or local route, and two rules: {configured:?}"
    );
    run.lab.set_scenario(&text);
    run.lab.withdraw(removed);
    let start = Instant::now();
    while !mentions(&run.view(), &removed).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "{removed} still configured: {:?}",
            mentions(&run.view(), &removed)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    run.assert_all_reachable();
}

/// With the metadata service down for three refresh periods nothing changes on the VM and
/// traffic keeps flowing; when it is back, a round changes nothing either.
fn metadata_outage_changes_nothing(cloud: &Cloud) {
    let mut run = Run::new(cloud, "1s");
    run.configured();
    let before = run.view();
    run.lab.stop_emulator();
    let outage = Instant::now();
    let status = run.wait_status(Duration::from_secs(10), |s| !s["last_error"].is_null());
    let message = status["last_error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("metadata fetch failed"), "{status}");
    run.assert_all_reachable();
    std::thread::sleep(Duration::from_millis(3500).saturating_sub(outage.elapsed()));
    assert_eq!(run.view(), before, "the outage changed the VM");
    run.assert_all_reachable();
    run.lab.start_emulator();
    let status = run.wait_status(Duration::from_secs(10), |s| s["last_error"].is_null());
    assert_eq!(status["last_refresh"]["result"], "ok", "{status}");
    assert_eq!(status["last_refresh"]["changes"], 0, "{status}");
    assert_eq!(run.view(), before, "the recovery changed the VM");
}

/// `kill -9` in mid-run, start again: the first round finds everything in place (zero
/// writes), no rule is duplicated, and traffic flows.
fn restart_after_kill(cloud: &Cloud) {
    let mut run = Run::new(cloud, "1s");
    run.configured();
    run.wait_status(Duration::from_secs(5), |s| !s["last_refresh"].is_null());
    let before = run.view();
    run.kill_daemon();
    run.start_daemon();
    let status = run.wait_status(Duration::from_secs(10), |s| !s["last_refresh"].is_null());
    assert_eq!(status["last_refresh"]["result"], "ok", "{status}");
    assert_eq!(status["last_refresh"]["changes"], 0, "{status}");
    let after = run.view();
    assert_eq!(after, before, "the restart changed the VM");
    let mut rules = after.rules.clone();
    rules.dedup();
    assert_eq!(rules, after.rules, "duplicate rules");
    run.assert_all_reachable();
}

macro_rules! provider_tests {
    ($module:ident, $cloud:expr) => {
        mod $module {
            use super::*;

            #[test]
            fn reaches_every_address_by_the_right_nic() {
                require_root();
                reaches_every_address(&$cloud);
            }

            #[test]
            fn second_nic_fails_without_the_daemon() {
                require_root();
                fails_without_daemon(&$cloud);
            }

            #[test]
            fn hot_plugged_nic_reachable_within_2s() {
                require_root();
                hotplug_third_nic(&$cloud);
            }

            #[test]
            fn removed_secondary_address_goes() {
                require_root();
                removed_address_goes(&$cloud);
            }

            #[test]
            fn metadata_outage_changes_nothing() {
                require_root();
                super::metadata_outage_changes_nothing(&$cloud);
            }

            #[test]
            fn kill_9_and_restart_writes_nothing() {
                require_root();
                restart_after_kill(&$cloud);
            }
        }
    };
}

provider_tests!(azure, AZURE);
provider_tests!(aws, AWS);
provider_tests!(gcp, GCP);
provider_tests!(oracle, ORACLE);
provider_tests!(alibaba, ALIBABA);
provider_tests!(digitalocean, DIGITALOCEAN);

/// The GCP scenario with these forwarded IPs on nic0.
fn gcp_forwarding(ips: &[&str]) -> String {
    let mut doc = json(GCP.scenario);
    doc["instance"]["networkInterfaces"][0]["forwardedIps"] = serde_json::json!(ips);
    doc.to_string()
}

/// The VM's local routes made by google-guest-agent (`proto 66`) or by us (201): destination
/// and protocol, sorted.
fn agent_and_our_local_routes(lab: &Lab) -> Vec<(String, String)> {
    let routes = lab.vm.json(&[
        "ip", "-j", "route", "show", "table", "local", "type", "local",
    ]);
    let mut found: Vec<(String, String)> = routes
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let protocol = match &r["protocol"] {
                Value::String(p) => p.clone(),
                other => other.to_string(),
            };
            let dst = r["dst"].as_str()?.to_string();
            ["66", "201"]
                .contains(&protocol.as_str())
                .then_some((dst, protocol))
        })
        .collect();
    found.sort();
    found
}

/// Waits until the local routes are exactly `want` (destination, protocol).
fn wait_local_routes(lab: &Lab, want: &[(&str, &str)], agent_log: &dyn Fn() -> String) {
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(d, p)| (d.to_string(), p.to_string()))
        .collect();
    let seen = support::running::wait_for(Duration::from_secs(30), || {
        let now = agent_and_our_local_routes(lab);
        (now == want).then_some(())
    });
    assert!(
        seen.is_some(),
        "local routes {:?}, want {want:?}\nagent log:\n{}",
        agent_and_our_local_routes(lab),
        agent_log()
    );
}

/// Events of the agent's and our local routes (for `dst`, or all) in `events`: (added, deleted).
fn local_route_events(events: &[Event], dst: Option<&str>) -> (usize, usize) {
    // The agent's (proto 66) and ours (proto 201): the kernel's own local routes for the
    // link-local addresses that finish duplicate address detection meanwhile are not a fight.
    let matches = |r: &cloud_network::kernel::Route| {
        r.table == cloud_network::kernel::TABLE_LOCAL
            && r.kind == cloud_network::kernel::RouteType::Local
            && [
                cloud_network::kernel::RTPROT_GCE_AGENT,
                cloud_network::kernel::RTPROT_CLOUD_NETWORK,
            ]
            .contains(&r.protocol)
            && dst.is_none_or(|d| r.dst.to_string() == d)
    };
    let added = events
        .iter()
        .filter(|e| matches!(e, Event::RouteNew(r) if matches(r)))
        .count();
    let deleted = events
        .iter()
        .filter(|e| matches!(e, Event::RouteDel(r) if matches(r)))
        .count();
    (added, deleted)
}

/// google-guest-agent 20211116 (Debian's) beside the daemon in the GCP lab: the agent alone
/// makes its `proto 66` routes; the daemon then takes them over in place; both for 60 s make
/// no kernel event; a forwarded IP dropped while both run goes, one added ends as ours; after
/// the agent stopped, a dropped forwarded IP still goes (on 5f60ef8 it stayed local for ever).
#[test]
#[ignore = "runs google-guest-agent from Debian's archive in the lab (root; .ci/run extracts it and sets CLOUD_NETWORK_NEIGHBOURS): .ci/run runs it, or cargo test --test e2e -- --ignored beside"]
fn gcp_beside_google_guest_agent_takes_over_without_flapping_and_leaves_nothing_stale() {
    require_root();
    let mut run = Run::new(&GCP, "300s");
    let three = ["34.120.88.10", "34.120.88.11", "34.120.88.12"];
    run.lab.set_scenario(&gcp_forwarding(&three));
    let mut agent = GuestAgent::start(&run.lab, run.dir.path());
    let log_path = agent.log.clone();
    let log = move || std::fs::read_to_string(&log_path).unwrap_or_default();
    let routes =
        |ips: &[&'static str], protocol: &'static str| -> Vec<(&'static str, &'static str)> {
            let mut all: Vec<(&str, &str)> = ["10.8.1.0/24", "192.168.1.64/29"]
                .into_iter()
                .chain(ips.iter().copied())
                .map(|d| (d, protocol))
                .collect();
            all.sort();
            all
        };
    wait_local_routes(&run.lab, &routes(&three, "66"), &log);

    run.start_daemon();
    wait_local_routes(&run.lab, &routes(&three, "201"), &log);

    let mut events = {
        let _inside = run.lab.vm.enter();
        KernelEvents::open()
    };
    std::thread::sleep(Duration::from_secs(60));
    let soak = events.drain();
    assert_eq!(
        local_route_events(&soak, None),
        (0, 0),
        "60 s side by side: {soak:?}"
    );

    let changed = ["34.120.88.10", "34.120.88.11", "34.120.88.13"];
    run.lab.set_scenario(&gcp_forwarding(&changed));
    wait_local_routes(&run.lab, &routes(&changed, "201"), &log);
    let change = events.drain();
    assert_eq!(
        local_route_events(&change, Some("34.120.88.12/32")),
        (0, 1),
        "{change:?}"
    );
    let (added, deleted) = local_route_events(&change, Some("34.120.88.13/32"));
    assert!(added <= 2 && deleted == 0, "{change:?}");

    agent.stop();
    let after = ["34.120.88.10", "34.120.88.13"];
    run.lab.set_scenario(&gcp_forwarding(&after));
    wait_local_routes(&run.lab, &routes(&after, "201"), &log);
}
