//! `cnctl`: the command-line face of the daemon. It reads the daemon's local API (the provider
//! comes from the API, never from DMI) and prints what it finds. Exit status: 0 done, 1 the
//! daemon is unreachable, refused, the command does not apply to its provider, or `check`
//! found a reply path that is wrong; 2 usage, 78 a file named by `--config` that does not
//! exist. Every error line starts with `cnctl:`.

mod client;
mod commands;
pub(crate) mod render;

pub use client::{base_url, ApiClient, ApiError};
pub use commands::{Action, CnctlError, Item, CREDENTIALS_FILE};

use crate::config::{self, Config};
use crate::logging::{escape, Escape};
use crate::usage;
use argh::FromArgs;
use commands::Runner;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE_ERROR: u8 = 2;

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
    /// ssh-keys (k), credentials (c), document (d), pkcs7 (p), signature (s), rsa2048 (r) or
    /// project
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

/// Runs one command; `invoked_as` is how the user called the client (`cnctl` or
/// `cloud-network cnctl`), for the `--help` a usage error points at.
pub fn run(args: CnctlArgs, invoked_as: &str) -> ExitCode {
    let config = match config::chosen_path(args.config.as_deref()) {
        Ok(path) => load_config(&path),
        Err(e) => {
            eprintln!("cnctl: {}", escape(&e.to_string(), Escape::Line));
            return ExitCode::from(config::EXIT_CONFIG);
        }
    };
    let result = check_url(args.url.as_deref()).and_then(|()| {
        let client = ApiClient::new(base_url(args.url.as_deref(), config.listen));
        let runner = Runner {
            client: &client,
            json: args.json,
            state_dir: &config.state_dir,
        };
        let action = action(&args.command)?;
        if action == Action::Version && !args.json {
            print_out(&format!("cnctl {}\n", env!("CARGO_PKG_VERSION")), args.json);
        }
        runner.run(action)
    });
    match result {
        Ok(printed) => {
            print_out(&printed.text, args.json);
            if printed.failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(CnctlError::Usage { command, message }) => {
            let path = [invoked_as, command].join(" ");
            let lines = usage::error_lines(path.trim_end(), &message);
            eprint!("{}", escape(&lines, Escape::Terminal));
            ExitCode::from(USAGE_ERROR)
        }
        Err(err) => {
            eprintln!("cnctl: {}", escape(&err.to_string(), Escape::Line));
            ExitCode::from(err.exit_code())
        }
    }
}

/// `--url` is `http://host[:port]` or `host[:port]`: anything else is a usage error, not
/// something to send to the daemon.
fn check_url(url: Option<&str>) -> Result<(), CnctlError> {
    let Some(url) = url else { return Ok(()) };
    let bad = |why: &str| CnctlError::Usage {
        command: "",
        message: format!("invalid --url '{url}': {why}; expected http://host:port or host:port"),
    };
    let trimmed = url.trim();
    let authority = match trimmed.split_once("://") {
        Some(("http", rest)) => rest,
        Some(_) => return Err(bad("only http:// URLs are supported")),
        None => trimmed,
    }
    .trim_end_matches('/');
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((host, rest)) => (host, rest.strip_prefix(':')),
            None => return Err(bad("no ']' after the IPv6 address")),
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err(bad("no host name or address"));
    }
    if port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
        return Err(bad("the port is not a number from 1 to 65535"));
    }
    Ok(())
}

/// Writes to stdout with every control character but newlines (and tabs in text) escaped, so
/// no value from outside reaches the terminal raw; a closed pipe (`cnctl ... | head -1`) is
/// not an error.
fn print_out(text: &str, json: bool) {
    let text = escape(text, if json { Escape::Json } else { Escape::Terminal });
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// The config for `Listen=` and `StateDir=`; a missing default file or a broken file means the
/// defaults (the daemon reports a broken file, cnctl only needs to find it).
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
