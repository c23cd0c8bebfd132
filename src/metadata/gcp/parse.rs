//! GCP metadata (`/computeMetadata/v1/instance/?recursive=true`, or the root document holding
//! `instance`) → the common model. Pure: no I/O.

use crate::metadata::error::ParseError;
use crate::metadata::json::{
    bad_value, check_nics, join, lookup, mac, object, opt_array, opt_str, parse_json, req_str,
    strings, wrong_type,
};
use crate::metadata::{
    netmask_to_prefix, parse_ipv4, parse_ipv6, Instance, IpNet, Ipv4Net, Ipv6Net, Nic, ProviderKind,
};
use serde_json::{Map, Value};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// Parses a reply body: the instance object or the root document (`{"instance": ...}`).
pub fn parse(body: &str) -> Result<Instance, ParseError> {
    parse_value(parse_json(body)?)
}

/// Like [`parse`], from an already decoded document (kept as `raw`).
pub fn parse_value(doc: Value) -> Result<Instance, ParseError> {
    let root = object(&doc, "")?;
    let (instance, path) = match root.get("instance") {
        Some(inner) => (object(inner, "instance")?, "instance"),
        None => (root, ""),
    };
    let instance_id = instance_id(instance, path)?;
    let location = opt_str(instance, "zone", path)?
        .map(region_of_zone)
        .unwrap_or_default();
    let nics_path = join(path, "networkInterfaces");
    let nics = match lookup(instance, "networkInterfaces") {
        Some(v) => parse_nics(v, &nics_path)?,
        None => return Err(ParseError::Missing { field: nics_path }),
    };
    Ok(Instance {
        provider: ProviderKind::Gcp,
        instance_id,
        location,
        nics,
        raw: Arc::new(doc),
    })
}

/// Parses the `networkInterfaces` array (the body of `instance/network-interfaces/?recursive=true`).
pub fn parse_network_interfaces(v: &Value) -> Result<Vec<Nic>, ParseError> {
    parse_nics(v, "networkInterfaces")
}

fn parse_nics(v: &Value, path: &str) -> Result<Vec<Nic>, ParseError> {
    let items = v
        .as_array()
        .ok_or_else(|| wrong_type(path.into(), "array"))?;
    let nics = items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_nic(item, i, &format!("{path}[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    check_nics(&nics)?;
    Ok(nics)
}

/// `id` is a JSON number above 2^53: read it as an exact u64 (never through f64), or a string.
fn instance_id(instance: &Map<String, Value>, path: &str) -> Result<String, ParseError> {
    let field = join(path, "id");
    match lookup(instance, "id") {
        None => Err(ParseError::Missing { field }),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|id| id.to_string())
            .ok_or_else(|| wrong_type(field, "unsigned integer")),
        Some(_) => Err(wrong_type(field, "unsigned integer or string")),
    }
}

/// `projects/1/zones/us-central1-a` → `us-central1`.
pub fn region_of_zone(zone: &str) -> String {
    let name = zone.rsplit('/').next().unwrap_or(zone);
    match name.rsplit_once('-') {
        Some((region, _)) => region.to_string(),
        None => name.to_string(),
    }
}

fn parse_nic(value: &Value, index: usize, path: &str) -> Result<Nic, ParseError> {
    let obj = object(value, path)?;
    let mac = mac(req_str(obj, "mac", path)?, join(path, "mac"))?;
    Ok(Nic::filled(Nic::new(mac, index as u32), |nic| {
        fill_ipv4(nic, obj, path)?;
        nic.mtu = mtu(obj, path)?;
        nic.ip_ranges = ranges(obj, &["ipAliases"], path)?;
        nic.forwarded = ranges(
            obj,
            &["forwardedIps", "targetInstanceIps", "forwardedIpv6s"],
            path,
        )?;
        nic.public_ipv4s = external_ips(obj, path)?;
        fill_ipv6(nic, obj, path)
    }))
}

fn ipv4_field(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<Ipv4Addr>, ParseError> {
    opt_str(obj, key, path)?
        .map(|s| parse_ipv4(s).map_err(|e| bad_value(join(path, key), e)))
        .transpose()
}

fn fill_ipv4(nic: &mut Nic, obj: &Map<String, Value>, path: &str) -> Result<(), ParseError> {
    let ip = ipv4_field(obj, "ip", path)?;
    nic.gateway4 = ipv4_field(obj, "gateway", path)?;
    let prefix = opt_str(obj, "subnetmask", path)?
        .map(|m| netmask_to_prefix(m).map_err(|e| bad_value(join(path, "subnetmask"), e)))
        .transpose()?;
    if let Some(ip) = ip {
        nic.ipv4.push(Ipv4Net::host(ip));
        nic.subnet4 = prefix.map(|p| Ipv4Net::new(ip, p).network());
    }
    Ok(())
}

fn mtu(obj: &Map<String, Value>, path: &str) -> Result<Option<u32>, ParseError> {
    lookup(obj, "mtu")
        .map(|v| {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| wrong_type(join(path, "mtu"), "unsigned 32-bit number"))
        })
        .transpose()
}

/// CIDR strings or bare addresses (→ /32 or /128) from each listed key, in order.
fn ranges(obj: &Map<String, Value>, keys: &[&str], path: &str) -> Result<Vec<IpNet>, ParseError> {
    let mut out = Vec::new();
    for key in keys {
        let field = join(path, key);
        for (item_path, s) in strings(opt_array(obj, key, path)?, &field)? {
            out.push(s.parse().map_err(|e| bad_value(item_path, e))?);
        }
    }
    Ok(out)
}

/// `accessConfigs[].externalIp`: informational, so empty or invalid values are skipped.
fn external_ips(obj: &Map<String, Value>, path: &str) -> Result<Vec<Ipv4Addr>, ParseError> {
    let field = join(path, "accessConfigs");
    let mut out = Vec::new();
    for (i, v) in opt_array(obj, "accessConfigs", path)?.iter().enumerate() {
        let config = object(v, &format!("{field}[{i}]"))?;
        if let Some(ip) = opt_str(config, "externalIp", &format!("{field}[{i}]"))? {
            out.extend(ip.trim().parse::<Ipv4Addr>().ok());
        }
    }
    Ok(out)
}

fn fill_ipv6(nic: &mut Nic, obj: &Map<String, Value>, path: &str) -> Result<(), ParseError> {
    let field = join(path, "ipv6s");
    for (item_path, s) in strings(opt_array(obj, "ipv6s", path)?, &field)? {
        nic.ipv6
            .push(s.parse::<Ipv6Net>().map_err(|e| bad_value(item_path, e))?);
    }
    nic.gateway6 = opt_str(obj, "gatewayIpv6", path)?
        .map(|s| parse_ipv6(s).map_err(|e| bad_value(join(path, "gatewayIpv6"), e)))
        .transpose()?;
    Ok(())
}
