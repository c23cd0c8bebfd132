//! The opt-out keys of `[Network]`: the NICs left alone (by interface name, MAC or device
//! index) and the switches for secondary addresses, alias ranges, forwarded IPs, delegated
//! prefixes and policy routing. Each value is checked here; the planner applies them
//! (`plan::desired::optout`).
use super::values;
use crate::net::Mac;
use crate::plan::OptOuts;

/// The opt-out keys, in the order the documentation lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OptOutKey {
    IgnoreInterfaces,
    IgnoreMacs,
    IgnoreDeviceIndexes,
    SecondaryAddresses,
    AliasRanges,
    ForwardedIps,
    DelegatedPrefixes,
    PolicyRouting,
}

/// (key name, key), all in `[Network]`.
pub(super) const OPT_OUT_KEYS: [(&str, OptOutKey); 8] = [
    ("IgnoreInterfaces", OptOutKey::IgnoreInterfaces),
    ("IgnoreMACs", OptOutKey::IgnoreMacs),
    ("IgnoreDeviceIndexes", OptOutKey::IgnoreDeviceIndexes),
    ("SecondaryAddresses", OptOutKey::SecondaryAddresses),
    ("AliasRanges", OptOutKey::AliasRanges),
    ("ForwardedIPs", OptOutKey::ForwardedIps),
    ("DelegatedPrefixes", OptOutKey::DelegatedPrefixes),
    ("PolicyRouting", OptOutKey::PolicyRouting),
];

/// The highest device index a range may name (EC2's 100 × network-card + device-number stays
/// far below it).
const MAX_DEVICE_INDEX: u32 = 1_000_000;

/// Sets one opt-out from its text (`list`: the elements of an array of strings).
pub(super) fn set(
    optouts: &mut OptOuts,
    key: OptOutKey,
    text: &str,
    list: Option<&[String]>,
) -> Result<(), String> {
    let items: Vec<&str> = match list {
        Some(list) => list.iter().map(String::as_str).collect(),
        None => list_items(text),
    };
    match key {
        OptOutKey::IgnoreInterfaces => optouts.interfaces = values::supplementary(items)?,
        OptOutKey::IgnoreMacs => optouts.macs = macs(&items)?,
        OptOutKey::IgnoreDeviceIndexes => optouts.device_indexes = index_ranges(&items)?,
        OptOutKey::SecondaryAddresses => optouts.secondary_addresses = values::boolean(text)?,
        OptOutKey::AliasRanges => optouts.alias_ranges = values::boolean(text)?,
        OptOutKey::ForwardedIps => optouts.forwarded_ips = values::boolean(text)?,
        OptOutKey::DelegatedPrefixes => optouts.delegated_prefixes = values::boolean(text)?,
        OptOutKey::PolicyRouting => optouts.policy_routing = values::boolean(text)?,
    }
    Ok(())
}

/// The items of a space-separated string, or of a TOML array given as source text
/// (`[1, 2, "4-7"]`).
fn list_items(text: &str) -> Vec<&str> {
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(text);
    inner
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|item| item.trim_matches(|c| c == '"' || c == '\''))
        .filter(|item| !item.is_empty())
        .collect()
}

fn macs(items: &[&str]) -> Result<Vec<Mac>, String> {
    items
        .iter()
        .map(|item| {
            item.parse::<Mac>()
                .map_err(|_| format!("'{item}' is not a MAC address (aa:bb:cc:dd:ee:ff)"))
        })
        .collect()
}

/// `N` or `N-M` (inclusive), each from 0 to [`MAX_DEVICE_INDEX`].
fn index_ranges(items: &[&str]) -> Result<Vec<(u32, u32)>, String> {
    items
        .iter()
        .map(|item| {
            let bad = || {
                format!("'{item}' is not a device index or range (such as 2 or 1-7, up to {MAX_DEVICE_INDEX})")
            };
            let (low, high) = item.split_once('-').unwrap_or((item, item));
            let number = |text: &str| {
                text.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n <= MAX_DEVICE_INDEX)
            };
            match (number(low), number(high)) {
                (Some(low), Some(high)) if low <= high => Ok((low, high)),
                _ => Err(bad()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_text(key: OptOutKey, text: &str) -> Result<OptOuts, String> {
        let mut optouts = OptOuts::default();
        set(&mut optouts, key, text, None).map(|()| optouts)
    }

    #[test]
    fn lists_from_strings_or_array_source() {
        let got = set_text(OptOutKey::IgnoreDeviceIndexes, "[1, 3, \"5-7\"]").unwrap();
        assert_eq!(got.device_indexes, [(1, 1), (3, 3), (5, 7)]);
        let got = set_text(OptOutKey::IgnoreDeviceIndexes, "1-15").unwrap();
        assert_eq!(got.device_indexes, [(1, 15)]);
        let got = set_text(OptOutKey::IgnoreMacs, "00:0D:3A:5D:2D:66 02:00:00:00:00:01").unwrap();
        assert_eq!(got.macs[0].to_string(), "00:0d:3a:5d:2d:66");
        let list = ["eth1".to_string(), "eth2".to_string()];
        let mut optouts = OptOuts::default();
        set(&mut optouts, OptOutKey::IgnoreInterfaces, "", Some(&list)).unwrap();
        assert_eq!(optouts.interfaces, ["eth1", "eth2"]);
    }

    #[test]
    fn bad_values_name_the_item() {
        assert_eq!(
            set_text(OptOutKey::IgnoreDeviceIndexes, "7-2").unwrap_err(),
            "'7-2' is not a device index or range (such as 2 or 1-7, up to 1000000)"
        );
        assert_eq!(
            set_text(OptOutKey::IgnoreMacs, "00:11").unwrap_err(),
            "'00:11' is not a MAC address (aa:bb:cc:dd:ee:ff)"
        );
        assert_eq!(
            set_text(OptOutKey::PolicyRouting, "maybe").unwrap_err(),
            "expected true or false"
        );
        let off = set_text(OptOutKey::SecondaryAddresses, "false").unwrap();
        assert!(!off.secondary_addresses && off.policy_routing);
    }
}
