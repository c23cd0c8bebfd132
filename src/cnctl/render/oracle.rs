//! OCI's blocks: the system document's `instance` (system), its `vnics` list (network; the
//! network view is the list itself) and `instance.metadata.ssh_authorized_keys` (ssh-keys).
//! OCI's `"<null>"` placeholder is left out like an empty value, and `timeCreated` (epoch
//! milliseconds) is shown as an RFC 3339 time.

use super::{at, link_name, mac_text, text, Rows};
use crate::logging::rfc3339;
use crate::net::OCI_NULL_TEXT;
use crate::snapshot::LinkStatus;
use serde_json::Value;
use std::time::{Duration, UNIX_EPOCH};

const SYSTEM: &[(&str, &[&str])] = &[
    ("Display Name", &["displayName"]),
    ("Hostname", &["hostname"]),
    ("Instance ID", &["id"]),
    ("Shape", &["shape"]),
    ("State", &["state"]),
    ("Region", &["canonicalRegionName"]),
    ("Availability Domain", &["availabilityDomain"]),
    ("Fault Domain", &["faultDomain"]),
    ("Compartment ID", &["compartmentId"]),
    ("Image", &["image"]),
];

const VNIC: &[(&str, &[&str])] = &[
    ("VNIC ID", &["vnicId"]),
    ("Private IP", &["privateIp"]),
    ("Subnet", &["subnetCidrBlock"]),
    ("Gateway", &["virtualRouterIp"]),
    ("IPv6 Addresses", &["ipv6Addresses"]),
    ("IPv6 Subnet", &["ipv6SubnetCidrBlock"]),
    ("IPv6 Gateway", &["ipv6VirtualRouterIp"]),
    ("VLAN Tag", &["vlanTag"]),
    ("NIC Index", &["nicIndex"]),
];

/// The `instance` document: under the system document's `instance` key, or the root itself.
fn instance(doc: &Value) -> &Value {
    doc.get("instance").unwrap_or(doc)
}

/// A value as text, with OCI's `"<null>"` read as nothing.
fn oci_text(value: Option<&Value>) -> Option<String> {
    text(value).filter(|t| t != OCI_NULL_TEXT)
}

fn table(rows: &mut Rows, root: &Value, table: &[(&'static str, &[&str])]) {
    for (label, path) in table {
        rows.opt(label, oci_text(at(Some(root), path)));
    }
}

pub(super) fn system(rows: &mut Rows, doc: &Value) {
    let instance = instance(doc);
    table(rows, instance, SYSTEM);
    let created = instance.get("timeCreated").and_then(Value::as_u64);
    rows.opt(
        "Time Created",
        created.map(|ms| rfc3339(UNIX_EPOCH + Duration::from_millis(ms))),
    );
}

/// One block per VNIC of the network view (the list) or of the system document's `vnics`.
pub(super) fn network(doc: &Value, links: &[LinkStatus]) -> Vec<Rows> {
    let vnics = doc.get("vnics").unwrap_or(doc);
    vnics
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .map(|vnic| vnic_rows(vnic, links))
        .collect()
}

fn vnic_rows(vnic: &Value, links: &[LinkStatus]) -> Rows {
    let raw_mac = vnic.get("macAddr").and_then(Value::as_str).unwrap_or("");
    let mut rows = Rows::default();
    rows.add("Name", link_name(links, raw_mac));
    rows.add("MAC Address", mac_text(raw_mac));
    table(&mut rows, vnic, VNIC);
    rows
}

/// `metadata.ssh_authorized_keys`: one key per non-empty line.
pub(super) fn ssh_keys(doc: &Value) -> Vec<String> {
    at(Some(instance(doc)), &["metadata", "ssh_authorized_keys"])
        .and_then(Value::as_str)
        .into_iter()
        .flat_map(str::lines)
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}
