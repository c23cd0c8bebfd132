//! GCP's blocks: the root document's `instance` and `project` (system, project, with the
//! WSFC attributes, which change nothing on Linux), its
//! `instance.networkInterfaces` (network) and the `ssh-keys`/`sshKeys` attributes (ssh-keys).

use super::{at, link_name, mac_text, text, Rows};
use crate::metadata::gcp::wsfc;
use crate::snapshot::LinkStatus;
use serde_json::Value;

const INSTANCE: &[(&str, &[&str])] = &[
    ("ID", &["id"]),
    ("Name", &["name"]),
    ("Hostname", &["hostname"]),
];

const INSTANCE_TAIL: &[(&str, &[&str])] = &[
    ("CPU Platform", &["cpuPlatform"]),
    ("Image", &["image"]),
    ("Description", &["description"]),
    ("Maintenance Event", &["maintenanceEvent"]),
    ("Preemptible", &["scheduling", "preemptible"]),
    ("Tags", &["tags"]),
];

const PROJECT: &[(&str, &[&str])] = &[
    ("Project ID", &["projectId"]),
    ("Numeric Project ID", &["numericProjectId"]),
];

const NIC: &[(&str, &[&str])] = &[
    ("Gateway", &["gateway"]),
    ("Subnet Mask", &["subnetmask"]),
    ("MTU", &["mtu"]),
    ("IP Aliases", &["ipAliases"]),
    ("Forwarded IPs", &["forwardedIps"]),
    ("Target Instance IPs", &["targetInstanceIps"]),
    ("DNS Servers", &["dnsServers"]),
    ("Network", &["network"]),
];

/// The `instance` directory: under the root's `instance` key, or the root itself.
fn instance(doc: &Value) -> &Value {
    doc.get("instance").unwrap_or(doc)
}

/// The last component of a resource path (`projects/1/zones/us-central1-a` → `us-central1-a`).
fn short(value: Option<String>) -> Option<String> {
    value.map(|v| v.rsplit('/').next().unwrap_or_default().to_string())
}

pub(super) fn system(rows: &mut Rows, doc: &Value) {
    let instance = Some(instance(doc));
    rows.table(instance, INSTANCE);
    rows.opt("Zone", short(text(at(instance, &["zone"]))));
    rows.opt("Machine Type", short(text(at(instance, &["machineType"]))));
    rows.table(instance, INSTANCE_TAIL);
    rows.table(doc.get("project"), PROJECT);
    let wsfc = wsfc::describe(doc);
    if !wsfc.is_empty() {
        rows.lines("WSFC", wsfc);
    }
}

pub(super) fn network(doc: &Value, links: &[LinkStatus]) -> Vec<Rows> {
    let nics = instance(doc)
        .get("networkInterfaces")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    nics.iter().map(|nic| nic_rows(nic, links)).collect()
}

fn nic_rows(nic: &Value, links: &[LinkStatus]) -> Rows {
    let raw_mac = nic.get("mac").and_then(Value::as_str).unwrap_or("");
    let external: Vec<Value> = nic
        .get("accessConfigs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|config| config.get("externalIp").cloned())
        .collect();
    let mut rows = Rows::default();
    rows.add("Name", link_name(links, raw_mac));
    rows.add("MAC Address", mac_text(raw_mac));
    rows.opt("IP", text(nic.get("ip")));
    rows.opt("External IP", text(Some(&Value::Array(external))));
    rows.table(Some(nic), NIC);
    rows
}

/// Keys of the instance's `ssh-keys` and `sshKeys` attributes, then the project's unless the
/// instance sets `block-project-ssh-keys`; each `user:key` line as it is.
pub(super) fn ssh_keys(doc: &Value) -> Vec<String> {
    let instance_attributes = instance(doc).get("attributes");
    let blocked = text(at(instance_attributes, &["block-project-ssh-keys"]))
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut sources = vec![instance_attributes];
    if !blocked {
        sources.push(at(Some(doc), &["project", "attributes"]));
    }
    sources
        .into_iter()
        .flat_map(|attributes| ["ssh-keys", "sshKeys"].map(|key| at(attributes, &[key])))
        .filter_map(|value| value.and_then(Value::as_str))
        .flat_map(str::lines)
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

/// The root document's `project` directory (`show project`).
pub(crate) fn project(doc: &Value) -> Option<&Value> {
    doc.get("project")
}

/// `show project`: its ids and the names of its attributes.
pub(crate) fn project_text(project: &Value) -> String {
    let mut rows = Rows::default();
    rows.table(Some(project), PROJECT);
    let names: Vec<&str> = project
        .get("attributes")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|attributes| attributes.keys().map(String::as_str))
        .collect();
    rows.opt("Attributes", Some(names.join(" ")));
    rows.render()
}
