//! Start-up shared by every daemon mode: read and validate the config (exit 78 on a bad one,
//! before touching anything), apply the environment overrides, start logging, choose the
//! provider (config or DMI detection) and build its metadata client.

use crate::config::{self, Config, ConfigError, ProviderChoice};
use crate::detect::{self, DetectError};
use crate::logging;
use crate::metadata::http::{Http, HttpConfig};
use crate::metadata::{new_provider, Provider};
use crate::net::ProviderKind;
use crate::plan::PlanSettings;
use std::fmt;
use std::path::Path;

/// Where DMI and the hypervisor UUID are read from.
pub const SYSFS_ROOT: &str = "/sys";

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
}

impl SetupError {
    /// 78 (EX_CONFIG) for a bad config, 1 otherwise.
    pub fn exit_status(&self) -> u8 {
        match self {
            SetupError::Config(_) => config::EXIT_CONFIG,
            SetupError::Detect(_) => 1,
        }
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Config(e) => e.fmt(f),
            SetupError::Detect(e) => e.fmt(f),
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
        supplementary: config.supplementary.clone(),
        mtu: config.mtu,
    }
}

/// The provider named in the config, or the one DMI says this machine runs on.
pub fn provider_kind(config: &Config, sysfs: &Path) -> Result<ProviderKind, DetectError> {
    match config.provider {
        ProviderChoice::Fixed(kind) => Ok(kind),
        ProviderChoice::Auto => detect::detect_provider(sysfs),
    }
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
