//! EC2 IMDS parsing: the flat `path → body` map (paths relative to `/latest/`, the form of the
//! fixtures and of what the fetcher collects) into the common model, plus listing bodies and the
//! JSON system view of a tree.

use crate::metadata::model::{parse_ipv4, parse_ipv6, Instance, Ipv4Net, Ipv6Net, Mac, Nic};
use crate::metadata::{ParseError, ProviderKind};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::ops::Bound;

/// The directory holding one subdirectory per attached NIC, named by its MAC.
pub const MACS_DIR: &str = "meta-data/network/interfaces/macs/";
/// The signed JSON document naming the instance, its region and primary IP.
pub const IDENTITY_DOCUMENT: &str = "dynamic/instance-identity/document";
/// The per-MAC leaves a refresh reads: everything the model needs, nothing more.
pub const NIC_LEAVES: [&str; 6] = [
    "device-number",
    "network-card",
    "local-ipv4s",
    "subnet-ipv4-cidr-block",
    "ipv6s",
    "subnet-ipv6-cidr-blocks",
];

/// Turns a metadata tree into the model. NICs are sorted by index; index 0 (network card 0,
/// device-number 0) is the primary NIC, whatever the MACs' sort order.
pub fn parse(tree: &BTreeMap<String, String>) -> Result<Instance, ParseError> {
    let mut nics = mac_dirs(tree)?
        .into_iter()
        .map(|(mac, dir)| parse_nic(tree, mac, &dir))
        .collect::<Result<Vec<Nic>, ParseError>>()?;
    if nics.is_empty() {
        return Err(ParseError::NoInterfaces);
    }
    nics.sort_by_key(|nic| nic.index);
    if let Some(pair) = nics.windows(2).find(|pair| pair[0].index == pair[1].index) {
        return Err(ParseError::DuplicateIndex {
            index: pair[0].index,
        });
    }
    put_primary_address_first(tree, &mut nics)?;
    let (instance_id, location) = identity(tree)?;
    Ok(Instance {
        provider: ProviderKind::Aws,
        instance_id,
        location,
        nics,
        raw: tree_to_json(tree),
    })
}

/// The MACs named under `MACS_DIR`, each with its directory path as written in the tree
/// (`meta-data/network/interfaces/macs/<mac>/`), in key order.
pub fn mac_dirs(tree: &BTreeMap<String, String>) -> Result<Vec<(Mac, String)>, ParseError> {
    let names: BTreeSet<&str> = tree
        .range::<str, _>((Bound::Included(MACS_DIR), Bound::Unbounded))
        .map(|(key, _)| key)
        .take_while(|key| key.starts_with(MACS_DIR))
        .filter_map(|key| key[MACS_DIR.len()..].split('/').next())
        .filter(|name| !name.is_empty())
        .collect();
    let mut seen = BTreeSet::new();
    let mut dirs = Vec::new();
    for name in names {
        let dir = format!("{MACS_DIR}{name}/");
        let mac: Mac = name.parse().map_err(|source| ParseError::Value {
            field: dir.clone(),
            source,
        })?;
        if !seen.insert(mac) {
            return Err(ParseError::DuplicateMac {
                mac: mac.to_string(),
            });
        }
        dirs.push((mac, dir));
    }
    Ok(dirs)
}

/// A leaf's body, or `None` when it is absent or empty (samples hold `""` where real IMDS
/// answers 404).
pub fn leaf<'a>(tree: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    tree.get(key)
        .map(|body| body.trim())
        .filter(|body| !body.is_empty())
}

/// One entry per line of a directory listing: subdirectories keep their trailing `/`,
/// `public-keys/` entries stay `N=name`, blank lines are dropped.
pub fn parse_listing(body: &str) -> Vec<String> {
    body.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect()
}

/// The tree as nested JSON objects, one level per path component. A key ending in `/` (an
/// explicit listing body) keeps its `/` (`"public-keys/": "0=name"` beside `"public-keys": {}`),
/// so nothing is lost. Bodies that are JSON documents become JSON; every other body a string.
pub fn tree_to_json(tree: &BTreeMap<String, String>) -> Value {
    let mut root = Map::new();
    for (key, body) in tree {
        let (base, listing) = match key.strip_suffix('/') {
            Some(base) => (base, "/"),
            None => (key.as_str(), ""),
        };
        let (parents, name) = match base.rsplit_once('/') {
            Some((parents, name)) => (Some(parents), name),
            None => (None, base),
        };
        let mut node = &mut root;
        for part in parents.into_iter().flat_map(|p| p.split('/')) {
            node = child_object(node, part);
        }
        node.insert(format!("{name}{listing}"), leaf_value(body));
    }
    Value::Object(root)
}

fn child_object<'a>(node: &'a mut Map<String, Value>, name: &str) -> &'a mut Map<String, Value> {
    let child = node
        .entry(name.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !child.is_object() {
        *child = Value::Object(Map::new());
    }
    match child {
        Value::Object(map) => map,
        _ => unreachable!("replaced by an object just above"),
    }
}

fn leaf_value(body: &str) -> Value {
    let trimmed = body.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(value) = serde_json::from_str(body) {
            return value;
        }
    }
    Value::String(body.to_string())
}

fn parse_nic(tree: &BTreeMap<String, String>, mac: Mac, dir: &str) -> Result<Nic, ParseError> {
    let field = |name: &str| format!("{dir}{name}");
    let get = |name: &str| leaf(tree, &field(name));
    let device_field = field("device-number");
    let device = get("device-number").ok_or_else(|| ParseError::Missing {
        field: device_field.clone(),
    })?;
    let device = parse_number(&device_field, device)?;
    let card = match get("network-card") {
        Some(card) => parse_number(&field("network-card"), card)?,
        None => match get("network-card-index") {
            Some(card) => parse_number(&field("network-card-index"), card)?,
            None => 0,
        },
    };
    let index = card
        .checked_mul(100)
        .and_then(|hundreds| hundreds.checked_add(device))
        .ok_or(ParseError::WrongType {
            field: device_field,
            expected: "a device index below 2^32",
        })?;
    let mut nic = Nic::new(mac, index);
    nic.subnet4 = get("subnet-ipv4-cidr-block")
        .map(|block| parse_net4(&field("subnet-ipv4-cidr-block"), block))
        .transpose()?;
    nic.gateway4 = nic.subnet4.map(|subnet| subnet.first_host());
    nic.ipv4 = parse_ipv4s(get("local-ipv4s"), &field("local-ipv4s"), nic.subnet4)?;
    let blocks = parse_blocks6(
        get("subnet-ipv6-cidr-blocks"),
        &field("subnet-ipv6-cidr-blocks"),
    )?;
    nic.subnet6 = blocks.first().copied();
    nic.ipv6 = parse_ipv6s(get("ipv6s"), &field("ipv6s"), &blocks)?;
    // EC2 routers announce IPv6 by router advertisement: the metadata names no IPv6 gateway
    // and the kernel learns the default route itself, so `gateway6` stays `None`.
    nic.gateway6 = None;
    nic.public_ipv4s = lines(get("public-ipv4s"))
        .filter_map(|addr| addr.parse::<Ipv4Addr>().ok())
        .collect();
    Ok(nic)
}

fn lines(body: Option<&str>) -> impl Iterator<Item = &str> {
    body.unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
}

fn parse_number(field: &str, value: &str) -> Result<u32, ParseError> {
    value.parse().map_err(|_| ParseError::WrongType {
        field: field.to_string(),
        expected: "a non-negative integer",
    })
}

fn value_error(field: &str) -> impl Fn(crate::metadata::ValueError) -> ParseError + '_ {
    move |source| ParseError::Value {
        field: field.to_string(),
        source,
    }
}

fn parse_net4(field: &str, block: &str) -> Result<Ipv4Net, ParseError> {
    let net: Ipv4Net = block.parse().map_err(value_error(field))?;
    Ok(net.network())
}

/// Each address with the subnet's prefix, or /32 when it lies outside the subnet.
fn parse_ipv4s(
    body: Option<&str>,
    field: &str,
    subnet: Option<Ipv4Net>,
) -> Result<Vec<Ipv4Net>, ParseError> {
    lines(body)
        .map(|line| {
            let addr = parse_ipv4(line).map_err(value_error(field))?;
            Ok(match subnet {
                Some(subnet) if subnet.contains(addr) => Ipv4Net::new(addr, subnet.prefix),
                _ => Ipv4Net::host(addr),
            })
        })
        .collect()
}

/// The NIC's IPv6 subnet blocks, compressed or not (`2600:1f16:67f:f201:0:0:0:0/64`).
fn parse_blocks6(body: Option<&str>, field: &str) -> Result<Vec<Ipv6Net>, ParseError> {
    lines(body)
        .map(|line| {
            let net: Ipv6Net = line.parse().map_err(value_error(field))?;
            Ok(net.network())
        })
        .collect()
}

/// Each address with the prefix of the block that contains it, or /128 outside every block.
fn parse_ipv6s(
    body: Option<&str>,
    field: &str,
    blocks: &[Ipv6Net],
) -> Result<Vec<Ipv6Net>, ParseError> {
    lines(body)
        .map(|line| {
            let addr = parse_ipv6(line).map_err(value_error(field))?;
            Ok(match blocks.iter().find(|block| block.contains(addr)) {
                Some(block) => Ipv6Net::new(addr, block.prefix),
                None => Ipv6Net::host(addr),
            })
        })
        .collect()
}

/// The first `local-ipv4s` entry is not reliably the primary (cloud-init #4157): when the tree
/// has the top-level `meta-data/local-ipv4`, the primary NIC's list starts with it.
fn put_primary_address_first(
    tree: &BTreeMap<String, String>,
    nics: &mut [Nic],
) -> Result<(), ParseError> {
    let Some(primary) = leaf(tree, "meta-data/local-ipv4") else {
        return Ok(());
    };
    let primary = parse_ipv4(primary).map_err(value_error("meta-data/local-ipv4"))?;
    if let Some(nic) = nics.iter_mut().find(|nic| nic.index == 0) {
        if let Some(pos) = nic.ipv4.iter().position(|net| net.addr == primary) {
            nic.ipv4[..=pos].rotate_right(1);
        }
    }
    Ok(())
}

/// Instance id and region: from the identity document when present, else from the
/// `meta-data/` leaves, else empty.
fn identity(tree: &BTreeMap<String, String>) -> Result<(String, String), ParseError> {
    let document = identity_document(tree)?;
    let from_document = |name: &str| -> Result<Option<String>, ParseError> {
        match document.as_ref().and_then(|doc| doc.get(name)) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(ParseError::WrongType {
                field: format!("{IDENTITY_DOCUMENT}.{name}"),
                expected: "string",
            }),
        }
    };
    let instance_id = match from_document("instanceId")? {
        Some(id) => id,
        None => leaf(tree, "meta-data/instance-id")
            .unwrap_or_default()
            .to_string(),
    };
    let region = match from_document("region")? {
        Some(region) => region,
        None => region_from_placement(tree),
    };
    Ok((instance_id, region))
}

fn identity_document(
    tree: &BTreeMap<String, String>,
) -> Result<Option<Map<String, Value>>, ParseError> {
    let Some(body) = leaf(tree, IDENTITY_DOCUMENT) else {
        return Ok(None);
    };
    match serde_json::from_str(body) {
        Ok(Value::Object(doc)) => Ok(Some(doc)),
        Ok(_) => Err(ParseError::WrongType {
            field: IDENTITY_DOCUMENT.to_string(),
            expected: "object",
        }),
        Err(e) => Err(ParseError::NotJson {
            detail: format!("{IDENTITY_DOCUMENT}: {e}"),
        }),
    }
}

/// `placement/region`, else the availability zone without its zone letter (`us-east-2c`).
fn region_from_placement(tree: &BTreeMap<String, String>) -> String {
    if let Some(region) = leaf(tree, "meta-data/placement/region") {
        return region.to_string();
    }
    match leaf(tree, "meta-data/placement/availability-zone") {
        Some(zone) if zone.ends_with(|c: char| c.is_ascii_lowercase()) => {
            zone[..zone.len() - 1].to_string()
        }
        Some(zone) => zone.to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn listing_lines() {
        assert_eq!(
            parse_listing("macs/\ndevice-number\n\n0=my key,e\nlast/\n"),
            ["macs/", "device-number", "0=my key,e", "last/"]
        );
        assert_eq!(parse_listing(""), Vec::<String>::new());
        assert_eq!(parse_listing("a\r\nb"), ["a", "b"]);
    }

    #[test]
    fn tree_to_json_nests_and_keeps_listings() {
        let tree: BTreeMap<String, String> = [
            ("meta-data/public-keys/", "0=key"),
            ("meta-data/public-keys/0/openssh-key", "ssh-rsa AAA"),
            ("meta-data/events/maintenance/history", "[]"),
            ("meta-data/ami-launch-index", "0"),
            ("meta-data/metrics/vhostmd", "<?xml"),
            (
                "dynamic/instance-identity/document",
                "{\n\t\"region\": \"r\"}",
            ),
            ("user-data", "{not json"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            tree_to_json(&tree),
            json!({
                "meta-data": {
                    "public-keys/": "0=key",
                    "public-keys": {"0": {"openssh-key": "ssh-rsa AAA"}},
                    "events": {"maintenance": {"history": []}},
                    "ami-launch-index": "0",
                    "metrics": {"vhostmd": "<?xml"},
                },
                "dynamic": {"instance-identity": {"document": {"region": "r"}}},
                "user-data": "{not json",
            })
        );
    }

    #[test]
    fn region_from_zone_letter() {
        let tree: BTreeMap<String, String> = [(
            "meta-data/placement/availability-zone".to_string(),
            "eu-west-3b".to_string(),
        )]
        .into();
        assert_eq!(region_from_placement(&tree), "eu-west-3");
    }
}
