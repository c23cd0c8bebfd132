//! EC2 IMDS parsing: the flat `path → body` map (paths relative to `/latest/`, the form of the
//! fixtures and of what the fetcher collects; see `metadata::imds::tree`) into the common model.

use crate::metadata::imds::tree::{
    in_blocks6, in_subnet4, leaf, lines, parse_net4, parse_net6, parse_nics, put_first, value_error,
};
pub use crate::metadata::imds::tree::{parse_listing, tree_to_json, MACS_DIR};
use crate::metadata::{parse_ipv4, parse_ipv6, Instance, IpNet, Ipv4Net, Ipv6Net, Mac, Nic};
use crate::metadata::{ParseError, ProviderKind};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
/// The signed JSON document naming the instance, its region and primary IP.
pub const IDENTITY_DOCUMENT: &str = "dynamic/instance-identity/document";
/// The per-MAC leaves the model needs; a refresh reads those the MAC's listing names.
pub const NIC_LEAVES: [&str; 6] = [
    "device-number",
    "network-card",
    "local-ipv4s",
    "subnet-ipv4-cidr-block",
    "ipv6s",
    "subnet-ipv6-cidr-blocks",
];
/// The per-MAC leaves of delegated prefixes, read only when the MAC's listing has them (IMDS
/// answers 404 on a NIC without any).
pub const PREFIX_LEAVES: [&str; 2] = ["ipv4-prefix", "ipv6-prefix"];

/// Turns a metadata tree into the model. NICs are sorted by index; index 0 (network card 0,
/// device-number 0) is the primary NIC, whatever the MACs' sort order.
pub fn parse(tree: &BTreeMap<String, String>) -> Result<Instance, ParseError> {
    let mut nics = parse_nics(tree, parse_nic)?;
    Nic::sort_by_index(&mut nics);
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
        raw: Arc::new(tree_to_json(tree)),
    })
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
    Ok(Nic::filled(Nic::new(mac, index), |nic| {
        fill_addresses(nic, tree, dir)
    }))
}

/// The NIC's subnets and addresses from its leaves under `dir`.
fn fill_addresses(
    nic: &mut Nic,
    tree: &BTreeMap<String, String>,
    dir: &str,
) -> Result<(), ParseError> {
    let field = |name: &str| format!("{dir}{name}");
    let get = |name: &str| leaf(tree, &field(name));
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
    nic.delegated_prefixes = parse_prefixes(
        get("ipv4-prefix"),
        &field("ipv4-prefix"),
        parse_net4,
        IpNet::V4,
    )?;
    nic.delegated_prefixes.extend(parse_prefixes(
        get("ipv6-prefix"),
        &field("ipv6-prefix"),
        parse_net6,
        IpNet::V6,
    )?);
    // EC2 routers announce IPv6 by router advertisement: the metadata names no IPv6 gateway
    // and the kernel learns the default route itself, so `gateway6` stays `None`.
    nic.gateway6 = None;
    nic.public_ipv4s = lines(get("public-ipv4s"))
        .filter_map(|addr| addr.parse::<Ipv4Addr>().ok())
        .collect();
    Ok(())
}

fn parse_number(field: &str, value: &str) -> Result<u32, ParseError> {
    value.parse().map_err(|_| ParseError::WrongType {
        field: field.to_string(),
        expected: "a non-negative integer",
    })
}

/// Each address with the subnet's prefix, or /32 when it lies outside the subnet.
fn parse_ipv4s(
    body: Option<&str>,
    field: &str,
    subnet: Option<Ipv4Net>,
) -> Result<Vec<Ipv4Net>, ParseError> {
    lines(body)
        .map(|line| {
            Ok(in_subnet4(
                parse_ipv4(line).map_err(value_error(field))?,
                subnet,
            ))
        })
        .collect()
}

/// The NIC's IPv6 subnet blocks, compressed or not.
fn parse_blocks6(body: Option<&str>, field: &str) -> Result<Vec<Ipv6Net>, ParseError> {
    lines(body).map(|line| parse_net6(field, line)).collect()
}

/// Each address with the prefix of the block that contains it, or /128 outside every block.
fn parse_ipv6s(
    body: Option<&str>,
    field: &str,
    blocks: &[Ipv6Net],
) -> Result<Vec<Ipv6Net>, ParseError> {
    lines(body)
        .map(|line| {
            Ok(in_blocks6(
                parse_ipv6(line).map_err(value_error(field))?,
                blocks,
            ))
        })
        .collect()
}

/// The prefixes delegated to the NIC (`ipv4-prefix` or `ipv6-prefix`, by `parse`). Whether
/// each lies in the NIC's subnet is the sanity gate's question: one outside is refused alone.
fn parse_prefixes<T>(
    body: Option<&str>,
    field: &str,
    parse: impl Fn(&str, &str) -> Result<T, ParseError>,
    net: impl Fn(T) -> IpNet,
) -> Result<Vec<IpNet>, ParseError> {
    lines(body)
        .map(|line| parse(field, line).map(&net))
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
        put_first(&mut nic.ipv4, primary);
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
