//! The metadata thread: the only one that talks to the metadata service, so a slow or hanging
//! service never holds up the reconcile thread (restoring a deleted rule, configuring a
//! hot-plugged NIC). It fetches when asked, reads the slow views (the system document, EC2's
//! identity documents and credentials) when they are due, and on GCP long-polls for changes
//! while idle. Each result is left in an inbox and announced with `Trigger::MetadataChanged`:
//! the metadata first, the slow views after it, so configuring never waits for a tree walk.

use crate::metadata::{FetchError, Instance, Provider};
use crate::snapshot::Ec2Documents;
use crate::trigger::{Trigger, Wake};
use serde_json::Value;
use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How often the system view (EC2: a tree walk) and EC2's documents are read again anyway.
const SLOW_REFRESH: Duration = Duration::from_secs(3600);
/// One GCP long-poll; a requested fetch waits at most this long behind it.
const LONG_POLL: Duration = Duration::from_secs(30);
/// After a failure on GCP, how long to wait for a requested fetch before trying again alone.
const LONG_POLL_RETRY: Duration = Duration::from_secs(2);

/// A fetch the reconcile thread asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchJob {
    /// Read the slow views even if they are not due (API refresh, SIGHUP).
    pub views: bool,
}

/// What the metadata thread has delivered and the reconcile thread not yet taken.
#[derive(Debug)]
pub struct Fetched {
    /// The result of a fetch; None when only slow views came.
    pub instance: Option<Result<Instance, FetchError>>,
    /// A new system document, when it was read this time.
    pub system: Option<Value>,
    /// New EC2 documents, when they were read this time.
    pub ec2: Option<Ec2Documents>,
}

/// The reconcile thread's handle on the metadata thread.
pub struct Fetcher {
    jobs: Sender<FetchJob>,
    inbox: Arc<Mutex<Option<Fetched>>>,
    long_polls: bool,
}

impl Fetcher {
    /// Starts the "metadata" thread with `provider`.
    pub fn spawn(provider: Box<dyn Provider>, wake: Wake) -> io::Result<Fetcher> {
        let (jobs, queue) = mpsc::channel();
        let inbox = Arc::new(Mutex::new(None));
        let long_polls = provider.supports_wait_for_change();
        crate::metrics::METRICS.set_provider(provider.kind());
        let worker = Worker {
            provider,
            wake,
            inbox: Arc::clone(&inbox),
            views: Views::default(),
            failing: false,
        };
        thread::Builder::new()
            .name("metadata".into())
            .spawn(move || worker.run(&queue))?;
        Ok(Fetcher {
            jobs,
            inbox,
            long_polls,
        })
    }

    /// Asks for a fetch; false when the metadata thread is gone.
    pub fn request(&self, job: FetchJob) -> bool {
        self.jobs.send(job).is_ok()
    }

    /// The latest result, once.
    pub fn take(&self) -> Option<Fetched> {
        self.inbox.lock().ok().and_then(|mut slot| slot.take())
    }

    /// True on providers that report changes themselves (GCP): no refresh timer needed.
    pub fn long_polls(&self) -> bool {
        self.long_polls
    }
}

/// When the slow views were read last, and for which refresh document.
#[derive(Default)]
struct Views {
    system_for: Option<(Instant, Value)>,
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
}

impl Worker {
    fn run(mut self, queue: &Receiver<FetchJob>) {
        loop {
            let job = if self.provider.supports_wait_for_change() {
                let wait = if self.failing {
                    LONG_POLL_RETRY
                } else {
                    Duration::ZERO
                };
                match queue.recv_timeout(wait) {
                    Ok(job) => Some(job),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            } else {
                match queue.recv() {
                    Ok(job) => Some(job),
                    Err(_) => return,
                }
            };
            let (result, asked) = match job {
                Some(job) => (self.provider.fetch(), job.views),
                None if self.failing => (self.provider.fetch(), false),
                None => match self.provider.wait_for_change(LONG_POLL) {
                    Ok(None) => continue,
                    Ok(Some(instance)) => (Ok(instance), false),
                    Err(error) => (Err(error), false),
                },
            };
            self.failing = result.is_err();
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
                    self.views.system_for = Some((Instant::now(), current.raw.clone()));
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
