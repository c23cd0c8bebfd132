//! Every DigitalOcean test document in `tests/fixtures/digitalocean` (see its README for where
//! each shape comes from) normalizes to exactly the expected model: device indexes, MACs,
//! prefixes from netmasks, gateways, uncompressed IPv6, the anchor IP with its own gateway and
//! the reserved IP.

use cloud_network::metadata::{digitalocean, Instance, Ipv4Net, Nic, ProviderKind, RoutedIpv4};
use std::path::Path;

const DOCUMENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/digitalocean");

fn parse(name: &str) -> Instance {
    let path = Path::new(DOCUMENTS).join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    digitalocean::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn v4(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

/// A NIC with one IPv4 address (prefix from the netmask) and its gateway.
fn nic(mac: &str, index: u32, address: &str, gateway: &str) -> Nic {
    let mut nic = Nic::new(mac.parse().unwrap(), index);
    let address = v4(address);
    nic.ipv4 = vec![address];
    nic.subnet4 = Some(address.network());
    nic.gateway4 = Some(gateway.parse().unwrap());
    nic
}

fn with_ipv6(mut nic: Nic, address: &str, gateway: &str) -> Nic {
    let address: cloud_network::metadata::Ipv6Net = address.parse().unwrap();
    nic.ipv6 = vec![address];
    nic.subnet6 = Some(address.network());
    nic.gateway6 = Some(gateway.parse().unwrap());
    nic
}

fn with_anchor(mut nic: Nic, address: &str, gateway: &str) -> Nic {
    nic.routed_ipv4 = vec![RoutedIpv4 {
        addr: v4(address),
        gateway: gateway.parse().unwrap(),
    }];
    nic
}

#[test]
fn there_are_three_documents() {
    let count = std::fs::read_dir(DOCUMENTS)
        .unwrap()
        .filter(|e| {
            let path = e.as_ref().unwrap().path();
            path.extension().is_some_and(|x| x == "json")
        })
        .count();
    assert_eq!(count, 3);
}

#[test]
fn reference_document_two_nics_anchor_and_one_reserved_ip_under_both_names() {
    let instance = parse("reference-two-nics-reserved-ip.json");
    assert_eq!(instance.provider, ProviderKind::DigitalOcean);
    assert_eq!(instance.instance_id, "3164444");
    assert_eq!(instance.location, "fra1");
    let public = nic("16:a4:3b:7e:20:01", 0, "203.0.113.45/20", "203.0.112.1");
    let public = with_ipv6(public, "2a03:b0c0:3:d0::a4f:7001/64", "2a03:b0c0:3:d0::1");
    let mut public = with_anchor(public, "10.19.0.5/16", "10.19.0.1");
    public.public_ipv4s = vec!["198.51.100.77".parse().unwrap()];
    let private = nic("16:a4:3b:7e:20:02", 1, "10.114.0.2/20", "10.114.0.1");
    assert_eq!(instance.nics, [public, private]);
}

#[test]
fn capture_with_string_id_private_first_and_gateway_off_subnet() {
    let instance = parse("capture-string-id-gateway-off-subnet.json");
    assert_eq!(instance.instance_id, "22532410");
    assert_eq!(instance.location, "nyc3");
    let public = nic("04:01:57:d1:9e:01", 0, "192.0.0.20/24", "104.236.0.1");
    let public = with_ipv6(public, "2604:a880:800:0:1000::/64", "2604:a880:800::1");
    let public = with_anchor(public, "10.0.0.5/16", "10.0.0.1");
    let private = nic("04:01:57:d1:9e:02", 1, "10.132.6.205/16", "10.132.0.1");
    assert_eq!(instance.nics, [public, private]);
    assert!(
        instance.nics[0].public_ipv4s.is_empty(),
        "inactive floating IP"
    );
}

#[test]
fn capture_public_only_with_active_floating_ip() {
    let instance = parse("capture-public-only-floating-ip.json");
    assert_eq!(instance.instance_id, "27223699");
    let public = nic("ae:cc:08:7c:88:00", 0, "45.55.249.133/18", "45.55.192.1");
    let mut public = with_anchor(public, "10.17.0.5/16", "10.17.0.1");
    public.public_ipv4s = vec!["138.197.59.92".parse().unwrap()];
    assert_eq!(instance.nics, [public]);
}

#[test]
fn the_builtin_scenario_is_a_two_nic_droplet_with_an_anchor() {
    let text = include_str!("../src/emulator/scenarios/digitalocean.json");
    let instance = digitalocean::parse(text).unwrap();
    let public = nic("7a:1e:52:3c:0d:01", 0, "192.0.2.15/24", "192.0.2.1");
    let public = with_ipv6(public, "2001:db8:d0::15/64", "2001:db8:d0::1");
    let mut public = with_anchor(public, "10.18.0.5/16", "10.18.0.1");
    public.public_ipv4s = vec!["198.51.100.40".parse().unwrap()];
    let private = nic("7a:1e:52:3c:0d:02", 1, "10.110.0.2/20", "10.110.0.1");
    assert_eq!(instance.nics, [public, private]);
}
