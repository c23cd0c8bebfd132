//! The open state directory: the checks before it is made or used, its lock (flock, with the
//! holder read from `/proc/locks`), and reads and writes of the files in it through its
//! descriptor.

use super::at::{create_temp, fill, mkdir_at, open_at, rename_at, unlink_at};
use super::error::{LockError, StateDirError, StateError};
use super::{Durability, Trusted, DIR_MODE};
use crate::sys;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The largest state file read back: the record of the largest machine is a few hundred KiB.
const MAX_READ_BYTES: u64 = 16 * 1024 * 1024;

/// Checks what is at `path` before anything creates or hands it over: nothing there is fine
/// (it is made later), a symlink, a non-directory or a directory others may write is refused.
pub(crate) fn check_state_dir(path: &Path, trusted: Trusted) -> Result<(), StateDirError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StateDirError::Io {
            path: path.to_path_buf(),
            action: "inspect",
            source,
        }),
        Ok(meta) => inspect(path, &meta, trusted),
    }
}

fn inspect(path: &Path, meta: &Metadata, trusted: Trusted) -> Result<(), StateDirError> {
    if meta.file_type().is_symlink() {
        return Err(StateDirError::Symlink(path.to_path_buf()));
    }
    if !meta.is_dir() {
        return Err(StateDirError::NotADirectory(path.to_path_buf()));
    }
    let untrusted = |reason: String| StateDirError::Untrusted {
        path: path.to_path_buf(),
        reason,
    };
    let (me, my_group) = (sys::effective_uid(), sys::effective_gid());
    let uid_ok = |uid: u32| uid == 0 || uid == me || trusted.user.is_some_and(|u| u.0 == uid);
    let gid_ok = |gid: u32| gid == 0 || gid == my_group || trusted.user.is_some_and(|u| u.1 == gid);
    let mode = meta.mode() & 0o7777;
    if !uid_ok(meta.uid()) {
        return Err(untrusted(format!(
            "owned by uid {}, neither root nor the service user",
            meta.uid()
        )));
    }
    if mode & 0o002 != 0 {
        return Err(untrusted(format!(
            "writable by every user (mode {mode:04o})"
        )));
    }
    if mode & 0o020 != 0 && !gid_ok(meta.gid()) {
        return Err(untrusted(format!(
            "writable by group {} (mode {mode:04o})",
            meta.gid()
        )));
    }
    Ok(())
}

/// The open state directory; clones share one descriptor.
#[derive(Debug, Clone)]
pub struct StateDir {
    path: PathBuf,
    dir: Arc<File>,
}

/// The lock on the state directory. The flock belongs to the directory's open file, which
/// this guard and every clone of its `StateDir` share: it lasts until all of them are gone,
/// in practice the process's life.
#[derive(Debug)]
pub struct StateLock {
    _held: File,
}

impl StateDir {
    /// Creates the directory when missing (parents as needed, mode 0755) and opens it.
    pub fn create(path: &Path, trusted: Trusted) -> Result<StateDir, StateDirError> {
        check_state_dir(path, trusted)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(path)
            .map_err(|source| StateDirError::Io {
                path: path.to_path_buf(),
                action: "create",
                source,
            })?;
        StateDir::open(path, trusted)
    }

    /// Opens an existing directory without following a symlink, and checks it again through
    /// the descriptor (what was checked is what is used).
    pub fn open(path: &Path, trusted: Trusted) -> Result<StateDir, StateDirError> {
        let opened = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(path);
        let dir = match opened {
            Ok(dir) => dir,
            // O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR (or ELOOP): say which.
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTDIR | libc::ELOOP)) => {
                let link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
                return Err(match link {
                    true => StateDirError::Symlink(path.to_path_buf()),
                    false => StateDirError::NotADirectory(path.to_path_buf()),
                });
            }
            Err(source) => {
                return Err(StateDirError::Io {
                    path: path.to_path_buf(),
                    action: "open",
                    source,
                })
            }
        };
        let meta = dir.metadata().map_err(|source| StateDirError::Io {
            path: path.to_path_buf(),
            action: "inspect",
            source,
        })?;
        inspect(path, &meta, trusted)?;
        Ok(StateDir {
            path: path.to_path_buf(),
            dir: Arc::new(dir),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the directory's exclusive lock (see [`StateLock`]); fails at once, naming the
    /// holder, when another process has it.
    pub fn lock(&self) -> Result<StateLock, LockError> {
        let fail = |holder, source| LockError {
            path: self.path.clone(),
            holder,
            source,
        };
        let held = self.dir.try_clone().map_err(|e| fail(None, e))?;
        let Err(error) = sys::try_lock_exclusive(held.as_raw_fd()) else {
            return Ok(StateLock { _held: held });
        };
        let holder = (error.raw_os_error() == Some(libc::EWOULDBLOCK))
            .then(|| self.lock_holder())
            .flatten();
        Err(fail(holder, error))
    }

    /// The PID `/proc/locks` gives for the flock on this directory.
    fn lock_holder(&self) -> Option<u32> {
        let meta = self.dir.metadata().ok()?;
        let locks = fs::read_to_string("/proc/locks").ok()?;
        let (major, minor) = (libc::major(meta.dev()), libc::minor(meta.dev()));
        locks
            .lines()
            .filter_map(parse_lock_line)
            .find(|lock| lock.dev == (major, minor) && lock.inode == meta.ino())
            .map(|lock| lock.pid)
    }

    /// Writes `relative` (e.g. `links/3`) so that readers see the old file or the new one,
    /// never a mix, with exactly `mode` (0o600 for credentials), as far as `durability` says.
    pub fn write(
        &self,
        relative: &str,
        contents: &[u8],
        mode: u32,
        durability: Durability,
    ) -> Result<(), StateError> {
        let err = |action, source| StateError {
            path: self.path.join(relative),
            action,
            source,
        };
        let (dir, name) = self
            .parent_of(relative, true)
            .map_err(|e| err("create the directory of", e))?;
        let (tmp, file) = create_temp(&dir, name, mode).map_err(|e| err("create", e))?;
        let durable = durability == Durability::Durable;
        let written = fill(file, contents, durable)
            .and_then(|()| rename_at(&dir, &tmp, name))
            .and_then(|()| if durable { dir.sync_all() } else { Ok(()) });
        if let Err(e) = written {
            let _ = unlink_at(&dir, &tmp);
            return Err(err("write", e));
        }
        Ok(())
    }

    /// Reads a regular file (not a link, at most 16 MiB); NotFound when it is not there.
    pub fn read(&self, relative: &str) -> io::Result<Vec<u8>> {
        let (dir, name) = self.parent_of(relative, false)?;
        let file = open_at(&dir, name, libc::O_RDONLY | libc::O_NONBLOCK, 0)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a regular file",
            ));
        }
        let mut bytes = Vec::new();
        file.take(MAX_READ_BYTES + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_READ_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("larger than {MAX_READ_BYTES} bytes"),
            ));
        }
        Ok(bytes)
    }

    /// Removes a file; a missing one is not an error.
    pub fn remove(&self, relative: &str) -> io::Result<()> {
        let (dir, name) = self.parent_of(relative, false)?;
        match unlink_at(&dir, name) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// The directory holding `relative`'s last component, entered component by component
    /// without following links (made first when `create`), and that last component.
    fn parent_of<'a>(&self, relative: &'a str, create: bool) -> io::Result<(File, &'a str)> {
        let mut parts: Vec<&str> = relative.split('/').collect();
        let name = parts.pop().unwrap_or_default();
        if [name]
            .iter()
            .chain(&parts)
            .any(|p| matches!(*p, "" | "." | ".."))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not a plain relative path: {relative}"),
            ));
        }
        let mut dir = self.dir.try_clone()?;
        for part in parts {
            if create {
                match mkdir_at(&dir, part) {
                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                    _ => {}
                }
            }
            dir =
                open_at(&dir, part, libc::O_RDONLY | libc::O_DIRECTORY, 0).map_err(|e| match e
                    .raw_os_error()
                {
                    Some(libc::ENOTDIR | libc::ELOOP) => io::Error::new(
                        e.kind(),
                        format!("{part} is a symlink or not a directory; not followed"),
                    ),
                    _ => e,
                })?;
        }
        Ok((dir, name))
    }
}

/// One line of `/proc/locks`: `1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`.
pub(super) struct LockLine {
    pub(super) pid: u32,
    pub(super) dev: (u32, u32),
    pub(super) inode: u64,
}

pub(super) fn parse_lock_line(line: &str) -> Option<LockLine> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.get(1) != Some(&"FLOCK") {
        return None;
    }
    let pid = fields.get(4)?.parse().ok()?;
    let mut id = fields.get(5)?.split(':');
    let major = u32::from_str_radix(id.next()?, 16).ok()?;
    let minor = u32::from_str_radix(id.next()?, 16).ok()?;
    let inode = id.next()?.parse().ok()?;
    Some(LockLine {
        pid,
        dev: (major, minor),
        inode,
    })
}
