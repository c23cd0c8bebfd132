//! Alibaba ECS metadata parsing: the flat `path → body` map (paths relative to `/latest/`, as in
//! the fixtures and as the fetcher collects it; see `metadata::imds::tree`) into the common model.
//!
//! Index rule: the NIC named by the top-level `meta-data/mac` is the primary, index 0. ECS has
//! no device number, so the others are numbered 1, 2, … in MAC order; a caller that remembers
//! earlier indexes passes them in, and a NIC keeps the index it had while the one it remembers
//! is free (a hot-plugged NIC takes the lowest free index, so no other NIC's table moves).

use crate::metadata::imds::tree::{
    in_blocks6, in_subnet4, leaf, parse_net4, parse_net6, parse_nics, put_first, tree_to_json,
    value_error,
};
use crate::metadata::{
    netmask_to_prefix, parse_ipv4, parse_ipv6, Instance, Ipv4Net, Ipv6Net, Mac, Nic,
};
use crate::metadata::{ParseError, ProviderKind};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

pub use crate::metadata::imds::tree::MACS_DIR;

/// The top-level leaf naming the primary NIC's MAC.
pub const PRIMARY_MAC: &str = "meta-data/mac";
pub const INSTANCE_ID: &str = "meta-data/instance-id";
pub const REGION_ID: &str = "meta-data/region-id";

// The per-MAC leaves the model is made of.
const PRIVATE_IPV4S: &str = "private-ipv4s";
const PRIMARY_IP: &str = "primary-ip-address";
const VSWITCH_BLOCK: &str = "vswitch-cidr-block";
/// Read by no refresh (the vswitch block says more); samples may carry it alone.
const NETMASK: &str = "netmask";
const GATEWAY: &str = "gateway";
pub const IPV6S: &str = "ipv6s";
const IPV6_GATEWAY: &str = "ipv6-gateway";
const VSWITCH_IPV6_BLOCK: &str = "vswitch-ipv6-cidr-block";

/// The per-MAC leaves every refresh reads.
pub const NIC_LEAVES: [&str; 5] = [PRIVATE_IPV4S, PRIMARY_IP, VSWITCH_BLOCK, GATEWAY, IPV6S];
/// The per-MAC leaves read only for a NIC whose `ipv6s` lists an address.
pub const NIC_LEAVES_IPV6: [&str; 2] = [IPV6_GATEWAY, VSWITCH_IPV6_BLOCK];

/// Turns a metadata tree into the model, numbering NICs by the index rule (module doc).
pub fn parse(tree: &BTreeMap<String, String>) -> Result<Instance, ParseError> {
    parse_with_indexes(tree, &BTreeMap::new())
}

/// [`parse`], where a NIC in `known` keeps its index when that index is still free.
pub fn parse_with_indexes(
    tree: &BTreeMap<String, String>,
    known: &BTreeMap<Mac, u32>,
) -> Result<Instance, ParseError> {
    let mut nics = parse_nics(tree, parse_nic)?;
    let primary = primary_mac(tree)?;
    if !nics.iter().any(|nic| nic.mac == primary) {
        return Err(ParseError::Missing {
            field: format!("{MACS_DIR}{primary}/"),
        });
    }
    // Key order is not MAC order when directory names differ in case (`3E` sorts before `3e`).
    // The MACs are distinct (`mac_dirs` refuses a repeated one): an unstable sort is exact.
    nics.sort_unstable_by_key(|nic| nic.mac);
    assign_indexes(&mut nics, primary, known);
    Nic::sort_by_index(&mut nics);
    let text = |key: &str| leaf(tree, key).unwrap_or_default().to_string();
    Ok(Instance {
        provider: ProviderKind::Alibaba,
        instance_id: text(INSTANCE_ID),
        location: text(REGION_ID),
        nics,
        raw: Arc::new(tree_to_json(tree)),
    })
}

fn primary_mac(tree: &BTreeMap<String, String>) -> Result<Mac, ParseError> {
    let text = leaf(tree, PRIMARY_MAC).ok_or_else(|| ParseError::Missing {
        field: PRIMARY_MAC.to_string(),
    })?;
    text.parse().map_err(value_error(PRIMARY_MAC))
}

/// The primary gets 0; a NIC in `known` keeps its earlier index while it is free; the rest
/// take the lowest free indexes from 1, in MAC order (`nics` comes in MAC order).
fn assign_indexes(nics: &mut [Nic], primary: Mac, known: &BTreeMap<Mac, u32>) {
    let mut taken = BTreeSet::from([0]);
    for nic in nics.iter_mut() {
        nic.index = if nic.mac == primary {
            0
        } else {
            match known.get(&nic.mac) {
                Some(&index) if taken.insert(index) => index,
                _ => u32::MAX,
            }
        };
    }
    let mut free = (1..).filter(|index| !taken.contains(index));
    for nic in nics.iter_mut().filter(|nic| nic.index == u32::MAX) {
        nic.index = free.next().unwrap_or(u32::MAX);
    }
}

fn parse_nic(tree: &BTreeMap<String, String>, mac: Mac, dir: &str) -> Result<Nic, ParseError> {
    Ok(Nic::filled(Nic::new(mac, u32::MAX), |nic| {
        fill_nic(nic, tree, dir)
    }))
}

/// The NIC's addresses, subnets and gateways from its leaves under `dir`.
fn fill_nic(nic: &mut Nic, tree: &BTreeMap<String, String>, dir: &str) -> Result<(), ParseError> {
    let field = |name: &str| format!("{dir}{name}");
    let get = |name: &str| leaf(tree, &field(name));
    let primary = get(PRIMARY_IP)
        .map(|addr| parse_ipv4(addr).map_err(value_error(&field(PRIMARY_IP))))
        .transpose()?;
    let mut addresses = match get(PRIVATE_IPV4S) {
        Some(body) => parse_ipv4_array(&field(PRIVATE_IPV4S), body)?,
        None => Vec::new(),
    };
    if let Some(primary) = primary.filter(|p| !addresses.contains(p)) {
        addresses.insert(0, primary);
    }
    nic.subnet4 = match (get(VSWITCH_BLOCK), get(NETMASK)) {
        (Some(block), _) => Some(parse_net4(&field(VSWITCH_BLOCK), block)?),
        (None, Some(mask)) => {
            let prefix = netmask_to_prefix(mask).map_err(value_error(&field(NETMASK)))?;
            addresses
                .first()
                .map(|addr| Ipv4Net::new(*addr, prefix).network())
        }
        (None, None) => None,
    };
    nic.ipv4 = addresses
        .into_iter()
        .map(|addr| in_subnet4(addr, nic.subnet4))
        .collect();
    if let Some(primary) = primary {
        put_first(&mut nic.ipv4, primary);
    }
    nic.gateway4 = get(GATEWAY)
        .map(|addr| parse_ipv4(addr).map_err(value_error(&field(GATEWAY))))
        .transpose()?;
    let ipv6s = match get(IPV6S) {
        Some(body) => parse_bracketed_ipv6s(&field(IPV6S), body)?,
        None => Vec::new(),
    };
    nic.subnet6 = get(VSWITCH_IPV6_BLOCK)
        .map(|block| parse_net6(&field(VSWITCH_IPV6_BLOCK), block))
        .transpose()?;
    let blocks: Vec<Ipv6Net> = nic.subnet6.into_iter().collect();
    nic.ipv6 = ipv6s
        .into_iter()
        .map(|addr| in_blocks6(addr, &blocks))
        .collect();
    nic.gateway6 = get(IPV6_GATEWAY)
        .map(|addr| parse_ipv6(addr).map_err(value_error(&field(IPV6_GATEWAY))))
        .transpose()?;
    Ok(())
}

/// `private-ipv4s`: a JSON array of address strings (`["10.0.0.1","10.0.0.2"]`).
fn parse_ipv4_array(field: &str, body: &str) -> Result<Vec<Ipv4Addr>, ParseError> {
    crate::metadata::limits::check_json_size(body)?;
    let items: Vec<String> = serde_json::from_str(body).map_err(|_| ParseError::WrongType {
        field: field.to_string(),
        expected: "a JSON array of IPv4 address strings",
    })?;
    items
        .iter()
        .map(|item| parse_ipv4(item).map_err(value_error(field)))
        .collect()
}

/// `ipv6s`: a bracketed, comma-separated list that is not JSON (`[2408:4005::1,2408:4005::2]`);
/// quoted items are accepted too. `[]` is no address.
fn parse_bracketed_ipv6s(field: &str, body: &str) -> Result<Vec<std::net::Ipv6Addr>, ParseError> {
    let inner = body
        .trim()
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .ok_or_else(|| ParseError::WrongType {
            field: field.to_string(),
            expected: "a bracketed list such as [addr,addr]",
        })?;
    inner
        .split(',')
        .map(|item| item.trim().trim_matches('"').trim())
        .filter(|item| !item.is_empty())
        .map(|item| parse_ipv6(item).map_err(value_error(field)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mac(text: &str) -> Mac {
        text.parse().unwrap()
    }

    fn indexes(nics: &[Nic]) -> Vec<(String, u32)> {
        nics.iter().map(|n| (n.mac.to_string(), n.index)).collect()
    }

    fn nics(macs: &[&str]) -> Vec<Nic> {
        macs.iter().map(|m| Nic::new(mac(m), u32::MAX)).collect()
    }

    #[test]
    fn primary_is_zero_and_the_rest_follow_mac_order() {
        let mut list = nics(&[
            "00:16:3e:00:00:01",
            "00:16:3e:00:00:02",
            "00:16:3e:00:00:03",
        ]);
        assign_indexes(&mut list, mac("00:16:3e:00:00:02"), &BTreeMap::new());
        assert_eq!(
            indexes(&list),
            [
                ("00:16:3e:00:00:01".to_string(), 1),
                ("00:16:3e:00:00:02".to_string(), 0),
                ("00:16:3e:00:00:03".to_string(), 2),
            ]
        );
    }

    #[test]
    fn known_indexes_stay_and_a_new_nic_takes_the_lowest_free_one() {
        // 00:03 had index 1 and 00:05 index 3; 00:01 is hot-plugged and sorts first.
        let known = BTreeMap::from([
            (mac("00:16:3e:00:00:03"), 1),
            (mac("00:16:3e:00:00:05"), 3),
            (mac("00:16:3e:00:00:09"), 0),
        ]);
        let mut list = nics(&[
            "00:16:3e:00:00:01",
            "00:16:3e:00:00:03",
            "00:16:3e:00:00:05",
            "00:16:3e:00:00:09",
        ]);
        assign_indexes(&mut list, mac("00:16:3e:00:00:09"), &known);
        let got: Vec<u32> = list.iter().map(|n| n.index).collect();
        assert_eq!(got, [2, 1, 3, 0]);
    }

    #[test]
    fn a_remembered_zero_never_beats_the_primary() {
        let known = BTreeMap::from([(mac("00:16:3e:00:00:01"), 0)]);
        let mut list = nics(&["00:16:3e:00:00:01", "00:16:3e:00:00:02"]);
        assign_indexes(&mut list, mac("00:16:3e:00:00:02"), &known);
        let got: Vec<u32> = list.iter().map(|n| n.index).collect();
        assert_eq!(got, [1, 0]);
    }

    #[test]
    fn bracketed_ipv6_lists() {
        let parsed = |body| parse_bracketed_ipv6s("f", body);
        assert_eq!(parsed("[]"), Ok(vec![]));
        assert_eq!(
            parsed("[2408:4005::1, 2408:4005::2]"),
            Ok(vec![
                "2408:4005::1".parse().unwrap(),
                "2408:4005::2".parse().unwrap()
            ])
        );
        assert_eq!(
            parsed("[\"2408:4005::1\"]"),
            Ok(vec!["2408:4005::1".parse().unwrap()])
        );
        assert_eq!(
            parsed("2408:4005::1").unwrap_err().to_string(),
            "field 'f' has the wrong type (expected a bracketed list such as [addr,addr])"
        );
        assert_eq!(
            parsed("[2408:xxxxxx]").unwrap_err().to_string(),
            "field 'f': invalid IP address '2408:xxxxxx'"
        );
    }
}
