//! The EC2 client against a small IMDS emulator on 127.0.0.1: a fixture map served with
//! derived listings, IMDSv2 tokens, and switches for a refused or hanging token PUT, revoked
//! tokens and NICs whose leaves answer differently for their first reads.

use super::parse::parse;
use super::*;
use crate::metadata::http::{HttpConfig, HttpError, RetryPolicy};
use crate::metadata::imds::{TOKEN_PATH, WALK_MAX_DEPTH, WALK_MAX_REQUESTS};
use crate::metadata::{IpNet, Nic};
use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tiny_http::{Header, Request, Response, Server};

#[derive(Clone, Copy)]
enum PutMode {
    Token,
    Refuse(u16),
    Hang,
}

/// One request as IMDS saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    token: Option<String>,
    ttl: Option<String>,
}

struct State {
    tree: BTreeMap<String, String>,
    put_mode: PutMode,
    valid_tokens: BTreeSet<String>,
    issued: u32,
    /// Answers served before the tree for a path: `None` is a 404.
    scripted: BTreeMap<String, VecDeque<Option<String>>>,
    seen: Vec<Seen>,
    held: Vec<Request>,
}

struct Imds {
    base: String,
    server: Arc<Server>,
    state: Arc<Mutex<State>>,
    thread: Option<JoinHandle<()>>,
}

impl Imds {
    fn start(tree: BTreeMap<String, String>, put_mode: PutMode) -> Imds {
        let server = Arc::new(Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0"));
        let addr = server.server_addr().to_ip().expect("an IP listener");
        let state = Arc::new(Mutex::new(State {
            tree,
            put_mode,
            valid_tokens: BTreeSet::new(),
            issued: 0,
            scripted: BTreeMap::new(),
            seen: Vec::new(),
            held: Vec::new(),
        }));
        let thread = {
            let (server, state) = (Arc::clone(&server), Arc::clone(&state));
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    answer(&mut state.lock().unwrap(), request);
                }
            })
        };
        Imds {
            base: format!("http://{addr}"),
            server,
            state,
            thread: Some(thread),
        }
    }

    fn script(&self, path: &str, answers: &[Option<&str>]) {
        let answers = answers.iter().map(|a| a.map(str::to_string)).collect();
        self.state
            .lock()
            .unwrap()
            .scripted
            .insert(path.to_string(), answers);
    }

    fn revoke_tokens(&self) {
        self.state.lock().unwrap().valid_tokens.clear();
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    fn client(&self) -> Ec2 {
        let http = Http::new(HttpConfig {
            connect_timeout: Duration::from_millis(500),
            recv_timeout: Duration::from_millis(300),
            global_timeout: Duration::from_secs(2),
            body_limit: 1 << 20,
            retry: RetryPolicy::none(),
        });
        Ec2::new(&self.base, http).with_not_ready_delays(vec![Duration::from_millis(10); 3])
    }
}

impl Drop for Imds {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn header(request: &Request, name: &str) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_string())
}

fn answer(state: &mut State, request: Request) {
    let path = request
        .url()
        .strip_prefix("/latest/")
        .unwrap_or("")
        .to_string();
    let token = header(&request, DIALECT.token_header);
    state.seen.push(Seen {
        method: request.method().to_string(),
        path: path.clone(),
        token: token.clone(),
        ttl: header(&request, &DIALECT.ttl_header()),
    });
    let reply = if request.method() == &tiny_http::Method::Put && path == TOKEN_PATH {
        match state.put_mode {
            PutMode::Hang => return state.held.push(request),
            PutMode::Refuse(status) => (status, String::new()),
            PutMode::Token => {
                state.issued += 1;
                let token = format!("token-{}", state.issued);
                state.valid_tokens.insert(token.clone());
                (200, token)
            }
        }
    } else if matches!(state.put_mode, PutMode::Token)
        && !token.is_some_and(|t| state.valid_tokens.contains(&t))
    {
        (401, String::new())
    } else {
        lookup(state, &path)
    };
    let response = Response::from_string(reply.1)
        .with_status_code(reply.0)
        .with_header(Header::from_bytes("Content-Type", "text/plain").unwrap());
    let _ = request.respond(response);
}

fn lookup(state: &mut State, path: &str) -> (u16, String) {
    if let Some(next) = state.scripted.get_mut(path).and_then(VecDeque::pop_front) {
        return next.map_or((404, String::new()), |body| (200, body));
    }
    if let Some(body) = state.tree.get(path) {
        return (200, body.clone());
    }
    let children: BTreeSet<String> = state
        .tree
        .keys()
        .filter_map(|key| key.strip_prefix(path))
        .filter(|rest| path.ends_with('/') && !rest.is_empty())
        .map(|rest| match rest.split_once('/') {
            Some((dir, _)) => format!("{dir}/"),
            None => rest.to_string(),
        })
        .collect();
    if children.is_empty() {
        return (404, String::new());
    }
    (200, children.into_iter().collect::<Vec<_>>().join("\n"))
}

fn fixture(name: &str) -> BTreeMap<String, String> {
    let path = format!(
        "{}/tests/fixtures/ec2/{name}/metadata.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

const TWO_NICS: &str = "cloudinit-two-nics-2016-09-02";
const SECONDARY_DEVICE: &str = "meta-data/network/interfaces/macs/06:17:04:d7:26:08/device-number";

/// The fixture's NICs as a refresh sees them: `public-ipv4s` is not one of the leaves it reads.
fn refresh_view(name: &str) -> Vec<Nic> {
    let mut nics = parse(&fixture(name)).unwrap().nics;
    for nic in &mut nics {
        nic.public_ipv4s.clear();
    }
    nics
}

fn puts(seen: &[Seen]) -> usize {
    seen.iter().filter(|s| s.method == "PUT").count()
}

#[test]
fn v2_refresh_reads_only_what_it_needs_with_the_token() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Token);
    let got = imds.client().fetch().unwrap();
    assert_eq!(got.nics, refresh_view(TWO_NICS));
    assert_eq!(got.instance_id, "my-identity-id");
    assert_eq!(got.location, "us-west-2");

    let seen = imds.seen();
    assert_eq!(seen[0].method, "PUT");
    assert_eq!(seen[0].path, "api/token");
    assert_eq!(seen[0].ttl.as_deref(), Some("21600"));
    assert!(seen[1..]
        .iter()
        .all(|s| s.method == "GET" && s.token.as_deref() == Some("token-1")));
    // PUT + `macs/` + per NIC its directory listing and the 5 leaves it names (no
    // `network-card`), plus the identity document on the first refresh.
    assert_eq!(seen.len(), 2 + 6 * 2 + 1);
    let leaves: BTreeSet<&str> = seen
        .iter()
        .filter_map(|s| s.path.strip_prefix(MACS_DIR))
        .filter_map(|p| p.split_once('/').map(|(_, leaf)| leaf))
        .filter(|leaf| !leaf.is_empty())
        .collect();
    let listed: BTreeSet<&str> = NIC_LEAVES
        .into_iter()
        .filter(|leaf| *leaf != "network-card")
        .collect();
    assert_eq!(leaves, listed);
}

const SECONDARY_DIR: &str = "meta-data/network/interfaces/macs/06:17:04:d7:26:08/";

/// The two-NIC fixture with prefixes delegated to its secondary NIC.
fn with_prefixes(ipv4: &str, ipv6: Option<&str>) -> BTreeMap<String, String> {
    let mut tree = fixture(TWO_NICS);
    tree.insert(format!("{SECONDARY_DIR}ipv4-prefix"), ipv4.to_string());
    if let Some(ipv6) = ipv6 {
        tree.insert(
            format!("{SECONDARY_DIR}subnet-ipv6-cidr-blocks"),
            "2600:1f16:aeb:b20c::/64".to_string(),
        );
        tree.insert(format!("{SECONDARY_DIR}ipv6-prefix"), ipv6.to_string());
    }
    tree
}

fn prefixes(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

#[test]
fn delegated_prefixes_are_read_only_where_the_listing_has_them() {
    let tree = with_prefixes("172.31.16.32/28\n172.31.16.48/28", None);
    let imds = Imds::start(tree, PutMode::Token);
    let mut ec2 = imds.client();
    let got = ec2.fetch().unwrap();
    assert_eq!(
        got.nics[1].delegated_prefixes,
        prefixes(&["172.31.16.32/28", "172.31.16.48/28"])
    );
    assert_eq!(got.nics[0].delegated_prefixes, []);
    let before = imds.seen().len();
    ec2.fetch().unwrap();
    let refresh = &imds.seen()[before..];
    let prefix_reads: Vec<&str> = refresh
        .iter()
        .filter(|s| s.path.contains("-prefix"))
        .map(|s| s.path.as_str())
        .collect();
    assert_eq!(prefix_reads, [format!("{SECONDARY_DIR}ipv4-prefix")]);
    // `macs/`, then per NIC its listing and its 5 leaves, plus the one listed prefix leaf.
    assert_eq!(refresh.len(), 1 + 6 * 2 + 1);
}

#[test]
fn delegated_prefixes_of_both_families_uncompressed_or_not() {
    let tree = with_prefixes(
        "172.31.16.32/28",
        Some("2600:1f16:aeb:b20c:7:0:0:0/80\n2600:1f16:aeb:b20c:8::/80"),
    );
    let nics = parse(&tree).unwrap().nics;
    assert_eq!(
        nics[1].delegated_prefixes,
        prefixes(&[
            "172.31.16.32/28",
            "2600:1f16:aeb:b20c:7::/80",
            "2600:1f16:aeb:b20c:8::/80"
        ])
    );
}

#[test]
fn a_delegated_prefix_outside_the_subnet_or_malformed_is_refused() {
    let field = format!("{SECONDARY_DIR}ipv4-prefix");
    for (body, want) in [
        (
            "0.0.0.0/0",
            format!("field '{field}': prefix 0.0.0.0/0 is outside the NIC's subnet"),
        ),
        (
            "10.0.0.0/28",
            format!("field '{field}': prefix 10.0.0.0/28 is outside the NIC's subnet"),
        ),
        (
            "172.31.16.32/33",
            format!("field '{field}': invalid prefix length '33' (expected 0 to 32)"),
        ),
    ] {
        let err = parse(&with_prefixes(body, None)).unwrap_err();
        assert_eq!(err.to_string(), want, "{body}");
    }
    let tree = with_prefixes("172.31.16.32/28", Some("2600:1f16:aeb:b20d::/80"));
    assert_eq!(
        parse(&tree).unwrap_err().to_string(),
        format!(
            "field '{SECONDARY_DIR}ipv6-prefix': prefix 2600:1f16:aeb:b20d::/80 is outside the NIC's subnet"
        )
    );
}

#[test]
fn token_is_cached_across_refreshes() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Token);
    let mut ec2 = imds.client();
    ec2.fetch().unwrap();
    let first = imds.seen().len();
    ec2.fetch().unwrap();
    let seen = imds.seen();
    assert_eq!(puts(&seen), 1);
    assert_eq!(first, 2 + 6 * 2 + 1);
    assert_eq!(
        seen.len() - first,
        1 + 6 * 2,
        "no PUT, no identity document"
    );
}

#[test]
fn revoked_token_is_renewed_once() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Token);
    let mut ec2 = imds.client();
    ec2.fetch().unwrap();
    let first = imds.seen().len();
    imds.revoke_tokens();
    let got = ec2.fetch().unwrap();
    assert_eq!(got.nics.len(), 2);
    let second = &imds.seen()[first..];
    assert_eq!(second[0].token.as_deref(), Some("token-1"));
    assert_eq!(second[1].method, "PUT");
    assert!(second[2..]
        .iter()
        .all(|s| s.token.as_deref() == Some("token-2")));
    assert_eq!(
        second.len(),
        1 + 1 + 1 + 6 * 2,
        "401, PUT, then the refresh"
    );
}

#[test]
fn refused_put_falls_back_to_v1_and_remembers_it() {
    for status in [403, 404, 405] {
        let imds = Imds::start(fixture(TWO_NICS), PutMode::Refuse(status));
        let mut ec2 = imds.client();
        assert_eq!(ec2.fetch().unwrap().nics.len(), 2);
        ec2.fetch().unwrap();
        let seen = imds.seen();
        assert_eq!(puts(&seen), 1, "{status}");
        assert!(seen.iter().all(|s| s.token.is_none()), "{status}");
        assert_eq!(seen.len(), 1 + (1 + 1 + 6 * 2) + (1 + 6 * 2));
    }
}

#[test]
fn hanging_put_is_an_error_not_a_fallback() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Hang);
    let err = imds.client().fetch().unwrap_err();
    assert!(
        matches!(&err, FetchError::Http(HttpError::Timeout { url, .. }) if url.ends_with("/latest/api/token")),
        "{err:?}"
    );
    let seen = imds.seen();
    assert_eq!(seen.len(), 1, "no GET after the failed PUT: {seen:?}");
}

#[test]
fn server_error_on_put_is_not_a_fallback() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Refuse(500));
    let err = imds.client().fetch().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}/latest/api/token answered HTTP 500: \"\"", imds.base)
    );
    assert_eq!(imds.seen().len(), 1);
}

#[test]
fn hot_plugged_nic_is_waited_for() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Token);
    imds.script(SECONDARY_DEVICE, &[None, None]);
    let got = imds.client().fetch().unwrap();
    assert_eq!(got.nics, refresh_view(TWO_NICS));
    // Two re-reads of the propagating NIC's 6 leaves.
    assert_eq!(imds.seen().len(), 2 + 6 * 2 + 1 + 2 * 6);
}

#[test]
fn nic_still_propagating_is_left_out() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Token);
    imds.script(SECONDARY_DEVICE, &[None; 4]);
    let got = imds.client().fetch().unwrap();
    assert_eq!(got.nics.len(), 1);
    assert_eq!(got.nics[0].mac.to_string(), "06:17:04:d7:26:09");
}

#[test]
fn second_nic_claiming_device_zero_never_becomes_primary() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Token);
    let mut ec2 = imds.client();
    ec2.fetch().unwrap();
    imds.script(
        SECONDARY_DEVICE,
        &[Some("0"), Some("0"), Some("0"), Some("1")],
    );
    let got = ec2.fetch().unwrap();
    assert_eq!(got.nics, refresh_view(TWO_NICS));

    imds.script(SECONDARY_DEVICE, &[Some("0"); 4]);
    let got = ec2.fetch().unwrap();
    assert_eq!(got.nics.len(), 1);
    assert_eq!(got.nics[0].mac.to_string(), "06:17:04:d7:26:09");
    assert_eq!(got.nics[0].index, 0);
}

#[test]
fn two_device_zero_claims_without_history_are_both_held_back() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Token);
    imds.script(SECONDARY_DEVICE, &[Some("0"); 4]);
    let err = imds.client().fetch().unwrap_err();
    assert_eq!(
        err,
        FetchError::Parse {
            provider: ProviderKind::Aws,
            source: ParseError::NoInterfaces
        }
    );
}

/// What the walk must return: the fixture minus what it never reads (user-data, secrets) and
/// minus listings that the leaves already imply.
fn walkable(tree: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tree.iter()
        .filter(|(key, body)| !key.ends_with('/') || body.contains('='))
        .filter(|(key, _)| {
            key.starts_with("meta-data/") || key.starts_with("dynamic/instance-identity/")
        })
        .filter(|(key, _)| !SECRET_DIRS.iter().any(|dir| key.starts_with(dir)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn system_walk_returns_the_tree_without_secrets() {
    for name in ["aemm-default", "cloudinit-secondary-ips-ipv6-2018-09-24"] {
        let tree = fixture(name);
        let imds = Imds::start(tree.clone(), PutMode::Token);
        let got = imds.client().fetch_system().unwrap();
        assert_eq!(got, tree_to_json(&walkable(&tree)), "{name}");
        assert!(!got.to_string().contains("SecretAccessKey"), "{name}");
    }
}

#[test]
fn identity_documents_and_credentials() {
    let tree = fixture("aemm-default");
    let imds = Imds::start(tree.clone(), PutMode::Token);
    let mut ec2 = imds.client();
    let docs = ec2.fetch_identity_documents().unwrap();
    assert_eq!(
        docs,
        IdentityDocs {
            document: tree.get(IDENTITY_DOCUMENT).cloned(),
            pkcs7: tree.get("dynamic/instance-identity/pkcs7").cloned(),
            signature: tree.get("dynamic/instance-identity/signature").cloned(),
            rsa2048: None,
        }
    );
    let credentials = ec2.fetch_credentials().unwrap().unwrap();
    let want: serde_json::Value =
        serde_json::from_str(&tree["meta-data/iam/security-credentials/baskinc-role"]).unwrap();
    assert_eq!(credentials, want);

    let imds = Imds::start(fixture(TWO_NICS), PutMode::Token);
    assert_eq!(imds.client().fetch_credentials().unwrap(), None);
}

#[test]
fn system_walk_is_bounded_in_requests_and_depth() {
    let wide: BTreeMap<String, String> = (0..1200)
        .map(|i| (format!("meta-data/many/leaf{i:04}"), "x".to_string()))
        .collect();
    let imds = Imds::start(wide, PutMode::Token);
    let got = imds.client().fetch_system().unwrap();
    let gets = imds.seen().iter().filter(|s| s.method == "GET").count();
    assert_eq!(gets, WALK_MAX_REQUESTS);
    assert_eq!(got["meta-data"]["many"].as_object().unwrap().len(), 998);

    let deep_key = format!("meta-data/{}leaf", "d/".repeat(20));
    let imds = Imds::start([(deep_key, "x".to_string())].into(), PutMode::Token);
    let got = imds.client().fetch_system().unwrap();
    let gets = imds.seen().iter().filter(|s| s.method == "GET").count();
    assert_eq!(
        gets,
        WALK_MAX_DEPTH + 1,
        "16 levels, then the dynamic/ listing"
    );
    assert_eq!(got, serde_json::json!({}));
}
