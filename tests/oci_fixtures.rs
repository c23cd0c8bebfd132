//! Every OCI fixture in tests/fixtures/oci parses to exactly the expected model: the VNIC
//! lists to their NICs (MACs normalized from mixed case, `"<null>"` subnets, IPv6-only VNICs,
//! bare metal's VLAN on the physical NIC, VM `vlanTag`s ignored), the instance documents to
//! their id and region, and the system view built from them serves the provider's shapes.

use cloud_network::metadata::oracle::{parse_document, parse_instance, parse_vnics};
use cloud_network::metadata::views::{network_view, nic_document};
use cloud_network::metadata::{Mac, Nic, ProviderKind, Vlan};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oci")
}

fn read(name: &str) -> String {
    let path = fixtures().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn mac(s: &str) -> Mac {
    s.parse().unwrap()
}

const GATEWAY6: &str = "fe80::200:17ff:fe40:8972";

fn v4_nic(mac_s: &str, index: u32, addr: &str, subnet: &str, gateway: &str) -> Nic {
    let mut nic = Nic::new(mac(mac_s), index);
    nic.ipv4 = vec![addr.parse().unwrap()];
    nic.subnet4 = Some(subnet.parse().unwrap());
    nic.gateway4 = Some(gateway.parse().unwrap());
    nic
}

fn with_v6(mut nic: Nic, addr: &str, subnet: &str) -> Nic {
    nic.ipv6 = vec![addr.parse().unwrap()];
    nic.subnet6 = Some(subnet.parse().unwrap());
    nic.gateway6 = Some(GATEWAY6.parse().unwrap());
    nic
}

fn v6_nic(mac_s: &str, index: u32, addr: &str, subnet: &str) -> Nic {
    with_v6(Nic::new(mac(mac_s), index), addr, subnet)
}

fn dual_stack_primary() -> Nic {
    with_v6(
        v4_nic(
            "02:00:17:0d:6b:be",
            0,
            "10.0.0.183/24",
            "10.0.0.0/24",
            "10.0.0.1",
        ),
        "2603:c020:400d:5dbb:e94a:a85d:26e3:e0d4/64",
        "2603:c020:400d:5dbb::/64",
    )
}

fn ipv6_only_secondary() -> Nic {
    v6_nic(
        "02:00:17:18:f6:ff",
        1,
        "2603:c020:400d:5d7e:aacc:8e5f:3b1b:3a4a/64",
        "2603:c020:400d:5d7e::/64",
    )
}

/// Each VNIC fixture and the exact NICs it must give.
fn expected_vnics() -> Vec<(&'static str, Vec<Nic>)> {
    let mut vlan = v4_nic(
        "02:00:17:05:cf:51",
        1,
        "10.0.4.5/24",
        "10.0.4.0/24",
        "10.0.4.1",
    );
    vlan.vlan = Some(Vlan {
        parent: mac("90:e2:ba:d4:f1:68"),
        id: 1,
    });
    vec![
        (
            "cloudinit-vnics-baremetal-secondary.json",
            vec![
                v4_nic(
                    "90:e2:ba:d4:f1:68",
                    0,
                    "10.0.0.8/24",
                    "10.0.0.0/24",
                    "10.0.0.1",
                ),
                vlan,
            ],
        ),
        (
            "cloudinit-vnics-dual-stack-with-ipv6-only-secondary.json",
            vec![dual_stack_primary(), ipv6_only_secondary()],
        ),
        (
            "cloudinit-vnics-vm-dual-stack-secondary.json",
            vec![dual_stack_primary(), ipv6_only_secondary()],
        ),
        (
            "cloudinit-vnics-vm-dual-stack-single.json",
            vec![dual_stack_primary()],
        ),
        (
            "cloudinit-vnics-vm-ipv6-only-single.json",
            vec![v6_nic(
                "02:00:17:15:92:4e",
                0,
                "2603:c020:400d:5d7e:c2af:e153:ebe2:2478/64",
                "2603:c020:400d:5d7e::/64",
            )],
        ),
        (
            "cloudinit-vnics-vm-ipv6-only-two.json",
            vec![
                v6_nic(
                    "02:00:17:0d:6b:be",
                    0,
                    "2603:c020:400d:5dbb:e94a:a85d:26e3:e0d4/64",
                    "2603:c020:400d:5dbb::/64",
                ),
                ipv6_only_secondary(),
            ],
        ),
        (
            "cloudinit-vnics-vm-secondary.json",
            vec![
                v4_nic(
                    "02:00:17:05:d1:db",
                    0,
                    "10.0.0.230/24",
                    "10.0.0.0/24",
                    "10.0.0.1",
                ),
                v4_nic(
                    "00:00:17:02:2b:b1",
                    1,
                    "10.0.0.231/24",
                    "10.0.0.0/24",
                    "10.0.0.1",
                ),
            ],
        ),
    ]
}

/// Each instance fixture with its id and region.
const INSTANCES: [(&str, &str, &str); 3] = [
    (
        "afterburn-opc-v2-instance-docs-example.json",
        "ocid1.instance.oc1.phx.exampleuniqueID",
        "us-phoenix-1",
    ),
    (
        "afterburn-opc-v2-instance-pool.json",
        "ocid1.instance.oc1.phx.exampleuniqueID",
        "us-phoenix-1",
    ),
    (
        "cloudinit-opc-instance.json",
        "ocid1.instance.oc1.phx.anyhqljtniwq6syc3nex55sep5w34qbwmw6TRUNCATED",
        "us-phoenix-1",
    ),
];

#[test]
fn every_fixture_is_covered() {
    let mut names: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut covered: Vec<String> = expected_vnics()
        .iter()
        .map(|(name, _)| name.to_string())
        .chain(INSTANCES.iter().map(|(name, _, _)| name.to_string()))
        .collect();
    covered.sort();
    assert_eq!(names, covered);
}

#[test]
fn every_vnics_fixture_gives_exactly_its_nics() {
    for (name, nics) in expected_vnics() {
        let parsed = parse_vnics(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(parsed, nics, "{name}");
    }
}

#[test]
fn every_instance_fixture_gives_its_id_and_region() {
    for (name, id, region) in INSTANCES {
        let facts = parse_instance(&read(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            (facts.id.as_str(), facts.region.as_str()),
            (id, region),
            "{name}"
        );
    }
}

#[test]
fn the_system_view_of_each_instance_serves_the_provider_shapes() {
    let vnics_text = read("cloudinit-vnics-vm-dual-stack-secondary.json");
    let vnics: Value = serde_json::from_str(&vnics_text).unwrap();
    for (name, id, region) in INSTANCES {
        let instance_doc: Value = serde_json::from_str(&read(name)).unwrap();
        let system = json!({"instance": instance_doc, "vnics": vnics});
        let instance =
            parse_document(&system.to_string()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(instance.provider, ProviderKind::Oracle);
        assert_eq!(
            (instance.instance_id.as_str(), instance.location.as_str()),
            (id, region)
        );
        assert_eq!(instance.nics, [dual_stack_primary(), ipv6_only_secondary()]);
        assert_eq!(*instance.raw, system);
        assert_eq!(
            *network_view(ProviderKind::Oracle, &Arc::new(system.clone())),
            vnics
        );
        assert_eq!(
            nic_document(ProviderKind::Oracle, &system, mac("02:00:17:18:f6:ff")),
            Some(vnics[1].clone()),
            "{name}"
        );
    }
}
