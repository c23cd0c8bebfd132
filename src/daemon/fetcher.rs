//! The metadata thread: the only one that talks to the metadata service, so a slow or hanging
//! service never holds up the reconcile thread (restoring a deleted rule, configuring a
//! hot-plugged NIC). It fetches when asked, reads the slow views (the system document, EC2's
//! identity documents and credentials) when they are due, and on GCP long-polls for changes
//! while idle. Requests are paced (see `pace`): fetches asked for through the API or SIGHUP
//! within a budget, GCP long-polls that the server does not hold backed off. Each result is left in an inbox and announced with `Trigger::MetadataChanged`:
//! the metadata first, the slow views after it, so configuring never waits for a tree walk.

use super::pace::{AskedBudget, LongPollPace, PollOutcome};
use crate::metadata::{FetchError, Instance, Provider};
use crate::privileges::confine::{spawn_confined, Confinement, Confining};
use crate::snapshot::Ec2Documents;
use crate::trigger::{Trigger, Wake};
use serde_json::Value;
use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the system view (EC2: a tree walk) and EC2's documents are read again anyway.
const SLOW_REFRESH: Duration = Duration::from_secs(3600);
/// One GCP long-poll; a requested fetch waits at most this long behind it.
const LONG_POLL: Duration = Duration::from_secs(30);

/// A fetch the reconcile thread asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FetchJob {
    /// Asked for by someone (API refresh, SIGHUP, the first fetch): read the slow views even
    /// if they are not due, within the asked-for budget.
    pub views: bool,
}

/// What the metadata thread has delivered and the reconcile thread not yet taken.
#[derive(Debug)]
pub(crate) struct Fetched {
    /// The result of a fetch; None when only slow views came.
    pub instance: Option<Result<Instance, FetchError>>,
    /// A new system document, when it was read this time.
    pub system: Option<Arc<Value>>,
    /// New EC2 documents, when they were read this time.
    pub ec2: Option<Ec2Documents>,
}

/// The reconcile thread's handle on the metadata thread.
pub(crate) struct Fetcher {
    jobs: Sender<FetchJob>,
    inbox: Arc<Mutex<Option<Fetched>>>,
    long_polls: bool,
}

impl Fetcher {
    /// Starts the "metadata" thread with `provider`; it parses replies with no capability at
    /// all (dropped to `confinement` before its first request; the caller confirms that drop).
    /// Its first fetch, with the slow views, is asked for here: it runs while the rest of the
    /// daemon starts, and the reconcile thread's schedule counts it as out
    /// (`FetchSchedule::first_out`).
    pub(crate) fn spawn(
        provider: Box<dyn Provider>,
        wake: Wake,
        confinement: Confinement,
    ) -> io::Result<(Fetcher, Confining)> {
        let (jobs, queue) = mpsc::channel();
        let inbox = Arc::new(Mutex::new(None));
        let long_polls = provider.supports_wait_for_change();
        crate::metrics::METRICS.set_provider(provider.kind().name());
        let worker = Worker {
            provider,
            wake,
            inbox: Arc::clone(&inbox),
            views: Views::default(),
            failing: false,
            asked: AskedBudget::new(Instant::now()),
            pace: LongPollPace::default(),
        };
        // Cannot fail: the receiving end, `queue`, is still here.
        let _ = jobs.send(FetchJob { views: true });
        let thread = spawn_confined("metadata", confinement, move || worker.run(&queue))?;
        let fetcher = Fetcher {
            jobs,
            inbox,
            long_polls,
        };
        Ok((fetcher, thread))
    }

    /// Asks for a fetch; false when the metadata thread is gone.
    pub(crate) fn request(&self, job: FetchJob) -> bool {
        self.jobs.send(job).is_ok()
    }

    /// The latest result, once.
    pub(crate) fn take(&self) -> Option<Fetched> {
        self.inbox.lock().ok().and_then(|mut slot| slot.take())
    }

    /// True on providers that report changes themselves (GCP): no refresh timer needed.
    pub(crate) fn long_polls(&self) -> bool {
        self.long_polls
    }
}

/// When the slow views were read last, and for which refresh document.
#[derive(Default)]
struct Views {
    /// When the system view was read, and the refresh document it was read for (shared with
    /// that fetch's instance).
    system_for: Option<(Instant, Arc<Value>)>,
    ec2_at: Option<Instant>,
}

struct Worker {
    provider: Box<dyn Provider>,
    wake: Wake,
    inbox: Arc<Mutex<Option<Fetched>>>,
    views: Views,
    /// The last fetch failed: on GCP, recovery is confirmed by a plain fetch, not a long-poll
    /// (which would hold on the unchanged ETag).
    failing: bool,
    asked: AskedBudget,
    pace: LongPollPace,
}

/// What the metadata thread does next.
enum Next {
    /// A fetch the reconcile thread asked for.
    Job(FetchJob),
    /// GCP after a failure: a plain fetch to confirm recovery.
    Retry,
    /// GCP while idle: a long-poll for changes.
    LongPoll,
}

impl Worker {
    fn run(mut self, queue: &Receiver<FetchJob>) {
        while let Some(next) = self.next(queue) {
            let started = Instant::now();
            let (result, asked) = match next {
                Next::Job(job) => (self.provider.fetch(), job.views),
                Next::Retry => {
                    let result = self.provider.fetch();
                    // Success leaves the strikes: a long-poll that fails again at once waits
                    // longer than the last one did.
                    if result.is_err() {
                        self.pace
                            .ended(PollOutcome::Failed, started, Instant::now());
                    }
                    (result, false)
                }
                Next::LongPoll => match self.long_poll(started) {
                    Some(result) => (result, false),
                    None => continue,
                },
            };
            self.failing = result.is_err();
            let result = result.map(|instance| self.share_held_document(instance));
            let delivered = self.deliver(Fetched {
                instance: Some(result.clone()),
                system: None,
                ec2: None,
            });
            let views = match &result {
                Ok(instance) => self.views(instance, asked),
                Err(_) => None,
            };
            if !delivered || views.is_some_and(|views| !self.deliver(views)) {
                return;
            }
        }
    }

    /// Waits for a job (on GCP: until the next unasked request is due); an asked-for job also
    /// waits for the budget, taking in the jobs that come meanwhile. None once the reconcile
    /// thread is gone.
    fn next(&mut self, queue: &Receiver<FetchJob>) -> Option<Next> {
        let job = if self.provider.supports_wait_for_change() {
            match queue.recv_timeout(self.pace.wait(Instant::now())) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) if self.failing => return Some(Next::Retry),
                Err(RecvTimeoutError::Timeout) => return Some(Next::LongPoll),
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        } else {
            queue.recv().ok()?
        };
        self.within_budget(job, queue).map(Next::Job)
    }

    /// Holds an asked-for job until the budget has a token (see [`AskedBudget`]); jobs that
    /// arrive meanwhile join it, so a flood of refreshes costs a few fetches.
    fn within_budget(&mut self, mut job: FetchJob, queue: &Receiver<FetchJob>) -> Option<FetchJob> {
        if !job.views {
            return Some(job);
        }
        loop {
            let wait = self.asked.wait(Instant::now());
            if wait.is_zero() && self.asked.take(Instant::now()) {
                return Some(job);
            }
            match queue.recv_timeout(wait) {
                Ok(more) => job.views |= more.views,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// One GCP long-poll, paced by how it ended; None when nothing changed.
    fn long_poll(&mut self, started: Instant) -> Option<Result<Instance, FetchError>> {
        let result = self.provider.wait_for_change(LONG_POLL);
        let outcome = match &result {
            Ok(Some(_)) => PollOutcome::Changed,
            Ok(None) => PollOutcome::Unchanged,
            Err(_) => PollOutcome::Failed,
        };
        let delay = self.pace.ended(outcome, started, Instant::now());
        if outcome == PollOutcome::Unchanged && !delay.is_zero() {
            log::debug!(
                "the metadata server answered a long-poll at once without a change: next one in {}",
                crate::config::format_duration(delay)
            );
        }
        result.transpose()
    }

    /// `instance` with the document the system view was read for when the two are equal, so
    /// that an unchanged refresh leaves one copy of it alive (the system view and the
    /// reconcile thread's last good instance hold it).
    fn share_held_document(&self, mut instance: Instance) -> Instance {
        if let Some((_, held)) = &self.views.system_for {
            instance.share_document(held);
        }
        instance
    }

    /// The slow views when they are due: asked for, hourly, or whenever the refresh document
    /// changed (the system view must never show addresses no longer configured).
    fn views(&mut self, current: &Instance, asked: bool) -> Option<Fetched> {
        let mut fetched = Fetched {
            instance: None,
            system: None,
            ec2: None,
        };
        let system_due = asked
            || self
                .views
                .system_for
                .as_ref()
                .is_none_or(|(at, raw)| at.elapsed() >= SLOW_REFRESH || *raw != current.raw);
        if system_due {
            match self.provider.fetch_system() {
                Ok(system) => {
                    fetched.system = Some(system);
                    self.views.system_for = Some((Instant::now(), Arc::clone(&current.raw)));
                }
                Err(e) => log::warn!("system view not refreshed: {e}"),
            }
        }
        if asked
            || self
                .views
                .ec2_at
                .is_none_or(|at| at.elapsed() >= SLOW_REFRESH)
        {
            fetched.ec2 = self.ec2_documents();
            self.views.ec2_at = Some(Instant::now());
        }
        (fetched.system.is_some() || fetched.ec2.is_some()).then_some(fetched)
    }

    fn ec2_documents(&mut self) -> Option<Ec2Documents> {
        let docs = match self.provider.identity_documents() {
            Ok(docs) => docs?,
            Err(e) => {
                log::warn!("instance identity documents not refreshed: {e}");
                return None;
            }
        };
        let credentials = self.provider.credentials().unwrap_or_else(|e| {
            log::warn!("IAM credentials not refreshed: {e}");
            None
        });
        Some(Ec2Documents {
            document: docs.document.and_then(|d| serde_json::from_str(&d).ok()),
            pkcs7: docs.pkcs7,
            signature: docs.signature,
            rsa2048: docs.rsa2048,
            credentials,
        })
    }

    /// Leaves the result for the reconcile thread and wakes it; false once it is gone. What
    /// is not taken yet is merged: newer parts replace older ones, missing parts are kept.
    fn deliver(&self, fetched: Fetched) -> bool {
        if let Ok(mut slot) = self.inbox.lock() {
            let merged = match slot.take() {
                Some(older) => Fetched {
                    instance: fetched.instance.or(older.instance),
                    system: fetched.system.or(older.system),
                    ec2: fetched.ec2.or(older.ec2),
                },
                None => fetched,
            };
            *slot = Some(merged);
        }
        self.wake.send(Trigger::MetadataChanged).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::ProviderKind;
    use crate::trigger;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A GCP-like provider whose every request returns at once: long-polls report no change
    /// (`fail` false) or fail (`fail` true, as an error or an empty body does).
    struct AtOnce {
        fail: bool,
        requests: Arc<AtomicUsize>,
    }

    impl AtOnce {
        fn error(&self) -> FetchError {
            FetchError::Unsupported {
                provider: ProviderKind::Gcp,
                what: "anything (test double)",
            }
        }
    }

    impl Provider for AtOnce {
        fn kind(&self) -> ProviderKind {
            ProviderKind::Gcp
        }

        fn fetch(&mut self) -> Result<Instance, FetchError> {
            self.requests.fetch_add(1, Ordering::SeqCst);
            Err(self.error())
        }

        fn fetch_system(&mut self) -> Result<Arc<Value>, FetchError> {
            Err(self.error())
        }

        fn wait_for_change(&mut self, _: Duration) -> Result<Option<Instance>, FetchError> {
            self.requests.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                Err(self.error())
            } else {
                Ok(None)
            }
        }

        fn supports_wait_for_change(&self) -> bool {
            true
        }
    }

    /// Requests made in 3.5 s by a metadata thread left alone with `provider`.
    fn requests_in_3_5_s(fail: bool) -> usize {
        let requests = Arc::new(AtomicUsize::new(0));
        let provider = AtOnce {
            fail,
            requests: Arc::clone(&requests),
        };
        let (wake, _triggers) = trigger::channel().unwrap();
        let (fetcher, thread) =
            Fetcher::spawn(Box::new(provider), wake, Confinement::NoCapabilities).unwrap();
        thread.confirmed().unwrap();
        std::thread::sleep(Duration::from_millis(3500));
        drop(fetcher);
        requests.load(Ordering::SeqCst)
    }

    #[test]
    fn long_polls_answered_at_once_are_backed_off() {
        let unchanged = requests_in_3_5_s(false);
        assert!(
            (2..=4).contains(&unchanged),
            "{unchanged} requests in 3.5 s"
        );
        let failing = requests_in_3_5_s(true);
        assert!((2..=4).contains(&failing), "{failing} requests in 3.5 s");
    }

    /// An EC2-like provider: every fetch parses a new copy of the same document, and keeps
    /// none.
    struct SameDocument;

    impl Provider for SameDocument {
        fn kind(&self) -> ProviderKind {
            ProviderKind::Aws
        }

        fn fetch(&mut self) -> Result<Instance, FetchError> {
            Ok(Instance {
                provider: ProviderKind::Aws,
                instance_id: "i-1".into(),
                location: "eu-west-1".into(),
                nics: Vec::new(),
                raw: Arc::new(serde_json::json!({"meta-data": {"instance-id": "i-1"}})),
            })
        }

        fn fetch_system(&mut self) -> Result<Arc<Value>, FetchError> {
            Ok(Arc::new(serde_json::json!({"meta-data": {}})))
        }
    }

    /// The next instance the metadata thread delivers (at most 5 s).
    fn next_instance(fetcher: &Fetcher) -> Instance {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Some(Fetched {
                instance: Some(result),
                ..
            }) = fetcher.take()
            {
                return result.expect("a good fetch");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("no instance delivered in 5 s");
    }

    #[test]
    fn an_unchanged_refresh_delivers_the_document_already_held() {
        let (wake, _triggers) = trigger::channel().unwrap();
        let (fetcher, thread) =
            Fetcher::spawn(Box::new(SameDocument), wake, Confinement::NoCapabilities).unwrap();
        thread.confirmed().unwrap();
        let first = next_instance(&fetcher);
        assert!(fetcher.request(FetchJob { views: false }));
        let second = next_instance(&fetcher);
        assert!(Arc::ptr_eq(&first.raw, &second.raw));
    }
}
