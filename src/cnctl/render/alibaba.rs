//! Alibaba's blocks: the meta-data tree's instance leaves (system), the per-MAC directories of
//! the network view (network) and `public-keys/<name>/openssh-key` (ssh-keys).

use super::{at, key_lines, link_name, mac_text, meta_data, text, Rows};
use crate::snapshot::LinkStatus;
use serde_json::Value;

const SYSTEM: &[(&str, &[&str])] = &[
    ("Instance ID", &["instance-id"]),
    ("Instance Name", &["instance", "instance-name"]),
    ("Instance Type", &["instance", "instance-type"]),
    ("Hostname", &["hostname"]),
    ("Image ID", &["image-id"]),
    ("Region", &["region-id"]),
    ("Zone", &["zone-id"]),
    ("Owner Account ID", &["owner-account-id"]),
    ("Serial Number", &["serial-number"]),
    ("Network Type", &["network-type"]),
    ("VPC ID", &["vpc-id"]),
    ("VPC CIDR", &["vpc-cidr-block"]),
    ("VSwitch ID", &["vswitch-id"]),
    ("VSwitch CIDR", &["vswitch-cidr-block"]),
    ("MAC Address", &["mac"]),
    ("Private IPv4", &["private-ipv4"]),
    ("Secondary Private IPv4s", &["sub-private-ipv4-list"]),
    ("Elastic IPv4", &["eipv4"]),
    ("DNS Servers", &["dns-conf", "nameservers"]),
    ("NTP Servers", &["ntp-conf", "ntp-servers"]),
];

const NIC: &[(&str, &[&str])] = &[
    ("Network Interface ID", &["network-interface-id"]),
    ("Primary IP Address", &["primary-ip-address"]),
    ("Private IPv4s", &["private-ipv4s"]),
    ("Netmask", &["netmask"]),
    ("Gateway", &["gateway"]),
    ("VSwitch CIDR", &["vswitch-cidr-block"]),
    ("VPC CIDR", &["vpc-cidr-block"]),
];

const NIC_TAIL: &[(&str, &[&str])] = &[
    ("IPv6 Gateway", &["ipv6-gateway"]),
    ("VSwitch IPv6 CIDR", &["vswitch-ipv6-cidr-block"]),
    ("VSwitch ID", &["vswitch-id"]),
    ("VPC ID", &["vpc-id"]),
];

pub(super) fn system(rows: &mut Rows, doc: &Value) {
    rows.table(Some(meta_data(doc)), SYSTEM);
}

/// One block per MAC directory, in MAC order.
pub(super) fn network(doc: &Value, links: &[LinkStatus]) -> Vec<Rows> {
    doc.as_object()
        .into_iter()
        .flatten()
        .map(|(mac, nic)| {
            let mut rows = Rows::default();
            rows.add("Name", link_name(links, mac));
            rows.add("MAC Address", mac_text(mac));
            rows.table(Some(nic), NIC);
            rows.opt("IPv6s", nic.get("ipv6s").and_then(bracketed));
            rows.table(Some(nic), NIC_TAIL);
            rows
        })
        .collect()
}

/// `ipv6s` in its bracketed non-JSON form (`[a,b]`), space-separated like every other list.
fn bracketed(value: &Value) -> Option<String> {
    let list = text(Some(value))?;
    let inner = list.trim_start_matches('[').trim_end_matches(']');
    let items: Vec<&str> = inner
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect();
    Some(items.join(" "))
}

/// `public-keys/<name>/openssh-key`, by key name (`0`, `skp-…`).
pub(super) fn ssh_keys(doc: &Value) -> Vec<String> {
    let Some(keys) = meta_data(doc).get("public-keys").and_then(Value::as_object) else {
        return Vec::new();
    };
    key_lines(
        keys.values()
            .filter_map(|dir| at(Some(dir), &["openssh-key"])?.as_str()),
    )
}
