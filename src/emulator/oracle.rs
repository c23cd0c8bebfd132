//! OCI IMDS v2 routing: `/opc/v2/instance/[sub/path]` and `/opc/v2/vnics/[sub/path]` from the
//! scenario's `instance` and `vnics`, only with `Authorization: Bearer Oracle` (401 without, as
//! the real service answers). Objects and lists are JSON, leaves plain text. The legacy v1
//! endpoints answer 404, as on an instance where they are disabled.
use crate::http::header;
use serde_json::Value;

use super::facts::{Reply, RequestFacts};

/// The one `Authorization` value IMDS v2 accepts (spelled here, not taken from the client, so
/// the tests check the client against the service rather than against itself).
const BEARER: &str = "Bearer Oracle";

const V2_PREFIX: &str = "/opc/v2/";
/// The top-level directories of IMDS v2 and the scenario key each is served from.
const DIRECTORIES: [(&str, &str); 2] = [("instance", "instance"), ("vnics", "vnics")];

/// Answers one request as OCI's IMDS v2 would, from the scenario tree.
pub(crate) fn respond(req: &RequestFacts, tree: &Value) -> Reply {
    let Some(rest) = req.path.strip_prefix(V2_PREFIX) else {
        return error_reply(404, "NotAuthorizedOrNotFound", "Not found");
    };
    let authorized = req
        .header(header::AUTHORIZATION)
        .is_some_and(|v| v.trim() == BEARER);
    if !authorized {
        return error_reply(
            401,
            "NotAuthenticated",
            "The required information to complete authentication was not provided.",
        );
    }
    if req.method != "GET" {
        return error_reply(405, "MethodNotAllowed", "Method not allowed")
            .with_header(header::ALLOW, "GET");
    }
    let mut segments = rest.split('/').filter(|s| !s.is_empty());
    let node = segments
        .next()
        .and_then(|dir| DIRECTORIES.iter().find(|(name, _)| *name == dir))
        .and_then(|(_, key)| tree.get(*key))
        .and_then(|root| segments.try_fold(root, child));
    match node {
        Some(node) => node_reply(node),
        None => error_reply(404, "NotAuthorizedOrNotFound", "Not found"),
    }
}

/// An object member by name or a list element by index.
fn child<'a>(node: &'a Value, segment: &str) -> Option<&'a Value> {
    match node {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    }
}

/// Directories as pretty JSON (the service's Jackson style), leaves as text.
fn node_reply(node: &Value) -> Reply {
    let text = match node {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        Value::Array(_) | Value::Object(_) => {
            let body = serde_json::to_string_pretty(node).unwrap_or_default();
            return Reply::new(200, body).with_header(header::CONTENT_TYPE, "application/json");
        }
    };
    Reply::new(200, text).with_header(header::CONTENT_TYPE, "text/plain")
}

/// OCI's error body: `{"code": ..., "message": ...}`.
fn error_reply(status: u16, code: &str, message: &str) -> Reply {
    let body = serde_json::json!({ "code": code, "message": message });
    Reply::new(status, body.to_string()).with_header(header::CONTENT_TYPE, "application/json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::facts::Scenario;
    use crate::net::ProviderKind;

    fn get(url: &str) -> RequestFacts {
        RequestFacts::new("GET", url).with_header("Authorization", "Bearer Oracle")
    }

    fn tree() -> Value {
        Scenario::builtin_tree(ProviderKind::Oracle)
    }

    #[test]
    fn instance_and_vnics_documents() {
        let tree = tree();
        for (url, key) in [
            ("/opc/v2/instance/", "instance"),
            ("/opc/v2/instance", "instance"),
            ("/opc/v2/vnics/", "vnics"),
        ] {
            let reply = respond(&get(url), &tree);
            assert_eq!(reply.status, 200, "{url}");
            assert_eq!(reply.header("content-type"), Some("application/json"));
            assert_eq!(reply.json(), tree[key], "{url}");
        }
    }

    #[test]
    fn sub_paths_and_text_leaves() {
        let tree = tree();
        let reply = respond(&get("/opc/v2/vnics/1/privateIp"), &tree);
        assert_eq!((reply.status, reply.text().as_str()), (200, "10.0.0.20"));
        assert_eq!(reply.header("content-type"), Some("text/plain"));
        let region = respond(&get("/opc/v2/instance/canonicalRegionName"), &tree);
        assert_eq!(region.text(), "eu-frankfurt-1");
        let tags = respond(&get("/opc/v2/instance/freeformTags/"), &tree);
        assert_eq!(tags.json(), tree["instance"]["freeformTags"]);
        let tag = respond(&get("/opc/v2/vnics/0/vlanTag"), &tree);
        assert_eq!(tag.text(), "1021");
        for missing in [
            "/opc/v2/vnics/2",
            "/opc/v2/instance/nothing",
            "/opc/v2/other/",
        ] {
            assert_eq!(respond(&get(missing), &tree).status, 404, "{missing}");
        }
    }

    #[test]
    fn v2_needs_the_authorization_header() {
        let tree = tree();
        let bare = respond(&RequestFacts::new("GET", "/opc/v2/instance/"), &tree);
        assert_eq!(bare.status, 401);
        assert_eq!(
            bare.json(),
            serde_json::json!({"code": "NotAuthenticated",
                "message": "The required information to complete authentication was not provided."})
        );
        let wrong =
            RequestFacts::new("GET", "/opc/v2/vnics/").with_header("Authorization", "Bearer Azure");
        assert_eq!(respond(&wrong, &tree).status, 401);
        let lower = RequestFacts::new("GET", "/opc/v2/vnics/")
            .with_header("authorization", "Bearer Oracle");
        assert_eq!(respond(&lower, &tree).status, 200);
    }

    #[test]
    fn v1_and_other_methods_are_refused() {
        let tree = tree();
        let v1 = respond(&get("/opc/v1/instance/"), &tree);
        assert_eq!(v1.status, 404);
        let put = RequestFacts::new("PUT", "/opc/v2/instance/")
            .with_header("Authorization", "Bearer Oracle");
        let reply = respond(&put, &tree);
        assert_eq!((reply.status, reply.header("allow")), (405, Some("GET")));
    }
}
