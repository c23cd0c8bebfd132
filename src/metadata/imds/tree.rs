//! The flat `path → body` map (paths relative to `/latest/`, the form of the fixtures and of
//! what the fetchers collect) shared by the EC2 and Alibaba parsers: MAC directories, leaves,
//! listings, the value helpers both use, and the JSON system view of a tree.

use crate::metadata::ParseError;
use crate::metadata::{Ipv4Net, Ipv6Net, Mac, Nic, ValueError};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::ops::Bound;

/// The directory holding one subdirectory per attached NIC, named by its MAC.
pub const MACS_DIR: &str = "meta-data/network/interfaces/macs/";

/// The MACs named under `MACS_DIR`, each with its directory path as written in the tree
/// (`meta-data/network/interfaces/macs/<mac>/`), in key order.
pub fn mac_dirs(tree: &BTreeMap<String, String>) -> Result<Vec<(Mac, String)>, ParseError> {
    let mut names = BTreeSet::new();
    names.extend(
        tree.range::<str, _>((Bound::Included(MACS_DIR), Bound::Unbounded))
            .map(|(key, _)| key.as_str())
            .take_while(|key| key.starts_with(MACS_DIR))
            .filter_map(|key| key[MACS_DIR.len()..].split('/').next())
            .filter(|name| !name.is_empty()),
    );
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

/// One NIC per MAC directory, each parsed by `parse_nic(tree, mac, dir)`, in MAC order; a
/// tree without any is [`ParseError::NoInterfaces`].
pub fn parse_nics(
    tree: &BTreeMap<String, String>,
    parse_nic: impl Fn(&BTreeMap<String, String>, Mac, &str) -> Result<Nic, ParseError>,
) -> Result<Vec<Nic>, ParseError> {
    let nics = mac_dirs(tree)?
        .into_iter()
        .map(|(mac, dir)| parse_nic(tree, mac, &dir))
        .collect::<Result<Vec<Nic>, ParseError>>()?;
    if nics.is_empty() {
        return Err(ParseError::NoInterfaces);
    }
    crate::metadata::limits::check_nic_caps(&nics)?;
    Ok(nics)
}

/// A leaf's body, or `None` when it is absent or empty (samples hold `""` where the real
/// service answers 404).
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

/// The non-blank lines of a newline-separated list body.
pub fn lines(body: Option<&str>) -> impl Iterator<Item = &str> {
    body.unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
}

/// Wraps a value error with the path of the leaf it came from.
pub fn value_error(field: &str) -> impl Fn(ValueError) -> ParseError + '_ {
    move |source| ParseError::Value {
        field: field.to_string(),
        source,
    }
}

/// An IPv4 CIDR block leaf, as its network.
pub fn parse_net4(field: &str, block: &str) -> Result<Ipv4Net, ParseError> {
    let net: Ipv4Net = block.parse().map_err(value_error(field))?;
    Ok(net.network())
}

/// An IPv6 CIDR block leaf (compressed or not: `2600:1f16:67f:f201:0:0:0:0/64`), as its network.
pub fn parse_net6(field: &str, block: &str) -> Result<Ipv6Net, ParseError> {
    let net: Ipv6Net = block.parse().map_err(value_error(field))?;
    Ok(net.network())
}

/// The address with the subnet's prefix, or /32 when it lies outside the subnet.
pub fn in_subnet4(addr: Ipv4Addr, subnet: Option<Ipv4Net>) -> Ipv4Net {
    match subnet {
        Some(subnet) if subnet.contains(addr) => Ipv4Net::new(addr, subnet.prefix),
        _ => Ipv4Net::host(addr),
    }
}

/// The address with the prefix of the block that contains it, or /128 outside every block.
pub fn in_blocks6(addr: Ipv6Addr, blocks: &[Ipv6Net]) -> Ipv6Net {
    match blocks.iter().find(|block| block.contains(addr)) {
        Some(block) => Ipv6Net::new(addr, block.prefix),
        None => Ipv6Net::host(addr),
    }
}

/// Moves `primary` to the front of the NIC's addresses (the others keep their order); a list
/// without it is left alone.
pub fn put_first(addresses: &mut [Ipv4Net], primary: Ipv4Addr) {
    if let Some(pos) = addresses.iter().position(|net| net.addr == primary) {
        addresses[..=pos].rotate_right(1);
    }
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

/// A leaf as JSON when it is JSON, else as text with its lines ended by `\n` (Alibaba ends
/// them with `\r\n`, EC2 with `\n`: the view is the same).
fn leaf_value(body: &str) -> Value {
    let trimmed = body.trim_start();
    let small = crate::metadata::limits::check_json_size(body).is_ok();
    if small && (trimmed.starts_with('{') || trimmed.starts_with('[')) {
        if let Ok(value) = serde_json::from_str(body) {
            return value;
        }
    }
    Value::String(body.replace("\r\n", "\n"))
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
            ("meta-data/ipv6s", "[2408:4000::1,2408:4000::2]"),
            ("user-data", "{not json"),
            (
                "meta-data/dns-conf/nameservers",
                "100.100.2.136\r\n100.100.2.138",
            ),
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
                    "ipv6s": "[2408:4000::1,2408:4000::2]",
                    "dns-conf": {"nameservers": "100.100.2.136\n100.100.2.138"},
                },
                "dynamic": {"instance-identity": {"document": {"region": "r"}}},
                "user-data": "{not json",
            })
        );
    }

    #[test]
    fn primary_moves_to_the_front() {
        let mut nets: Vec<Ipv4Net> = ["10.0.0.7/24", "10.0.0.5/24", "10.0.0.6/24"]
            .iter()
            .map(|n| n.parse().unwrap())
            .collect();
        put_first(&mut nets, Ipv4Addr::new(10, 0, 0, 6));
        let got: Vec<String> = nets.iter().map(ToString::to_string).collect();
        assert_eq!(got, ["10.0.0.6/24", "10.0.0.7/24", "10.0.0.5/24"]);
        put_first(&mut nets, Ipv4Addr::new(10, 0, 0, 9));
        assert_eq!(nets[0].to_string(), "10.0.0.6/24");
    }
}
