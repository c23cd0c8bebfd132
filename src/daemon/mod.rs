//! `cloud-network daemon`: start-up (config, logging, provider), and the three ways to run a
//! reconcile round (`round`): `--dry-run` (print `ip` commands, apply nothing), `--oneshot`
//! (apply once, print a summary) and the long-running daemon (`run`, `event_loop`).

pub mod apply;
pub(crate) mod backoff;
pub(crate) mod damp;
pub(crate) mod event_loop;
pub mod events;
pub(crate) mod fetcher;
pub(crate) mod files;
pub(crate) mod hotplug;
pub(crate) mod ledger;
mod malloc;
pub(crate) mod notify;
pub(crate) mod pace;
pub(crate) mod problems;
pub(crate) mod publisher;
pub(crate) mod reload;
pub(crate) mod round;
pub(crate) mod run;
pub(crate) mod schedule;
pub mod setup;
pub(crate) mod signals;
pub(crate) mod status;
#[cfg(test)]
mod test_clock;
#[cfg(test)]
mod test_dir;
#[cfg(test)]
mod test_kernel;
pub(crate) mod wants;

use crate::config;
use crate::metadata::FetchError;
use crate::netlink::Netlink;
use crate::plan::{Owned, UnknownNic};
use crate::state::{self, StateDir};
use argh::FromArgs;
use ledger::Ledger;
use round::{Apply, RoundInput, RoundOutcome};
use setup::Startup;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

#[derive(FromArgs, Debug, Default, PartialEq)]
#[argh(subcommand, name = "daemon")]
/// Run the daemon (the default when no subcommand is given).
pub struct DaemonArgs {
    /// config file (default /etc/cloud-network/cloud-network.toml, which may be missing)
    #[argh(option)]
    pub config: Option<PathBuf>,
    /// fetch, plan and apply once, print a summary and exit
    #[argh(switch)]
    pub oneshot: bool,
    /// fetch and plan, print the changes as ip commands, apply nothing
    #[argh(switch)]
    pub dry_run: bool,
}

/// Why a one-off run failed; each ends the process with status 1.
#[derive(Debug)]
enum RunError {
    Fetch(FetchError),
    Netlink(crate::netlink::NetlinkError),
    /// What the round left undone, one line each.
    Failures(Vec<String>),
    State(state::StateError),
    /// The other NICs were configured (the summary, printed on stdout), these were unknown
    /// this round.
    Unknown(Vec<String>, Vec<UnknownNic>),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Fetch(e) => write!(f, "metadata fetch failed, nothing changed: {e}"),
            RunError::Netlink(e) => f.write_str(&round::unreadable_line(e)),
            RunError::Failures(lines) => f.write_str(&lines.join("\n")),
            RunError::State(e) => write!(f, "configured, but the state was not saved: {e}"),
            RunError::Unknown(_, unknown) => {
                let lines: Vec<String> = unknown.iter().map(ToString::to_string).collect();
                f.write_str(&lines.join("\n"))
            }
        }
    }
}

pub fn run(args: DaemonArgs) -> ExitCode {
    let config_path = match config::chosen_path(args.config.as_deref()) {
        Ok(path) => path,
        Err(e) => {
            eprintln!("cloud-network: {e}");
            return ExitCode::from(config::EXIT_CONFIG);
        }
    };
    if !(args.dry_run || args.oneshot) {
        return run::run(&config_path);
    }
    let startup = match setup::start(&config_path) {
        Ok(startup) => startup,
        Err(e) => return refuse(&e),
    };
    let state = if args.dry_run {
        setup::peek_state_dir(&startup.config).map(|dir| (dir, None))
    } else {
        setup::check_state_dir(&startup.config, setup::service_user_if_any())
            .and_then(|trusted| setup::open_state_dir(&startup.config, trusted))
            .map(|(dir, lock)| (Some(dir), Some(lock)))
    };
    match state {
        Ok((dir, _lock)) => finish(run_once(startup, dir, args.dry_run)),
        Err(e) => refuse(&e),
    }
}

fn refuse(error: &setup::SetupError) -> ExitCode {
    eprintln!("cloud-network: {error}");
    ExitCode::from(error.exit_status())
}

fn finish(result: Result<Vec<String>, RunError>) -> ExitCode {
    match result {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            if let RunError::Unknown(summary, _) = &e {
                summary.iter().for_each(|line| println!("{line}"));
            }
            for line in e.to_string().lines() {
                eprintln!("cloud-network: {line}");
            }
            ExitCode::FAILURE
        }
    }
}

/// `--dry-run` and `--oneshot`: one fetch and one round, previewed or applied. `state` is
/// None only for a dry run without a state directory yet.
fn run_once(
    mut startup: Startup,
    state: Option<StateDir>,
    dry_run: bool,
) -> Result<Vec<String>, RunError> {
    let instance = startup.provider.fetch().map_err(RunError::Fetch)?;
    let mut netlink = Netlink::open().map_err(RunError::Netlink)?;
    // `--oneshot` always has its state directory (made, opened and locked by `run`).
    let mut ledger = match state {
        Some(state) if !dry_run => Ledger::open_to_save(state),
        state => {
            let input = RoundInput {
                instance: &instance,
                owned: load_owned(state.as_ref()),
                settings: &startup.settings,
            };
            let outcome = checked(round::round(&mut netlink, input, Apply::Preview))?;
            return Ok(outcome.preview);
        }
    };
    let input = RoundInput {
        instance: &instance,
        owned: ledger.record(),
        settings: &startup.settings,
    };
    let mut keep = |owned: &Owned| {
        if let Err(e) = ledger.claim(owned) {
            log::warn!("ownership record not saved before the changes: {e}");
        }
    };
    let stop = AtomicBool::new(false);
    let apply = Apply::Changes {
        keep: &mut keep,
        stop: &stop,
    };
    let outcome = checked(round::round(&mut netlink, input, apply))?;
    let Some(owned) = &outcome.owned else {
        return Ok(outcome.preview);
    };
    ledger.keep(owned).map_err(RunError::State)?;
    finished(&outcome)
}

/// The round's problems logged; its error when it could not read the kernel.
fn checked(outcome: RoundOutcome) -> Result<RoundOutcome, RunError> {
    log_problems(&outcome);
    match outcome.unreadable {
        Some(e) => Err(RunError::Netlink(e)),
        None => Ok(outcome),
    }
}

/// The first pass's problems, every one (a one-off run has no memory of earlier rounds).
fn log_problems(outcome: &RoundOutcome) {
    let Some(pass) = outcome.first() else {
        return;
    };
    round::log_skipped(&pass.desired.skipped);
    for line in pass.nic_problems().iter().chain(&pass.disowned) {
        log::warn!("{line}");
    }
}

/// `--oneshot`'s result: the summary, or what failed, or the NICs that were unknown.
fn finished(outcome: &RoundOutcome) -> Result<Vec<String>, RunError> {
    let failures = outcome.failures();
    if !failures.is_empty() {
        return Err(RunError::Failures(failures));
    }
    let (summary, _) = outcome.summary();
    let unknown = outcome
        .first()
        .map(|pass| pass.desired.unknown.clone())
        .unwrap_or_default();
    if !unknown.is_empty() {
        return Err(RunError::Unknown(summary, unknown));
    }
    if summary.is_empty() {
        return Ok(vec!["No changes".to_string()]);
    }
    Ok(summary)
}

/// Reads the ownership record (empty when there is none yet, or no state directory). None
/// when the file is corrupt, which is logged once: the round then rebuilds it from the kernel
/// (`plan::rebuild_owned`) once it has good metadata, and meanwhile removes nothing.
pub fn load_owned(state: Option<&StateDir>) -> Option<Owned> {
    let Some(state) = state else {
        return Some(Owned::default());
    };
    match state::load_owned(state) {
        state::OwnedLoad::Corrupt { reason } => {
            log::error!("{reason}; nothing will be removed, and the record is rebuilt from what is found in the kernel");
            None
        }
        other => Some(other.into_owned()),
    }
}
