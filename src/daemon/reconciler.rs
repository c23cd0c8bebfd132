//! The reconcile thread: the only writer to the kernel. It waits in one `poll` for a trigger
//! (API refresh, SIGHUP, a finished metadata fetch), a kernel event on its own netlink
//! subscription (a link added or removed, one of our objects deleted) or a timer; asks the
//! metadata thread for a fetch when one is due; and plans, applies, saves state and publishes a
//! snapshot. It never waits on the network. A failed fetch changes nothing and is retried with
//! exponential backoff (capped by `RefreshTimer`); the last good metadata stays served. A round
//! whose changes partly failed is followed by rounds that apply the metadata in hand again,
//! with the same backoff and no fetch, until one has no failures. Each distinct problem is
//! logged once, not every round.

use super::backoff::{backoff_ceiling, earliest, Reapply};
use super::fetcher::{FetchJob, Fetched, Fetcher};
use super::files::StateFiles;
use super::reconcile::{apply_round, disowned_lines, plan_round, Planned};
use super::setup;
use super::status::link_statuses;
use crate::config::Config;
use crate::kernel::KernelState;
use crate::logging::rfc3339;
use crate::metadata::http::Jitter;
use crate::metadata::{views, FetchError, Instance};
use crate::metrics::METRICS;
use crate::net::{Mac, ProviderKind};
use crate::netlink::monitor::{Monitor, DEFAULT_DEBOUNCE};
use crate::netlink::Netlink;
use crate::plan::{desired::match_link, Desired, Owned, PlanSettings, Skipped};
use crate::snapshot::{
    Ec2Documents, ErrorRecord, LinkStatus, RefreshRecord, SharedSnapshot, Snapshot,
};
use crate::state::{self, StateDir};
use crate::trigger::{Trigger, Triggers};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// A link that appears without metadata makes the daemon fetch again while the metadata
/// propagates: (age of the link, retry interval) steps, frequent at first, then frugal.
const HOTPLUG_RETRIES: [(Duration, Duration); 3] = [
    (Duration::from_secs(10), Duration::from_millis(500)),
    (Duration::from_secs(30), Duration::from_secs(1)),
    (Duration::from_secs(120), Duration::from_secs(5)),
];
/// How long the thread sleeps when nothing is timed (only triggers and events wake it).
const IDLE: Duration = Duration::from_secs(24 * 3600);
/// Distinct problems remembered as logged; past this the memory starts over (bounded memory).
const LOGGED_ERRORS_MAX: usize = 64;

/// Called after every round with a one-line status (for sd_notify's READY/STATUS).
pub type RoundHook = Box<dyn FnMut(&str) + Send>;

/// What the reconcile thread starts with.
pub struct ReconcilerParts {
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

pub struct Reconciler {
    parts: ReconcilerParts,
    settings: PlanSettings,
    owned: Owned,
    /// The record on disk was corrupt: rebuild it from the kernel at the first good round.
    rebuild_owned: bool,
    files: StateFiles,
    started: String,
    last_good: Option<Instance>,
    system: Option<Value>,
    ec2: Option<Ec2Documents>,
    /// A fetch was asked for and its result has not come back yet.
    fetching: bool,
    /// Another fetch is wanted once the current one is back (with views, if true).
    fetch_again: Option<bool>,
    failures: u32,
    next_fetch: Instant,
    /// Applying the metadata in hand again after rounds with failed changes.
    reapply: Reapply,
    jitter: Jitter,
    /// Links present at the first round; only links that appear later are hot-plug candidates.
    known_links: Option<HashSet<u32>>,
    /// Hot-plugged links the metadata does not list yet, with when they were first seen.
    pending: HashMap<u32, Instant>,
    last_fetch: Option<Instant>,
    /// What the last reconcile configured, per link, for the API.
    links: Vec<LinkStatus>,
    /// The links of the last reconcile with their NIC's MAC, for the state files.
    configured: Vec<(u32, Mac)>,
    last_refresh: Option<RefreshRecord>,
    last_error: Option<ErrorRecord>,
    /// The problems logged since the last round without failures (by `message_key`).
    logged_errors: HashSet<String>,
    logged_skips: HashSet<String>,
    /// The last round's unknown NICs and sanity gate refusals, one line per NIC: each is
    /// logged when it first appears, not every round.
    refusals: HashSet<String>,
}

/// What a reconcile left to do.
#[derive(Debug, Default)]
struct Reconciled {
    /// The last pass's failed changes (or why the kernel could not be read), one line each.
    failures: Vec<String>,
    /// A link appeared that the metadata does not list yet: fetch again soon.
    new_pending: bool,
}

/// What the triggers of one wake-up ask for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Wants {
    fetch: bool,
    views: bool,
    reconcile: bool,
    reload: bool,
    metadata_changed: bool,
    shutdown: bool,
}

impl Wants {
    fn add(&mut self, trigger: Trigger) {
        match trigger {
            Trigger::LinkChanged | Trigger::KernelChanged => self.reconcile = true,
            Trigger::MetadataChanged => self.metadata_changed = true,
            Trigger::ApiRefresh => {
                self.fetch = true;
                self.views = true;
            }
            Trigger::Reload => {
                self.reload = true;
                self.fetch = true;
                self.views = true;
            }
            Trigger::Shutdown => self.shutdown = true,
        }
    }
}

impl Reconciler {
    pub fn new(parts: ReconcilerParts) -> Reconciler {
        let owned = super::load_owned(Some(&parts.state));
        Reconciler {
            settings: setup::plan_settings(&parts.config),
            files: StateFiles::new(parts.state.clone()),
            started: rfc3339(SystemTime::now()),
            rebuild_owned: owned.is_none(),
            owned: owned.unwrap_or_default(),
            parts,
            last_good: None,
            system: None,
            ec2: None,
            fetching: false,
            fetch_again: None,
            failures: 0,
            next_fetch: Instant::now(),
            reapply: Reapply::default(),
            jitter: Jitter::from_entropy(),
            known_links: None,
            pending: HashMap::new(),
            last_fetch: None,
            links: Vec::new(),
            configured: Vec::new(),
            last_refresh: None,
            last_error: None,
            logged_errors: HashSet::new(),
            logged_skips: HashSet::new(),
            refusals: HashSet::new(),
        }
    }

    /// Runs until `Trigger::Shutdown` or until every sender is gone.
    pub fn run(mut self, triggers: Triggers) {
        self.request_fetch(true);
        loop {
            let wait = self
                .next_deadline()
                .map_or(IDLE, |at| at.saturating_duration_since(Instant::now()));
            let wants = match self.wait(&triggers, wait) {
                Some(wants) => wants,
                None => return,
            };
            if wants.shutdown || self.stopping() {
                return;
            }
            if wants.reload {
                self.reload();
            }
            self.round(wants);
        }
    }

    /// Waits for triggers, kernel events or the deadline; None when the trigger side is broken.
    fn wait(&mut self, triggers: &Triggers, timeout: Duration) -> Option<Wants> {
        let monitor_fd = self.parts.monitor.as_ref().map(Monitor::raw_fd);
        let (taken, events) = match triggers.wait(monitor_fd, timeout) {
            Ok(woken) => woken,
            Err(e) => {
                log::error!("waiting for triggers failed, stopping the reconcile thread: {e}");
                return None;
            }
        };
        let mut wants = Wants::default();
        taken.into_iter().for_each(|t| wants.add(t));
        if events {
            if let Some(monitor) = &mut self.parts.monitor {
                for trigger in monitor.next_triggers(Duration::ZERO, DEFAULT_DEBOUNCE) {
                    wants.add(trigger);
                }
            }
        }
        let now = Instant::now();
        wants.fetch |= self.next_fetch_due().is_some_and(|at| at <= now);
        if self.reapply.take_due(now) {
            log::debug!("applying the metadata in hand again after failed changes");
            wants.reconcile = true;
        }
        Some(wants)
    }

    fn stopping(&self) -> bool {
        self.parts.shutdown.load(Ordering::SeqCst)
    }

    /// When the thread must wake by itself: for the next timed fetch or the next re-apply,
    /// whichever comes first. The re-apply stays timed while a fetch is out.
    fn next_deadline(&self) -> Option<Instant> {
        earliest(self.next_fetch_due(), self.reapply.due())
    }

    /// The next timed fetch: the refresh timer, a backoff retry, or a hot-plug retry. GCP has
    /// no refresh timer: the metadata thread long-polls for changes instead. None while a
    /// fetch is out (its result wakes the thread).
    fn next_fetch_due(&self) -> Option<Instant> {
        if self.fetching {
            return None;
        }
        let timer = !self.parts.fetcher.long_polls() || self.failures > 0;
        earliest(timer.then_some(self.next_fetch), self.next_hotplug_retry())
    }

    /// While a hot-plugged link waits for its metadata, the next fetch is due one retry
    /// interval after the last one, by the age of the youngest such link.
    fn next_hotplug_retry(&self) -> Option<Instant> {
        let youngest = self.pending.values().map(Instant::elapsed).min()?;
        let (_, interval) = HOTPLUG_RETRIES
            .iter()
            .find(|(until, _)| youngest < *until)?;
        let last = self.last_fetch.unwrap_or_else(Instant::now);
        Some(last + (*interval).min(self.parts.config.refresh_timer))
    }

    fn round(&mut self, wants: Wants) {
        if wants.fetch {
            self.request_fetch(wants.views);
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
            let reconciled = self.reconcile(&instance);
            if reconciled.new_pending {
                self.request_fetch(false);
            }
            self.schedule_reapply(reconciled.failures);
            self.publish();
        } else if wants.metadata_changed {
            self.publish();
        }
    }

    /// Asks the metadata thread for a fetch, or for one more after the one under way.
    fn request_fetch(&mut self, views: bool) {
        if self.fetching {
            self.fetch_again = Some(views || self.fetch_again.unwrap_or(false));
            return;
        }
        self.last_fetch = Some(Instant::now());
        self.fetching = self.parts.fetcher.request(FetchJob { views });
        if !self.fetching {
            self.record_error("the metadata thread is gone; nothing is fetched any more".into());
        }
    }

    /// The fetch result waiting in the inbox (also GCP's unasked long-poll results).
    fn take_fetched(&mut self) -> Option<Instance> {
        let Fetched {
            instance,
            system,
            ec2,
        } = self.parts.fetcher.take()?;
        let new_views = system.is_some() || ec2.is_some();
        if system.is_some() {
            self.system = system;
        }
        if ec2.is_some() {
            self.ec2 = ec2;
        }
        if new_views {
            self.write_files();
        }
        let instance = instance?;
        self.fetching = false;
        if let Some(views) = self.fetch_again.take() {
            self.request_fetch(views);
        }
        self.fetched(instance)
    }

    /// Records a fetch: a good one becomes the last good metadata; a failed one schedules a
    /// retry and leaves the machine as it is.
    fn fetched(&mut self, result: Result<Instance, FetchError>) -> Option<Instance> {
        match result {
            Ok(instance) => {
                if self.failures > 0 {
                    log::info!("metadata fetch recovered after {} failures", self.failures);
                }
                self.failures = 0;
                METRICS.good_metadata();
                self.next_fetch = Instant::now() + self.parts.config.refresh_timer;
                self.last_good = Some(instance.clone());
                Some(instance)
            }
            Err(error) => {
                self.failures += 1;
                let delay = self.backoff();
                self.next_fetch = Instant::now() + delay;
                self.record_error(format!(
                    "metadata fetch failed, nothing changed (retry in {}): {error}",
                    crate::config::format_duration(delay)
                ));
                None
            }
        }
    }

    /// Exponential backoff with jitter, capped by the refresh timer, in whole milliseconds
    /// (so the error reads `retry in 863ms`, not in nanoseconds).
    fn backoff(&self) -> Duration {
        let ceiling = backoff_ceiling(self.failures, self.parts.config.refresh_timer);
        let delay = ceiling / 2 + self.jitter.below(ceiling / 2);
        Duration::from_millis(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
    }

    fn record_error(&mut self, message: String) {
        if self.logged_errors.len() >= LOGGED_ERRORS_MAX {
            self.logged_errors.clear();
        }
        if self.logged_errors.insert(message_key(&message).to_string()) {
            log::error!("{message}");
        }
        self.last_error = Some(ErrorRecord {
            time: rfc3339(SystemTime::now()),
            message,
        });
    }

    /// One plan-and-apply pass (and a second one when it created VLAN links, to configure
    /// them): what the last pass left undone, and whether a link appeared that the metadata
    /// does not list yet.
    fn reconcile(&mut self, instance: &Instance) -> Reconciled {
        let kernel = match self.parts.netlink.state() {
            Ok(kernel) => kernel,
            Err(e) => {
                METRICS.round(false);
                return Reconciled {
                    failures: vec![format!("cannot read the kernel's network state: {e}")],
                    new_pending: false,
                };
            }
        };
        if self.rebuild_owned {
            self.rebuild_owned = false;
            self.owned = super::rebuilt(instance, &kernel, &self.settings);
            self.save_owned();
        }
        let planned = plan_round(instance, &kernel, &self.owned, &self.settings);
        self.log_new_skips(&planned.desired.skipped);
        self.log_new_nic_problems(&planned.desired);
        METRICS.refused(&planned.desired.refused);
        for line in disowned_lines(&planned, &kernel) {
            self.log_once(line);
        }
        let links = link_statuses(&planned.desired, &kernel);
        self.configured = links.iter().map(|l| (l.ifindex, l.mac)).collect();
        if self.stopping() {
            return Reconciled::default();
        }
        let claimed = self.write_ahead(&planned);
        let (outcome, owned) = apply_round(&mut self.parts.netlink, planned, &kernel);
        METRICS.owned(&owned);
        let created_links = outcome.created_links;
        for line in &outcome.summary {
            log::info!("{line}");
        }
        for conflict in &outcome.conflicts {
            self.log_once(format!(
                "left alone, another route holds its place: {conflict}"
            ));
        }
        if claimed || owned != self.owned {
            self.owned = owned;
            self.save_owned();
        }
        let new_pending = self.track_hotplug(instance, &kernel);
        self.write_files();
        let ok = outcome.failures.is_empty();
        METRICS.round(ok);
        let failures = outcome
            .failures
            .iter()
            .map(|f| format!("{}: {} failed: {}", f.link, f.command, f.error))
            .collect();
        self.last_refresh = Some(RefreshRecord {
            time: rfc3339(SystemTime::now()),
            result: if ok { "ok" } else { "error" }.to_string(),
            changes: outcome.applied,
            summary: outcome.summary,
        });
        self.links = links;
        if created_links > 0 && !self.stopping() {
            let next = self.reconcile(instance);
            return Reconciled {
                new_pending: next.new_pending || new_pending,
                ..next
            };
        }
        Reconciled {
            failures,
            new_pending,
        }
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
            self.last_error = None;
            self.logged_errors.clear();
            return;
        }
        let delay = self
            .reapply
            .failed(Instant::now(), self.parts.config.refresh_timer);
        let retry = crate::config::format_duration(delay);
        for failure in failures {
            self.record_error(format!("{failure} (retry in {retry})"));
        }
    }

    /// Before a batch that adds anything is sent, the record claims those objects (see
    /// `state::claim_owned`): killed mid-batch, the next start still knows them as ours. True
    /// when it wrote a claim, which the caller then saves durably after the batch. A round
    /// that adds nothing (the no-change path) writes nothing here.
    fn write_ahead(&mut self, planned: &Planned) -> bool {
        let Some(claimed) = planned.owned.claiming(&planned.changes) else {
            return false;
        };
        if claimed == self.owned {
            return false;
        }
        self.owned = claimed;
        if let Err(e) = state::claim_owned(&self.parts.state, &self.owned) {
            self.log_once(format!("ownership record not saved: {e}"));
        }
        true
    }

    /// A state dir that is read-only or full costs the record, not the network: logged once.
    fn save_owned(&mut self) {
        if let Err(e) = state::save_owned(&self.parts.state, &self.owned) {
            self.log_once(format!("ownership record not saved: {e}"));
        }
    }

    fn log_once(&mut self, message: String) {
        if self.logged_skips.insert(message.clone()) {
            log::warn!("{message}");
        }
    }

    fn log_new_skips(&mut self, skipped: &[Skipped]) {
        let new: Vec<&Skipped> = skipped
            .iter()
            .filter(|s| self.logged_skips.insert(s.to_string()))
            .collect();
        super::reconcile::log_skipped(new);
    }

    /// Logs the unknown NICs and refusals that were not there last round; forgets those that
    /// went away.
    fn log_new_nic_problems(&mut self, desired: &Desired) {
        let lines: HashSet<String> = super::reconcile::nic_problem_lines(desired)
            .into_iter()
            .collect();
        for line in lines.difference(&self.refusals) {
            log::warn!("{line}");
        }
        self.refusals = lines;
    }

    /// Links that appeared after start and match no metadata NIC are hot-plug candidates:
    /// their metadata may still be propagating, so it is fetched again soon. True when a
    /// candidate is new.
    fn track_hotplug(&mut self, instance: &Instance, kernel: &KernelState) -> bool {
        let candidates: HashSet<u32> = kernel
            .links
            .iter()
            .filter(|l| {
                l.mac
                    .is_some_and(|mac| match_link(mac, &kernel.links).is_ok())
            })
            .map(|l| l.index)
            .collect();
        let known = self.known_links.get_or_insert_with(|| candidates.clone());
        let unlisted: HashSet<u32> = candidates
            .iter()
            .copied()
            .filter(|index| !known.contains(index))
            .filter(|index| {
                let mac = kernel
                    .links
                    .iter()
                    .find(|l| l.index == *index)
                    .and_then(|l| l.mac);
                mac.is_some_and(|mac| instance.nic_by_mac(mac).is_none())
            })
            .collect();
        let now = Instant::now();
        self.pending.retain(|index, _| unlisted.contains(index));
        let mut new = false;
        for index in unlisted {
            self.pending.entry(index).or_insert_with(|| {
                new = true;
                now
            });
        }
        new
    }

    /// The state files from the current system view and the links configured last.
    fn write_files(&mut self) {
        let Some(system) = &self.system else {
            return;
        };
        let mut result = self.files.write_system(system);
        result = result.and(
            self.files
                .write_links(self.parts.kind, system, &self.configured),
        );
        if let Some(ec2) = &self.ec2 {
            result = result.and(self.files.write_ec2(ec2));
        }
        if let Err(e) = result {
            self.log_once(format!("state files not written: {e}"));
        }
    }

    /// Publishes what is known now for the API, and tells systemd.
    fn publish(&mut self) {
        self.parts.snapshot.publish(self.snapshot());
        let line = self.status_line();
        (self.parts.on_round)(&line);
    }

    fn snapshot(&self) -> Snapshot {
        let kind = self.parts.kind;
        let mut snapshot = Snapshot::starting(Some(kind), self.started.clone());
        snapshot.status.links = self.links.clone();
        snapshot.status.last_refresh = self.last_refresh.clone();
        snapshot.status.last_error = self.last_error.clone();
        snapshot.network = self.system.as_ref().map(|s| views::network_view(kind, s));
        snapshot.system = self.system.clone();
        snapshot.ec2 = self.ec2.clone();
        snapshot
    }

    /// One line for systemd's STATUS=.
    fn status_line(&self) -> String {
        let kind = self.parts.kind;
        let links = self.links.len();
        match (&self.last_error, &self.last_refresh) {
            (Some(error), _) => format!("{kind}: {}", error.message),
            (None, Some(refresh)) => format!(
                "{kind}: {links} link(s) configured, last refresh {} at {}",
                refresh.result, refresh.time
            ),
            (None, None) => format!("{kind}: waiting for metadata"),
        }
    }

    /// SIGHUP: re-read the config. Keys that need new threads or sockets (Provider,
    /// MetadataEndpoint, Listen, StateDir) only take effect after a restart.
    fn reload(&mut self) {
        let path = self.parts.config_path.clone();
        let loaded = crate::config::load_existing(&path).and_then(|loaded| {
            let mut config = loaded.config;
            config.apply_process_env()?;
            Ok((config, loaded.warnings))
        });
        let (config, warnings) = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                log::error!("config not reloaded, keeping the running one: {e}");
                return;
            }
        };
        for warning in warnings {
            log::warn!("{warning}");
        }
        let old = &self.parts.config;
        if config.provider != old.provider
            || config.metadata_endpoint != old.metadata_endpoint
            || config.listen != old.listen
            || config.state_dir != old.state_dir
        {
            log::warn!("Provider, MetadataEndpoint, Listen and StateDir changes take effect after a restart");
        }
        log::set_max_level(config.log_level.to_filter());
        self.settings = setup::plan_settings(&config);
        self.parts.config = Config {
            provider: old.provider,
            metadata_endpoint: old.metadata_endpoint.clone(),
            listen: old.listen,
            state_dir: old.state_dir.clone(),
            ..config
        };
        log::info!("config reloaded from {}", path.display());
    }
}

/// The part of an error message that identifies it (the retry delay varies between rounds).
fn message_key(message: &str) -> &str {
    message.split(" (retry in ").next().unwrap_or(message)
}
