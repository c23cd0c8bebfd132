//! Windows Server Failover Cluster attributes (`enable-wsfc`, `wsfc-addrs`), as
//! google-guest-agent treats them: on Windows it keeps the named forwarded IPs (all of them
//! with `enable-wsfc=true`) off the node, for the active cluster node to hold; on Linux it
//! applies neither, and every forwarded IP is local. So here they change nothing: they are
//! only read, from the instance's attributes first, then the project's, to be shown
//! (`cnctl status system`). A value that does not parse is shown as it is, with why; it
//! never blocks the reply. Pure: a document in, lines out.

use serde_json::Value;
use std::net::IpAddr;

const ENABLE: &str = "enable-wsfc";
const ADDRESSES: &str = "wsfc-addrs";

/// One line per WSFC attribute set (instance first, then project), each naming where it was
/// found, what it says and that it changes nothing on Linux; empty when neither is set. `doc`
/// is the root document (`instance`, `project`) or the instance document.
pub(crate) fn describe(doc: &Value) -> Vec<String> {
    let instance = doc.get("instance").unwrap_or(doc);
    let levels = [
        ("instance", instance.get("attributes")),
        (
            "project",
            doc.get("project").and_then(|p| p.get("attributes")),
        ),
    ];
    [ENABLE, ADDRESSES]
        .into_iter()
        .filter_map(|key| {
            levels.iter().find_map(|(level, attributes)| {
                let value = attributes.and_then(|a| a.get(key))?;
                Some(line(key, level, value))
            })
        })
        .collect()
}

/// `enable-wsfc=true (project attributes): Windows only, no effect on Linux`, or the value
/// as it is with why it does not parse.
fn line(key: &str, level: &str, value: &Value) -> String {
    let text = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let problem = match value {
        Value::String(text) if key == ENABLE => parse_bool(text)
            .is_none()
            .then(|| "not true or false".to_string()),
        Value::String(text) => bad_address(text).map(|a| format!("'{a}' is not an IP address")),
        _ => Some("not a string".to_string()),
    };
    let effect = "Windows only, no effect on Linux";
    match problem {
        None => format!("{key}={text} ({level} attributes): {effect}"),
        Some(problem) => format!("{key}={text} ({level} attributes, {problem}): {effect}"),
    }
}

/// Go's `strconv.ParseBool` spellings, as the agent reads `enable-wsfc`.
fn parse_bool(value: &str) -> Option<bool> {
    match value.trim() {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// The first entry of a comma-separated address list that is not an address.
fn bad_address(value: &str) -> Option<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .find(|entry| entry.parse::<IpAddr>().is_err())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_attribute_is_read_from_the_instance_first_and_changes_nothing() {
        let doc = json!({
            "instance": {"attributes": {"wsfc-addrs": "34.1.1.2, 2600:1900:4000:7::5"}},
            "project": {"attributes": {"wsfc-addrs": "34.1.1.1", "enable-wsfc": "true"}},
        });
        assert_eq!(
            describe(&doc),
            [
                "enable-wsfc=true (project attributes): Windows only, no effect on Linux",
                "wsfc-addrs=34.1.1.2, 2600:1900:4000:7::5 (instance attributes): Windows only, \
                 no effect on Linux",
            ]
        );
        assert!(describe(&json!({"instance": {"attributes": {}}})).is_empty());
    }

    #[test]
    fn a_value_that_does_not_parse_is_shown_with_why() {
        let doc = json!({
            "id": 1,
            "attributes": {"enable-wsfc": "yes", "wsfc-addrs": "192.168.0"},
        });
        assert_eq!(
            describe(&doc),
            [
                "enable-wsfc=yes (instance attributes, not true or false): Windows only, no \
                 effect on Linux",
                "wsfc-addrs=192.168.0 (instance attributes, '192.168.0' is not an IP address): \
                 Windows only, no effect on Linux",
            ]
        );
        let listed = json!({"attributes": {"wsfc-addrs": ["34.1.1.1"]}});
        assert_eq!(
            describe(&listed),
            [
                "wsfc-addrs=[\"34.1.1.1\"] (instance attributes, not a string): Windows only, no \
              effect on Linux"
            ]
        );
    }
}
