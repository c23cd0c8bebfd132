//! The metadata service emulator (`cloud-network emulate`): an HTTP server that answers as
//! Azure IMDS, EC2 IMDS, the GCP metadata server, OCI's IMDS v2, Alibaba ECS's metadata service
//! or DigitalOcean's droplet metadata do, from a scenario file (re-read when it changes) or a
//! built-in two-NIC VM, with fault injection and a request log for tests.
pub mod aws;
pub mod azure;
mod cli;
pub mod digitalocean;
pub mod facts;
pub mod gcp;
pub mod oracle;
mod serve;

use crate::http::header;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use crate::net::ProviderKind;

pub use cli::{run, EmulateArgs};
pub use facts::{Reply, RequestFacts, Scenario};

/// Where `cloud-network emulate` listens unless told otherwise.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    1338,
));
/// Requests handled at once; more are answered 503 at once.
pub const MAX_HANDLERS: usize = 64;
const RELOAD_INTERVAL: Duration = Duration::from_millis(100);
const POLL_STEP: Duration = Duration::from_millis(100);
/// How long a `timeout` fault holds a request when the emulator is not shut down first.
const HANG_LIMIT: Duration = Duration::from_secs(600);
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
const MAX_RECORDS: usize = 10_000;
const GARBAGE: &[u8] = b"\x00\xff<html>not { json \x7f\xfe]]";

/// A misbehaviour to inject into answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// 500 with a short text body.
    Http500,
    /// Accept the request and never answer (until shutdown).
    Timeout,
    /// 200 with the normal headers and a body that is not JSON.
    Garbage,
    /// 200 with the normal headers and an empty body.
    Empty,
    /// 429 with `Retry-After: 1`, as a throttling IMDS answers.
    Throttle,
}

impl Fault {
    pub const ALL: [Fault; 6] = [
        Fault::None,
        Fault::Http500,
        Fault::Timeout,
        Fault::Garbage,
        Fault::Empty,
        Fault::Throttle,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Http500 => "http500",
            Fault::Timeout => "timeout",
            Fault::Garbage => "garbage",
            Fault::Empty => "empty",
            Fault::Throttle => "throttle",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Fault {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Fault::ALL
            .into_iter()
            .find(|fault| fault.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown fault '{s}' (expected none, http500, timeout, garbage, empty or throttle)")
            })
    }
}

/// How to run an emulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmulatorConfig {
    pub provider: ProviderKind,
    /// A scenario file in the format of `tests/fixtures/<provider>`; `None` serves the built-in one.
    pub scenario: Option<PathBuf>,
    pub listen: SocketAddr,
    pub fault: Fault,
    /// EC2 and Alibaba: answer 401 to GETs that carry no token (IMDSv2 only, security
    /// hardening mode only).
    pub require_token: bool,
}

impl EmulatorConfig {
    /// The built-in scenario on the default address, no fault, IMDSv1 allowed.
    pub fn new(provider: ProviderKind) -> Self {
        EmulatorConfig {
            provider,
            scenario: None,
            listen: DEFAULT_LISTEN,
            fault: Fault::None,
            require_token: false,
        }
    }
}

/// One request the emulator received. `status` is 0 for a request it never answered
/// (the `timeout` fault).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    /// Path with the query, as sent.
    pub path: String,
    pub status: u16,
}

#[derive(Debug)]
pub enum EmulatorError {
    ReadScenario {
        path: PathBuf,
        source: std::io::Error,
    },
    ParseScenario {
        origin: String,
        reason: String,
    },
    Bind {
        addr: SocketAddr,
        reason: String,
    },
    Spawn(std::io::Error),
}

impl fmt::Display for EmulatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmulatorError::ReadScenario { path, source } => {
                write!(f, "cannot read scenario file {}: {source}", path.display())
            }
            EmulatorError::ParseScenario { origin, reason } => {
                write!(f, "invalid scenario {origin}: {reason}")
            }
            EmulatorError::Bind { addr, reason } => write!(f, "cannot listen on {addr}: {reason}"),
            EmulatorError::Spawn(e) => write!(f, "cannot start the emulator thread: {e}"),
        }
    }
}

impl std::error::Error for EmulatorError {}

/// A running emulator. Dropping it stops its threads and frees the port.
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    dispatch: Option<JoinHandle<()>>,
}

/// Starts serving on `cfg.listen` (port 0 picks a free port; see [`Emulator::addr`]).
pub fn start(cfg: EmulatorConfig) -> Result<Emulator, EmulatorError> {
    let (scenario, source) = match &cfg.scenario {
        Some(path) => {
            let stamp = file_stamp(path);
            let scenario = load_scenario(cfg.provider, path)?;
            let source = FileSource {
                path: path.clone(),
                stamp,
                checked: Instant::now(),
            };
            (scenario, Some(source))
        }
        None => (Scenario::builtin(cfg.provider), None),
    };
    let bind_error = |e: std::io::Error| EmulatorError::Bind {
        addr: cfg.listen,
        reason: e.to_string(),
    };
    let (server, addr) = serve::bind(cfg.listen).map_err(bind_error)?;
    let shared = Arc::new(Shared {
        provider: cfg.provider,
        require_token: cfg.require_token,
        state: Mutex::new(State {
            scenario: Arc::new(scenario),
            fault: cfg.fault,
            next_faults: (0, Fault::None),
            requests: Vec::new(),
            tokens: aws::TokenStore::new(random_seed()),
            long_poll: true,
            shutdown: false,
        }),
        changed: Condvar::new(),
        source: Mutex::new(source),
        handlers: Mutex::new(0),
        handlers_idle: Condvar::new(),
    });
    let dispatch_shared = Arc::clone(&shared);
    let dispatch = thread::Builder::new()
        .name("emulator-dispatch".to_string())
        .spawn(move || serve::dispatch_loop(server, &dispatch_shared))
        .map_err(EmulatorError::Spawn)?;
    Ok(Emulator {
        shared,
        addr,
        dispatch: Some(dispatch),
    })
}

impl Emulator {
    /// The address actually listened on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the base URL a client points at.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn provider(&self) -> ProviderKind {
        self.shared.provider
    }

    /// Changes the fault for requests received from now on.
    pub fn set_fault(&self, fault: Fault) {
        lock(&self.shared.state).fault = fault;
    }

    /// Applies `fault` to the next `count` requests only, then the [`Emulator::set_fault`] one
    /// again. Replaces an earlier `fail_next` not yet used up.
    pub fn fail_next(&self, count: usize, fault: Fault) {
        lock(&self.shared.state).next_faults = (count, fault);
    }

    /// GCP: `false` answers `wait_for_change` requests at once, as a proxy or a server
    /// without long-polling does (the same ETag when nothing changed); `true` (the default)
    /// holds them until a change or their timeout.
    pub fn set_long_poll(&self, hold: bool) {
        lock(&self.shared.state).long_poll = hold;
    }

    /// EC2 and Alibaba: forgets every issued session token, as if all expired; a GET with one
    /// gets 401.
    pub fn expire_tokens(&self) {
        lock(&self.shared.state).tokens.expire_all();
    }

    /// The requests received so far, oldest first (the most recent 10 000 are kept).
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.state).requests.clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.state).requests.clear();
    }

    /// Replaces the served scenario with `text` (same format as a scenario file). Waiting GCP
    /// long-polls see the change at once.
    pub fn set_scenario_text(&self, text: &str) -> Result<(), EmulatorError> {
        let scenario = Scenario::parse(self.shared.provider, text).map_err(|reason| {
            EmulatorError::ParseScenario {
                origin: "text".to_string(),
                reason,
            }
        })?;
        self.shared.replace_scenario(scenario);
        Ok(())
    }

    /// Stops accepting, releases held requests, waits (a few seconds at most) for handlers to
    /// finish, and frees the port. Also done on drop.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(dispatch) = self.dispatch.take() else {
            return;
        };
        lock(&self.shared.state).shutdown = true;
        self.shared.changed.notify_all();
        if dispatch.join().is_err() {
            log::warn!("emulator dispatch thread panicked");
        }
        self.shared.wait_handlers_done(SHUTDOWN_GRACE);
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Shared {
    provider: ProviderKind,
    require_token: bool,
    state: Mutex<State>,
    /// Signalled when the scenario changes or the emulator shuts down.
    changed: Condvar,
    source: Mutex<Option<FileSource>>,
    handlers: Mutex<usize>,
    handlers_idle: Condvar,
}

struct State {
    scenario: Arc<Scenario>,
    fault: Fault,
    /// How many of the next requests get which fault instead of `fault`.
    next_faults: (usize, Fault),
    requests: Vec<RequestRecord>,
    tokens: aws::TokenStore,
    /// GCP: hold `wait_for_change` requests (see [`Emulator::set_long_poll`]).
    long_poll: bool,
    shutdown: bool,
}

impl State {
    /// The fault for the request being answered, using up one of `next_faults` if any is left.
    fn take_fault(&mut self) -> Fault {
        match &mut self.next_faults {
            (0, _) => self.fault,
            (left, fault) => {
                *left -= 1;
                *fault
            }
        }
    }
}

/// The scenario file and the modification stamp last loaded from it.
struct FileSource {
    path: PathBuf,
    stamp: Option<FileStamp>,
    checked: Instant,
}

type FileStamp = (SystemTime, u64);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn file_stamp(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn load_scenario(provider: ProviderKind, path: &Path) -> Result<Scenario, EmulatorError> {
    let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::ReadScenario {
        path: path.to_path_buf(),
        source,
    })?;
    Scenario::parse(provider, &text).map_err(|reason| EmulatorError::ParseScenario {
        origin: path.display().to_string(),
        reason,
    })
}

/// A seed for token generation: the clock and the process id, mixed.
fn random_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    facts::content_hash(&nanos.to_le_bytes()) ^ u64::from(std::process::id()).rotate_left(32)
}

/// The fault that applies to this request: token PUTs (EC2, Alibaba) only see http500 and
/// timeout.
fn effective_fault(provider: ProviderKind, fault: Fault, facts: &RequestFacts) -> Fault {
    let token_put = token_flavor(provider).is_some() && facts.method == "PUT";
    match fault {
        Fault::Garbage | Fault::Empty if token_put => Fault::None,
        other => other,
    }
}

/// The reply with `fault` applied (the normal headers are kept, so it still looks right).
fn apply_fault(fault: Fault, reply: Reply) -> Reply {
    match fault {
        Fault::None | Fault::Timeout => reply,
        Fault::Http500 => Reply {
            status: 500,
            body: b"Internal Server Error\n".to_vec(),
            ..reply
        }
        .with_header(header::CONTENT_TYPE, "text/plain"),
        Fault::Garbage => Reply {
            status: 200,
            body: GARBAGE.to_vec(),
            ..reply
        },
        Fault::Empty => Reply {
            status: 200,
            body: Vec::new(),
            ..reply
        },
        Fault::Throttle => Reply {
            status: 429,
            body: b"Too Many Requests\n".to_vec(),
            ..reply
        }
        .with_header(header::CONTENT_TYPE, "text/plain")
        .with_header(header::RETRY_AFTER, "1"),
    }
}

/// The token flow's spelling for the providers that have one.
fn token_flavor(provider: ProviderKind) -> Option<aws::Flavor> {
    match provider {
        ProviderKind::Aws => Some(aws::EC2),
        ProviderKind::Alibaba => Some(aws::ALIBABA),
        ProviderKind::Azure
        | ProviderKind::Gcp
        | ProviderKind::Oracle
        | ProviderKind::DigitalOcean => None,
    }
}

/// One provider's answer from the current scenario (no waiting).
fn route(
    provider: ProviderKind,
    state: &mut State,
    facts: &RequestFacts,
    require_token: bool,
) -> Reply {
    match (provider, token_flavor(provider), &*state.scenario) {
        (ProviderKind::Azure, _, Scenario::Tree(tree)) => azure::respond(facts, tree),
        (ProviderKind::Gcp, _, Scenario::Tree(tree)) => gcp::respond(facts, tree),
        (ProviderKind::Oracle, _, Scenario::Tree(tree)) => oracle::respond(facts, tree),
        (ProviderKind::DigitalOcean, _, Scenario::Tree(tree)) => digitalocean::respond(facts, tree),
        (_, Some(flavor), Scenario::Paths(paths)) => {
            let ctx = aws::Ec2Context {
                flavor,
                paths,
                tokens: &mut state.tokens,
                now: Instant::now(),
                require_token,
            };
            aws::respond(facts, ctx)
        }
        (provider, _, _) => Reply::new(500, format!("scenario is not a {provider} scenario\n")),
    }
}

impl Shared {
    /// The reply to send, or `None` when the request must hang (the `timeout` fault).
    fn answer(&self, facts: &RequestFacts) -> Option<Reply> {
        let fault = effective_fault(self.provider, lock(&self.state).take_fault(), facts);
        if fault == Fault::Timeout {
            return None;
        }
        let holds = self.provider == ProviderKind::Gcp && lock(&self.state).long_poll;
        let wait = holds.then(|| gcp::wait_spec(facts)).flatten();
        let reply = match wait {
            Some(spec) => self.wait_for_change(facts, spec),
            None => route(
                self.provider,
                &mut lock(&self.state),
                facts,
                self.require_token,
            ),
        };
        Some(apply_fault(fault, reply))
    }

    /// GCP long-poll: answers once the ETag differs from the awaited one, or at the deadline.
    fn wait_for_change(&self, facts: &RequestFacts, spec: gcp::WaitSpec) -> Reply {
        let deadline = Instant::now() + spec.timeout;
        let mut awaited = spec.last_etag;
        loop {
            let mut state = lock(&self.state);
            let reply = route(self.provider, &mut state, facts, self.require_token);
            let etag = reply.header(header::ETAG).unwrap_or_default().to_string();
            let awaited = awaited.get_or_insert_with(|| etag.clone());
            let now = Instant::now();
            if reply.status != 200 || etag != *awaited || now >= deadline || state.shutdown {
                return reply;
            }
            let pause = (deadline - now).min(POLL_STEP);
            drop(
                self.changed
                    .wait_timeout(state, pause)
                    .unwrap_or_else(PoisonError::into_inner),
            );
            self.reload_if_changed();
        }
    }

    /// Holds the calling handler until shutdown or [`HANG_LIMIT`].
    fn hang(&self) {
        let deadline = Instant::now() + HANG_LIMIT;
        let mut state = lock(&self.state);
        while !state.shutdown {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn record(&self, record: RequestRecord) {
        let mut state = lock(&self.state);
        if state.requests.len() >= MAX_RECORDS {
            state.requests.remove(0);
        }
        state.requests.push(record);
    }

    fn replace_scenario(&self, scenario: Scenario) {
        lock(&self.state).scenario = Arc::new(scenario);
        self.changed.notify_all();
    }

    /// Re-reads the scenario file when its stamp changed (checked at most every 100 ms). A
    /// file that does not load keeps the previous scenario.
    fn reload_if_changed(&self) {
        let mut source = lock(&self.source);
        let Some(source) = source.as_mut() else {
            return;
        };
        if source.checked.elapsed() < RELOAD_INTERVAL {
            return;
        }
        source.checked = Instant::now();
        let stamp = file_stamp(&source.path);
        if stamp == source.stamp {
            return;
        }
        source.stamp = stamp;
        match load_scenario(self.provider, &source.path) {
            Ok(scenario) => {
                log::info!("emulator: reloaded scenario {}", source.path.display());
                self.replace_scenario(scenario);
            }
            Err(e) => log::warn!("emulator: {e}; keeping the previous scenario"),
        }
    }

    fn enter_handler(&self) -> bool {
        let mut handlers = lock(&self.handlers);
        if *handlers >= MAX_HANDLERS {
            return false;
        }
        *handlers += 1;
        true
    }

    fn leave_handler(&self) {
        let mut handlers = lock(&self.handlers);
        *handlers = handlers.saturating_sub(1);
        self.handlers_idle.notify_all();
    }

    fn wait_handlers_done(&self, grace: Duration) {
        let deadline = Instant::now() + grace;
        let mut handlers = lock(&self.handlers);
        while *handlers > 0 {
            let now = Instant::now();
            if now >= deadline {
                log::warn!(
                    "emulator: {} request threads still busy at shutdown",
                    *handlers
                );
                return;
            }
            handlers = self
                .handlers_idle
                .wait_timeout(handlers, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_names_round_trip() {
        for fault in Fault::ALL {
            assert_eq!(fault.name().parse::<Fault>(), Ok(fault));
        }
        assert_eq!("HTTP500".parse::<Fault>(), Ok(Fault::Http500));
        let err = "slow".parse::<Fault>().expect_err("unknown fault");
        assert!(err.contains("'slow'") && err.contains("garbage"), "{err}");
    }

    #[test]
    fn faults_keep_headers() {
        let reply = Reply::new(200, "{}")
            .with_header("Content-Type", "application/json")
            .with_header("Metadata-Flavor", "Google");
        let garbage = apply_fault(Fault::Garbage, reply.clone());
        assert_eq!((garbage.status, garbage.body.as_slice()), (200, GARBAGE));
        assert!(serde_json::from_slice::<serde_json::Value>(&garbage.body).is_err());
        assert_eq!(garbage.header("content-type"), Some("application/json"));
        let empty = apply_fault(Fault::Empty, reply.clone());
        assert_eq!((empty.status, empty.body.len()), (200, 0));
        let error = apply_fault(Fault::Http500, reply.clone());
        assert_eq!(error.status, 500);
        assert_eq!(error.header("metadata-flavor"), Some("Google"));
        let throttled = apply_fault(Fault::Throttle, reply.clone());
        assert_eq!(throttled.status, 429);
        assert_eq!(throttled.header("retry-after"), Some("1"));
        assert_eq!(throttled.header("metadata-flavor"), Some("Google"));
        assert_eq!(apply_fault(Fault::None, reply.clone()), reply);
    }

    #[test]
    fn ec2_token_put_only_sees_server_faults() {
        let put = RequestFacts::new("PUT", "/latest/api/token");
        let get = RequestFacts::new("GET", "/latest/meta-data/");
        let aws = ProviderKind::Aws;
        assert_eq!(effective_fault(aws, Fault::Garbage, &put), Fault::None);
        assert_eq!(effective_fault(aws, Fault::Empty, &put), Fault::None);
        assert_eq!(effective_fault(aws, Fault::Http500, &put), Fault::Http500);
        assert_eq!(effective_fault(aws, Fault::Timeout, &put), Fault::Timeout);
        assert_eq!(effective_fault(aws, Fault::Garbage, &get), Fault::Garbage);
        let alibaba = ProviderKind::Alibaba;
        assert_eq!(effective_fault(alibaba, Fault::Garbage, &put), Fault::None);
        assert_eq!(effective_fault(alibaba, Fault::Empty, &put), Fault::None);
        assert_eq!(
            effective_fault(alibaba, Fault::Http500, &put),
            Fault::Http500
        );
        assert_eq!(effective_fault(alibaba, Fault::Empty, &get), Fault::Empty);
        let gcp = ProviderKind::Gcp;
        assert_eq!(effective_fault(gcp, Fault::Empty, &put), Fault::Empty);
    }
}
