//! The reply-path check's place in the API: one check at a time, on a thread of its own that
//! the API thread starts when a client asks and none runs, so the poll loop keeps answering
//! every other request meanwhile. Clients that ask while it runs wait for the same result;
//! a result is kept for [`CHECK_KEPT`] and handed to whoever asks then. A check gets
//! [`CHECK_BUDGET`]; it stops at the next item once no connection waits for it. The thread
//! is cloned from the API thread, so it has the API thread's credentials: no capability
//! (the check only reads). It tells the poll loop it is done through an eventfd.

use super::http::Response;
use super::routes::CHECK_PATH;
use crate::check::{self, Budget, CheckError};
use crate::metrics::METRICS;
use crate::snapshot::{SharedSnapshot, Snapshot};
use crate::sys::EventFd;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long one check may take before it gives up with a 503.
pub const CHECK_BUDGET: Duration = Duration::from_secs(5);
/// How long a finished check's result answers new requests.
pub const CHECK_KEPT: Duration = Duration::from_secs(1);
/// How long a connection waits for a check before it gets a 503 (the budget, and a margin for
/// the dumps before the first item).
pub(super) const CHECK_WAIT: Duration = Duration::from_secs(7);

/// The API thread's handle on the checks.
pub(super) struct Checks {
    shared: Arc<Shared>,
    snapshot: SharedSnapshot,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled by the check's thread when it is done.
    done: EventFd,
    /// Connections waiting for a check, as the poll loop last counted them.
    waiting: AtomicUsize,
}

#[derive(Default)]
struct State {
    running: bool,
    /// The last result and when it was made; taken by the poll loop once to deliver it.
    last: Option<(Instant, Response)>,
    undelivered: bool,
}

impl Checks {
    pub(super) fn new(snapshot: SharedSnapshot, done: EventFd) -> Checks {
        Checks {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                done,
                waiting: AtomicUsize::new(0),
            }),
            snapshot,
        }
    }

    /// The descriptor the poll loop watches for finished checks.
    pub(super) fn fd(&self) -> RawFd {
        self.shared.done.as_raw_fd()
    }

    /// The result of a check that finished less than [`CHECK_KEPT`] ago.
    pub(super) fn fresh(&self, now: Instant) -> Option<Response> {
        let state = self.shared.lock();
        let (at, response) = state.last.as_ref()?;
        (now.saturating_duration_since(*at) < CHECK_KEPT).then(|| response.clone())
    }

    /// `count` connections wait for a check: starts one when some wait and none runs.
    pub(super) fn waiting(&self, count: usize) {
        self.shared.waiting.store(count, Ordering::Relaxed);
        if count == 0 {
            return;
        }
        let mut state = self.shared.lock();
        if state.running || state.undelivered {
            return;
        }
        state.running = true;
        drop(state);
        let shared = Arc::clone(&self.shared);
        let snapshot = self.snapshot.get();
        let spawned = std::thread::Builder::new()
            .name("check".to_string())
            .spawn(move || shared.finish(compute(&snapshot, &shared)));
        if let Err(e) = spawned {
            let message = format!("cannot start the check: {e}");
            self.shared.finish(Some(Response::error(500, &message)));
        }
    }

    /// After the descriptor became readable: the result to send to every waiting connection,
    /// when the check made one (counted in the metrics once per connection by the caller).
    pub(super) fn finished(&self) -> Option<Response> {
        self.shared.done.drain();
        let mut state = self.shared.lock();
        if !std::mem::take(&mut state.undelivered) {
            return None;
        }
        state.last.as_ref().map(|(_, response)| response.clone())
    }

    /// The poll loop is ending: a running check stops at its next item.
    pub(super) fn stop(&self) {
        self.shared.waiting.store(0, Ordering::Relaxed);
    }
}

/// Counts one answer to a check in the metrics.
pub(super) fn count(response: &Response) {
    METRICS.api_request(CHECK_PATH, response.status);
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records the result (None: nobody waited any more) and wakes the poll loop.
    fn finish(&self, response: Option<Response>) {
        let mut state = self.lock();
        state.running = false;
        if let Some(response) = response {
            state.last = Some((Instant::now(), response));
            state.undelivered = true;
        }
        drop(state);
        if let Err(e) = self.done.signal() {
            log::error!("API: cannot report a finished check: {e}");
        }
    }
}

/// One check of what the snapshot's last round configured, as the response to send.
fn compute(snapshot: &Snapshot, shared: &Shared) -> Option<Response> {
    let Some(provider) = snapshot.status.provider else {
        return Some(Response::error(503, "nothing configured yet"));
    };
    let nobody_waits = || shared.waiting.load(Ordering::Relaxed) == 0;
    let budget = Budget {
        limit: CHECK_BUDGET,
        nobody_waits: &nobody_waits,
    };
    match check::run(provider, &snapshot.status.links, &budget) {
        Ok(report) => Some(Response::json(200, &report)),
        Err(CheckError::NobodyWaits) => None,
        Err(e @ CheckError::OverBudget { .. }) => Some(Response::error(503, &e.to_string())),
        Err(e @ CheckError::Kernel(_)) => Some(Response::error(500, &e.to_string())),
    }
}
