//! DigitalOcean's blocks: the droplet document's top-level fields (system), its
//! `interfaces.public[]` and `interfaces.private[]` entries in device-index order (network),
//! and `public_keys` (ssh-keys).

use super::{at, link_name, mac_text, text, Rows};
use crate::net::netmask_to_prefix;
use crate::snapshot::LinkStatus;
use serde_json::Value;

const SYSTEM: &[(&str, &[&str])] = &[
    ("Droplet ID", &["droplet_id"]),
    ("Hostname", &["hostname"]),
    ("Region", &["region"]),
];

const SYSTEM_TAIL: &[(&str, &[&str])] = &[
    ("Tags", &["tags"]),
    ("DNS Servers", &["dns", "nameservers"]),
    ("DHCP Enabled", &["features", "dhcp_enabled"]),
];

/// The reserved IP's keys, newest first (`floating_ip` is the older name of the same thing).
const RESERVED_KEYS: [&str; 2] = ["reserved_ip", "floating_ip"];

pub(super) fn system(rows: &mut Rows, doc: &Value) {
    rows.table(Some(doc), SYSTEM);
    rows.opt("Reserved IP", reserved_ip(doc));
    rows.table(Some(doc), SYSTEM_TAIL);
}

/// The active reserved IP, under its new name or its old one.
fn reserved_ip(doc: &Value) -> Option<String> {
    RESERVED_KEYS.iter().find_map(|key| {
        let ipv4 = at(Some(doc), &[key, "ipv4"]);
        let active = at(ipv4, &["active"]).and_then(Value::as_bool) == Some(true);
        active.then(|| text(at(ipv4, &["ip_address"]))).flatten()
    })
}

fn list<'a>(doc: &'a Value, name: &str) -> &'a [Value] {
    at(Some(doc), &["interfaces", name])
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// public[0], private[0], public[1], private[1]…: the order of the device indexes.
pub(super) fn network(doc: &Value, links: &[LinkStatus]) -> Vec<Rows> {
    let (public, private) = (list(doc, "public"), list(doc, "private"));
    let reserved = reserved_ip(doc);
    let mut blocks = Vec::new();
    for position in 0..public.len().max(private.len()) {
        if let Some(nic) = public.get(position) {
            let reserved = reserved.clone().filter(|_| position == 0);
            blocks.push(nic_rows(nic, links, reserved));
        }
        if let Some(nic) = private.get(position) {
            blocks.push(nic_rows(nic, links, None));
        }
    }
    blocks
}

fn nic_rows(nic: &Value, links: &[LinkStatus], reserved: Option<String>) -> Rows {
    let raw_mac = nic.get("mac").and_then(Value::as_str).unwrap_or("");
    let mut rows = Rows::default();
    rows.add("Name", link_name(links, raw_mac));
    rows.add("MAC Address", mac_text(raw_mac));
    rows.opt("Type", text(nic.get("type")));
    rows.opt("IPv4", with_netmask(nic.get("ipv4")));
    rows.opt("IPv4 Gateway", text(at(Some(nic), &["ipv4", "gateway"])));
    rows.opt("IPv6", with_cidr(nic.get("ipv6")));
    rows.opt("IPv6 Gateway", text(at(Some(nic), &["ipv6", "gateway"])));
    rows.opt("Anchor IPv4", with_netmask(nic.get("anchor_ipv4")));
    let anchor_gateway = text(at(Some(nic), &["anchor_ipv4", "gateway"]));
    rows.opt("Anchor Gateway", anchor_gateway);
    rows.opt("Reserved IP", reserved);
    rows
}

/// `ip_address/prefix` from a dotted netmask; the address alone when the mask is not one.
fn with_netmask(block: Option<&Value>) -> Option<String> {
    let ip = text(at(block, &["ip_address"]))?;
    let prefix = text(at(block, &["netmask"])).and_then(|m| netmask_to_prefix(&m).ok());
    Some(match prefix {
        Some(prefix) => format!("{ip}/{prefix}"),
        None => ip,
    })
}

fn with_cidr(block: Option<&Value>) -> Option<String> {
    let ip = text(at(block, &["ip_address"]))?;
    Some(match text(at(block, &["cidr"])) {
        Some(cidr) => format!("{ip}/{cidr}"),
        None => ip,
    })
}

/// `public_keys` is a list in DigitalOcean's reference; a real capture carries one string
/// (possibly several lines). Blank entries are left out.
pub(super) fn ssh_keys(doc: &Value) -> Vec<String> {
    let entries: Vec<&str> = match doc.get("public_keys") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(Value::String(keys)) => keys.lines().collect(),
        _ => Vec::new(),
    };
    entries
        .into_iter()
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(str::to_string)
        .collect()
}
