//! Azure IMDS routing: `/metadata/instance[/sub/path]` with the `Metadata: true` and
//! `api-version` checks, JSON or `format=text` answers, `extended=true`'s `extended` object,
//! and the service's error bodies.
use crate::http::header;
use serde_json::Value;

use super::facts::{Reply, RequestFacts};

/// API versions the emulated service accepts, oldest first.
const API_VERSIONS: &[&str] = &[
    "2017-03-01",
    "2017-04-02",
    "2017-08-01",
    "2017-10-01",
    "2017-12-01",
    "2018-02-01",
    "2018-04-02",
    "2018-10-01",
    "2019-02-01",
    "2019-03-11",
    "2019-04-30",
    "2019-06-01",
    "2019-06-04",
    "2019-08-01",
    "2019-08-15",
    "2019-11-01",
    "2020-06-01",
    "2020-07-15",
    "2020-09-01",
    "2020-10-01",
    "2020-12-01",
    "2021-01-01",
    "2021-02-01",
    "2021-03-01",
    "2021-05-01",
    "2021-08-01",
    "2021-10-01",
    "2021-11-01",
    "2021-11-15",
    "2021-12-13",
    "2023-07-01",
    "2023-11-15",
    "2024-03-15",
    "2024-07-17",
];

const INSTANCE_PREFIX: &str = "/metadata/instance";
/// The top-level member `extended=true` adds (a scenario may give its own).
const EXTENDED: &str = "extended";
const MISSING_VERSION: &str = "Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds";
const INVALID_VERSION: &str = "Bad request. api-version is invalid or was not specified in the request. For more information refer to aka.ms/azureimds";

/// Answers one request as Azure IMDS would, from the `/metadata/instance` document.
pub(crate) fn respond(req: &RequestFacts, instance: &Value) -> Reply {
    if req.header(header::X_FORWARDED_FOR).is_some() {
        return error_reply(400, "Bad request. Request contains X-Forwarded-For header");
    }
    if !req
        .header("Metadata")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    {
        return error_reply(400, "Bad request. Required metadata header not specified");
    }
    if req.method != "GET" {
        return error_reply(405, "Method not allowed");
    }
    let path = req.path.trim_end_matches('/');
    if path == "/metadata/versions" {
        return json_reply(&serde_json::json!({ "apiVersions": API_VERSIONS }));
    }
    if let Some(reply) = check_api_version(req.query("api-version")) {
        return reply;
    }
    match instance_subpath(path) {
        Some(subpath) => serve_node(req, &with_extended(instance, req), subpath),
        None => error_reply(404, "Not found"),
    }
}

fn check_api_version(version: Option<&str>) -> Option<Reply> {
    let message = match version {
        None | Some("") => MISSING_VERSION,
        Some(v) if API_VERSIONS.contains(&v) => return None,
        Some(_) => INVALID_VERSION,
    };
    let newest: Vec<&str> = API_VERSIONS.iter().rev().take(3).copied().collect();
    let body = serde_json::json!({ "error": message, "newest-versions": newest });
    Some(with_json_type(Reply::new(400, body.to_string())))
}

/// The part after `/metadata/instance` (empty for the whole document), if the path is there.
fn instance_subpath(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(INSTANCE_PREFIX)?;
    if rest.is_empty() {
        Some(rest)
    } else {
        rest.strip_prefix('/')
    }
}

fn serve_node(req: &RequestFacts, instance: &Value, subpath: &str) -> Reply {
    let node = subpath
        .split('/')
        .filter(|segment| !segment.is_empty())
        .try_fold(instance, child);
    let Some(node) = node else {
        return error_reply(404, "Not found");
    };
    match req.query("format") {
        Some("text") => match leaf_text(node) {
            Some(text) => {
                Reply::new(200, text).with_header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            }
            None => error_reply(
                400,
                "Bad request. Invalid format requested. Only leaf nodes support format=text",
            ),
        },
        None | Some("json") => json_reply(node),
        Some(_) => error_reply(400, "Bad request. Invalid format requested"),
    }
}

/// The document as served: with `extended` (the scenario's, or `{"compute": {"ppsType":
/// "None"}}` as the service answers for a VM that was not pre-provisioned) when the query says
/// `extended=true`, without it otherwise.
fn with_extended(instance: &Value, req: &RequestFacts) -> Value {
    let mut served = instance.clone();
    let Some(map) = served.as_object_mut() else {
        return served;
    };
    let given = map.remove(EXTENDED);
    if req.query_is_true("extended") {
        let extended =
            given.unwrap_or_else(|| serde_json::json!({ "compute": { "ppsType": "None" } }));
        map.insert(EXTENDED.to_string(), extended);
    }
    served
}

/// An object member by name or an array element by index, as IMDS path components are.
fn child<'a>(node: &'a Value, segment: &str) -> Option<&'a Value> {
    match node {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    }
}

fn leaf_text(node: &Value) -> Option<String> {
    match node {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        Value::Array(_) | Value::Object(_) => None,
    }
}

fn json_reply(node: &Value) -> Reply {
    with_json_type(Reply::new(200, node.to_string()))
}

fn with_json_type(reply: Reply) -> Reply {
    reply.with_header(header::CONTENT_TYPE, "application/json; charset=utf-8")
}

/// `{"error": "..."}` with the given status.
pub(crate) fn error_reply(status: u16, message: &str) -> Reply {
    let body = serde_json::json!({ "error": message });
    with_json_type(Reply::new(status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::facts::Scenario;
    use crate::net::ProviderKind;

    fn get(url: &str) -> RequestFacts {
        RequestFacts::new("GET", url).with_header("Metadata", "true")
    }

    #[test]
    fn whole_document() {
        let tree = Scenario::builtin_tree(ProviderKind::Azure);
        let reply = respond(&get("/metadata/instance?api-version=2021-02-01"), &tree);
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("content-type"),
            Some("application/json; charset=utf-8")
        );
        let body = reply.json();
        assert_eq!(body, tree);
    }

    #[test]
    fn subtree_and_text_leaf() {
        let tree = Scenario::builtin_tree(ProviderKind::Azure);
        let url = "/metadata/instance/network/interface/1/ipv4/ipAddress?api-version=2021-02-01";
        let reply = respond(&get(url), &tree);
        let body = reply.json();
        assert_eq!(body, tree["network"]["interface"][1]["ipv4"]["ipAddress"]);
        let leaf = "/metadata/instance/network/interface/1/ipv4/ipAddress/2/privateIpAddress?api-version=2021-02-01&format=text";
        let reply = respond(&get(leaf), &tree);
        assert_eq!((reply.status, reply.text().as_str()), (200, "10.4.0.7"));
        let dir = "/metadata/instance/network?api-version=2021-02-01&format=text";
        assert_eq!(respond(&get(dir), &tree).status, 400);
        let missing = "/metadata/instance/network/interface/2?api-version=2021-02-01";
        assert_eq!(respond(&get(missing), &tree).status, 404);
    }

    #[test]
    fn extended_adds_the_pps_type_only_when_asked() {
        let tree = Scenario::builtin_tree(ProviderKind::Azure);
        let plain = respond(&get("/metadata/instance?api-version=2021-08-01"), &tree).json();
        assert_eq!(plain.get("extended"), None);
        let url = "/metadata/instance?api-version=2021-08-01&extended=true";
        let body = respond(&get(url), &tree).json();
        assert_eq!(
            body["extended"],
            serde_json::json!({"compute": {"ppsType": "None"}})
        );
        assert_eq!(body["compute"], tree["compute"]);
        let leaf = "/metadata/instance/extended/compute/ppsType?api-version=2021-08-01&extended=true&format=text";
        assert_eq!(respond(&get(leaf), &tree).text(), "None");
        let mut running = tree.clone();
        running["extended"] = serde_json::json!({"compute": {"ppsType": "Running"}});
        assert_eq!(
            respond(&get(url), &running).json()["extended"]["compute"]["ppsType"],
            "Running"
        );
        let hidden = respond(&get("/metadata/instance?api-version=2021-08-01"), &running).json();
        assert_eq!(hidden.get("extended"), None);
    }

    #[test]
    fn header_rules() {
        let tree = Scenario::builtin_tree(ProviderKind::Azure);
        let url = "/metadata/instance?api-version=2021-02-01";
        let no_header = respond(&RequestFacts::new("GET", url), &tree);
        assert_eq!(no_header.status, 400);
        assert_eq!(
            no_header.text(),
            r#"{"error":"Bad request. Required metadata header not specified"}"#
        );
        let wrong = respond(
            &RequestFacts::new("GET", url).with_header("Metadata", "yes"),
            &tree,
        );
        assert_eq!(wrong.status, 400);
        let forwarded = respond(&get(url).with_header("X-Forwarded-For", "1.2.3.4"), &tree);
        assert_eq!(forwarded.status, 400);
    }

    #[test]
    fn api_version_rules() {
        let tree = Scenario::builtin_tree(ProviderKind::Azure);
        let missing = respond(&get("/metadata/instance"), &tree);
        assert_eq!(missing.status, 400);
        let body = missing.json();
        assert_eq!(body["error"], MISSING_VERSION);
        assert_eq!(body["newest-versions"][0], "2024-07-17");
        let invalid = respond(&get("/metadata/instance?api-version=2016-01-01"), &tree);
        let body = invalid.json();
        assert_eq!(
            (invalid.status, body["error"].as_str()),
            (400, Some(INVALID_VERSION))
        );
        let versions = respond(&get("/metadata/versions"), &tree);
        assert_eq!(versions.status, 200);
    }
}
