//! GCP metadata server routing: the `/computeMetadata/v1/` tree with kebab-case paths over
//! camelCase JSON, listings, `?recursive=true`, ETags, and the `Metadata-Flavor` rules.
//! Long-polling (`wait_for_change`) is described here and carried out by the server; guest
//! attributes, the one writable part, in `guest_attributes`.
use crate::http::header;
use std::time::Duration;

use serde_json::Value;

use super::facts::{content_hash, Reply, RequestFacts};
use super::guest_attributes::{self, Store};

const ROOT: &str = "/computeMetadata/v1";
/// `timeout_sec` when the request gives none, and the longest one honoured.
const DEFAULT_WAIT: Duration = Duration::from_secs(60);
const MAX_WAIT: Duration = Duration::from_secs(300);

/// A `wait_for_change=true` request: hold until the served ETag differs from `last_etag`
/// (or from the current one when none was given), or until `timeout` passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WaitSpec {
    pub last_etag: Option<String>,
    pub timeout: Duration,
}

/// The long-poll parameters of `req`, if it asks to wait for a change.
pub(crate) fn wait_spec(req: &RequestFacts) -> Option<WaitSpec> {
    if !req.query_is_true("wait_for_change") {
        return None;
    }
    let timeout = req
        .query("timeout_sec")
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(DEFAULT_WAIT, Duration::from_secs)
        .min(MAX_WAIT);
    let last_etag = req
        .query("last_etag")
        .filter(|e| !e.is_empty())
        .map(str::to_string);
    Some(WaitSpec { last_etag, timeout })
}

/// Answers one request as the GCP metadata server would (ignoring `wait_for_change`), keeping
/// the guest attributes written in `guest`.
pub(crate) fn respond(req: &RequestFacts, tree: &Value, guest: &mut Store) -> Reply {
    finish(route(req, tree, guest))
}

fn route(req: &RequestFacts, tree: &Value, guest: &mut Store) -> Reply {
    if req.header(header::X_FORWARDED_FOR).is_some() {
        return error_reply(403, "Request had an X-Forwarded-For header.");
    }
    if req.header(header::METADATA_FLAVOR) != Some("Google") {
        return error_reply(403, "Missing Metadata-Flavor:Google header.");
    }
    if let Some(rest) = guest_attributes::below(&req.path) {
        return guest_attributes::respond(req, tree, guest, rest);
    }
    if req.method != "GET" {
        return error_reply(405, "Method not allowed.");
    }
    match req.path.as_str() {
        "/" => return text_reply("computeMetadata/\n".to_string()),
        "/computeMetadata/" => return text_reply("v1/\n".to_string()),
        _ => {}
    }
    let Some(rest) = req.path.strip_prefix(ROOT) else {
        return error_reply(404, "The requested URL was not found on this server.");
    };
    if !rest.is_empty() && !rest.starts_with('/') {
        return error_reply(404, "The requested URL was not found on this server.");
    }
    serve_node(req, tree, rest)
}

fn serve_node(req: &RequestFacts, tree: &Value, rest: &str) -> Reply {
    let Some((parent_key, node)) = lookup(tree, rest) else {
        return error_reply(404, "The requested URL was not found on this server.");
    };
    let directory = rest.is_empty() || rest.ends_with('/');
    if let Some(text) = leaf_text(node) {
        return match (directory, req.query("alt")) {
            (true, _) => error_reply(404, "The requested URL was not found on this server."),
            (false, Some("json")) => json_reply(node),
            (false, _) => text_reply(text),
        };
    }
    if req.query_is_true("recursive") {
        return json_reply(node);
    }
    if !directory {
        return redirect_to_directory(req);
    }
    text_reply(listing(node, parent_key == Some("attributes")))
}

/// Walks kebab-case path segments down the camelCase tree. Returns the key the node was found
/// under (for attribute maps, whose keys are user-defined and kept as they are) and the node.
fn lookup<'a>(tree: &'a Value, rest: &str) -> Option<(Option<&'a str>, &'a Value)> {
    rest.split('/')
        .filter(|segment| !segment.is_empty())
        .try_fold((None, tree), |(parent_key, node), segment| match node {
            Value::Object(map) => map
                .iter()
                .find(|(key, _)| path_name(key, parent_key == Some("attributes")) == segment)
                .map(|(key, value)| (Some(key.as_str()), value)),
            Value::Array(items) => segment
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i))
                .map(|value| (parent_key, value)),
            _ => None,
        })
}

/// The name a JSON key has in paths and listings: kebab-case, except attribute keys.
fn path_name(key: &str, is_attribute: bool) -> String {
    if is_attribute {
        return key.to_string();
    }
    let mut name = String::with_capacity(key.len() + 4);
    for (i, c) in key.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                name.push('-');
            }
            name.push(c.to_ascii_lowercase());
        } else {
            name.push(c);
        }
    }
    name
}

/// One entry a line (each ending in a newline), directories with a trailing `/`.
fn listing(node: &Value, is_attributes: bool) -> String {
    let entry = |name: String, value: &Value| match value {
        Value::Object(_) | Value::Array(_) => format!("{name}/\n"),
        _ => format!("{name}\n"),
    };
    match node {
        Value::Object(map) => map
            .iter()
            .map(|(key, value)| entry(path_name(key, is_attributes), value))
            .collect(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, value)| entry(i.to_string(), value))
            .collect(),
        _ => String::new(),
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

fn redirect_to_directory(req: &RequestFacts) -> Reply {
    let query: Vec<String> = req.query.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let mut location = format!("{}/", req.path);
    if !query.is_empty() {
        location = format!("{location}?{}", query.join("&"));
    }
    Reply::new(
        301,
        format!("<a href=\"{location}\">Moved Permanently</a>.\n\n"),
    )
    .with_header(header::CONTENT_TYPE, "text/html; charset=utf-8")
    .with_header(header::LOCATION, &location)
}

fn text_reply(body: String) -> Reply {
    Reply::new(200, body).with_header(header::CONTENT_TYPE, "application/text")
}

fn json_reply(node: &Value) -> Reply {
    Reply::new(200, node.to_string()).with_header(header::CONTENT_TYPE, "application/json")
}

fn error_reply(status: u16, detail: &str) -> Reply {
    let title = match status {
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Method Not Allowed",
    };
    let body = format!(
        "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  \
         <title>Error {status} ({title})!!1</title>\n  \
         <p><b>{status}.</b> <ins>That's an error.</ins>\n  <p>{detail}  <ins>That's all we know.</ins>\n"
    );
    Reply::new(status, body).with_header(header::CONTENT_TYPE, "text/html; charset=UTF-8")
}

/// The headers every answer carries, including an ETag over the body.
fn finish(reply: Reply) -> Reply {
    let etag = format!("{:016x}", content_hash(&reply.body));
    reply
        .with_header(header::METADATA_FLAVOR, "Google")
        .with_header("Server", "Metadata Server for VM")
        .with_header(header::ETAG, &etag)
        .with_header("X-XSS-Protection", "0")
        .with_header("X-Frame-Options", "SAMEORIGIN")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::facts::Scenario;
    use crate::net::ProviderKind;

    fn get(url: &str) -> RequestFacts {
        RequestFacts::new("GET", url).with_header("Metadata-Flavor", "Google")
    }

    #[test]
    fn recursive_root_is_the_tree() {
        let tree = Scenario::builtin_tree(ProviderKind::Gcp);
        let reply = respond(
            &get("/computeMetadata/v1/?recursive=true"),
            &tree,
            &mut Store::new(),
        );
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.header("metadata-flavor"), Some("Google"));
        let body = reply.json();
        assert_eq!(body, tree);
        assert_eq!(
            body["instance"]["id"].as_u64(),
            Some(4_520_031_799_277_581_759)
        );
    }

    #[test]
    fn kebab_paths_and_listings() {
        let tree = Scenario::builtin_tree(ProviderKind::Gcp);
        let aliases = respond(
            &get("/computeMetadata/v1/instance/network-interfaces/0/ip-aliases/0"),
            &tree,
            &mut Store::new(),
        );
        assert_eq!(aliases.text(), "10.8.1.0/24");
        let nic = respond(
            &get("/computeMetadata/v1/instance/network-interfaces/1/"),
            &tree,
            &mut Store::new(),
        );
        assert_eq!(
            nic.text(),
            "access-configs/\ndns-servers/\nforwarded-ips/\ngateway\nip\nip-aliases/\nmac\nmtu\nnetwork\nsubnetmask\ntarget-instance-ips/\n"
        );
        let list = respond(
            &get("/computeMetadata/v1/instance/network-interfaces/"),
            &tree,
            &mut Store::new(),
        );
        assert_eq!(list.text(), "0/\n1/\n");
        let attrs = respond(
            &get("/computeMetadata/v1/project/attributes/"),
            &tree,
            &mut Store::new(),
        );
        assert_eq!(attrs.text(), "ssh-keys\n");
        let mtu = respond(
            &get("/computeMetadata/v1/instance/network-interfaces/0/mtu"),
            &tree,
            &mut Store::new(),
        );
        assert_eq!(mtu.text(), "1460");
        let id = respond(
            &get("/computeMetadata/v1/instance/id"),
            &tree,
            &mut Store::new(),
        );
        assert_eq!(id.text(), "4520031799277581759");
        let sub = respond(
            &get("/computeMetadata/v1/instance/network-interfaces/0/?recursive=true"),
            &tree,
            &mut Store::new(),
        );
        let body = sub.json();
        assert_eq!(body, tree["instance"]["networkInterfaces"][0]);
        assert_eq!(body["ipAliases"][0], "10.8.1.0/24");
    }

    #[test]
    fn camel_path_is_not_found_and_directory_redirects() {
        let tree = Scenario::builtin_tree(ProviderKind::Gcp);
        let camel = respond(
            &get("/computeMetadata/v1/instance/networkInterfaces/"),
            &tree,
            &mut Store::new(),
        );
        assert_eq!(camel.status, 404);
        let redirect = respond(
            &get("/computeMetadata/v1/instance/network-interfaces"),
            &tree,
            &mut Store::new(),
        );
        assert_eq!(redirect.status, 301);
        assert_eq!(
            redirect.header("location"),
            Some("/computeMetadata/v1/instance/network-interfaces/")
        );
        let leaf_slash = respond(
            &get("/computeMetadata/v1/instance/hostname/"),
            &tree,
            &mut Store::new(),
        );
        assert_eq!(leaf_slash.status, 404);
    }

    #[test]
    fn flavor_rules() {
        let tree = Scenario::builtin_tree(ProviderKind::Gcp);
        let url = "/computeMetadata/v1/instance/hostname";
        let missing = respond(&RequestFacts::new("GET", url), &tree, &mut Store::new());
        assert_eq!(missing.status, 403);
        assert_eq!(missing.header("metadata-flavor"), Some("Google"));
        let forwarded = respond(
            &get(url).with_header("X-Forwarded-For", "1.2.3.4"),
            &tree,
            &mut Store::new(),
        );
        assert_eq!(forwarded.status, 403);
        let wrong = respond(
            &RequestFacts::new("GET", url).with_header("Metadata-Flavor", "google"),
            &tree,
            &mut Store::new(),
        );
        assert_eq!(wrong.status, 403);
    }

    #[test]
    fn etag_follows_content() {
        let tree = Scenario::builtin_tree(ProviderKind::Gcp);
        let url = "/computeMetadata/v1/instance/network-interfaces/0/ip-aliases/?recursive=true";
        let before = respond(&get(url), &tree, &mut Store::new());
        let again = respond(&get(url), &tree, &mut Store::new());
        assert_eq!(before.header("etag"), again.header("etag"));
        let mut changed = tree.clone();
        changed["instance"]["networkInterfaces"][0]["ipAliases"] =
            serde_json::json!(["10.8.2.0/24"]);
        let after = respond(&get(url), &changed, &mut Store::new());
        assert_ne!(before.header("etag"), after.header("etag"));
        assert_eq!(after.header("etag").map(str::len), Some(16));
    }

    #[test]
    fn wait_spec_parsing() {
        assert_eq!(wait_spec(&get("/computeMetadata/v1/?recursive=true")), None);
        let spec = wait_spec(&get("/x?wait_for_change=true&last_etag=abc&timeout_sec=5"));
        assert_eq!(
            spec,
            Some(WaitSpec {
                last_etag: Some("abc".to_string()),
                timeout: Duration::from_secs(5)
            })
        );
        let capped = wait_spec(&get("/x?wait_for_change=true&timeout_sec=9999")).expect("spec");
        assert_eq!((capped.last_etag, capped.timeout), (None, MAX_WAIT));
        let default = wait_spec(&get("/x?wait_for_change=true")).expect("spec");
        assert_eq!(default.timeout, DEFAULT_WAIT);
    }
}
