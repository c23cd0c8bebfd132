//! DigitalOcean's droplet document (`/metadata/v1.json`) → the common model. Pure: no I/O.
//!
//! Index rule: `interfaces.public[i]` is device index `2 × i`, `interfaces.private[i]` is
//! `2 × i + 1`, so the public NIC is the primary (0), the private one is 1, and an index never
//! moves when the other list changes. The anchor IP (`anchor_ipv4`, the target of the reserved
//! IP's 1:1 NAT) is an address of the public NIC with its own subnet and gateway
//! (`Nic::routed_ipv4`). The reserved IP (`reserved_ip`, formerly `floating_ip`) is never on
//! the droplet: it is reported in the first public NIC's `public_ipv4s`.

use crate::metadata::error::ParseError;
use crate::metadata::json::{
    bad_value, check_nics, join, lookup, mac, object, opt_array, opt_object, opt_str, parse_json,
    req_str, wrong_type,
};
use crate::metadata::{
    netmask_to_prefix, parse_ipv4, parse_ipv6, parse_prefix, Instance, Ipv4Net, Ipv6Net, Nic,
    ProviderKind, RoutedIpv4,
};
use serde_json::{Map, Value};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// The interface lists and the offset each adds to twice the position in its list.
const LISTS: [(&str, u32); 2] = [("public", 0), ("private", 1)];
/// The keys of the reserved IP, newest first (`floating_ip` is the older name).
const RESERVED_KEYS: [&str; 2] = ["reserved_ip", "floating_ip"];

/// Parses the body of `GET /metadata/v1.json`.
pub fn parse(body: &str) -> Result<Instance, ParseError> {
    parse_value(parse_json(body)?)
}

/// Like [`parse`], from an already decoded document (kept as `raw`).
pub fn parse_value(doc: Value) -> Result<Instance, ParseError> {
    let root = object(&doc, "")?;
    let instance_id = droplet_id(root)?;
    let location = opt_str(root, "region", "")?.unwrap_or_default().to_string();
    let interfaces = opt_object(root, "interfaces", "")?.ok_or_else(|| ParseError::Missing {
        field: "interfaces".into(),
    })?;
    let mut nics = Vec::new();
    for (list, offset) in LISTS {
        let path = join("interfaces", list);
        for (position, value) in opt_array(interfaces, list, "interfaces")?
            .iter()
            .enumerate()
        {
            let index = device_index(position, offset);
            nics.push(parse_interface(
                value,
                index,
                &format!("{path}[{position}]"),
            )?);
        }
    }
    Nic::sort_by_index(&mut nics);
    check_nics(&nics)?;
    let reserved = reserved_ips(root)?;
    if let Some(public) = nics.iter_mut().find(|nic| nic.index == 0) {
        public.public_ipv4s = reserved;
    }
    Ok(Instance {
        provider: ProviderKind::DigitalOcean,
        instance_id,
        location,
        nics,
        raw: Arc::new(doc),
    })
}

/// `2 × position + offset`; a list longer than half of u32 cannot be held in memory.
fn device_index(position: usize, offset: u32) -> u32 {
    u32::try_from(position).map_or(u32::MAX, |p| p.saturating_mul(2).saturating_add(offset))
}

/// `droplet_id` is a JSON number in DigitalOcean's reference, a string in a real capture.
fn droplet_id(root: &Map<String, Value>) -> Result<String, ParseError> {
    let field = "droplet_id".to_string();
    match lookup(root, "droplet_id") {
        None => Err(ParseError::Missing { field }),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|id| id.to_string())
            .ok_or_else(|| wrong_type(field, "unsigned integer")),
        Some(_) => Err(wrong_type(field, "unsigned integer or string")),
    }
}

fn parse_interface(value: &Value, index: u32, path: &str) -> Result<Nic, ParseError> {
    let obj = object(value, path)?;
    let nic = Nic::new(mac(req_str(obj, "mac", path)?, join(path, "mac"))?, index);
    Ok(Nic::filled(nic, |nic| {
        if let Some(ipv4) = opt_object(obj, "ipv4", path)? {
            let (addr, gateway) = ipv4_block(ipv4, &join(path, "ipv4"))?;
            nic.ipv4.push(addr);
            nic.subnet4 = Some(addr.network());
            nic.gateway4 = gateway;
        }
        if let Some(ipv6) = opt_object(obj, "ipv6", path)? {
            fill_ipv6(nic, ipv6, &join(path, "ipv6"))?;
        }
        if let Some(anchor) = opt_object(obj, "anchor_ipv4", path)? {
            let anchor_path = join(path, "anchor_ipv4");
            let (addr, gateway) = ipv4_block(anchor, &anchor_path)?;
            let gateway = gateway.ok_or_else(|| ParseError::Missing {
                field: join(&anchor_path, "gateway"),
            })?;
            nic.routed_ipv4.push(RoutedIpv4 { addr, gateway });
        }
        Ok(())
    }))
}

fn ipv4_field(obj: &Map<String, Value>, key: &str, path: &str) -> Result<Ipv4Addr, ParseError> {
    parse_ipv4(req_str(obj, key, path)?).map_err(|e| bad_value(join(path, key), e))
}

/// `{ip_address, netmask, gateway}`: the address with its prefix, and the gateway if any.
fn ipv4_block(
    obj: &Map<String, Value>,
    path: &str,
) -> Result<(Ipv4Net, Option<Ipv4Addr>), ParseError> {
    let addr = ipv4_field(obj, "ip_address", path)?;
    let netmask = req_str(obj, "netmask", path)?;
    let prefix = netmask_to_prefix(netmask).map_err(|e| bad_value(join(path, "netmask"), e))?;
    let gateway = match opt_str(obj, "gateway", path)? {
        Some(_) => Some(ipv4_field(obj, "gateway", path)?),
        None => None,
    };
    Ok((Ipv4Net::new(addr, prefix), gateway))
}

/// `{ip_address, cidr, gateway}`; `cidr` is a JSON number (a string in the path tree).
fn fill_ipv6(nic: &mut Nic, obj: &Map<String, Value>, path: &str) -> Result<(), ParseError> {
    let ip_address = req_str(obj, "ip_address", path)?;
    let addr = parse_ipv6(ip_address).map_err(|e| bad_value(join(path, "ip_address"), e))?;
    let cidr_field = join(path, "cidr");
    let cidr = match lookup(obj, "cidr") {
        None => return Err(ParseError::Missing { field: cidr_field }),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(wrong_type(cidr_field, "number")),
    };
    let prefix = parse_prefix(&cidr, 128).map_err(|e| bad_value(cidr_field, e))?;
    let net = Ipv6Net::new(addr, prefix);
    nic.ipv6.push(net);
    nic.subnet6 = Some(net.network());
    nic.gateway6 = opt_str(obj, "gateway", path)?
        .map(|g| parse_ipv6(g).map_err(|e| bad_value(join(path, "gateway"), e)))
        .transpose()?;
    Ok(())
}

/// The active reserved IP (`{"ipv4": {"active": true, "ip_address": ...}}`) under either name,
/// once; an inactive one carries no address.
fn reserved_ips(root: &Map<String, Value>) -> Result<Vec<Ipv4Addr>, ParseError> {
    let mut found = Vec::new();
    for key in RESERVED_KEYS {
        let Some(ipv4) = opt_object(root, key, "")?
            .map(|block| opt_object(block, "ipv4", key))
            .transpose()?
            .flatten()
        else {
            continue;
        };
        let path = join(key, "ipv4");
        let active = match lookup(ipv4, "active") {
            None => false,
            Some(Value::Bool(active)) => *active,
            Some(_) => return Err(wrong_type(join(&path, "active"), "boolean")),
        };
        if !active {
            continue;
        }
        let addr = ipv4_field(ipv4, "ip_address", &path)?;
        if !found.contains(&addr) {
            found.push(addr);
        }
    }
    Ok(found)
}
