//! Who can reach the API, as the config decides it: a `Listen` address other than loopback
//! lets other hosts of the network connect (a warning), and serving the IAM credentials there
//! would offer them to those hosts (an error naming both keys and their lines).

use super::{ConfigError, ConfigWarning, Loaded, Location};
use std::path::Path;

/// The lines of `[Network] Listen` and `[Network] ServeCredentials` in the file, when set.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ExposureLines {
    pub listen: Option<usize>,
    pub serve_credentials: Option<usize>,
}

/// Refuses credentials on a non-loopback Listen; warns about any non-loopback Listen.
pub(super) fn check(
    loaded: &mut Loaded,
    lines: ExposureLines,
    file: &Path,
) -> Result<(), ConfigError> {
    let listen = loaded.config.listen;
    if listen.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    let at = |line| Location {
        file: file.to_path_buf(),
        line,
    };
    if loaded.config.serve_credentials {
        return Err(ConfigError::CredentialsExposed {
            at: at(lines.serve_credentials),
            listen,
            listen_at: at(lines.listen),
        });
    }
    loaded.warnings.push(ConfigWarning::ListenExposed {
        at: at(lines.listen),
        listen,
    });
    Ok(())
}
