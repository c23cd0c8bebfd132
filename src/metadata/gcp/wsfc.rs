//! Windows Server Failover Cluster addresses, as google-guest-agent reads them: forwarded IPs
//! named in the `wsfc-addrs` attribute (comma-separated addresses) are held by whichever
//! cluster node is active, so none is made local here; with `enable-wsfc=true` no forwarded IP
//! is. Each attribute is taken from the instance's attributes first, then the project's. Pure:
//! the attribute maps in, the NICs' forwarded IPs filtered.

use crate::metadata::error::ParseError;
use crate::metadata::json::{join, opt_str};
use crate::metadata::{IpNet, Nic, ValueError};
use serde_json::{Map, Value};
use std::net::IpAddr;

const ENABLE: &str = "enable-wsfc";
const ADDRESSES: &str = "wsfc-addrs";

/// What the WSFC attributes ask for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wsfc {
    /// `enable-wsfc=true`: no forwarded IP is local.
    pub enabled: bool,
    /// `wsfc-addrs`: these forwarded IPs are not local.
    pub addresses: Vec<IpAddr>,
}

/// One level of attributes (`instance.attributes` or `project.attributes`) and its path.
pub type Attributes<'a> = (Option<&'a Map<String, Value>>, &'a str);

/// Reads both attributes from the first level that has each. A value that is not a boolean
/// (Go's `ParseBool` spellings) or not a list of addresses is an error naming the attribute:
/// guessing could make a cluster address local on two nodes.
pub fn settings(levels: &[Attributes<'_>]) -> Result<Wsfc, ParseError> {
    let mut wsfc = Wsfc::default();
    if let Some((value, field)) = first(levels, ENABLE)? {
        wsfc.enabled = parse_bool(value).ok_or(ParseError::WrongType {
            field,
            expected: "true or false",
        })?;
    }
    if let Some((value, field)) = first(levels, ADDRESSES)? {
        wsfc.addresses = parse_addresses(value, &field)?;
    }
    Ok(wsfc)
}

/// The attribute's value and path at the first level that has it.
fn first<'a>(
    levels: &[Attributes<'a>],
    key: &str,
) -> Result<Option<(&'a str, String)>, ParseError> {
    for (attributes, path) in levels {
        if let Some(attributes) = attributes {
            if let Some(value) = opt_str(attributes, key, path)? {
                return Ok(Some((value, join(path, key))));
            }
        }
    }
    Ok(None)
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn parse_addresses(value: &str, field: &str) -> Result<Vec<IpAddr>, ParseError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry.parse().map_err(|_| ParseError::Value {
                field: field.to_string(),
                source: ValueError::Address(entry.to_string()),
            })
        })
        .collect()
}

/// Drops the forwarded IPs WSFC keeps off this node: all of them when enabled, else those
/// covering a WSFC address.
pub fn apply(nics: &mut [Nic], wsfc: &Wsfc) {
    for nic in nics {
        if wsfc.enabled {
            nic.forwarded.clear();
        } else {
            nic.forwarded
                .retain(|net| !wsfc.addresses.iter().any(|ip| covers(net, *ip)));
        }
    }
}

fn covers(net: &IpNet, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpNet::V4(net), IpAddr::V4(ip)) => net.contains(ip),
        (IpNet::V6(net), IpAddr::V6(ip)) => net.contains(ip),
        _ => false,
    }
}
