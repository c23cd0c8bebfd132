//! `cloud-network`: one binary, dispatched by name and subcommand.
//!
//! ```text
//! cnctl ...                         (argv[0] = cnctl) the CLI
//! cloud-network                     the daemon (no subcommand: systemd's ExecStart)
//! cloud-network daemon [--config PATH] [--oneshot] [--dry-run]
//! cloud-network cnctl [--json] [--url URL] [--config PATH] <command>
//! cloud-network emulate --provider azure|aws|gcp|oracle|alibaba|digitalocean [...]   metadata service emulator
//! cloud-network version | --version
//! ```
//!
//! Usage errors print two lines to stderr (the error, then the subcommand's `--help`; see
//! `cloud_network::usage`) and exit 2; `--help` prints to stdout and exits 0.
#![deny(unsafe_code)]

use argh::FromArgs;
use cloud_network::cnctl::{self, CnctlArgs};
use cloud_network::daemon::{self, DaemonArgs};
use cloud_network::emulator::{self, EmulateArgs};
use cloud_network::usage;
use std::path::Path;
use std::process::ExitCode;

#[derive(FromArgs, Debug)]
/// Configures secondary NICs and secondary private IPs on cloud VMs from instance metadata.
struct TopLevel {
    /// print the version and exit
    #[argh(switch)]
    version: bool,
    #[argh(subcommand)]
    command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
enum Command {
    Daemon(DaemonArgs),
    Cnctl(CnctlArgs),
    Emulate(EmulateArgs),
    Version(VersionArgs),
}

#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "version")]
/// Print the version and exit.
struct VersionArgs {}

const USAGE_ERROR: u8 = 2;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    let program = argv
        .first()
        .map(|a| {
            Path::new(a)
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .unwrap_or_else(|| "cloud-network".to_string());
    let rest: Vec<&str> = argv.iter().skip(1).map(String::as_str).collect();
    if program == "cnctl" {
        return parse::<CnctlArgs>("cnctl", &rest)
            .map_or_else(|code| code, |args| cnctl::run(args, "cnctl"));
    }
    match parse::<TopLevel>(&program, &rest) {
        Err(code) => code,
        Ok(top) if top.version => print_version(),
        Ok(top) => match top.command {
            None => daemon::run(DaemonArgs::default()),
            Some(Command::Daemon(args)) => daemon::run(args),
            Some(Command::Cnctl(args)) => cnctl::run(args, "cloud-network cnctl"),
            Some(Command::Emulate(args)) => emulator::run(args),
            Some(Command::Version(_)) => print_version(),
        },
    }
}

/// Parses arguments with argh; help goes to stdout (exit 0), usage errors to stderr (exit 2),
/// in the voice of the tool and naming the `--help` of the subcommand being parsed.
fn parse<T: FromArgs>(program: &str, args: &[&str]) -> Result<T, ExitCode> {
    T::from_args(&[program], args).map_err(|early| match early.status {
        Ok(()) => {
            print!("{}", early.output);
            ExitCode::SUCCESS
        }
        Err(()) => {
            let command = usage::command_path(program, args);
            eprint!("{}", usage::error_lines(&command, &early.output));
            ExitCode::from(USAGE_ERROR)
        }
    })
}

fn print_version() -> ExitCode {
    println!("cloud-network {}", env!("CARGO_PKG_VERSION"));
    ExitCode::SUCCESS
}
