//! `cloud-network daemon`: start-up (config, logging, provider), and the three ways to run the
//! reconcile: `--dry-run` (print `ip` commands, apply nothing), `--oneshot` (apply once, print a
//! summary) and the long-running daemon.

pub mod backoff;
pub mod confine;
pub mod fetcher;
pub mod files;
pub mod notify;
pub mod pace;
pub mod privileges;
pub mod reconcile;
pub mod reconciler;
pub mod run;
pub mod setup;
pub mod signals;
pub mod status;

use crate::config;
use crate::metadata::FetchError;
use crate::netlink::Netlink;
use crate::plan::{Owned, UnknownNic};
use crate::state::{self, StateDir};
use argh::FromArgs;
use reconcile::{apply_round, disowned_lines, dry_run_lines, plan_round, rebuild_owned, Outcome};
use setup::Startup;
use std::path::PathBuf;
use std::process::ExitCode;

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
    Failures(Outcome),
    State(state::StateError),
    /// The other NICs were configured (the summary, printed on stdout), these were unknown
    /// this round.
    Unknown(Vec<String>, Vec<UnknownNic>),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Fetch(e) => write!(f, "metadata fetch failed, nothing changed: {e}"),
            RunError::Netlink(e) => write!(f, "cannot read the kernel's network state: {e}"),
            RunError::Failures(outcome) => {
                let lines: Vec<String> = outcome
                    .failures
                    .iter()
                    .map(|x| format!("{}: {} failed: {}", x.link, x.command, x.error))
                    .collect();
                f.write_str(&lines.join("\n"))
            }
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
        setup::check_state_dir(&startup.config)
            .and_then(|trusted| setup::open_state_dir(&startup.config, trusted))
            .map(|(dir, lock)| (Some(dir), Some(lock)))
    };
    match state {
        Ok((dir, _lock)) => finish(run_once(startup, dir.as_ref(), args.dry_run)),
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

/// `--dry-run` and `--oneshot`: one fetch, one plan, and (oneshot) one apply. `state` is
/// None only for a dry run without a state directory yet.
fn run_once(
    mut startup: Startup,
    state: Option<&StateDir>,
    dry_run: bool,
) -> Result<Vec<String>, RunError> {
    let instance = startup.provider.fetch().map_err(RunError::Fetch)?;
    let mut netlink = Netlink::open().map_err(RunError::Netlink)?;
    let kernel = netlink.state().map_err(RunError::Netlink)?;
    let owned = load_owned(state).unwrap_or_else(|| rebuilt(&instance, &kernel, &startup.settings));
    let planned = plan_round(&instance, &kernel, &owned, &startup.settings);
    reconcile::log_skipped(&planned.desired.skipped);
    for line in reconcile::nic_problem_lines(&planned.desired) {
        log::warn!("{line}");
    }
    let unknown = planned.desired.unknown.clone();
    for line in disowned_lines(&planned, &kernel) {
        log::warn!("{line}");
    }
    // `--oneshot` always has its state directory (made, opened and locked by `run`).
    let (Some(state), false) = (state, dry_run) else {
        return Ok(dry_run_lines(&planned, &kernel));
    };
    write_ahead(state, &planned);
    let (mut outcome, mut owned) = apply_round(&mut netlink, planned, &kernel);
    if outcome.created_links > 0 {
        let kernel = netlink.state().map_err(RunError::Netlink)?;
        let planned = plan_round(&instance, &kernel, &owned, &startup.settings);
        write_ahead(state, &planned);
        let (next, next_owned) = apply_round(&mut netlink, planned, &kernel);
        (outcome, owned) = (outcome.then(next), next_owned);
    }
    state::save_owned(state, &owned).map_err(RunError::State)?;
    if !outcome.failures.is_empty() {
        return Err(RunError::Failures(outcome));
    }
    if !unknown.is_empty() {
        return Err(RunError::Unknown(outcome.summary, unknown));
    }
    if outcome.summary.is_empty() {
        return Ok(vec!["No changes".to_string()]);
    }
    Ok(outcome.summary)
}

/// Claims what the batch adds before it is sent (see `Owned::claiming`, `state::claim_owned`;
/// the durable save follows the batch). A record that cannot be saved costs the record, not
/// the network: the batch still goes, and the save after it reports the failure.
fn write_ahead(state: &StateDir, planned: &reconcile::Planned) {
    if let Some(claimed) = planned.owned.claiming(&planned.changes) {
        if let Err(e) = state::claim_owned(state, &claimed) {
            log::warn!("ownership record not saved before the changes: {e}");
        }
    }
}

/// Reads the ownership record (empty when there is none yet, or no state directory). None
/// when the file is corrupt, which is logged once: the caller then rebuilds it from the kernel
/// with `rebuild_owned` once it has good metadata, and meanwhile removes nothing.
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

/// `rebuild_owned`, logged.
pub fn rebuilt(
    instance: &crate::metadata::Instance,
    kernel: &crate::kernel::KernelState,
    settings: &crate::plan::PlanSettings,
) -> Owned {
    let owned = rebuild_owned(instance, kernel, settings);
    log::warn!(
        "ownership record rebuilt from the kernel: {} objects adopted ({} NICs)",
        owned.len(),
        owned.nics.len()
    );
    owned
}
