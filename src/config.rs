//! The configuration file (`/etc/cloud-network/cloud-network.toml`): defaults, parsing with
//! line numbers, validation of every key, unknown-key warnings and the environment overrides.
//!
//! This file holds the settings, their defaults and the environment overrides; `file` reads
//! the file, `parse` walks its text, `values` validates each value, `suggest` names the key
//! an unknown one was probably meant to be.

mod duration;
mod error;
mod exposure;
mod file;
mod optouts;
mod parse;
mod suggest;
mod values;

pub use duration::{format_duration, parse_duration, DurationError};
pub use error::{ConfigError, ConfigWarning, Location};
pub use file::{chosen_path, load, load_existing, MAX_CONFIG_BYTES};
pub use parse::parse;
pub use values::ProviderChoice;

use crate::logging::{LogFormat, LogLevel};
use crate::plan::OptOuts;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_PATH: &str = "/etc/cloud-network/cloud-network.toml";
/// The exit status for a configuration error (`EX_CONFIG` of sysexits.h); systemd units can
/// use it with `RestartPreventExitStatus=78`.
pub const EXIT_CONFIG: u8 = 78;
const ENV_LOG_LEVEL: &str = "CLOUD_NETWORK_LOG_LEVEL";
const ENV_LOG_FORMAT: &str = "CLOUD_NETWORK_LOG_FORMAT";

/// Everything the daemon can be told. Field docs give the key and its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `[System] LogLevel`, default Info.
    pub log_level: LogLevel,
    /// `[System] LogFormat`, default text.
    pub log_format: LogFormat,
    /// `[System] RefreshTimer`, default 300s, between 1s and 24h.
    pub refresh_timer: Duration,
    /// `[System] Provider`, default auto (detected from DMI).
    pub provider: ProviderChoice,
    /// `[System] MetadataEndpoint`: a base URL replacing the provider's default, without a
    /// trailing slash; None means the provider's own endpoint.
    pub metadata_endpoint: Option<String>,
    /// `[System] StateDir`, default /run/cloud-network.
    pub state_dir: PathBuf,
    /// `[Network] Listen`, default 127.0.0.1:5209.
    pub listen: SocketAddr,
    /// `[Network] Supplementary`: interfaces configured with their own table and rules even
    /// when they are the primary NIC. Default empty.
    pub supplementary: Vec<String>,
    /// `[Network] RouteTableBase`, default 10000: NIC index N uses table base + N.
    pub route_table_base: u32,
    /// `[Network] RulePriorityBase`, default 3000: NIC index N's rules use priority base + N.
    ///
    /// Valid from 1601 to 30000. The default sits above 0–1536, the range container
    /// networking uses (AWS VPC CNI 512 and 1536, Cilium, Calico), below Tailscale's 5210,
    /// and far below the main table's 32766 even with EC2 device indices of
    /// 100 × network-card + device-number. Priority base − 1 is reserved for the rule that
    /// lets the host's own networks win over our tables.
    pub rule_priority_base: u32,
    /// `[Network] InterfaceGroup`, default 201: the interface group the NICs we manage are put
    /// in, whose main-table routes that rule ignores.
    pub interface_group: u32,
    /// `[Network] ServeCredentials`, default false: EC2 IAM credentials are served over the
    /// TCP API only when true.
    pub serve_credentials: bool,
    /// `[Network] MTU`, 1280 to 9216: the MTU of the NICs we configure where the metadata
    /// gives none. None (the default, or an empty value) is the cloud's own: 9000 on OCI,
    /// the link's as it is elsewhere.
    pub mtu: Option<u32>,
    /// `[Network] IgnoreInterfaces`, `IgnoreMACs`, `IgnoreDeviceIndexes`, `SecondaryAddresses`,
    /// `AliasRanges`, `ForwardedIPs`, `DelegatedPrefixes`, `PolicyRouting`: what we keep off.
    /// Default: nothing.
    pub optouts: OptOuts,
}

const DEFAULT_REFRESH_TIMER: Duration = Duration::from_secs(300);
const DEFAULT_STATE_DIR: &str = "/run/cloud-network";
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 5209));
const DEFAULT_ROUTE_TABLE_BASE: u32 = 10_000;
const DEFAULT_RULE_PRIORITY_BASE: u32 = 3_000;

impl Default for Config {
    fn default() -> Self {
        Config {
            log_level: LogLevel::Info,
            log_format: LogFormat::Text,
            refresh_timer: DEFAULT_REFRESH_TIMER,
            provider: ProviderChoice::Auto,
            metadata_endpoint: None,
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            listen: DEFAULT_LISTEN,
            supplementary: Vec::new(),
            route_table_base: DEFAULT_ROUTE_TABLE_BASE,
            rule_priority_base: DEFAULT_RULE_PRIORITY_BASE,
            interface_group: crate::plan::DEFAULT_IFGROUP,
            serve_credentials: false,
            mtu: None,
            optouts: OptOuts::default(),
        }
    }
}

/// A parsed configuration and the warnings to log about it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<ConfigWarning>,
}

impl Config {
    /// Applies `CLOUD_NETWORK_LOG_LEVEL` and `CLOUD_NETWORK_LOG_FORMAT` as returned by
    /// `lookup`; an unset or empty variable leaves the file's value.
    pub fn apply_env(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let set = |variable: &'static str| lookup(variable).filter(|v| !v.is_empty());
        if let Some(value) = set(ENV_LOG_LEVEL) {
            self.log_level = value.parse().map_err(|_| ConfigError::InvalidEnv {
                variable: ENV_LOG_LEVEL,
                reason: LogLevel::EXPECTED.to_string(),
                value,
            })?;
        }
        if let Some(value) = set(ENV_LOG_FORMAT) {
            self.log_format = value.parse().map_err(|_| ConfigError::InvalidEnv {
                variable: ENV_LOG_FORMAT,
                reason: LogFormat::EXPECTED.to_string(),
                value,
            })?;
        }
        Ok(())
    }

    /// `apply_env` with the process environment.
    pub fn apply_process_env(&mut self) -> Result<(), ConfigError> {
        self.apply_env(|name| std::env::var(name).ok())
    }
}
