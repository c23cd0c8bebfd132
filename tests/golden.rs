//! Golden tests of the pure path: every Azure, GCP, EC2, OCI (VNIC list) and Alibaba fixture in
//! tests/fixtures (Alibaba's synthetic one has placeholder addresses, which must not parse),
//! the built-in Alibaba scenario, the built-in EC2 scenario with delegated prefixes on its
//! secondary NIC, the built-in GCP scenario with a forwarded IPv6 and a project WSFC address (which changes
//! nothing on Linux),
//! and every DigitalOcean document in tests/fixtures/digitalocean
//! are parsed, planned against synthetic links (eth0..ethN in NIC index order, eth0 up with its
//! DHCP lease; none for a VLAN NIC, whose link the plan creates) and rendered as `ip` commands,
//! then compared with `tests/golden/<provider>/
//! <fixture>.txt`. `UPDATE_GOLDEN=1` rewrites the expected files (read them before committing).

use cloud_network::kernel::{Address, KernelState, Link, OperState};
use cloud_network::metadata::alibaba::parse::parse as parse_alibaba;
use cloud_network::metadata::aws::parse::parse as parse_ec2;
use cloud_network::metadata::{azure, digitalocean, gcp, oracle, Instance, IpNet, ProviderKind};
use cloud_network::plan::{dry_run_lines, plan_round, Owned, PlanSettings};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn fixtures(provider: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(provider)
}

fn golden_path(provider: &str, fixture: &str) -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"))
        .join(provider)
        .join(format!("{fixture}.txt"))
}

fn entries(provider: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures(provider))
        .expect("fixture directory")
        .map(|e| e.expect("directory entry").path())
        .collect();
    paths.sort();
    paths
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .expect("utf-8 fixture name")
        .to_string()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One Ethernet link per NIC in index order, eth0 up with the primary address as DHCP leases
/// it (finite lifetimes), the others down as a hot-plugged NIC arrives.
fn synthetic_kernel(instance: &Instance) -> KernelState {
    let mut nics: Vec<_> = instance.nics.iter().filter(|n| n.vlan.is_none()).collect();
    nics.sort_by_key(|n| n.index);
    let links: Vec<Link> = nics
        .iter()
        .enumerate()
        .map(|(i, nic)| Link {
            index: 2 + i as u32,
            name: format!("eth{i}"),
            mac: Some(nic.mac),
            mtu: 1500,
            up: i == 0,
            oper_state: OperState::Unknown,
            kind: None,
            master: None,
            loopback: false,
            ethernet: true,
            group: 0,
        })
        .collect();
    let lease = nics
        .first()
        .filter(|n| n.index == 0)
        .and_then(|n| n.ipv4.first())
        .map(|primary| Address {
            ifindex: 2,
            addr: IpNet::V4(*primary),
            noprefixroute: false,
            valid_lft: 3600,
            preferred_lft: 3600,
        });
    KernelState {
        links,
        addresses: lease.into_iter().collect(),
        routes: Vec::new(),
        rules: Vec::new(),
    }
}

fn render(instance: &Instance) -> String {
    let kernel = synthetic_kernel(instance);
    let planned = plan_round(
        instance,
        &kernel,
        &Owned::default(),
        &PlanSettings::default(),
    );
    let mut text = dry_run_lines(&planned, &kernel).join("\n");
    text.push('\n');
    text
}

/// Compares (or with UPDATE_GOLDEN=1 writes) one golden file.
fn check(provider: &str, fixture: &str, instance: &Instance) {
    let got = render(instance);
    let path = golden_path(provider, fixture);
    if std::env::var("UPDATE_GOLDEN").as_deref() == Ok("1") {
        std::fs::create_dir_all(path.parent().expect("golden dir")).expect("create golden dir");
        std::fs::write(&path, &got).expect("write golden file");
        return;
    }
    let want = read(&path);
    let (got_lines, want_lines): (Vec<&str>, Vec<&str>) =
        (got.lines().collect(), want.lines().collect());
    for (i, (g, w)) in got_lines.iter().zip(&want_lines).enumerate() {
        assert_eq!(g, w, "{}: line {}", path.display(), i + 1);
    }
    assert_eq!(
        got_lines.len(),
        want_lines.len(),
        "{}: line count\n{got}",
        path.display()
    );
}

#[test]
fn azure_fixtures_match_golden_commands() {
    let files = entries("azure");
    assert_eq!(files.len(), 10);
    for path in files {
        let instance = azure::parse(&read(&path)).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        check("azure", &stem(&path), &instance);
    }
}

#[test]
fn gcp_fixtures_match_golden_commands() {
    let files = entries("gcp");
    assert_eq!(files.len(), 4);
    for path in files {
        let name = stem(&path);
        let text = read(&path);
        let instance = if name.contains("network-interfaces-subtree") {
            let array: serde_json::Value = serde_json::from_str(&text).expect("json array");
            Instance {
                provider: ProviderKind::Gcp,
                instance_id: String::new(),
                location: String::new(),
                nics: gcp::parse_network_interfaces(&array)
                    .unwrap_or_else(|e| panic!("{name}: {e}")),
                raw: Default::default(),
            }
        } else {
            gcp::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        check("gcp", &name, &instance);
    }
    let mut builtin: serde_json::Value =
        serde_json::from_str(include_str!("../src/emulator/scenarios/gcp.json")).expect("json");
    let nic0 = &mut builtin["instance"]["networkInterfaces"][0];
    nic0["forwardedIps"] = serde_json::json!(["34.120.88.10", "34.120.88.11"]);
    nic0["forwardedIpv6s"] = serde_json::json!(["2600:1900:4000:8a::1"]);
    builtin["project"]["attributes"]["wsfc-addrs"] = serde_json::json!("34.120.88.11");
    let instance = gcp::parse_value(builtin).expect("the built-in scenario with WSFC parses");
    check("gcp", "emulator-builtin-wsfc-forwarded-ipv6s", &instance);
}

#[test]
fn ec2_fixtures_match_golden_commands() {
    let dirs = entries("ec2");
    assert_eq!(dirs.len(), 4);
    for dir in dirs {
        let name = stem(&dir);
        let tree: BTreeMap<String, String> =
            serde_json::from_str(&read(&dir.join("metadata.json"))).expect("flat path map");
        let instance = parse_ec2(&tree).unwrap_or_else(|e| panic!("{name}: {e}"));
        check("ec2", &name, &instance);
    }
    let mut builtin: BTreeMap<String, String> =
        serde_json::from_str(include_str!("../src/emulator/scenarios/aws.json"))
            .expect("flat path map");
    let secondary = "meta-data/network/interfaces/macs/0a:3f:5c:1e:7d:02/";
    for (leaf, body) in [
        ("ipv4-prefix", "172.31.26.16/28\n172.31.26.32/28"),
        ("ipv6s", "2600:1f14:abc:de01::3c"),
        ("subnet-ipv6-cidr-blocks", "2600:1f14:abc:de01::/64"),
        ("ipv6-prefix", "2600:1f14:abc:de01:7::/80"),
    ] {
        builtin.insert(format!("{secondary}{leaf}"), body.to_string());
    }
    let instance = parse_ec2(&builtin).expect("the built-in scenario with prefixes parses");
    check("ec2", "emulator-builtin-delegated-prefixes", &instance);
}

#[test]
fn oracle_vnics_fixtures_match_golden_commands() {
    let files: Vec<PathBuf> = entries("oci")
        .into_iter()
        .filter(|p| stem(p).contains("-vnics-"))
        .collect();
    assert_eq!(files.len(), 7);
    for path in files {
        let name = stem(&path);
        let instance = Instance {
            provider: ProviderKind::Oracle,
            instance_id: String::new(),
            location: String::new(),
            nics: oracle::parse_vnics(&read(&path)).unwrap_or_else(|e| panic!("{name}: {e}")),
            raw: Default::default(),
        };
        check("oci", &name, &instance);
    }
}

#[test]
fn alibaba_fixtures_and_scenario_match_golden_commands() {
    let dirs = entries("alibaba");
    assert_eq!(dirs.len(), 2);
    for dir in dirs {
        let name = stem(&dir);
        let tree: BTreeMap<String, String> =
            serde_json::from_str(&read(&dir.join("metadata.json"))).expect("flat path map");
        match parse_alibaba(&tree) {
            Ok(instance) => check("alibaba", &name, &instance),
            Err(e) => assert_eq!(
                (name.as_str(), e.to_string()),
                (
                    "cloudinit-two-nics-ipv6-network-only",
                    "required field 'meta-data/mac' is missing".to_string()
                )
            ),
        }
    }
    let builtin: BTreeMap<String, String> =
        serde_json::from_str(include_str!("../src/emulator/scenarios/alibaba.json"))
            .expect("flat path map");
    let instance = parse_alibaba(&builtin).expect("the built-in scenario parses");
    check("alibaba", "emulator-builtin", &instance);
}

#[test]
fn digitalocean_documents_match_golden_commands() {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/digitalocean"
    ));
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("document directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3);
    for path in files {
        let name = stem(&path);
        let instance = digitalocean::parse(&read(&path)).unwrap_or_else(|e| panic!("{name}: {e}"));
        check("digitalocean", &name, &instance);
    }
}
