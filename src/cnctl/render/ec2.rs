//! EC2's blocks: the meta-data tree's instance leaves (system), the per-MAC directories of the
//! network view (network) and `public-keys/N/openssh-key` (ssh-keys).

use super::{at, key_lines, link_name, mac_text, meta_data, text, Rows};
use crate::snapshot::LinkStatus;
use serde_json::Value;

const SYSTEM: &[(&str, &[&str])] = &[
    ("AMI ID", &["ami-id"]),
    ("AMI Launch Index", &["ami-launch-index"]),
    ("Instance ID", &["instance-id"]),
    ("Instance Type", &["instance-type"]),
    ("Instance Life Cycle", &["instance-life-cycle"]),
    ("Hostname", &["hostname"]),
    ("Local Hostname", &["local-hostname"]),
    ("Public Hostname", &["public-hostname"]),
    ("Local IPv4", &["local-ipv4"]),
    ("Public IPv4", &["public-ipv4"]),
    ("MAC Address", &["mac"]),
    ("Availability Zone", &["placement", "availability-zone"]),
    (
        "Availability Zone ID",
        &["placement", "availability-zone-id"],
    ),
];

const SYSTEM_TAIL: &[(&str, &[&str])] = &[
    ("Security Groups", &["security-groups"]),
    ("Services Domain", &["services", "domain"]),
    ("Services Partition", &["services", "partition"]),
];

const NIC: &[(&str, &[&str])] = &[
    ("Interface ID", &["interface-id"]),
    ("Local Hostname", &["local-hostname"]),
    ("Local IPv4s", &["local-ipv4s"]),
    ("Public Hostname", &["public-hostname"]),
    ("Public IPv4s", &["public-ipv4s"]),
    ("IPv6s", &["ipv6s"]),
    ("Subnet ID", &["subnet-id"]),
    ("Subnet IPv4 CIDR", &["subnet-ipv4-cidr-block"]),
    ("Subnet IPv6 CIDRs", &["subnet-ipv6-cidr-blocks"]),
    ("VPC ID", &["vpc-id"]),
    ("VPC IPv4 CIDRs", &["vpc-ipv4-cidr-blocks"]),
    ("VPC IPv6 CIDRs", &["vpc-ipv6-cidr-blocks"]),
    ("Security Group IDs", &["security-group-ids"]),
    ("Security Groups", &["security-groups"]),
    ("Owner ID", &["owner-id"]),
];

pub(super) fn system(rows: &mut Rows, doc: &Value) {
    let meta = meta_data(doc);
    rows.table(Some(meta), SYSTEM);
    let identity = at(Some(doc), &["dynamic", "instance-identity", "document"]);
    rows.opt(
        "Region",
        text(at(Some(meta), &["placement", "region"])).or_else(|| text(at(identity, &["region"]))),
    );
    rows.table(Some(meta), SYSTEM_TAIL);
}

/// One block per MAC directory, in device order (network card, then device number).
pub(super) fn network(doc: &Value, links: &[LinkStatus]) -> Vec<Rows> {
    let mut nics: Vec<(&String, &Value)> = doc.as_object().into_iter().flatten().collect();
    // The MAC, a map key, makes every sort key distinct: an unstable sort is exact.
    nics.sort_unstable_by_key(|(mac, nic)| {
        let card = network_card(nic).and_then(|n| n.parse::<u32>().ok());
        (card.unwrap_or(0), number(nic, "device-number"), *mac)
    });
    nics.into_iter()
        .map(|(mac, nic)| {
            let mut rows = Rows::default();
            rows.add("Name", link_name(links, mac));
            rows.add("MAC Address", mac_text(mac));
            rows.opt("Device Number", text(nic.get("device-number")));
            rows.opt("Network Card", network_card(nic));
            rows.table(Some(nic), NIC);
            rows
        })
        .collect()
}

/// `network-card`, or `network-card-index` as some instance types (and AEMM) name it.
fn network_card(nic: &Value) -> Option<String> {
    text(nic.get("network-card")).or_else(|| text(nic.get("network-card-index")))
}

fn number(nic: &Value, key: &str) -> u32 {
    text(nic.get(key)).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// `public-keys/<N>/openssh-key`, by key number.
pub(super) fn ssh_keys(doc: &Value) -> Vec<String> {
    let Some(keys) = meta_data(doc).get("public-keys").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut numbered: Vec<(u32, &Value)> = keys
        .iter()
        .filter_map(|(n, dir)| Some((n.parse().ok()?, dir.get("openssh-key")?)))
        .collect();
    numbered.sort_by_key(|(n, _)| *n);
    key_lines(numbered.into_iter().filter_map(|(_, key)| key.as_str()))
}
