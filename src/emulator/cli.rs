//! The `emulate` subcommand: its arguments and `run`, which serves until SIGINT or SIGTERM.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::net::ProviderKind;
use crate::sys;

use super::{start, EmulatorConfig, Fault, DEFAULT_LISTEN};

#[derive(argh::FromArgs, Debug, Clone, PartialEq)]
#[argh(
    subcommand,
    name = "emulate",
    description = "Serve an emulated cloud metadata service (Azure, EC2, GCP, Oracle OCI, Alibaba ECS or DigitalOcean) for tests, demos and benchmarks."
)]
pub struct EmulateArgs {
    /// cloud to emulate: azure, aws, gcp, oracle, alibaba or digitalocean
    #[argh(option)]
    pub provider: ProviderKind,
    /// scenario file in the format of tests/fixtures, re-read when it changes (default: a built-in two-NIC VM)
    #[argh(option)]
    pub scenario: Option<PathBuf>,
    /// address to listen on (default 127.0.0.1:1338)
    #[argh(option, default = "DEFAULT_LISTEN")]
    pub listen: SocketAddr,
    /// fault to inject: none, http500, timeout, garbage, empty or throttle (429 with Retry-After: 1) (default none)
    #[argh(option, default = "Fault::None")]
    pub fault: Fault,
    /// EC2 and Alibaba: answer 401 to GETs without a valid session token
    #[argh(switch)]
    pub require_token: bool,
    /// GCP: answer wait_for_change requests at once instead of holding them, as a proxy or a server without long-polling does
    #[argh(switch)]
    pub no_long_poll: bool,
}

impl EmulateArgs {
    pub fn config(&self) -> EmulatorConfig {
        EmulatorConfig {
            provider: self.provider,
            scenario: self.scenario.clone(),
            listen: self.listen,
            fault: self.fault,
            require_token: self.require_token,
        }
    }
}

/// Serves until SIGINT or SIGTERM, then exits 0; start-up failures exit 1 with one line.
pub fn run(args: EmulateArgs) -> ExitCode {
    let signals = termination_signals();
    if let Err(e) = block_signals(&signals) {
        eprintln!("cloud-network: emulate: cannot block SIGINT/SIGTERM: {e}");
        return ExitCode::FAILURE;
    }
    let emulator = match start(args.config()) {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("cloud-network: emulate: {e}");
            return ExitCode::FAILURE;
        }
    };
    emulator.set_long_poll(!args.no_long_poll);
    eprintln!(
        "emulating {} metadata on http://{}",
        args.provider,
        emulator.addr()
    );
    let signal = wait_for_signal(&signals);
    log::info!("emulator: signal {signal}, shutting down");
    emulator.shutdown();
    ExitCode::SUCCESS
}

fn termination_signals() -> libc::sigset_t {
    sys::signal_set(&[libc::SIGINT, libc::SIGTERM])
}

/// Blocks the signals in this thread; threads started afterwards inherit the mask, so only
/// `sigwait` in this thread ever receives them.
fn block_signals(set: &libc::sigset_t) -> std::io::Result<()> {
    sys::block_signals(set)
}

fn wait_for_signal(set: &libc::sigset_t) -> libc::c_int {
    loop {
        if let Ok(signal) = sys::sigwait(set) {
            return signal;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use argh::FromArgs;

    #[test]
    fn parses_all_flags() {
        let args = EmulateArgs::from_args(
            &["emulate"],
            &[
                "--provider",
                "ec2",
                "--scenario",
                "/tmp/s.json",
                "--listen",
                "127.0.0.1:0",
                "--fault",
                "timeout",
                "--require-token",
            ],
        )
        .expect("valid arguments");
        let cfg = args.config();
        assert_eq!(cfg.provider, ProviderKind::Aws);
        assert_eq!(cfg.scenario, Some(PathBuf::from("/tmp/s.json")));
        assert_eq!(cfg.listen.port(), 0);
        assert_eq!((cfg.fault, cfg.require_token), (Fault::Timeout, true));
    }

    #[test]
    fn defaults_and_errors() {
        let args = EmulateArgs::from_args(&["emulate"], &["--provider", "azure"]).expect("valid");
        assert_eq!(args.config(), EmulatorConfig::new(ProviderKind::Azure));
        let bad = EmulateArgs::from_args(&["emulate"], &["--provider", "gcp", "--fault", "slow"])
            .expect_err("bad fault");
        assert!(
            bad.output.contains("unknown fault 'slow'"),
            "{}",
            bad.output
        );
        assert!(EmulateArgs::from_args(&["emulate"], &[]).is_err());
    }
}
