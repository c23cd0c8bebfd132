//! Start-up shared by every daemon mode: read and validate the config (exit 78 on a bad one,
//! before touching anything), apply the environment overrides, start logging, choose the
//! provider (config or DMI detection) and build its metadata client; check the state
//! directory before anything creates or hands it over (exit 78 when it could be turned against
//! us), then open and lock it (exit 1 when another daemon holds it).

use crate::config::{self, Config, ConfigError, ProviderChoice};
use crate::detect::{self, DetectError};
use crate::logging;
use crate::metadata::http::{Http, HttpConfig};
use crate::metadata::{new_provider, Provider};
use crate::net::ProviderKind;
use crate::plan::PlanSettings;
use crate::privileges::{lookup_user, SERVICE_USER};
use crate::state::{self, LockError, StateDir, StateDirError, StateLock, Trusted};
use std::fmt;
use std::path::Path;

/// Where DMI and the hypervisor UUID are read from.
const SYSFS_ROOT: &str = "/sys";

/// A configured process, ready to fetch and reconcile.
pub struct Startup {
    pub config: Config,
    pub settings: PlanSettings,
    pub provider: Box<dyn Provider>,
}

#[derive(Debug)]
pub enum SetupError {
    Config(ConfigError),
    Detect(DetectError),
    StateDir(StateDirError),
    /// Another daemon holds the state directory.
    Locked(LockError),
}

impl SetupError {
    /// 78 (EX_CONFIG) for a bad config or an unsafe state directory, 1 otherwise.
    pub fn exit_status(&self) -> u8 {
        match self {
            SetupError::Config(_) => config::EXIT_CONFIG,
            SetupError::StateDir(e) => e.exit_status(),
            SetupError::Detect(_) | SetupError::Locked(_) => 1,
        }
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Config(e) => e.fmt(f),
            SetupError::Detect(e) => e.fmt(f),
            SetupError::StateDir(e) => e.fmt(f),
            SetupError::Locked(e) => e.fmt(f),
        }
    }
}

/// Reads the config and its environment overrides; nothing else is touched.
pub fn load_config(path: &Path) -> Result<Config, SetupError> {
    let loaded = config::load(path).map_err(SetupError::Config)?;
    let mut config = loaded.config;
    config.apply_process_env().map_err(SetupError::Config)?;
    if logging::init(config.log_level, config.log_format).is_err() {
        log::debug!("logger already installed");
    }
    for warning in &loaded.warnings {
        log::warn!("{warning}");
    }
    Ok(config)
}

pub fn plan_settings(config: &Config) -> PlanSettings {
    PlanSettings {
        table_base: config.route_table_base,
        priority_base: config.rule_priority_base,
        ifgroup: config.interface_group,
        supplementary: config.supplementary.clone(),
        mtu: config.mtu,
        optouts: config.optouts.clone(),
    }
}

/// The provider named in the config, or the one DMI says this machine runs on.
fn provider_kind(config: &Config, sysfs: &Path) -> Result<ProviderKind, DetectError> {
    match config.provider {
        ProviderChoice::Fixed(kind) => Ok(kind),
        ProviderChoice::Auto => detect::detect_provider(sysfs),
    }
}

/// Root, the service user (`service_user`: its uid and gid when it exists) and the process's
/// own user may own the state directory; nobody else may write to it. Checked before the
/// directory is created or handed to the service user, so neither can be turned onto a
/// planted link.
pub fn check_state_dir(
    config: &Config,
    service_user: Option<(u32, u32)>,
) -> Result<Trusted, SetupError> {
    let trusted = Trusted { user: service_user };
    state::check_state_dir(&config.state_dir, trusted).map_err(SetupError::StateDir)?;
    Ok(trusted)
}

/// The service user's uid and gid for `--oneshot` and `--dry-run`, which only trust it with
/// the state directory: a user database that cannot be read trusts nobody more.
pub fn service_user_if_any() -> Option<(u32, u32)> {
    lookup_user(SERVICE_USER).ok().flatten()
}

/// The state directory opened (made when missing) and locked for the caller's lifetime: one
/// writer per StateDir.
pub fn open_state_dir(
    config: &Config,
    trusted: Trusted,
) -> Result<(StateDir, StateLock), SetupError> {
    let dir = StateDir::create(&config.state_dir, trusted).map_err(SetupError::StateDir)?;
    let lock = dir.lock().map_err(SetupError::Locked)?;
    Ok((dir, lock))
}

/// `--dry-run` writes nothing: the state directory is only opened, unlocked, when it exists.
pub fn peek_state_dir(config: &Config) -> Result<Option<StateDir>, SetupError> {
    let trusted = check_state_dir(config, service_user_if_any())?;
    if !config.state_dir.exists() {
        return Ok(None);
    }
    StateDir::open(&config.state_dir, trusted)
        .map(Some)
        .map_err(SetupError::StateDir)
}

pub fn start(config_path: &Path) -> Result<Startup, SetupError> {
    let config = load_config(config_path)?;
    let kind = provider_kind(&config, Path::new(SYSFS_ROOT)).map_err(SetupError::Detect)?;
    let endpoint = config.metadata_endpoint.as_deref();
    let provider = new_provider(kind, endpoint, Http::new(HttpConfig::default()));
    log::info!(
        "provider {kind}, metadata at {}",
        endpoint.unwrap_or(crate::metadata::default_endpoint(kind))
    );
    Ok(Startup {
        settings: plan_settings(&config),
        config,
        provider,
    })
}
