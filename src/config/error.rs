//! What can be wrong with the configuration: errors that stop the daemon (exit status 78)
//! and warnings that only get logged, each naming the file and line it is about.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A place in the config file: the file and, when known, the 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file.display()),
            None => write!(f, "{}", self.file.display()),
        }
    }
}

/// A configuration the daemon must not start with.
#[derive(Debug)]
pub enum ConfigError {
    /// The file exists but could not be read (permissions, a directory, not UTF-8).
    Read { file: PathBuf, source: io::Error },
    /// The file named by `--config` does not exist (only the default path may be missing).
    Missing { file: PathBuf },
    /// The file is not valid TOML.
    Syntax { at: Location, message: String },
    /// `[System]` or `[Network]` written as something other than a table of keys.
    NotASection { at: Location, section: &'static str },
    /// A known key with a value that does not pass validation.
    InvalidValue {
        at: Location,
        section: &'static str,
        key: &'static str,
        value: String,
        reason: String,
    },
    /// `[Network] ServeCredentials=true` with a `[Network] Listen` that is not loopback: the
    /// IAM credentials would be offered to other hosts. `at` is ServeCredentials' line.
    CredentialsExposed {
        at: Location,
        listen: SocketAddr,
        listen_at: Location,
    },
    /// An override variable (`CLOUD_NETWORK_LOG_LEVEL`, ...) with an invalid value.
    InvalidEnv {
        variable: &'static str,
        value: String,
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { file, source } => {
                write!(
                    f,
                    "{}: cannot read the configuration: {source}",
                    file.display()
                )
            }
            ConfigError::Missing { file } => write!(
                f,
                "{}: no such file (named by --config; only the default {} may be missing)",
                file.display(),
                super::DEFAULT_PATH
            ),
            ConfigError::Syntax { at, message } => write!(f, "{at}: TOML syntax error: {message}"),
            ConfigError::NotASection { at, section } => {
                write!(
                    f,
                    "{at}: {section} must be a section of keys, written [{section}]"
                )
            }
            ConfigError::InvalidValue {
                at,
                section,
                key,
                value,
                reason,
            } => write!(
                f,
                "{at}: invalid value {value:?} for [{section}] {key}: {reason}"
            ),
            ConfigError::CredentialsExposed {
                at,
                listen,
                listen_at,
            } => write!(
                f,
                "{at}: [Network] ServeCredentials=true needs a loopback [Network] Listen, but \
                 Listen is \"{listen}\" ({listen_at}), which other hosts can reach: set Listen to \
                 127.0.0.1:5209 or [::1]:5209, or ServeCredentials=false"
            ),
            ConfigError::InvalidEnv {
                variable,
                value,
                reason,
            } => write!(
                f,
                "environment variable {variable}: invalid value {value:?}: {reason}"
            ),
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Something in the file that is ignored; the daemon logs it and carries on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigWarning {
    /// A section other than `[System]` and `[Network]`.
    UnknownSection {
        at: Location,
        section: String,
        suggestion: Option<&'static str>,
    },
    /// A key the section does not have (`section` is None for a key outside any section);
    /// the suggestion names the section the suggested key belongs to.
    UnknownKey {
        at: Location,
        section: Option<String>,
        key: String,
        suggestion: Option<(&'static str, &'static str)>,
    },
    /// `[Network] Listen` is not a loopback address: other hosts can connect to the API (they
    /// get the read-only paths; secrets and work stay loopback-only).
    ListenExposed { at: Location, listen: SocketAddr },
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigWarning::UnknownSection {
                at,
                section,
                suggestion,
            } => {
                write!(f, "{at}: unknown section [{section}] (ignored)")?;
                match suggestion {
                    Some(known) => write!(f, "; did you mean [{known}]?"),
                    None => Ok(()),
                }
            }
            ConfigWarning::UnknownKey {
                at,
                section,
                key,
                suggestion,
            } => {
                match section {
                    Some(section) => {
                        write!(f, "{at}: unknown key '{key}' in [{section}] (ignored)")?
                    }
                    None => write!(f, "{at}: unknown key '{key}' outside any section (ignored)")?,
                }
                match (suggestion, section) {
                    (Some((s, k)), Some(section)) if *s == section.as_str() => {
                        write!(f, "; did you mean '{k}'?")
                    }
                    (Some((s, k)), _) => write!(f, "; did you mean '{k}' in [{s}]?"),
                    (None, _) => Ok(()),
                }
            }
            ConfigWarning::ListenExposed { at, listen } => write!(
                f,
                "{at}: [Network] Listen=\"{listen}\" is not a loopback address: other hosts can \
                 reach the API (status, links, system and network documents, metrics); \
                 credentials, identity documents, refresh and check answer loopback clients only"
            ),
        }
    }
}
