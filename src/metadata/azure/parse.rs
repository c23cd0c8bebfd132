//! Azure IMDS document (`/metadata/instance`) → the common model. Pure: no I/O.

use crate::metadata::error::ParseError;
use crate::metadata::json::{
    bad_value, check_nics, join, mac, object, opt_array, opt_object, opt_str, parse_json,
    req_array, req_str,
};
use crate::metadata::{
    parse_ipv4, parse_ipv6, parse_prefix, Instance, Ipv4Net, Ipv6Net, Nic, ProviderKind,
};
use serde_json::{Map, Value};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Azure's documented IPv6 default gateway, the same on every virtual network.
pub const GATEWAY6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0x1234, 0x5678, 0x9abc);

/// Parses the body of `GET /metadata/instance`. Documents holding only `network` (as some
/// captures do) parse with an empty instance id and location.
pub fn parse(body: &str) -> Result<Instance, ParseError> {
    parse_value(parse_json(body)?)
}

/// Like [`parse`], from an already decoded document (kept as `raw`).
pub fn parse_value(doc: Value) -> Result<Instance, ParseError> {
    let root = object(&doc, "")?;
    let compute = opt_object(root, "compute", "")?;
    let compute_str = |key| match compute {
        Some(c) => opt_str(c, key, "compute").map(|v| v.unwrap_or_default().to_string()),
        None => Ok(String::new()),
    };
    let instance_id = compute_str("vmId")?;
    let location = compute_str("location")?;
    let network = opt_object(root, "network", "")?.ok_or_else(|| ParseError::Missing {
        field: "network".into(),
    })?;
    let nics = req_array(network, "interface", "network")?
        .iter()
        .enumerate()
        .map(|(i, v)| parse_interface(v, i))
        .collect::<Result<Vec<_>, _>>()?;
    check_nics(&nics)?;
    Ok(Instance {
        provider: ProviderKind::Azure,
        instance_id,
        location,
        nics,
        raw: Arc::new(doc),
    })
}

fn parse_interface(value: &Value, index: usize) -> Result<Nic, ParseError> {
    let path = format!("network.interface[{index}]");
    let obj = object(value, &path)?;
    let mac = mac(
        req_str(obj, "macAddress", &path)?,
        join(&path, "macAddress"),
    )?;
    Ok(Nic::filled(Nic::new(mac, index as u32), |nic| {
        if let Some(ipv4) = opt_object(obj, "ipv4", &path)? {
            fill_ipv4(nic, ipv4, &join(&path, "ipv4"))?;
        }
        if let Some(ipv6) = opt_object(obj, "ipv6", &path)? {
            fill_ipv6(nic, ipv6, &join(&path, "ipv6"))?;
        }
        Ok(())
    }))
}

/// One `{address, prefix}` subnet entry, as the network (host bits cleared).
fn subnet_entry<'a>(
    value: &'a Value,
    path: &str,
    max: u8,
) -> Result<(&'a str, u8, String), ParseError> {
    let obj = object(value, path)?;
    let address = req_str(obj, "address", path)?;
    let prefix = req_str(obj, "prefix", path)?;
    let prefix = parse_prefix(prefix, max).map_err(|e| bad_value(join(path, "prefix"), e))?;
    Ok((address, prefix, join(path, "address")))
}

fn ipv4_subnets(obj: &Map<String, Value>, path: &str) -> Result<Vec<Ipv4Net>, ParseError> {
    let mut subnets = Vec::new();
    for (i, v) in opt_array(obj, "subnet", path)?.iter().enumerate() {
        let (address, prefix, field) = subnet_entry(v, &format!("{path}.subnet[{i}]"), 32)?;
        let addr = parse_ipv4(address).map_err(|e| bad_value(field, e))?;
        subnets.push(Ipv4Net::new(addr, prefix).network());
    }
    Ok(subnets)
}

fn ipv6_subnets(obj: &Map<String, Value>, path: &str) -> Result<Vec<Ipv6Net>, ParseError> {
    let mut subnets = Vec::new();
    for (i, v) in opt_array(obj, "subnet", path)?.iter().enumerate() {
        let (address, prefix, field) = subnet_entry(v, &format!("{path}.subnet[{i}]"), 128)?;
        let addr = parse_ipv6(address).map_err(|e| bad_value(field, e))?;
        subnets.push(Ipv6Net::new(addr, prefix).network());
    }
    Ok(subnets)
}

/// One `ipAddress[]` entry: the private address (required) with its field path, and the
/// optional public address (informational: empty or invalid ones are skipped).
struct AddressEntry<'a> {
    private: &'a str,
    field: String,
    public: Option<&'a str>,
}

fn address_entries<'a>(
    obj: &'a Map<String, Value>,
    path: &str,
) -> Result<Vec<AddressEntry<'a>>, ParseError> {
    let mut entries = Vec::new();
    for (i, v) in opt_array(obj, "ipAddress", path)?.iter().enumerate() {
        let entry_path = format!("{path}.ipAddress[{i}]");
        let entry = object(v, &entry_path)?;
        let private = req_str(entry, "privateIpAddress", &entry_path)?;
        let public = opt_str(entry, "publicIpAddress", &entry_path)?;
        entries.push(AddressEntry {
            private,
            field: join(&entry_path, "privateIpAddress"),
            public,
        });
    }
    Ok(entries)
}

fn fill_ipv4(nic: &mut Nic, obj: &Map<String, Value>, path: &str) -> Result<(), ParseError> {
    let subnets = ipv4_subnets(obj, path)?;
    for entry in address_entries(obj, path)? {
        let addr = parse_ipv4(entry.private).map_err(|e| bad_value(entry.field, e))?;
        let prefix = subnets
            .iter()
            .find(|s| s.contains(addr))
            .map_or(32, |s| s.prefix);
        nic.ipv4.push(Ipv4Net::new(addr, prefix));
        if let Some(public) = entry.public.and_then(|p| p.trim().parse::<Ipv4Addr>().ok()) {
            nic.public_ipv4s.push(public);
        }
    }
    nic.subnet4 = subnets.first().copied();
    nic.gateway4 = nic.subnet4.map(|s| s.first_host());
    Ok(())
}

fn fill_ipv6(nic: &mut Nic, obj: &Map<String, Value>, path: &str) -> Result<(), ParseError> {
    let subnets = ipv6_subnets(obj, path)?;
    for entry in address_entries(obj, path)? {
        let addr = parse_ipv6(entry.private).map_err(|e| bad_value(entry.field, e))?;
        let prefix = subnets
            .iter()
            .find(|s| s.contains(addr))
            .map_or(128, |s| s.prefix);
        nic.ipv6.push(Ipv6Net::new(addr, prefix));
    }
    nic.subnet6 = subnets.first().copied();
    if !nic.ipv6.is_empty() {
        nic.gateway6 = Some(GATEWAY6);
    }
    Ok(())
}
