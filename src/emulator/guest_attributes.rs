//! GCP guest attributes: `/computeMetadata/v1/instance/guest-attributes/<namespace>/<key>`,
//! the one place of the metadata server a VM writes to (`PUT`, `GET`, `DELETE`). As on GCE
//! they are served only when the `enable-guest-attributes` attribute is `TRUE` in the instance
//! attributes, or else in the project's; otherwise every request there is 403. The values live
//! in the emulator's memory, not in the scenario, and never change its ETags.
use std::collections::BTreeMap;

use serde_json::Value;

use super::facts::{Reply, RequestFacts, MAX_BODY};

/// The path below which guest attributes live.
pub(super) const PREFIX: &str = "/computeMetadata/v1/instance/guest-attributes";
/// The attribute that turns them on.
pub(super) const ENABLE: &str = "enable-guest-attributes";
/// The body of every 403 here, as GCE words it.
pub(super) const DISABLED: &str = "Guest attributes endpoint access is disabled.";
/// Longest namespace or key name.
const MAX_NAME: usize = 64;

/// The values written so far, by namespace, then key.
pub(super) type Store = BTreeMap<String, BTreeMap<String, String>>;

/// The part of `path` after [`PREFIX`] (`""` or starting with `/`), when it is below it.
pub(super) fn below(path: &str) -> Option<&str> {
    let rest = path.strip_prefix(PREFIX)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// Answers a request below [`PREFIX`] (`rest` from [`below`]); the caller has checked the
/// `Metadata-Flavor` header.
pub(super) fn respond(req: &RequestFacts, tree: &Value, store: &mut Store, rest: &str) -> Reply {
    if !enabled(tree) {
        return text(403, DISABLED);
    }
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if !segments.iter().all(|s| valid_name(s)) {
        return text(400, "Invalid guest attribute name.");
    }
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", []) => text(200, &listing(store.keys().map(|ns| format!("{ns}/")))),
        ("GET", [ns]) => match store.get(*ns) {
            Some(keys) => text(200, &listing(keys.keys().cloned())),
            None => not_found(),
        },
        ("GET", [ns, key]) => match store.get(*ns).and_then(|keys| keys.get(*key)) {
            Some(value) => text(200, value),
            None => not_found(),
        },
        ("PUT", [ns, key]) => put(store, ns, key, &req.body),
        ("DELETE", [ns, key]) => {
            delete(store, ns, key);
            text(200, "")
        }
        ("GET" | "PUT" | "DELETE", _) => not_found(),
        _ => text(405, "Method not allowed."),
    }
}

/// True when the instance attribute, or else the project attribute, says `TRUE`.
fn enabled(tree: &Value) -> bool {
    let attribute = |scope: &str| tree[scope]["attributes"][ENABLE].as_str();
    attribute("instance")
        .or_else(|| attribute("project"))
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"))
}

fn put(store: &mut Store, ns: &str, key: &str, body: &[u8]) -> Reply {
    if body.len() > MAX_BODY {
        return text(400, "Guest attribute value too long.");
    }
    let Ok(value) = std::str::from_utf8(body) else {
        return text(400, "Guest attribute value is not UTF-8.");
    };
    store
        .entry(ns.to_string())
        .or_default()
        .insert(key.to_string(), value.to_string());
    text(200, "")
}

fn delete(store: &mut Store, ns: &str, key: &str) {
    let Some(keys) = store.get_mut(ns) else {
        return;
    };
    keys.remove(key);
    if keys.is_empty() {
        store.remove(ns);
    }
}

fn valid_name(name: &str) -> bool {
    name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn listing(names: impl Iterator<Item = String>) -> String {
    names.map(|name| format!("{name}\n")).collect()
}

fn not_found() -> Reply {
    text(404, "The requested URL was not found on this server.")
}

fn text(status: u16, body: &str) -> Reply {
    Reply::new(status, body).with_header(crate::http::header::CONTENT_TYPE, "application/text")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ask(method: &str, rest: &str, body: &str, tree: &Value, store: &mut Store) -> (u16, String) {
        let url = format!("{PREFIX}{rest}");
        let req = RequestFacts::new(method, &url).with_body(body.as_bytes());
        let reply = respond(&req, tree, store, below(&req.path).unwrap());
        (reply.status, reply.text())
    }

    fn tree(instance: Option<&str>, project: Option<&str>) -> Value {
        let attrs = |v: Option<&str>| v.map_or(json!({}), |v| json!({ ENABLE: v }));
        json!({"instance": {"attributes": attrs(instance)}, "project": {"attributes": attrs(project)}})
    }

    #[test]
    fn disabled_is_403_for_every_method() {
        let mut store = Store::new();
        for t in [tree(None, None), tree(Some("FALSE"), Some("TRUE"))] {
            for method in ["GET", "PUT", "DELETE"] {
                let got = ask(method, "/hostkeys/ssh-ed25519", "x", &t, &mut store);
                assert_eq!(got, (403, DISABLED.to_string()), "{method} {t}");
            }
        }
        assert!(store.is_empty());
    }

    #[test]
    fn enabled_by_instance_or_project_put_get_list_delete() {
        for t in [tree(Some("TRUE"), None), tree(None, Some("true"))] {
            let mut store = Store::new();
            let key = "/hostkeys/ssh-ed25519";
            assert_eq!(ask("GET", key, "", &t, &mut store).0, 404);
            assert_eq!(
                ask("PUT", key, "AAAA key", &t, &mut store),
                (200, String::new())
            );
            assert_eq!(
                ask("GET", key, "", &t, &mut store),
                (200, "AAAA key".into())
            );
            assert_eq!(
                ask("GET", "/hostkeys/", "", &t, &mut store).1,
                "ssh-ed25519\n"
            );
            assert_eq!(ask("GET", "/", "", &t, &mut store).1, "hostkeys/\n");
            assert_eq!(ask("DELETE", key, "", &t, &mut store).0, 200);
            assert_eq!(ask("GET", key, "", &t, &mut store).0, 404);
            assert!(store.is_empty());
        }
    }

    #[test]
    fn bad_names_long_values_and_other_methods_are_refused() {
        let t = tree(Some("TRUE"), None);
        let mut store = Store::new();
        assert_eq!(ask("PUT", "/a b/c", "x", &t, &mut store).0, 400);
        assert_eq!(ask("PUT", "/ns", "x", &t, &mut store).0, 404);
        let long = "x".repeat(MAX_BODY + 1);
        assert_eq!(ask("PUT", "/ns/k", &long, &t, &mut store).0, 400);
        assert_eq!(ask("POST", "/ns/k", "x", &t, &mut store).0, 405);
        assert!(store.is_empty());
        assert_eq!(
            below("/computeMetadata/v1/instance/guest-attributesX"),
            None
        );
    }
}
