//! DigitalOcean metadata routing: `GET /metadata/v1.json` (the whole document, what the
//! daemon reads) and the `/metadata/v1/` tree operators `curl` (`interfaces/public/0/ipv4/
//! address`), derived from the same document with the tree's names. No header is required.
use crate::http::header;
use serde_json::{Map, Value};

use super::facts::{Reply, RequestFacts};

pub(crate) const DOCUMENT_PATH: &str = "/metadata/v1.json";
const TREE_ROOT: &str = "/metadata/v1";
/// Top-level keys of the JSON document whose tree name differs (DigitalOcean's index lists
/// `id`, `user-data`, `vendor-data`, `public-keys`).
const TOP_LEVEL_NAMES: [(&str, &str); 4] = [
    ("droplet_id", "id"),
    ("user_data", "user-data"),
    ("vendor_data", "vendor-data"),
    ("public_keys", "public-keys"),
];

/// Answers one request as the droplet metadata service would, from the v1.json document.
pub(crate) fn respond(req: &RequestFacts, doc: &Value) -> Reply {
    if req.method != "GET" {
        return text_reply(405, "Method Not Allowed\n");
    }
    if req.path == DOCUMENT_PATH {
        return Reply::new(200, doc.to_string())
            .with_header(header::CONTENT_TYPE, "application/json");
    }
    match req.path.strip_prefix(TREE_ROOT) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => serve_tree(&req.path, doc),
        _ => not_found(),
    }
}

fn serve_tree(path: &str, doc: &Value) -> Reply {
    let tree = tree_of(doc);
    let rest = &path[TREE_ROOT.len()..];
    let node = rest
        .split('/')
        .filter(|segment| !segment.is_empty())
        .try_fold(&tree, child);
    let Some(node) = node else {
        return not_found();
    };
    match listing(node) {
        Some(_) if !path.ends_with('/') => {
            Reply::new(301, Vec::new()).with_header(header::LOCATION, &format!("{path}/"))
        }
        Some(names) => text_reply(200, &names),
        None => text_reply(200, &leaf_text(node)),
    }
}

/// The document under the tree's names: the renamed top-level keys, and `address` for
/// `ip_address` inside each interface's address blocks.
fn tree_of(doc: &Value) -> Value {
    let mut tree = doc.clone();
    let Some(root) = tree.as_object_mut() else {
        return tree;
    };
    for (json_name, tree_name) in TOP_LEVEL_NAMES {
        if let Some(value) = root.remove(json_name) {
            root.insert(tree_name.to_string(), value);
        }
    }
    let lists = root.get_mut("interfaces").and_then(Value::as_object_mut);
    for nic in lists
        .into_iter()
        .flat_map(|l| l.values_mut())
        .flat_map(array_items)
    {
        for block in nic.as_object_mut().into_iter().flat_map(Map::values_mut) {
            if let Some(address) = block.as_object_mut().and_then(|b| b.remove("ip_address")) {
                block["address"] = address;
            }
        }
    }
    tree
}

fn array_items(value: &mut Value) -> impl Iterator<Item = &mut Value> {
    value.as_array_mut().into_iter().flatten()
}

fn child<'a>(node: &'a Value, segment: &str) -> Option<&'a Value> {
    match node {
        Value::Object(map) => map.get(segment),
        Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    }
}

/// A directory's index, one name per line (`name/` for a directory); `None` for a leaf.
/// Objects and lists of objects are directories; a list of strings is a leaf of lines.
fn listing(node: &Value) -> Option<String> {
    let is_dir =
        |v: &Value| v.is_object() || v.as_array().is_some_and(|a| a.iter().any(Value::is_object));
    let entry = |name: String, v: &Value| {
        if is_dir(v) {
            format!("{name}/\n")
        } else {
            format!("{name}\n")
        }
    };
    match node {
        Value::Object(map) => Some(map.iter().map(|(k, v)| entry(k.clone(), v)).collect()),
        Value::Array(items) if is_dir(node) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| entry(i.to_string(), v))
                .collect(),
        ),
        _ => None,
    }
}

fn leaf_text(node: &Value) -> String {
    match node {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(leaf_text).collect::<Vec<_>>().join("\n"),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn text_reply(status: u16, body: &str) -> Reply {
    Reply::new(status, body).with_header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
}

fn not_found() -> Reply {
    text_reply(404, "404 page not found\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::facts::Scenario;
    use crate::net::ProviderKind;

    fn get(path: &str) -> RequestFacts {
        RequestFacts::new("GET", path)
    }

    fn tree() -> Value {
        Scenario::builtin_tree(ProviderKind::DigitalOcean)
    }

    #[test]
    fn whole_document_without_any_header() {
        let reply = respond(&get("/metadata/v1.json"), &tree());
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(reply.json(), tree());
    }

    #[test]
    fn path_tree_uses_the_documented_names() {
        let doc = tree();
        let text = |path: &str| {
            let reply = respond(&get(path), &doc);
            (reply.status, reply.text())
        };
        let public = &doc["interfaces"]["public"][0];
        let address = public["ipv4"]["ip_address"].as_str().unwrap();
        let anchor = public["anchor_ipv4"]["ip_address"].as_str().unwrap();
        assert_eq!(
            text("/metadata/v1/interfaces/public/0/ipv4/address"),
            (200, address.to_string())
        );
        assert_eq!(
            text("/metadata/v1/interfaces/public/0/anchor_ipv4/address"),
            (200, anchor.to_string())
        );
        assert_eq!(
            text("/metadata/v1/id"),
            (200, doc["droplet_id"].to_string())
        );
        assert_eq!(
            text("/metadata/v1/reserved_ip/ipv4/active"),
            (200, "true".into())
        );
        assert_eq!(
            text("/metadata/v1/interfaces/"),
            (200, "private/\npublic/\n".into())
        );
        assert_eq!(
            text("/metadata/v1/interfaces/public/"),
            (200, "0/\n".into())
        );
        let (status, index) = text("/metadata/v1/");
        assert_eq!(status, 200);
        for name in [
            "id\n",
            "hostname\n",
            "public-keys\n",
            "region\n",
            "interfaces/\n",
        ] {
            assert!(index.contains(name), "{name:?} in {index:?}");
        }
        assert!(!index.contains("droplet_id"), "{index:?}");
        let (_, keys) = text("/metadata/v1/public-keys");
        assert_eq!(keys.lines().count(), 1, "{keys:?}");
    }

    #[test]
    fn directories_without_a_slash_redirect_and_unknown_paths_are_404() {
        let doc = tree();
        let reply = respond(&get("/metadata/v1/interfaces"), &doc);
        assert_eq!(reply.status, 301);
        assert_eq!(reply.header("location"), Some("/metadata/v1/interfaces/"));
        for path in [
            "/metadata/v1/nope",
            "/metadata/v2.json",
            "/metadata/v1x",
            "/",
        ] {
            assert_eq!(respond(&get(path), &doc).status, 404, "{path}");
        }
        let put = RequestFacts::new("PUT", "/metadata/v1.json");
        assert_eq!(respond(&put, &doc).status, 405);
    }
}
