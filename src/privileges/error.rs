//! Why dropping privileges failed, as one line naming the step.

use std::fmt;
use std::io;
use std::path::PathBuf;

#[derive(Debug)]
pub enum PrivilegeError {
    /// The state directory could not be created, given its mode, or given to the user.
    StateDir {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    /// The user database could not be read (not the same as the user not existing).
    UserLookup { user: String, source: io::Error },
    /// `setgroups`, `setresgid` or `setresuid` failed.
    SwitchIds {
        call: &'static str,
        source: io::Error,
    },
    /// A capability or securebits call failed.
    Capabilities { step: String, reason: String },
    /// `prctl` failed for NO_NEW_PRIVS.
    NoNewPrivs(io::Error),
    /// Read back after the fact, a set or id is not what it should be.
    Verify {
        what: &'static str,
        found: String,
        expected: String,
    },
}

impl fmt::Display for PrivilegeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivilegeError::StateDir {
                path,
                action,
                source,
            } => write!(
                f,
                "cannot {action} state directory {}: {source}",
                path.display()
            ),
            PrivilegeError::UserLookup { user, source } => {
                write!(f, "cannot look up user {user}: {source}")
            }
            PrivilegeError::SwitchIds { call, source } => write!(f, "{call} failed: {source}"),
            PrivilegeError::NoNewPrivs(source) => {
                write!(f, "cannot set NO_NEW_PRIVS: {source}")
            }
            PrivilegeError::Capabilities { step, reason } => {
                write!(f, "cannot {step}: {reason}")
            }
            PrivilegeError::Verify {
                what,
                found,
                expected,
            } => write!(
                f,
                "after dropping privileges the {what} is {found}, expected {expected}"
            ),
        }
    }
}

impl std::error::Error for PrivilegeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PrivilegeError::StateDir { source, .. }
            | PrivilegeError::UserLookup { source, .. }
            | PrivilegeError::SwitchIds { source, .. }
            | PrivilegeError::NoNewPrivs(source) => Some(source),
            PrivilegeError::Capabilities { .. } | PrivilegeError::Verify { .. } => None,
        }
    }
}
