//! What google-guest-agent's settings in the metadata say about the items it and we both
//! make: `disable-address-manager`, read as the agent reads it (the instance attribute when
//! it parses as a boolean, else the project's; Go's `strconv.ParseBool` spellings). With it
//! the agent makes no local routes for alias ranges and forwarded IPs, and neither do we.
use serde_json::Value;

/// The attribute's name, in the instance or project attributes.
const DISABLE_ADDRESS_MANAGER: &str = "disable-address-manager";

/// Whether `doc` (the instance document, or the root document holding `instance` and
/// `project`) disables the address manager.
pub(crate) fn address_manager_disabled(doc: &Value) -> bool {
    let instance = doc.get("instance").unwrap_or(doc);
    let attribute = |scope: &Value| {
        scope
            .get("attributes")
            .and_then(|a| a.get(DISABLE_ADDRESS_MANAGER))
            .and_then(Value::as_str)
            .and_then(parse_bool)
    };
    attribute(instance)
        .or_else(|| doc.get("project").and_then(attribute))
        .unwrap_or(false)
}

/// Go's `strconv.ParseBool`: `1 t T TRUE true True`, `0 f F FALSE false False`.
fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn root(instance: Option<&str>, project: Option<&str>) -> Value {
        let attrs =
            |v: Option<&str>| v.map_or(json!({}), |v| json!({ DISABLE_ADDRESS_MANAGER: v }));
        json!({"instance": {"attributes": attrs(instance)}, "project": {"attributes": attrs(project)}})
    }

    #[test]
    fn the_instance_attribute_wins_when_it_parses_else_the_project_s() {
        assert!(!address_manager_disabled(&root(None, None)));
        assert!(address_manager_disabled(&root(Some("true"), None)));
        assert!(address_manager_disabled(&root(None, Some("TRUE"))));
        assert!(!address_manager_disabled(&root(
            Some("false"),
            Some("true")
        )));
        assert!(address_manager_disabled(&root(Some("yes"), Some("1"))));
        assert!(!address_manager_disabled(&root(Some("yes"), None)));
        let instance_doc = json!({"attributes": {DISABLE_ADDRESS_MANAGER: "True"}});
        assert!(address_manager_disabled(&instance_doc));
        assert!(!address_manager_disabled(&json!([1])));
    }
}
