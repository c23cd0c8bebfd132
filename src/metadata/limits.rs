//! Caps on what one metadata reply may hold. A reply past any of them is not an instance but
//! nonsense (or an attack): it is refused whole, as a parse error, so nothing changes on the
//! machine. The JSON caps are checked on the raw body before any JSON value is built (a
//! `serde_json::Value` costs up to ~25 bytes of memory per byte of input); the model caps
//! are checked on the parsed NICs.
//!
//! The model caps sit well above the clouds' documented maxima: a few dozen NICs on the
//! largest instance types, 256 IP configurations per NIC on Azure (the most per NIC of the
//! six clouds), and far fewer alias ranges and forwarded IPs per NIC on GCP.

use super::error::ParseError;
use super::model::Nic;

/// NICs per instance.
pub(crate) const NICS_MAX: usize = 128;
/// Addresses per NIC, per family (IPv4, own-subnet IPv4 included; IPv6): 32 × Azure's 256,
/// so that the tests' 5,000-address applies (SIGTERM and kill -9 mid-apply) stay possible.
const ADDRESSES_PER_NIC_MAX: usize = 8192;
/// Alias ranges and forwarded IPs per NIC, together.
const RANGES_PER_NIC_MAX: usize = 1024;
/// Objects and arrays in one JSON document. The largest real document (Azure, 8 NICs with
/// 256 addresses each) has about 2,300.
const JSON_CONTAINERS_MAX: usize = 8192;
/// Values (scalars, objects and arrays) in one JSON document.
const JSON_VALUES_MAX: usize = 65_536;

/// Refuses a count past its cap.
pub(crate) fn check_count(what: &'static str, count: usize, cap: usize) -> Result<(), ParseError> {
    if count > cap {
        return Err(ParseError::TooMany { what, count, cap });
    }
    Ok(())
}

/// Counts the containers and values of a JSON body with one pass over its bytes (strings
/// skipped, nothing allocated), and refuses a body past either cap. Malformed JSON passes:
/// the parser reports it.
pub(crate) fn check_json_size(body: &str) -> Result<(), ParseError> {
    let mut containers = 0usize;
    let mut separators = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for byte in body.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => containers += 1,
            b',' => separators += 1,
            _ => {}
        }
    }
    check_count("JSON objects and arrays", containers, JSON_CONTAINERS_MAX)?;
    check_count("JSON values", containers + separators + 1, JSON_VALUES_MAX)
}

/// Refuses a NIC list past the NIC cap, or a NIC past the per-NIC caps.
pub(crate) fn check_nic_caps(nics: &[Nic]) -> Result<(), ParseError> {
    check_count("network interfaces", nics.len(), NICS_MAX)?;
    for nic in nics {
        let v4 = nic.ipv4.len() + nic.routed_ipv4.len();
        check_count("IPv4 addresses on one NIC", v4, ADDRESSES_PER_NIC_MAX)?;
        check_count(
            "IPv6 addresses on one NIC",
            nic.ipv6.len(),
            ADDRESSES_PER_NIC_MAX,
        )?;
        let ranges = nic.ip_ranges.len() + nic.forwarded.len();
        check_count(
            "alias ranges and forwarded IPs on one NIC",
            ranges,
            RANGES_PER_NIC_MAX,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Mac;

    #[test]
    fn a_body_past_the_json_caps_is_refused_before_parsing() {
        let nics: Vec<String> = (0..30_000)
            .map(|i| format!(r#"{{"macAddress":"0022{i:08X}","ipv4":{{"ipAddress":[{{"privateIpAddress":"10.0.0.1"}}]}}}}"#))
            .collect();
        let body = format!(r#"{{"network":{{"interface":[{}]}}}}"#, nics.join(","));
        assert_eq!(
            check_json_size(&body),
            Err(ParseError::TooMany {
                what: "JSON objects and arrays",
                count: 120_003,
                cap: JSON_CONTAINERS_MAX
            })
        );
        let flat = format!("[{}]", vec!["1"; 70_000].join(","));
        assert_eq!(
            check_json_size(&flat),
            Err(ParseError::TooMany {
                what: "JSON values",
                count: 70_001,
                cap: JSON_VALUES_MAX
            })
        );
    }

    #[test]
    fn brackets_and_commas_inside_strings_do_not_count() {
        let text = format!(
            r#"{{"script":"{}","quoted":"a\"[,"}}"#,
            "[{,".repeat(100_000)
        );
        assert_eq!(check_json_size(&text), Ok(()));
    }

    #[test]
    fn the_model_caps_refuse_the_whole_list() {
        let nic = |i: u8| Nic::new(Mac([0, 0x22, 0, 0, 0, i]), u32::from(i));
        let many: Vec<Nic> = (0..=128).map(nic).collect();
        let error = check_nic_caps(&many).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the reply lists 129 network interfaces, more than 128: refused as nonsensical"
        );
        let mut wide = nic(0);
        wide.ip_ranges = vec!["10.0.0.0/32".parse().unwrap(); 1025];
        assert!(check_nic_caps(&[wide]).is_err());
        assert_eq!(check_nic_caps(&many[..128]), Ok(()));
    }
}
