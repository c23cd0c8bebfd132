//! The state directory (`/run/cloud-network` by default) and the ownership record `owned.json`
//! in it. The directory is opened once, with O_DIRECTORY|O_NOFOLLOW, and used only through that
//! descriptor (`*at` calls), so nothing planted in it can redirect a write: a file is written
//! to a new temporary file with an unpredictable name (O_CREAT|O_EXCL|O_NOFOLLOW, its mode set
//! exactly) and renamed over the old one; a [`Durability::Durable`] write also fsyncs the file
//! before the rename and the directory after it. Subdirectories are made and entered without
//! following links. A StateDir that is a symlink, not a directory, or writable by a user other
//! than root, the service user and ourselves is refused. The directory is also the lock
//! (flock) that keeps a second daemon off it. A corrupt record is reported and rebuilt from
//! the kernel (`Owned::adopt`), which can only mean "remove less".
//!
//! `dir` owns the directory (checks, lock, reads and writes), `at` the `*at` system calls and
//! temporary files under it, `owned` the ownership record, `error` the errors.

mod at;
mod dir;
mod error;
mod owned;
#[cfg(test)]
mod tests;

pub(crate) use dir::{check_state_dir, StateDir, StateLock};
pub(crate) use error::{LockError, StateDirError, StateError};
pub(crate) use owned::{claim_owned, load_owned, save_owned, OwnedLoad};

/// File name of the ownership record inside the state directory.
pub(crate) const OWNED_FILE: &str = "owned.json";
/// Mode of the state directory and the subdirectories made in it.
pub(crate) const DIR_MODE: u32 = 0o755;

/// How far [`StateDir::write`] takes a file before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Renamed into place: every process that opens it from now on reads the new file, also
    /// after we are killed (the page cache is the kernel's, not ours); a machine crash may
    /// leave the old one. For what is rebuilt at start (the metadata views) and for the
    /// claim made before a netlink batch, whose objects a machine crash takes away too.
    Atomic,
    /// Also on disk: the file fsynced before the rename and the directory after it, so the
    /// new file survives a machine crash.
    Durable,
}

/// Besides root and the process's own user, who may own and write the state directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trusted {
    /// The service user's uid and primary gid, when that user exists.
    pub user: Option<(u32, u32)>,
}
