//! The running config of the reconcile thread, and SIGHUP's re-read of it. Keys that need new
//! threads or sockets (Provider, MetadataEndpoint, Listen, StateDir) only take effect after a
//! restart; a config that does not load keeps the running one.

use super::setup;
use crate::config::Config;
use crate::plan::PlanSettings;
use std::path::PathBuf;

pub(crate) struct RunningConfig {
    pub config: Config,
    /// The planner's part of it.
    pub settings: PlanSettings,
    path: PathBuf,
}

impl RunningConfig {
    pub(crate) fn new(config: Config, path: PathBuf) -> RunningConfig {
        RunningConfig {
            settings: setup::plan_settings(&config),
            config,
            path,
        }
    }

    /// Re-reads the config file (and the process environment over it).
    pub(crate) fn reload(&mut self) {
        let loaded = crate::config::load_existing(&self.path).and_then(|loaded| {
            let mut config = loaded.config;
            config.apply_process_env()?;
            Ok((config, loaded.warnings))
        });
        let (config, warnings) = match loaded {
            Ok(loaded) => loaded,
            Err(e) => {
                log::error!("config not reloaded, keeping the running one: {e}");
                return;
            }
        };
        for warning in warnings {
            log::warn!("{warning}");
        }
        let old = &self.config;
        if config.provider != old.provider
            || config.metadata_endpoint != old.metadata_endpoint
            || config.listen != old.listen
            || config.state_dir != old.state_dir
        {
            log::warn!("Provider, MetadataEndpoint, Listen and StateDir changes take effect after a restart");
        }
        log::set_max_level(config.log_level.to_filter());
        self.settings = setup::plan_settings(&config);
        self.config = Config {
            provider: old.provider,
            metadata_endpoint: old.metadata_endpoint.clone(),
            listen: old.listen,
            state_dir: old.state_dir.clone(),
            ..config
        };
        log::info!("config reloaded from {}", self.path.display());
    }
}
