//! The metadata service emulator (`cloud-network emulate`): an HTTP server that answers as
//! Azure IMDS, EC2 IMDS, the GCP metadata server, OCI's IMDS v2, Alibaba ECS's metadata service
//! or DigitalOcean's droplet metadata do, from a scenario file (re-read when it changes) or a
//! built-in two-NIC VM, with fault injection and a request log for tests.
//!
//! This file holds the public handle (`start`, `Emulator`, its settings and errors); `fault`
//! the injected misbehaviours, `shared` the state the threads share and the answer to one
//! request, `serve` the HTTP side, and one file per provider its answers.
pub(crate) mod aws;
pub(crate) mod azure;
mod cli;
pub(crate) mod digitalocean;
pub(crate) mod facts;
mod fault;
pub(crate) mod gcp;
mod guest_attributes;
pub(crate) mod oracle;
mod serve;
mod shared;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

use crate::net::ProviderKind;
use shared::{file_stamp, load_scenario, lock, FileSource, Shared, State};

pub use cli::{run, EmulateArgs};
pub use facts::{Reply, RequestFacts, Scenario};
pub use fault::Fault;

/// Where `cloud-network emulate` listens unless told otherwise.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    1338,
));
/// Requests handled at once; more are answered 503 at once.
pub const MAX_HANDLERS: usize = 64;
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
            guest_attributes: guest_attributes::Store::new(),
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

/// A seed for token generation: the clock and the process id, mixed.
fn random_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    facts::content_hash(&nanos.to_le_bytes()) ^ u64::from(std::process::id()).rotate_left(32)
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
