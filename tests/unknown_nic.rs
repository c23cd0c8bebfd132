//! One bad NIC does not block the others (issue 15): on every provider, a malformed leaf of
//! the second of three NICs makes that NIC "unknown this round" (its error names the NIC's
//! field), the other two read exactly as without the fault, and the plan configures them and
//! nothing of the unknown one. The reply's structure still refuses it whole. Plain data: the
//! benches' three-NIC scenarios.

mod support;

use cloud_network::kernel::{Link, OperState};
use cloud_network::metadata::{alibaba, aws, azure, digitalocean, gcp, oracle};
use cloud_network::metadata::{Instance, Mac, ParseError};
use cloud_network::plan::{desired, PlanSettings};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use support::fixtures::unreadable;

const AZURE: &str = include_str!("benches/scenarios/azure-3nic.json");
const GCP: &str = include_str!("benches/scenarios/gcp-3nic.json");
const ORACLE: &str = include_str!("benches/scenarios/oracle-3nic.json");
const DIGITALOCEAN: &str = include_str!("benches/scenarios/digitalocean-3nic.json");
const AWS: &str = include_str!("benches/scenarios/aws-3nic.json");
const ALIBABA: &str = include_str!("benches/scenarios/alibaba-3nic.json");

fn edited(text: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut doc: Value = serde_json::from_str(text).expect("scenario");
    edit(&mut doc);
    doc.to_string()
}

fn tree(text: &str) -> BTreeMap<String, String> {
    serde_json::from_str(text).expect("flat path map")
}

/// Ethernet links for every NIC of `good`, so the plan matches them all.
fn links(good: &Instance) -> Vec<Link> {
    good.nics
        .iter()
        .enumerate()
        .map(|(i, nic)| Link {
            index: i as u32 + 2,
            name: format!("eth{i}"),
            mac: Some(nic.mac),
            mtu: 1500,
            up: true,
            oper_state: OperState::Up,
            kind: None,
            master: None,
            loopback: false,
            ethernet: true,
            group: 0,
        })
        .collect()
}

/// The faulty reply reads like the good one but for the NIC `bad`, which is unknown with
/// `error`; the plan leaves that NIC out and keeps the others exactly.
fn check(good: Instance, faulty: Result<Instance, ParseError>, bad: &str, error: &str) {
    let faulty = faulty.expect("one bad NIC does not refuse the reply");
    let bad: Mac = bad.parse().expect("MAC");
    assert_eq!(unreadable(&faulty), [(bad.to_string(), error.to_string())]);
    assert_eq!(faulty.nics.len(), good.nics.len());
    for (got, want) in faulty.nics.iter().zip(&good.nics) {
        if got.mac != bad {
            assert_eq!(got, want, "a good NIC reads as without the fault");
        }
    }
    let links = links(&good);
    let settings = PlanSettings::default();
    let plan = desired(&faulty, &links, &settings);
    let want = desired(&good, &links, &settings);
    assert!(plan.nic(bad).is_none() && plan.is_unknown(bad));
    let others: Vec<_> = want.nics.iter().filter(|n| n.mac != bad).collect();
    assert_eq!(plan.nics.iter().collect::<Vec<_>>(), others);
}

#[test]
fn azure_one_nic_with_a_bad_prefix_length() {
    let faulty = edited(AZURE, |d| {
        d["network"]["interface"][1]["ipv4"]["subnet"][0]["prefix"] = json!("33")
    });
    check(
        azure::parse(AZURE).unwrap(),
        azure::parse(&faulty),
        "00:0d:3a:4f:6b:11",
        "field 'network.interface[1].ipv4.subnet[0].prefix': invalid prefix length '33' (expected 0 to 32)",
    );
}

#[test]
fn gcp_one_nic_with_a_placeholder_address() {
    let faulty = edited(GCP, |d| {
        d["instance"]["networkInterfaces"][1]["ip"] = json!("192.168.x.x")
    });
    check(
        gcp::parse(GCP).unwrap(),
        gcp::parse(&faulty),
        "42:01:c0:a8:01:05",
        "field 'instance.networkInterfaces[1].ip': invalid IP address '192.168.x.x'",
    );
}

#[test]
fn oracle_one_vnic_with_a_placeholder_address() {
    let faulty = edited(ORACLE, |d| d["vnics"][1]["privateIp"] = json!("10.0.0.xxx"));
    check(
        oracle::parse_document(ORACLE).unwrap(),
        oracle::parse_document(&faulty),
        "02:00:17:0a:3c:11",
        "field 'vnics[1].privateIp': invalid IP address '10.0.0.xxx'",
    );
}

#[test]
fn digitalocean_one_interface_with_a_bad_netmask() {
    let faulty = edited(DIGITALOCEAN, |d| {
        d["interfaces"]["private"][0]["ipv4"]["netmask"] = json!("255.0.255.0")
    });
    check(
        digitalocean::parse(DIGITALOCEAN).unwrap(),
        digitalocean::parse(&faulty),
        "7a:1e:52:3c:0d:02",
        "field 'interfaces.private[0].ipv4.netmask': invalid netmask '255.0.255.0'",
    );
}

#[test]
fn ec2_one_nic_with_an_ipv6s_leaf_carrying_a_prefix() {
    let mut faulty = tree(AWS);
    faulty.insert(
        "meta-data/network/interfaces/macs/0a:3f:5c:1e:7d:02/ipv6s".into(),
        "2600:1f14:abc::5/128".into(),
    );
    check(
        aws::parse::parse(&tree(AWS)).unwrap(),
        aws::parse::parse(&faulty),
        "0a:3f:5c:1e:7d:02",
        "field 'meta-data/network/interfaces/macs/0a:3f:5c:1e:7d:02/ipv6s': invalid IP address '2600:1f14:abc::5/128'",
    );
}

#[test]
fn alibaba_one_nic_with_a_bad_prefix_length() {
    let mut faulty = tree(ALIBABA);
    faulty.insert(
        "meta-data/network/interfaces/macs/00:16:3e:2a:51:02/vswitch-cidr-block".into(),
        "172.16.20.0/33".into(),
    );
    check(
        alibaba::parse::parse(&tree(ALIBABA)).unwrap(),
        alibaba::parse::parse(&faulty),
        "00:16:3e:2a:51:02",
        "field 'meta-data/network/interfaces/macs/00:16:3e:2a:51:02/vswitch-cidr-block': invalid prefix length '33' (expected 0 to 32)",
    );
}

#[test]
fn a_reply_whose_structure_is_wrong_is_still_refused_whole() {
    let no_list = edited(AZURE, |d| d["network"] = json!({}));
    assert_eq!(
        azure::parse(&no_list).unwrap_err().to_string(),
        "required field 'network.interface' is missing"
    );
    let not_gcp = edited(GCP, |d| d["instance"]["networkInterfaces"] = json!("eth0"));
    assert!(gcp::parse(&not_gcp).is_err());
    let bad_mac = edited(AZURE, |d| {
        d["network"]["interface"][1]["macAddress"] = json!("x")
    });
    assert_eq!(
        azure::parse(&bad_mac).unwrap_err().to_string(),
        "field 'network.interface[1].macAddress': invalid MAC address 'x'"
    );
    let mut no_primary = tree(ALIBABA);
    no_primary.remove("meta-data/mac");
    assert_eq!(
        alibaba::parse::parse(&no_primary).unwrap_err().to_string(),
        "required field 'meta-data/mac' is missing"
    );
}
