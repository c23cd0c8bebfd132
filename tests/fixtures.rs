//! Every Azure and GCP fixture in tests/fixtures parses, and the notable ones normalize to
//! exactly the expected model (MACs, prefixes, gateways, MTU, alias ranges, IPv6, 64-bit ids).

use cloud_network::metadata::{azure, gcp, Instance, IpNet, Ipv4Net, Ipv6Net, Nic, ProviderKind};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

fn fixtures(provider: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(provider)
}

fn read(provider: &str, name: &str) -> String {
    let path = fixtures(provider).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json_files(provider: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures(provider))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn v4(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn ip4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn nic(mac: &str, index: u32, addrs: &[&str], subnet: &str, gateway: &str) -> Nic {
    let mut nic = Nic::new(mac.parse().unwrap(), index);
    nic.ipv4 = addrs.iter().map(|a| v4(a)).collect();
    nic.subnet4 = Some(v4(subnet));
    nic.gateway4 = Some(ip4(gateway));
    nic
}

const AZURE_GATEWAY6: &str = "fe80::1234:5678:9abc";

#[test]
fn every_azure_fixture_parses() {
    let files = json_files("azure");
    assert_eq!(files.len(), 10);
    for path in files {
        let body = std::fs::read_to_string(&path).unwrap();
        let instance = azure::parse(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(instance.provider, ProviderKind::Azure);
        assert!(!instance.nics.is_empty(), "{}", path.display());
    }
}

#[test]
fn every_gcp_fixture_parses() {
    let files = json_files("gcp");
    assert_eq!(files.len(), 4);
    for path in files {
        let body = std::fs::read_to_string(&path).unwrap();
        let nics = if path.ends_with("dranet-five-nics-network-interfaces-subtree.json") {
            let value: serde_json::Value = serde_json::from_str(&body).unwrap();
            gcp::parse_network_interfaces(&value)
        } else {
            gcp::parse(&body).map(|i| i.nics)
        };
        let nics = nics.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!nics.is_empty(), "{}", path.display());
    }
}

#[test]
fn azure_three_nics() {
    let instance = azure::parse(&read("azure", "cloudinit-three-nics.json")).unwrap();
    assert_eq!(instance.instance_id, "ff702a6b-cb6a-4fcd-ad68-b4ce38227642");
    assert_eq!(instance.location, "eastus2");
    let mut nic0 = nic(
        "00:0d:3a:04:75:98",
        0,
        &["10.0.0.4/24"],
        "10.0.0.0/24",
        "10.0.0.1",
    );
    nic0.public_ipv4s = vec![ip4("104.46.124.81")];
    let nic1 = nic(
        "22:0d:3a:04:75:98",
        1,
        &["10.0.1.5/24"],
        "10.0.1.0/24",
        "10.0.1.1",
    );
    let nic2 = nic(
        "33:0d:3a:04:75:98",
        2,
        &["10.0.2.6/24"],
        "10.0.2.0/24",
        "10.0.2.1",
    );
    assert_eq!(instance.nics, [nic0, nic1, nic2]);
    assert_eq!(instance.raw["compute"]["vmSize"], "Standard_DS1_v2");
}

#[test]
fn azure_docs_ipv6_with_placeholder_public_ip() {
    let instance = azure::parse(&read("azure", "docs-network-ipv6-partial.json")).unwrap();
    assert_eq!(instance.instance_id, "");
    let mut expected = nic(
        "00:0d:3a:f8:06:ec",
        0,
        &["10.1.0.4/24"],
        "10.1.0.0/24",
        "10.1.0.1",
    );
    expected.ipv6 = vec!["b4bc:8fce:f33b:4990:cced:d94e:ab4f:6ea0/128"
        .parse()
        .unwrap()];
    expected.gateway6 = Some(AZURE_GATEWAY6.parse().unwrap());
    assert_eq!(instance.nics, [expected]);
}

#[test]
fn azure_secondary_ipv4s_outside_the_subnet_and_ipv6_subnet() {
    let body = read("azure", "cloudinit-secondary-ipv4s-ipv6-partial.json");
    let instance = azure::parse(&body).unwrap();
    let addrs = ["10.0.0.4/24", "11.0.0.5/32", "12.0.0.6/32"];
    let mut expected = nic("00:0d:3a:04:75:98", 0, &addrs, "10.0.0.0/24", "10.0.0.1");
    expected.public_ipv4s = ["104.46.124.81", "104.46.124.82", "104.46.124.83"]
        .map(ip4)
        .to_vec();
    expected.ipv6 = vec!["2001:dead:beef::1/10".parse().unwrap()];
    expected.subnet6 = Some("2000::/10".parse::<Ipv6Net>().unwrap());
    expected.gateway6 = Some(AZURE_GATEWAY6.parse::<Ipv6Addr>().unwrap());
    assert_eq!(instance.nics, [expected]);
}

#[test]
fn azure_ipv6_only_and_empty_address_list() {
    let body = read("azure", "cloudinit-ipv6-only-secondaries-partial.json");
    let only6 = &azure::parse(&body).unwrap().nics[0];
    assert!(only6.ipv4.is_empty() && only6.gateway4.is_none() && only6.subnet4.is_none());
    let v6: Vec<Ipv6Net> = ["2001:dead:beef::1/10", "2001:dead:beef::2/10"]
        .map(|s| s.parse().unwrap())
        .to_vec();
    assert_eq!(only6.ipv6, v6);

    let body = read("azure", "cloudinit-secondary-nic-no-ip.json");
    let second = &azure::parse(&body).unwrap().nics[1];
    assert_eq!(
        *second,
        nic("22:0d:3a:04:75:98", 1, &[], "10.0.1.0/24", "10.0.1.1")
    );
}

fn gcp_nic(mac: &str, index: u32, ip: &str, subnet: &str, gateway: &str, mtu: u32) -> Nic {
    let mut n = nic(mac, index, &[ip], subnet, gateway);
    n.mtu = Some(mtu);
    n
}

#[test]
fn gcp_dranet_five_nics() {
    let body = read("gcp", "dranet-five-nics-network-interfaces-subtree.json");
    let nics = gcp::parse_network_interfaces(&serde_json::from_str(&body).unwrap()).unwrap();
    let mut nic0 = gcp_nic(
        "42:01:0a:80:00:46",
        0,
        "10.128.0.70/32",
        "10.128.0.0/20",
        "10.128.0.1",
        1460,
    );
    nic0.ip_ranges = vec!["10.24.3.0/24".parse::<IpNet>().unwrap()];
    nic0.public_ipv4s = vec![ip4("35.225.164.134")];
    let mut expected = vec![nic0];
    for n in 1..=4u32 {
        expected.push(gcp_nic(
            &format!("42:01:c0:a8:{n:02x}:02"),
            n,
            &format!("192.168.{n}.2/32"),
            &format!("192.168.{n}.0/24"),
            &format!("192.168.{n}.1"),
            8244,
        ));
    }
    assert_eq!(nics, expected);
}

#[test]
fn gcp_facter_exact_id_and_nic() {
    let instance: Instance = gcp::parse(&read("gcp", "facter-recursive.json")).unwrap();
    assert_eq!(instance.instance_id, "2206944706428651580");
    assert_eq!(instance.location, "europe-west3");
    let mut expected = gcp_nic(
        "42:01:0a:9c:00:04",
        0,
        "10.156.0.4/32",
        "10.156.0.0/20",
        "10.156.0.1",
        1460,
    );
    expected.public_ipv4s = vec![ip4("34.89.230.102")];
    assert_eq!(instance.nics, [expected]);
    assert_eq!(
        instance.raw["project"]["numericProjectId"].as_u64(),
        Some(728618928092)
    );
}

#[test]
fn gcp_old_format_and_rounded_ids_stay_exact() {
    let old = gcp::parse(&read("gcp", "datadog-gke-node-recursive.json")).unwrap();
    assert_eq!(old.instance_id, "1111111111111111111");
    assert_eq!(old.location, "us-east1");
    let mut expected = Nic::new("42:01:0a:8e:00:02".parse().unwrap(), 0);
    expected.ipv4 = vec![v4("10.142.0.2/32")];
    expected.public_ipv4s = vec![ip4("111.111.111.11")];
    assert_eq!(old.nics, [expected]);

    let body = read("gcp", "gce-metadata-server-emulator-recursive.json");
    let emulator = gcp::parse(&body).unwrap();
    assert_eq!(emulator.instance_id, "5775171277418378000");
    assert_eq!(emulator.location, "us-central1");
}
