//! The reconcile thread's event loop (`Reconciler`): the only writer to the kernel. It never
//! waits on the network: the metadata thread fetches, this one plans and applies (`round`). Its
//! loop is a small state machine, each timer in a type of its own; it starts in **fetching** (the metadata thread was
//! asked for the first fetch when it started):
//!
//! - **waiting**, in one `poll`, for a trigger (API refresh, SIGHUP, a fetch result), a kernel
//!   event on its own netlink subscription, or the earliest deadline of the fetch schedule,
//!   the re-apply and the hot-plug watch. → fetching when a fetch is due or asked for;
//!   → applying when a kernel event comes with metadata in hand; → stopped at shutdown.
//! - **fetching** (`FetchSchedule`): one fetch is out; the thread goes on waiting and serving
//!   kernel events with the metadata in hand; a fetch asked for meanwhile follows the result.
//!   → applying with good metadata; → backing off when the fetch failed.
//! - **backing off** (`FetchSchedule`): nothing changes, the last good metadata stays served,
//!   the next fetch is due after 1 s, doubling with jitter, capped by `RefreshTimer`.
//!   → fetching.
//! - **applying** (`round::round`): plan, apply, save the record, publish (`Publisher`), log
//!   each new problem once (`Problems`). → waiting; → retrying failed changes when some
//!   failed; → hot-plug watch when a link appeared that the metadata does not list.
//! - **retrying failed changes** (`Reapply`): the metadata in hand is applied again after the
//!   same backoff, without a fetch, until a round has no failures. → applying.
//! - **hot-plug watch** (`HotplugWatch`): fetches again every 0.5 s, 1 s, then 5 s by the
//!   link's age, for two minutes or until the metadata lists it. → fetching.

use super::backoff::{earliest, Reapply};
use super::damp::EventDamper;
use super::events::{next_triggers, DEFAULT_DEBOUNCE};
use super::fetcher::{Fetched, Fetcher};
use super::files::StateFiles;
use super::hotplug::{self, HotplugWatch};
use super::ledger::Ledger;
use super::malloc;
use super::problems::Problems;
use super::publisher::{Publisher, Views};
use super::reload::RunningConfig;
use super::round::{self, log_skipped, Apply, RoundInput, RoundOutcome};
use super::schedule::FetchSchedule;
use super::wants::Wants;
use crate::config::{format_duration, Config};
use crate::logging::rfc3339;
use crate::metadata::http::Jitter;
use crate::metadata::{FetchError, Instance};
use crate::metrics::METRICS;
use crate::net::ProviderKind;
use crate::netlink::monitor::Monitor;
use crate::netlink::Netlink;
use crate::plan::Owned;
use crate::snapshot::{LinkStatus, RefreshRecord, SharedSnapshot};
use crate::state::StateDir;
use crate::trigger::Triggers;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub(crate) use super::publisher::RoundHook;

/// How long the thread sleeps when nothing is timed (only triggers and events wake it).
const IDLE: Duration = Duration::from_secs(24 * 3600);

/// What the reconcile thread starts with.
pub(crate) struct ReconcilerParts {
    pub config: Config,
    pub config_path: PathBuf,
    pub kind: ProviderKind,
    pub fetcher: Fetcher,
    pub netlink: Netlink,
    /// The kernel event subscription; None when it could not be opened (events are missed
    /// then, and only timed refreshes and triggers wake the thread).
    pub monitor: Option<Monitor>,
    /// The open (and locked) state directory.
    pub state: StateDir,
    pub snapshot: SharedSnapshot,
    pub shutdown: Arc<AtomicBool>,
    pub on_round: RoundHook,
}

pub(crate) struct Reconciler {
    config: RunningConfig,
    fetcher: Fetcher,
    netlink: Netlink,
    monitor: Option<Monitor>,
    shutdown: Arc<AtomicBool>,
    /// The last good metadata, applied again on kernel events and re-applies.
    last_good: Option<Instance>,
    schedule: FetchSchedule,
    reapply: Reapply,
    kernel_events: EventDamper,
    hotplug: HotplugWatch,
    problems: Problems,
    publisher: Publisher,
    ledger: Ledger,
}

impl Reconciler {
    pub(crate) fn new(parts: ReconcilerParts) -> Reconciler {
        let views = Views::new(parts.kind, rfc3339(SystemTime::now()));
        let files = StateFiles::new(parts.state.clone());
        let long_polls = parts.fetcher.long_polls();
        Reconciler {
            config: RunningConfig::new(parts.config, parts.config_path),
            fetcher: parts.fetcher,
            netlink: parts.netlink,
            monitor: parts.monitor,
            shutdown: parts.shutdown,
            last_good: None,
            schedule: FetchSchedule::first_out(Instant::now(), long_polls, Jitter::from_entropy()),
            reapply: Reapply::default(),
            kernel_events: EventDamper::new(Instant::now()),
            hotplug: HotplugWatch::default(),
            problems: Problems::default(),
            publisher: Publisher::new(views, files, parts.snapshot, parts.on_round),
            ledger: Ledger::open(parts.state),
        }
    }

    /// Runs until `Trigger::Shutdown` or until every sender is gone.
    pub(crate) fn run(mut self, triggers: Triggers) {
        loop {
            let wait = self
                .next_deadline(Instant::now())
                .map_or(IDLE, |at| at.saturating_duration_since(Instant::now()));
            let Some(wants) = self.wait(&triggers, wait) else {
                return;
            };
            if wants.shutdown || self.stopping() {
                return;
            }
            if wants.reload {
                self.config.reload();
            }
            self.step(wants);
        }
    }

    /// Waits for triggers, kernel events or the deadline; None when the trigger side is broken.
    fn wait(&mut self, triggers: &Triggers, timeout: Duration) -> Option<Wants> {
        let monitor_fd = self.monitor.as_ref().map(Monitor::raw_fd);
        let (taken, events) = match triggers.wait(monitor_fd, timeout) {
            Ok(woken) => woken,
            Err(e) => {
                log::error!("waiting for triggers failed, stopping the reconcile thread: {e}");
                return None;
            }
        };
        let mut wants: Wants = taken.into_iter().collect();
        if let (true, Some(monitor)) = (events, &mut self.monitor) {
            for trigger in next_triggers(monitor, Duration::ZERO, DEFAULT_DEBOUNCE) {
                wants.add(trigger);
            }
        }
        let now = Instant::now();
        wants.fetch |= self.next_fetch(now).is_some_and(|at| at <= now);
        wants.reconcile |= if wants.kernel {
            self.kernel_events.changed(now)
        } else {
            self.kernel_events.take_due(now)
        };
        if self.reapply.take_due(now) {
            log::debug!("applying the metadata in hand again after failed changes");
            wants.reconcile = true;
        }
        Some(wants)
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// When the thread must wake by itself: for the next timed fetch or the next re-apply,
    /// whichever comes first. The re-apply stays timed while a fetch is out.
    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let retries = earliest(self.reapply.due(), self.kernel_events.due());
        earliest(self.next_fetch(now), retries)
    }

    fn next_fetch(&self, now: Instant) -> Option<Instant> {
        let timer = self.config.config.refresh_timer;
        let hotplug = self
            .hotplug
            .next_fetch(now, self.schedule.last_asked(), timer);
        self.schedule.due(hotplug)
    }

    /// One wake-up's work: a fetch asked for, the fetch result taken, a round applied.
    fn step(&mut self, wants: Wants) {
        if wants.fetch {
            self.ask_fetch(wants.views);
        }
        let fetched = if wants.metadata_changed {
            self.take_fetched()
        } else {
            None
        };
        // A kernel event asks for a round even when the inbox held only slow views (or a
        // failed fetch): the last good metadata is applied again.
        let instance =
            fetched.or_else(|| wants.reconcile.then(|| self.last_good.clone()).flatten());
        if let Some(instance) = instance {
            if self.apply(&instance) {
                self.ask_fetch(false);
            }
            self.publish();
        } else if wants.metadata_changed {
            self.publish();
        }
    }

    /// Asks the metadata thread for a fetch, or for one more after the one under way.
    fn ask_fetch(&mut self, views: bool) {
        let fetcher = &self.fetcher;
        if !self
            .schedule
            .ask(Instant::now(), views, |job| fetcher.request(job))
        {
            self.thread_gone();
        }
    }

    fn thread_gone(&mut self) {
        self.error("the metadata thread is gone; nothing is fetched any more".into());
    }

    fn error(&mut self, message: String) {
        self.problems.error(message, rfc3339(SystemTime::now()));
    }

    /// The fetch result waiting in the inbox (also GCP's unasked long-poll results).
    fn take_fetched(&mut self) -> Option<Instance> {
        let Fetched {
            instance,
            system,
            ec2,
        } = self.fetcher.take()?;
        if self.publisher.views.fetched(system, ec2) {
            self.write_files();
        }
        let instance = instance?;
        let fetcher = &self.fetcher;
        if !self
            .schedule
            .returned(Instant::now(), |job| fetcher.request(job))
        {
            self.thread_gone();
        }
        self.fetched(instance)
    }

    /// Records a fetch: a good one becomes the last good metadata; a failed one schedules a
    /// retry and leaves the machine as it is.
    fn fetched(&mut self, result: Result<Instance, FetchError>) -> Option<Instance> {
        let timer = self.config.config.refresh_timer;
        match result {
            Ok(instance) => {
                let failures = self.schedule.succeeded(Instant::now(), timer);
                if failures > 0 {
                    log::info!("metadata fetch recovered after {failures} failures");
                }
                METRICS.good_metadata();
                self.last_good = Some(instance.clone());
                Some(instance)
            }
            Err(error) => {
                let delay = self.schedule.failed(Instant::now(), timer);
                self.error(format!(
                    "metadata fetch failed, nothing changed (retry in {}): {error}",
                    format_duration(delay)
                ));
                None
            }
        }
    }

    /// Applies `instance` in one round and takes in its outcome; true when a link appeared
    /// that the metadata does not list yet (fetch again soon).
    fn apply(&mut self, instance: &Instance) -> bool {
        let input = RoundInput {
            instance,
            owned: self.ledger.record(),
            settings: &self.config.settings,
        };
        let (ledger, problems) = (&mut self.ledger, &mut self.problems);
        let mut claim = |owned: &Owned| claim(ledger, problems, owned);
        let apply = Apply::Changes {
            keep: &mut claim,
            stop: &self.shutdown,
        };
        let outcome = round::round(&mut self.netlink, input, apply);
        let new_pending = self.take_in(instance, &outcome);
        self.schedule_reapply(outcome.failures());
        drop(outcome);
        malloc::give_back();
        new_pending
    }

    /// Logs what the round found (each problem once), keeps the record, follows hot-plugged
    /// links and records what was configured; true when a link newly waits for its metadata.
    fn take_in(&mut self, instance: &Instance, outcome: &RoundOutcome) -> bool {
        let now = Instant::now();
        let mut new_pending = false;
        let mut configured = None;
        for pass in &outcome.passes {
            log_skipped(self.problems.new_skips(&pass.desired.skipped));
            self.problems.nic_problems(&pass.nic_problems());
            for line in &pass.disowned {
                self.problems.warn_once(line);
            }
            let links = pass.links();
            self.publisher.views.planned(&links);
            let Some(applied) = &pass.outcome else {
                continue;
            };
            configured = Some(links);
            for line in &applied.summary {
                log::info!("{line}");
            }
            for conflict in &applied.conflicts {
                let line = format!("left alone, another route holds its place: {conflict}");
                self.problems.warn_once(&line);
            }
            let listed = |mac| instance.nic_by_mac(mac).is_some();
            let candidates = hotplug::candidates(&pass.kernel.links);
            new_pending |= self.hotplug.track(now, &candidates, listed);
        }
        if let Some(owned) = &outcome.owned {
            keep(&mut self.ledger, &mut self.problems, owned);
        }
        if let Some(links) = configured {
            self.configured(outcome, links);
        }
        new_pending
    }

    /// After an applied round: what its last applied pass configured (`links`) and how the
    /// round ended, for the API and the files.
    fn configured(&mut self, outcome: &RoundOutcome, links: Vec<LinkStatus>) {
        let (summary, changes) = outcome.summary();
        let ok = outcome.failures().is_empty();
        let refresh = RefreshRecord {
            time: rfc3339(SystemTime::now()),
            result: if ok { "ok" } else { "error" }.to_string(),
            changes,
            summary,
        };
        self.publisher.views.applied(links, refresh);
        self.write_files();
    }

    /// After a round: failed changes are recorded with when the metadata in hand is applied
    /// again (1 s, doubling up to `RefreshTimer`, no fetch); a round without failures clears
    /// the error and the schedule.
    fn schedule_reapply(&mut self, failures: Vec<String>) {
        if self.stopping() {
            return;
        }
        if failures.is_empty() {
            let failed_rounds = self.reapply.succeeded();
            if failed_rounds > 0 {
                log::info!("all changes applied, after {failed_rounds} round(s) with failures");
            }
            self.problems.resolved();
            return;
        }
        let timer = self.config.config.refresh_timer;
        let retry = format_duration(self.reapply.failed(Instant::now(), timer));
        let lines = failures
            .into_iter()
            .map(|failure| format!("{failure} (retry in {retry})"))
            .collect();
        self.problems
            .failed_changes(lines, rfc3339(SystemTime::now()));
    }

    fn write_files(&mut self) {
        if let Err(e) = self.publisher.write_files() {
            self.problems
                .warn_once(&format!("state files not written: {e}"));
        }
    }

    fn publish(&mut self) {
        self.publisher.publish(self.problems.last_error());
    }
}

/// A state dir that is read-only or full costs the record, not the network: logged once.
fn keep(ledger: &mut Ledger, problems: &mut Problems, owned: &Owned) {
    if let Err(e) = ledger.keep(owned) {
        problems.warn_once(&format!("ownership record not saved: {e}"));
    }
}

/// The record claimed before a batch (`Ledger::claim`); `keep` makes it durable after it.
fn claim(ledger: &mut Ledger, problems: &mut Problems, owned: &Owned) {
    if let Err(e) = ledger.claim(owned) {
        problems.warn_once(&format!("ownership record not saved: {e}"));
    }
}
