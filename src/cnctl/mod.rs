//! `cnctl`: the command-line face of the daemon. It reads the daemon's local API (the provider
//! comes from the API, never from DMI) and prints what it finds. Exit status: 0 done, 1 the
//! daemon is unreachable, refused, the command does not apply to its provider, or `check`
//! found a reply path that is wrong; 2 usage.

mod client;
mod commands;
pub mod render;

pub use client::{base_url, ApiClient, ApiError};
pub use commands::{Action, CnctlError, Item, CREDENTIALS_FILE};

use crate::config::{self, Config};
use argh::FromArgs;
use commands::Runner;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "cnctl")]
/// Show what cloud-network knows and has configured.
pub struct CnctlArgs {
    /// print the API's JSON instead of text
    #[argh(switch)]
    pub json: bool,
    /// the daemon's API (default: Listen= of the config, else http://127.0.0.1:5209)
    #[argh(option)]
    pub url: Option<String>,
    /// the daemon's config file, for Listen= and StateDir= (default:
    /// /etc/cloud-network/cloud-network.toml)
    #[argh(option)]
    pub config: Option<PathBuf>,
    #[argh(subcommand)]
    pub command: Command,
}

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum Command {
    Status(StatusArgs),
    Show(ShowArgs),
    Refresh(RefreshArgs),
    Version(VersionArgs),
    Check(CheckArgs),
}

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "status")]
/// Show the instance (system), its NICs (network) or what the daemon configured (links).
pub struct StatusArgs {
    /// system, network or links
    #[argh(positional)]
    pub what: String,
}

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "show")]
/// Show ssh-keys (k), credentials (c), document (d), pkcs7 (p), signature (s), rsa2048 (r) or project.
pub struct ShowArgs {
    /// what to show
    #[argh(positional)]
    pub what: String,
}

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "refresh")]
/// Ask the daemon to re-read the metadata and reconcile now.
pub struct RefreshArgs {}

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "check")]
/// Check that replies from every configured address leave by the NIC that owns it; exit 1 if
/// one does not.
pub struct CheckArgs {}

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "version")]
/// Print the version of cnctl and of the daemon.
pub struct VersionArgs {}

pub fn run(args: CnctlArgs) -> ExitCode {
    let config_path = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from(config::DEFAULT_PATH));
    let config = load_config(&config_path);
    let client = ApiClient::new(base_url(args.url.as_deref(), config.listen));
    let runner = Runner {
        client: &client,
        json: args.json,
        state_dir: &config.state_dir,
    };
    let result = action(&args.command).and_then(|action| {
        if action == Action::Version && !args.json {
            print_out(&format!("cnctl {}\n", env!("CARGO_PKG_VERSION")));
        }
        runner.run(action)
    });
    match result {
        Ok(printed) => {
            print_out(&printed.text);
            if printed.failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(err) => {
            eprintln!("cnctl: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// Writes to stdout; a closed pipe (`cnctl ... | head -1`) is not an error.
fn print_out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// The config for `Listen=` and `StateDir=`; a missing or broken file means the defaults
/// (the daemon reports a broken file, cnctl only needs to find it).
fn load_config(path: &Path) -> Config {
    config::load(path)
        .map(|loaded| loaded.config)
        .unwrap_or_default()
}

fn action(command: &Command) -> Result<Action, CnctlError> {
    match command {
        Command::Status(status) => commands::status_action(&status.what),
        Command::Show(show) => commands::show_action(&show.what),
        Command::Refresh(_) => Ok(Action::Refresh),
        Command::Version(_) => Ok(Action::Version),
        Command::Check(_) => Ok(Action::Check),
    }
}
