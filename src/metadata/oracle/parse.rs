//! OCI IMDS v2 (`/opc/v2/instance/`, `/opc/v2/vnics/`) → the common model. Pure: no I/O.
//!
//! The VNIC list gives each VNIC one private IPv4 (`privateIp`, with `subnetCidrBlock` and the
//! gateway `virtualRouterIp`) and its IPv6 addresses (`ipv6Addresses`, `ipv6SubnetCidrBlock`,
//! `ipv6VirtualRouterIp`). Real replies send the string `"<null>"` for an absent value (an
//! IPv6-only VNIC's `subnetCidrBlock`): it counts as absent, as does an empty string. A NIC's
//! index is its position in the list; the first VNIC is the primary. On bare metal (VNICs with
//! `nicIndex`) a VNIC with a non-zero `vlanTag` that is not the physical NIC of its `nicIndex`
//! is a VLAN on that NIC; on VMs `vlanTag` is the hypervisor's business and ignored.

use crate::metadata::error::ParseError;
use crate::metadata::json::{
    bad_value, check_nics, join, lookup, mac, object, opt_array, opt_str, parse_json, req_str,
    strings, wrong_type,
};
use crate::metadata::{
    parse_ipv4, parse_ipv6, Instance, Ipv4Net, Ipv6Net, Mac, Nic, ProviderKind, ValueError, Vlan,
};
use serde_json::{Map, Value};
use std::sync::Arc;

pub(crate) use crate::net::OCI_NULL_TEXT as NULL_TEXT;
/// VLAN ids a link can carry (0 and 4095 are reserved by 802.1Q).
const VLAN_IDS: std::ops::RangeInclusive<u64> = 1..=4094;

/// The instance's id and region from the body of `/opc/v2/instance/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFacts {
    pub id: String,
    /// `canonicalRegionName` (`us-phoenix-1`), else the short `region` (`phx`), else empty.
    pub region: String,
}

/// Parses the body of `GET /opc/v2/instance/`.
pub fn parse_instance(body: &str) -> Result<InstanceFacts, ParseError> {
    instance_facts(&parse_json(body)?, "instance")
}

/// The id and region of an instance document; `path` names it in errors.
pub fn instance_facts(doc: &Value, path: &str) -> Result<InstanceFacts, ParseError> {
    let obj = object(doc, path)?;
    let id = req_str(obj, "id", path)?.to_string();
    let region = match oci_str(obj, "canonicalRegionName", path)? {
        Some(region) => region,
        None => oci_str(obj, "region", path)?.unwrap_or_default(),
    };
    Ok(InstanceFacts {
        id,
        region: region.to_string(),
    })
}

/// Parses the body of `GET /opc/v2/vnics/` (a JSON array) into NICs, primary first.
pub fn parse_vnics(body: &str) -> Result<Vec<Nic>, ParseError> {
    vnics(&parse_json(body)?)
}

/// The NICs of a decoded VNIC list.
pub fn vnics(list: &Value) -> Result<Vec<Nic>, ParseError> {
    let items = list
        .as_array()
        .ok_or_else(|| wrong_type("vnics".into(), "array"))?;
    let objects = items
        .iter()
        .enumerate()
        .map(|(i, item)| object(item, &format!("vnics[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut nics = objects
        .iter()
        .enumerate()
        .map(|(i, obj)| parse_vnic(obj, i))
        .collect::<Result<Vec<_>, _>>()?;
    check_nics(&nics)?;
    assign_vlans(&objects, &mut nics)?;
    Ok(nics)
}

/// The whole document the provider serves as its system view, `{"instance": <the instance
/// document>, "vnics": <the VNIC list>}` (also the emulator's scenario format).
pub fn parse_document(body: &str) -> Result<Instance, ParseError> {
    document(parse_json(body)?)
}

/// Like [`parse_document`], from a decoded document (kept as `raw`).
pub fn document(doc: Value) -> Result<Instance, ParseError> {
    let root = object(&doc, "")?;
    let instance = lookup(root, "instance").ok_or_else(|| ParseError::Missing {
        field: "instance".into(),
    })?;
    let facts = instance_facts(instance, "instance")?;
    let list = lookup(root, "vnics").ok_or_else(|| ParseError::Missing {
        field: "vnics".into(),
    })?;
    let nics = vnics(list)?;
    Ok(Instance {
        provider: ProviderKind::Oracle,
        instance_id: facts.id,
        location: facts.region,
        nics,
        raw: Arc::new(doc),
    })
}

/// A string value, with OCI's `"<null>"` and empty strings read as absent.
fn oci_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, ParseError> {
    Ok(opt_str(obj, key, path)?
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != NULL_TEXT))
}

/// An optional unsigned number (`vlanTag`, `nicIndex`).
fn opt_number(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Option<u64>, ParseError> {
    lookup(obj, key)
        .map(|v| {
            v.as_u64()
                .ok_or_else(|| wrong_type(join(path, key), "unsigned integer"))
        })
        .transpose()
}

fn parse_vnic(obj: &Map<String, Value>, index: usize) -> Result<Nic, ParseError> {
    let path = format!("vnics[{index}]");
    let mac = mac(req_str(obj, "macAddr", &path)?, join(&path, "macAddr"))?;
    opt_number(obj, "vlanTag", &path)?;
    opt_number(obj, "nicIndex", &path)?;
    Ok(Nic::filled(Nic::new(mac, index as u32), |nic| {
        fill_ipv4(nic, obj, &path)?;
        fill_ipv6(nic, obj, &path)
    }))
}

fn fill_ipv4(nic: &mut Nic, obj: &Map<String, Value>, path: &str) -> Result<(), ParseError> {
    let parse = |key: &str| {
        oci_str(obj, key, path)?
            .map(|s| parse_ipv4(s).map_err(|e| bad_value(join(path, key), e)))
            .transpose()
    };
    let subnet = oci_str(obj, "subnetCidrBlock", path)?
        .map(|s| {
            s.parse::<Ipv4Net>()
                .map_err(|e| bad_value(join(path, "subnetCidrBlock"), e))
        })
        .transpose()?
        .map(|s| s.network());
    if let Some(ip) = parse("privateIp")? {
        let prefix = subnet.filter(|s| s.contains(ip)).map_or(32, |s| s.prefix);
        nic.ipv4.push(Ipv4Net::new(ip, prefix));
    }
    nic.subnet4 = subnet;
    nic.gateway4 = parse("virtualRouterIp")?;
    Ok(())
}

fn fill_ipv6(nic: &mut Nic, obj: &Map<String, Value>, path: &str) -> Result<(), ParseError> {
    let subnet = oci_str(obj, "ipv6SubnetCidrBlock", path)?
        .map(|s| {
            s.parse::<Ipv6Net>()
                .map_err(|e| bad_value(join(path, "ipv6SubnetCidrBlock"), e))
        })
        .transpose()?
        .map(|s| s.network());
    let field = join(path, "ipv6Addresses");
    for (item_path, text) in strings(opt_array(obj, "ipv6Addresses", path)?, &field)? {
        let text = text.trim();
        if text.is_empty() || text == NULL_TEXT {
            continue;
        }
        let addr = parse_ipv6(text).map_err(|e| bad_value(item_path, e))?;
        let prefix = subnet
            .filter(|s| s.contains(addr))
            .map_or(128, |s| s.prefix);
        nic.ipv6.push(Ipv6Net::new(addr, prefix));
    }
    nic.subnet6 = subnet;
    nic.gateway6 = oci_str(obj, "ipv6VirtualRouterIp", path)?
        .map(|s| parse_ipv6(s).map_err(|e| bad_value(join(path, "ipv6VirtualRouterIp"), e)))
        .transpose()?;
    Ok(())
}

/// Bare metal: the physical NIC of each `nicIndex` is its VNIC with `vlanTag` 0, else its first
/// VNIC; every other VNIC there with a non-zero tag is a VLAN on it.
fn assign_vlans(objects: &[&Map<String, Value>], nics: &mut [Nic]) -> Result<(), ParseError> {
    let tags: Vec<(Option<u64>, u64)> = objects
        .iter()
        .enumerate()
        .map(|(i, obj)| {
            let path = format!("vnics[{i}]");
            let nic_index = opt_number(obj, "nicIndex", &path)?;
            Ok((nic_index, opt_number(obj, "vlanTag", &path)?.unwrap_or(0)))
        })
        .collect::<Result<_, ParseError>>()?;
    let parents: Vec<Option<Mac>> = tags
        .iter()
        .map(|(nic_index, _)| {
            nic_index
                .and_then(|n| physical_nic(&tags, n))
                .map(|p| nics[p].mac)
        })
        .collect();
    for (i, nic) in nics.iter_mut().enumerate() {
        let (_, tag) = tags[i];
        let Some(parent) = parents[i].filter(|p| *p != nic.mac && tag != 0) else {
            continue;
        };
        if !VLAN_IDS.contains(&tag) {
            return Err(bad_value(
                format!("vnics[{i}].vlanTag"),
                ValueError::Vlan(tag.to_string()),
            ));
        }
        nic.vlan = Some(Vlan {
            parent,
            id: tag as u16,
        });
    }
    Ok(())
}

/// The position of the physical NIC of `nic_index`.
fn physical_nic(tags: &[(Option<u64>, u64)], nic_index: u64) -> Option<usize> {
    let on_it = || (0..tags.len()).filter(move |i| tags[*i].0 == Some(nic_index));
    on_it().find(|i| tags[*i].1 == 0).or_else(|| on_it().next())
}
