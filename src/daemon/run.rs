//! The long-running daemon: start-up order, threads and shutdown.
//!
//! Order matters. Signals are blocked first (every later thread inherits the mask), then the
//! config is read, the state directory checked, and privileges are dropped while the process
//! still has one thread (capabilities are per thread); the state directory is opened and
//! locked for the process's life (a second daemon stops here); then the threads start: the
//! metadata thread (the only one talking to the metadata service) and the API, which parse HTTP
//! and so drop every capability (and, as root, uid 0) first; then the main thread finishes its
//! own drop; then the reconcile thread (the only writer, which also listens to kernel events).
//! The main thread
//! waits for signals, pings the systemd watchdog and, on SIGTERM/SIGINT, stops the others
//! within a second and exits 0, leaving the network configuration in place.

use super::event_loop::{Reconciler, ReconcilerParts};
use super::fetcher::Fetcher;
use super::malloc;
use super::notify::{self, Notifier};
use super::setup::{self, Startup};
use super::signals::{block_shutdown_signals, Signal};
use crate::api::{self, ApiOptions};
use crate::netlink::monitor::Monitor;
use crate::netlink::Netlink;
use crate::privileges::{drop_privileges, lookup_user, Dropping, PrivilegePlan, SERVICE_USER};
use crate::snapshot::{SharedSnapshot, Snapshot};
use crate::state::StateDir;
use crate::trigger::{self, Trigger, Wake};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// The longest the main thread waits for the reconcile thread after SIGTERM. It waits for
/// the thread to end, not for a guessed time: the thread stops at the next slice boundary
/// (after at most 1,024 changes) and saves the ownership record first, so the record names
/// what the kernel holds. On an idle machine that is well under a second (the footprint
/// bench's `stop` and `removal` figures); on a loaded one the slice of rule deletes and the
/// save can take longer, and a fixed grace of 300 or 700 ms was seen to end the process
/// before the save. This limit is only for a thread that never comes back (a stuck disk):
/// kept under the unit's `TimeoutStopSec=10s`, so the process ends on its own, with a warning,
/// before systemd kills it. No other thread is waited for: one blocked in a metadata fetch
/// or a GCP long-poll is simply left behind.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(5);

/// The reconcile thread's stack, instead of std's 2 MiB. It touches 16 KiB of it in the lab
/// (glibc); its deepest work is serializing the metadata document for the API, as deep as
/// the metadata thread parses it (see `privileges::confine::CONFINED_STACK_BYTES`).
const RECONCILE_STACK_BYTES: usize = 512 * 1024;

pub(crate) fn run(config_path: &Path) -> ExitCode {
    malloc::one_arena();
    let signals = block_shutdown_signals();
    let startup = match setup::start(config_path) {
        Ok(startup) => startup,
        Err(e) => {
            eprintln!("cloud-network: {e}");
            return ExitCode::from(e.exit_status());
        }
    };
    let account = match lookup_user(SERVICE_USER) {
        Ok(account) => account,
        Err(e) => {
            log::error!("cannot drop privileges: {e}");
            return ExitCode::FAILURE;
        }
    };
    let trusted = match setup::check_state_dir(&startup.config, account) {
        Ok(trusted) => trusted,
        Err(e) => return refuse(&e),
    };
    let plan = PrivilegePlan {
        user: SERVICE_USER.to_string(),
        account,
        state_dir: startup.config.state_dir.clone(),
        keep_bind_service: startup.config.listen.port() < 1024,
    };
    let dropping = match drop_privileges(&plan) {
        Ok(dropping) => dropping,
        Err(e) => {
            log::error!("cannot drop privileges: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (state, _lock) = match setup::open_state_dir(&startup.config, trusted) {
        Ok(opened) => opened,
        Err(e) => return refuse(&e),
    };
    let notifier = Notifier::from_env().map(Arc::new);
    let daemon = match Daemon::start(startup, state, config_path, dropping, notifier.clone()) {
        Ok(daemon) => daemon,
        Err(message) => {
            log::error!("{message}");
            return ExitCode::FAILURE;
        }
    };
    wait_for_shutdown(&signals, &daemon.wake, notifier.as_deref());
    daemon.stop(notifier.as_deref());
    ExitCode::SUCCESS
}

fn refuse(error: &setup::SetupError) -> ExitCode {
    log::error!("{error}");
    ExitCode::from(error.exit_status())
}

/// The running threads.
struct Daemon {
    wake: Wake,
    stop: Arc<AtomicBool>,
    reconciler: thread::JoinHandle<()>,
    api: Option<api::ApiHandle>,
}

impl Daemon {
    fn start(
        startup: Startup,
        state: StateDir,
        config_path: &Path,
        dropping: Dropping,
        notifier: Option<Arc<Notifier>>,
    ) -> Result<Daemon, String> {
        let Startup {
            config, provider, ..
        } = startup;
        let (wake, triggers) =
            trigger::channel().map_err(|e| format!("cannot create the trigger channel: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let kind = provider.kind();
        let snapshot = SharedSnapshot::new(Snapshot::starting(
            Some(kind),
            crate::logging::rfc3339(std::time::SystemTime::now()),
        ));
        // The metadata thread first: its drop and its fetch, the slowest step of the start,
        // then overlap the API thread's start, and its drop is confirmed after that.
        let no_metadata_thread = |e| format!("cannot start the metadata thread: {e}");
        let (fetcher, metadata_thread) =
            Fetcher::spawn(provider, wake.clone(), dropping.confinement())
                .map_err(no_metadata_thread)?;
        let api = spawn_api(&config, &snapshot, &wake, &dropping);
        let monitor = Monitor::open()
            .map_err(|e| log::error!("kernel events not followed, only timed refreshes: {e}"))
            .ok();
        metadata_thread.confirmed().map_err(no_metadata_thread)?;
        let report = dropping
            .finish()
            .map_err(|e| format!("cannot drop privileges: {e}"))?;
        log::info!("{report}; the api and metadata threads hold no capability");
        let parts = ReconcilerParts {
            netlink: Netlink::open().map_err(|e| format!("cannot open netlink: {e}"))?,
            fetcher,
            kind,
            monitor,
            state,
            config,
            config_path: config_path.to_path_buf(),
            snapshot,
            shutdown: stop.clone(),
            on_round: round_hook(notifier),
        };
        let reconciler = thread::Builder::new()
            .name("reconcile".into())
            .stack_size(RECONCILE_STACK_BYTES)
            .spawn(move || Reconciler::new(parts).run(triggers))
            .map_err(|e| format!("cannot start the reconcile thread: {e}"))?;
        Ok(Daemon {
            wake,
            stop,
            reconciler,
            api,
        })
    }

    /// Asks every thread to stop and waits for the reconcile thread to end (its slice in
    /// flight and the record's save), never longer than `SHUTDOWN_LIMIT`; a thread blocked in
    /// a metadata fetch is simply left behind when the process exits.
    fn stop(self, notifier: Option<&Notifier>) {
        if let Some(notifier) = notifier {
            notifier.stopping();
        }
        log::info!("stopping; network configuration stays in place");
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.wake.send(Trigger::Shutdown);
        if let Some(api) = self.api {
            api.shutdown();
        }
        let deadline = Instant::now() + SHUTDOWN_LIMIT;
        while !self.reconciler.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        if self.reconciler.is_finished() {
            let _ = self.reconciler.join();
        } else {
            log::warn!(
                "the reconcile thread did not stop within {} s; exiting without it, the \
                 ownership record may name objects it has since removed",
                SHUTDOWN_LIMIT.as_secs()
            );
        }
    }
}

/// The API thread; a failure to start it is logged and the network is configured anyway.
fn spawn_api(
    config: &crate::config::Config,
    snapshot: &SharedSnapshot,
    wake: &Wake,
    dropping: &Dropping,
) -> Option<api::ApiHandle> {
    let options = ApiOptions::from_config(config);
    let confinement = dropping.confinement();
    match api::spawn(
        config.listen,
        snapshot.clone(),
        wake.clone(),
        options,
        confinement,
    ) {
        Ok(handle) => Some(handle),
        Err(e) => {
            log::error!("local API not started (network configuration goes on): {e}");
            None
        }
    }
}

/// READY=1 after the first reconcile attempt, STATUS= after every round.
fn round_hook(notifier: Option<Arc<Notifier>>) -> Box<dyn FnMut(&str) + Send> {
    let mut ready = false;
    Box::new(move |status: &str| {
        let Some(notifier) = &notifier else {
            return;
        };
        if !ready {
            notifier.ready();
            ready = true;
        }
        notifier.status(status);
    })
}

/// Blocks until SIGTERM or SIGINT; SIGHUP asks for a reload. Pings the watchdog meanwhile.
fn wait_for_shutdown(
    signals: &super::signals::SignalSet,
    wake: &Wake,
    notifier: Option<&Notifier>,
) {
    let watchdog = notifier.and(notify::watchdog_interval());
    let interval = watchdog.unwrap_or(Duration::from_secs(1));
    loop {
        match signals.wait(interval) {
            Some(Signal::Terminate) | Some(Signal::Interrupt) => return,
            Some(Signal::Hangup) => {
                log::info!("SIGHUP: reloading the config");
                let _ = wake.send(Trigger::Reload);
            }
            None => {}
        }
        if let (Some(notifier), Some(_)) = (notifier, watchdog) {
            notifier.watchdog();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RECONCILE_STACK_BYTES;
    use crate::privileges::confine::CONFINED_STACK_BYTES;

    /// Parses, serializes and drops a document nested `depth` deep on a thread of `stack`
    /// bytes; the serialized length, or serde_json's refusal.
    fn nested_on_a_stack(stack: usize, depth: usize) -> Result<usize, String> {
        let text = "[".repeat(depth) + &"]".repeat(depth);
        std::thread::Builder::new()
            .stack_size(stack)
            .spawn(move || {
                let value: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| e.to_string())?;
                serde_json::to_vec(&value)
                    .map(|v| v.len())
                    .map_err(|e| e.to_string())
            })
            .expect("spawn")
            .join()
            .expect("the thread ends")
    }

    #[test]
    fn the_deepest_metadata_fits_the_stacks() {
        for stack in [CONFINED_STACK_BYTES, RECONCILE_STACK_BYTES] {
            assert_eq!(nested_on_a_stack(stack, 127), Ok(254));
            let refused = nested_on_a_stack(stack, 128).expect_err("deeper than serde_json takes");
            assert!(refused.starts_with("recursion limit exceeded"), "{refused}");
        }
    }
}
