//! EC2's profile, and its views in the shape the original project's `cnctl` decodes into fixed
//! structs (its `provider/*.go`): the meta-data tree at the top level (`ami-id`,
//! `placement/region`, ...) with every leaf a string, and `public-keys` as `{"N=name": "key"}`.

use super::{Ec2, DEFAULT_BASE_URL};
use crate::metadata::profile::{no_agent_switch, Dmi, Profile, View, LINK_LOCAL_METADATA};
use crate::metadata::views::{ec2_macs, ec2_nic};
use serde_json::{Map, Value};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(crate) const PROFILE: Profile = Profile {
    recognises,
    client: |base, http| Box::new(Ec2::new(base, http)),
    endpoint: DEFAULT_BASE_URL,
    metadata_v4: LINK_LOCAL_METADATA,
    service_addresses: &SERVICE_ADDRESSES,
    default_mtu: None,
    agent_disables_ranges: no_agent_switch,
    system_view: View::Cut(system_view),
    network_view: View::Cut(network_view),
    nic_document: ec2_nic,
};

/// The IMDS, the Amazon DNS server and the time sync service, over IPv4 and IPv6.
const SERVICE_ADDRESSES: [IpAddr; 6] = [
    IpAddr::V4(LINK_LOCAL_METADATA),
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 253)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 123)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x253)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x123)),
];

/// The meta-data tree in the original's shape, without `dynamic` (served at
/// `/api/cloud/dynamicinstanceidentity/*`).
fn system_view(system: &Value) -> Value {
    let mut meta = text_leaves(system.get("meta-data").unwrap_or(system));
    if let Value::Object(tree) = &mut meta {
        original_public_keys(tree);
    }
    meta
}

/// The per-MAC subtree, leaves as text.
fn network_view(system: &Value) -> Value {
    ec2_macs(system).map(text_leaves).unwrap_or(Value::Null)
}

/// Every leaf as the text the service sent: a body that was parsed as a JSON array (or any
/// other non-object value) becomes its compact JSON text again; directories stay objects.
fn text_leaves(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut leaves = Map::new();
            leaves.extend(
                map.iter()
                    .map(|(key, child)| (key.clone(), text_leaves(child))),
            );
            Value::Object(leaves)
        }
        Value::String(_) => value.clone(),
        other => Value::String(other.to_string()),
    }
}

/// `public-keys/N/openssh-key` (and the `public-keys/` listing naming them `N=name`) as the
/// original served them: one entry per listing line, `"N=name": "<openssh-key>"`.
fn original_public_keys(tree: &mut Map<String, Value>) {
    let Some(Value::Object(keys)) = tree.remove("public-keys") else {
        return;
    };
    let listing = tree.remove("public-keys/");
    let listing = listing.as_ref().and_then(Value::as_str).unwrap_or_default();
    let name_of = |index: &str| {
        listing
            .lines()
            .map(str::trim)
            .find(|line| line.split('=').next() == Some(index))
            .unwrap_or(index)
            .to_string()
    };
    let mut original = Map::new();
    original.extend(keys.iter().filter_map(|(index, dir)| {
        let key = dir.get("openssh-key")?.as_str()?;
        Some((name_of(index), Value::String(key.to_string())))
    }));
    tree.insert("public-keys".to_string(), Value::Object(original));
}

/// A Xen UUID or a DMI UUID that starts with `ec2`, Xen's `amazon` version, or the Nitro-era
/// vendor string.
fn recognises(dmi: &Dmi) -> bool {
    let starts_ec2 = |s: &str| s.to_ascii_lowercase().starts_with("ec2");
    starts_ec2(&dmi.hypervisor_uuid)
        || starts_ec2(&dmi.product_uuid)
        || dmi.product_version.contains("amazon")
        || dmi.sys_vendor.contains("Amazon EC2")
}
