//! Plain request and reply facts, and the scenario data the routers serve: the emulator's
//! providers are pure functions over these, so they are unit-tested without sockets.
use std::collections::BTreeMap;

use crate::net::ProviderKind;

/// What a router needs to know about a request: method, decoded path, query and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestFacts {
    pub method: String,
    /// Percent-decoded path, without the query.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// The request body as sent (the server reads at most [`MAX_BODY`] bytes of it).
    pub body: Vec<u8>,
}

/// The longest request body the emulator reads; a longer one is cut there (the routes that
/// take a body refuse it by its length).
pub(crate) const MAX_BODY: usize = 64 * 1024;

impl RequestFacts {
    /// Splits `url` (path and optional query, as sent on the request line) into facts.
    pub fn new(method: &str, url: &str) -> Self {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let query = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                (percent_decode(name), percent_decode(value))
            })
            .collect();
        RequestFacts {
            method: method.to_ascii_uppercase(),
            path: percent_decode(path),
            query,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn with_body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// The first header called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first query parameter called `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// True when the query parameter is present with the value `true` (any case).
    pub fn query_is_true(&self, name: &str) -> bool {
        self.query(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// `%XX` escapes decoded; an invalid escape is kept as it was.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the server sends back: status, headers (in order) and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Adds a header, replacing an earlier one of the same name.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy), for tests and logs.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The "cloud" an emulator serves.
#[derive(Debug, Clone, PartialEq)]
pub enum Scenario {
    /// Azure, GCP, OCI (`{"instance": ..., "vnics": [...]}`) and DigitalOcean: the JSON document
    /// of the whole tree.
    Tree(serde_json::Value),
    /// EC2 and Alibaba: paths relative to `/latest/` mapped to their exact bodies; keys ending in `/` are
    /// explicit directory listings.
    Paths(BTreeMap<String, String>),
}

impl Scenario {
    /// Parses a scenario file's text in the format of `tests/fixtures/<provider>`.
    pub fn parse(provider: ProviderKind, text: &str) -> Result<Scenario, String> {
        match provider {
            ProviderKind::Aws | ProviderKind::Alibaba => {
                serde_json::from_str::<BTreeMap<String, String>>(text)
                    .map(Scenario::Paths)
                    .map_err(|e| format!("not a JSON object of path to text body: {e}"))
            }
            ProviderKind::Azure
            | ProviderKind::Gcp
            | ProviderKind::Oracle
            | ProviderKind::DigitalOcean => {
                let tree: serde_json::Value =
                    serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
                if tree.is_object() {
                    Ok(Scenario::Tree(tree))
                } else {
                    Err("the top level is not a JSON object".to_string())
                }
            }
        }
    }

    /// The built-in scenario: a two-NIC VM with secondary IPs.
    pub fn builtin(provider: ProviderKind) -> Scenario {
        let text = match provider {
            ProviderKind::Azure => include_str!("scenarios/azure.json"),
            ProviderKind::Aws => include_str!("scenarios/aws.json"),
            ProviderKind::Gcp => include_str!("scenarios/gcp.json"),
            ProviderKind::Oracle => include_str!("scenarios/oracle.json"),
            ProviderKind::Alibaba => include_str!("scenarios/alibaba.json"),
            ProviderKind::DigitalOcean => include_str!("scenarios/digitalocean.json"),
        };
        Scenario::parse(provider, text).unwrap_or_else(|e| {
            unreachable!("built-in {provider} scenario is checked by a unit test: {e}")
        })
    }
}

#[cfg(test)]
impl Scenario {
    /// The built-in Azure or GCP scenario's JSON tree.
    pub fn builtin_tree(provider: ProviderKind) -> serde_json::Value {
        match Scenario::builtin(provider) {
            Scenario::Tree(tree) => tree,
            Scenario::Paths(_) => unreachable!("the {provider} scenario is a tree"),
        }
    }

    /// The built-in EC2 scenario's path map.
    pub fn builtin_paths() -> BTreeMap<String, String> {
        Scenario::builtin_paths_of(ProviderKind::Aws)
    }

    /// The built-in EC2 or Alibaba scenario's path map.
    pub fn builtin_paths_of(provider: ProviderKind) -> BTreeMap<String, String> {
        match Scenario::builtin(provider) {
            Scenario::Paths(paths) => paths,
            Scenario::Tree(_) => unreachable!("the {provider} scenario is a path map"),
        }
    }
}

#[cfg(test)]
impl Reply {
    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("json body")
    }
}

/// FNV-1a, 64 bit: a cheap, stable content hash for ETags.
pub(crate) fn content_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_decodes_url() {
        let req = RequestFacts::new("get", "/latest/meta-data/macs/0a%3A01/?a=1&b=x%20y&flag");
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/latest/meta-data/macs/0a:01/");
        assert_eq!(req.query("a"), Some("1"));
        assert_eq!(req.query("b"), Some("x y"));
        assert_eq!(req.query("flag"), Some(""));
        assert_eq!(req.query("c"), None);
    }

    #[test]
    fn bad_escape_is_kept() {
        assert_eq!(RequestFacts::new("GET", "/a%zz%4").path, "/a%zz%4");
    }

    #[test]
    fn headers_are_case_insensitive() {
        let req = RequestFacts::new("GET", "/").with_header("Metadata-Flavor", "Google");
        assert_eq!(req.header("metadata-flavor"), Some("Google"));
        let reply = Reply::new(200, "x")
            .with_header("ETag", "a")
            .with_header("etag", "b");
        assert_eq!(reply.headers.len(), 1);
        assert_eq!(reply.header("ETAG"), Some("b"));
    }

    #[test]
    fn builtin_scenarios_parse() {
        for provider in ProviderKind::ALL {
            let scenario = Scenario::builtin(provider);
            match (provider, scenario) {
                (ProviderKind::Aws | ProviderKind::Alibaba, Scenario::Paths(paths)) => {
                    assert!(paths.len() > 20)
                }
                (_, Scenario::Tree(tree)) => assert!(tree.as_object().is_some()),
                (p, s) => panic!("{p}: unexpected scenario {s:?}"),
            }
        }
    }

    #[test]
    fn rejects_wrong_shapes() {
        assert!(Scenario::parse(ProviderKind::Gcp, "[1]").is_err());
        assert!(Scenario::parse(ProviderKind::Aws, r#"{"a": 1}"#).is_err());
        assert!(Scenario::parse(ProviderKind::Azure, "{").is_err());
    }

    #[test]
    fn hash_is_fnv1a() {
        assert_eq!(content_hash(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(content_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
