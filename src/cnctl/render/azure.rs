//! Azure's blocks: the IMDS instance document's `compute` (system), its `network.interface`
//! entries (network) and `compute.publicKeys` (ssh-keys), with the original's labels.

use super::{at, link_name, mac_text, text, Rows};
use crate::snapshot::LinkStatus;
use serde_json::Value;

const SYSTEM: &[(&str, &[&str])] = &[
    ("Azure Environment", &["azEnvironment"]),
    ("Location", &["location"]),
    ("Name", &["name"]),
    ("OS Type", &["osType"]),
    ("VM Id", &["vmId"]),
    ("VM Scale Set Name", &["vmScaleSetName"]),
    ("VM Size", &["vmSize"]),
    ("Zone", &["zone"]),
    ("Provider", &["provider"]),
    ("Subscription Id", &["subscriptionId"]),
    ("Resource Group", &["resourceGroupName"]),
    ("Publisher", &["publisher"]),
    ("Version", &["version"]),
    ("License Type", &["licenseType"]),
    ("Computer Name", &["osProfile", "computerName"]),
    (
        "Secure Boot Enabled",
        &["securityProfile", "secureBootEnabled"],
    ),
    (
        "Virtual Tpm Enabled",
        &["securityProfile", "virtualTpmEnabled"],
    ),
    ("Offer", &["offer"]),
    ("Plan Name", &["plan", "name"]),
    ("Admin User name", &["osProfile", "adminUsername"]),
];

pub(super) fn system(rows: &mut Rows, doc: &Value) {
    rows.table(doc.get("compute"), SYSTEM);
}

fn list<'a>(root: Option<&'a Value>, path: &[&str]) -> &'a [Value] {
    at(root, path)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

pub(super) fn network(doc: &Value, links: &[LinkStatus]) -> Vec<Rows> {
    list(Some(doc), &["network", "interface"])
        .iter()
        .map(|nic| nic_rows(nic, links))
        .collect()
}

fn nic_rows(nic: &Value, links: &[LinkStatus]) -> Rows {
    let raw_mac = nic.get("macAddress").and_then(Value::as_str).unwrap_or("");
    let ipv4 = nic.get("ipv4");
    let subnet = list(ipv4, &["subnet"]).first();
    let prefix = text(at(subnet, &["prefix"]));
    let ipv6_prefix = text(at(list(nic.get("ipv6"), &["subnet"]).first(), &["prefix"]));
    let addresses = list(ipv4, &["ipAddress"]);
    let mut rows = Rows::default();
    rows.add("Name", link_name(links, raw_mac));
    rows.add("MAC Address", mac_text(raw_mac));
    rows.opt("Public Ip", joined(addresses, "publicIpAddress", None));
    rows.opt(
        "Private Ip",
        joined(addresses, "privateIpAddress", prefix.as_deref()),
    );
    rows.opt(
        "Private Ipv6",
        joined(
            list(nic.get("ipv6"), &["ipAddress"]),
            "privateIpAddress",
            ipv6_prefix.as_deref(),
        ),
    );
    rows.opt("Subnet", text(at(subnet, &["address"])));
    rows
}

/// The non-empty `key` of each address, with `/prefix` when given, space-separated.
fn joined(addresses: &[Value], key: &str, prefix: Option<&str>) -> Option<String> {
    let items: Vec<String> = addresses
        .iter()
        .filter_map(|address| text(address.get(key)))
        .map(|ip| match prefix {
            Some(prefix) => format!("{ip}/{prefix}"),
            None => ip,
        })
        .collect();
    Some(items.join(" "))
}

pub(super) fn ssh_keys(doc: &Value) -> Vec<String> {
    list(doc.get("compute"), &["publicKeys"])
        .iter()
        .filter_map(|key| key.get("keyData").and_then(Value::as_str))
        .map(|key| key.trim().to_string())
        .filter(|key| !key.is_empty())
        .collect()
}
