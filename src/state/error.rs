//! Why the state directory, its lock or a file in it cannot be used.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why the state directory is refused or cannot be used.
#[derive(Debug)]
pub enum StateDirError {
    Symlink(PathBuf),
    NotADirectory(PathBuf),
    /// Someone other than root, the service user and us could write to it.
    Untrusted {
        path: PathBuf,
        reason: String,
    },
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
}

impl StateDirError {
    /// A directory that could be turned against us is a configuration error: 78 (EX_CONFIG).
    /// One that cannot be made or opened is 1.
    pub fn exit_status(&self) -> u8 {
        match self {
            StateDirError::Io { .. } => 1,
            _ => crate::config::EXIT_CONFIG,
        }
    }
}

impl fmt::Display for StateDirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateDirError::Symlink(path) => write!(
                f,
                "StateDir {} is a symbolic link; refused (name the real directory)",
                path.display()
            ),
            StateDirError::NotADirectory(path) => {
                write!(f, "StateDir {} is not a directory", path.display())
            }
            StateDirError::Untrusted { path, reason } => write!(
                f,
                "StateDir {} is {reason}; refused (it must be writable only by root or the \
                 service user)",
                path.display()
            ),
            StateDirError::Io {
                path,
                action,
                source,
            } => write!(f, "cannot {action} StateDir {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for StateDirError {}

/// A file in the state directory that could not be written or read.
#[derive(Debug)]
pub struct StateError {
    pub path: PathBuf,
    pub action: &'static str,
    pub source: io::Error,
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} {}: {}",
            self.action,
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for StateError {}

/// Another process holds the state directory.
#[derive(Debug)]
pub struct LockError {
    pub path: PathBuf,
    /// The holder, as `/proc/locks` names it; None when it cannot be read there.
    pub holder: Option<u32>,
    pub source: io::Error,
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = self.path.display();
        match self.holder {
            Some(pid) => write!(
                f,
                "another cloud-network (PID {pid}) holds StateDir {dir}; one daemon at a time"
            ),
            None => write!(f, "cannot lock StateDir {dir}: {}", self.source),
        }
    }
}

impl std::error::Error for LockError {}
