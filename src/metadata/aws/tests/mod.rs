//! The EC2 client against a small IMDS emulator on 127.0.0.1: a fixture map served with
//! derived listings, IMDSv2 tokens, and switches for a refused or hanging token PUT, revoked
//! tokens and NICs whose leaves answer differently for their first reads. The fake IMDS and the
//! fixture helpers are here, the tests by theme in the files beside.

use super::parse::parse;
use super::*;
use crate::metadata::http::{HttpConfig, HttpError, RetryPolicy};
use crate::metadata::imds::{TOKEN_PATH, WALK_MAX_DEPTH, WALK_MAX_REQUESTS};
use crate::metadata::{IpNet, Nic};
use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tiny_http::{Header, Request, Response, Server};

mod nics;
mod refresh;
mod system;
mod tokens;

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
