//! The state one emulator's threads share: the served scenario (re-read from its file when it
//! changes), the fault settings, the request log, the token store and the count of busy
//! handlers; and the answer to one request from it (routing to a provider, GCP's long-poll,
//! the `timeout` fault's hang).
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::fault::{apply_fault, effective_fault, Fault};
use super::{aws, azure, digitalocean, gcp, guest_attributes, oracle, token_flavor};
use super::{EmulatorError, Reply, RequestFacts, RequestRecord, Scenario, MAX_HANDLERS};
use crate::http::header;
use crate::net::ProviderKind;

const RELOAD_INTERVAL: Duration = Duration::from_millis(100);
const POLL_STEP: Duration = Duration::from_millis(100);
/// How long a `timeout` fault holds a request when the emulator is not shut down first.
const HANG_LIMIT: Duration = Duration::from_secs(600);
const MAX_RECORDS: usize = 10_000;

pub(super) struct Shared {
    pub(super) provider: ProviderKind,
    pub(super) require_token: bool,
    pub(super) state: Mutex<State>,
    /// Signalled when the scenario changes or the emulator shuts down.
    pub(super) changed: Condvar,
    pub(super) source: Mutex<Option<FileSource>>,
    pub(super) handlers: Mutex<usize>,
    pub(super) handlers_idle: Condvar,
}

pub(super) struct State {
    pub(super) scenario: Arc<Scenario>,
    pub(super) fault: Fault,
    /// How many of the next requests get which fault instead of `fault`.
    pub(super) next_faults: (usize, Fault),
    pub(super) requests: Vec<RequestRecord>,
    pub(super) tokens: aws::TokenStore,
    /// GCP: the guest attributes the VM wrote.
    pub(super) guest_attributes: guest_attributes::Store,
    /// GCP: hold `wait_for_change` requests (see [`Emulator::set_long_poll`]).
    pub(super) long_poll: bool,
    pub(super) shutdown: bool,
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
pub(super) struct FileSource {
    pub(super) path: PathBuf,
    pub(super) stamp: Option<FileStamp>,
    pub(super) checked: Instant,
}

pub(super) type FileStamp = (SystemTime, u64);

pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(super) fn file_stamp(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

pub(super) fn load_scenario(
    provider: ProviderKind,
    path: &Path,
) -> Result<Scenario, EmulatorError> {
    let text = std::fs::read_to_string(path).map_err(|source| EmulatorError::ReadScenario {
        path: path.to_path_buf(),
        source,
    })?;
    Scenario::parse(provider, &text).map_err(|reason| EmulatorError::ParseScenario {
        origin: path.display().to_string(),
        reason,
    })
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
        (ProviderKind::Gcp, _, Scenario::Tree(tree)) => {
            gcp::respond(facts, tree, &mut state.guest_attributes)
        }
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
    pub(super) fn answer(&self, facts: &RequestFacts) -> Option<Reply> {
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
    pub(super) fn hang(&self) {
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

    pub(super) fn record(&self, record: RequestRecord) {
        let mut state = lock(&self.state);
        if state.requests.len() >= MAX_RECORDS {
            state.requests.remove(0);
        }
        state.requests.push(record);
    }

    pub(super) fn replace_scenario(&self, scenario: Scenario) {
        lock(&self.state).scenario = Arc::new(scenario);
        self.changed.notify_all();
    }

    /// Re-reads the scenario file when its stamp changed (checked at most every 100 ms). A
    /// file that does not load keeps the previous scenario.
    pub(super) fn reload_if_changed(&self) {
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

    pub(super) fn enter_handler(&self) -> bool {
        let mut handlers = lock(&self.handlers);
        if *handlers >= MAX_HANDLERS {
            return false;
        }
        *handlers += 1;
        true
    }

    pub(super) fn leave_handler(&self) {
        let mut handlers = lock(&self.handlers);
        *handlers = handlers.saturating_sub(1);
        self.handlers_idle.notify_all();
    }

    pub(super) fn wait_handlers_done(&self, grace: Duration) {
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
