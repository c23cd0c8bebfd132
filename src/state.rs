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

use crate::plan::Owned;
use std::ffi::CString;
use std::fmt;
use std::fs::{self, File, Metadata, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// File name of the ownership record inside the state directory.
pub const OWNED_FILE: &str = "owned.json";
/// Mode of the state directory and the subdirectories made in it.
pub const DIR_MODE: u32 = 0o755;
/// The largest state file read back: the record of the largest machine is a few hundred KiB.
const MAX_READ_BYTES: u64 = 16 * 1024 * 1024;
/// Fresh names tried when a temporary name is taken (only a planted file can take one).
const TEMP_ATTEMPTS: usize = 8;

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

/// Checks what is at `path` before anything creates or hands it over: nothing there is fine
/// (it is made later), a symlink, a non-directory or a directory others may write is refused.
pub fn check_state_dir(path: &Path, trusted: Trusted) -> Result<(), StateDirError> {
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
    // SAFETY: geteuid and getegid have no preconditions and cannot fail.
    let (me, my_group) = unsafe { (libc::geteuid(), libc::getegid()) };
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
        // SAFETY: flock on a descriptor we own; no memory is passed.
        if unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(StateLock { _held: held });
        }
        let error = io::Error::last_os_error();
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
struct LockLine {
    pid: u32,
    dev: (u32, u32),
    inode: u64,
}

fn parse_lock_line(line: &str) -> Option<LockLine> {
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

fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

fn cvt(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// openat with O_NOFOLLOW|O_CLOEXEC added.
fn open_at(dir: &File, name: &str, flags: libc::c_int, mode: u32) -> io::Result<File> {
    let name = c_name(name)?;
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a valid directory descriptor and a NUL-terminated name; the new descriptor is
    // owned by the File from here on.
    let fd = cvt(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode) })?;
    // SAFETY: `fd` was just returned by openat and nobody else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn mkdir_at(dir: &File, name: &str) -> io::Result<()> {
    let name = c_name(name)?;
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    cvt(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), DIR_MODE) }).map(drop)
}

fn rename_at(dir: &File, from: &str, to: &str) -> io::Result<()> {
    let (from, to) = (c_name(from)?, c_name(to)?);
    let fd = dir.as_raw_fd();
    // SAFETY: a valid directory descriptor and NUL-terminated names.
    cvt(unsafe { libc::renameat(fd, from.as_ptr(), fd, to.as_ptr()) }).map(drop)
}

fn unlink_at(dir: &File, name: &str) -> io::Result<()> {
    let name = c_name(name)?;
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) }).map(drop)
}

/// A new file `.<name>.<random>` that did not exist before (O_EXCL), with exactly `mode`.
fn create_temp(dir: &File, name: &str, mode: u32) -> io::Result<(String, File)> {
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL;
    let mut last = None;
    for _ in 0..TEMP_ATTEMPTS {
        let tmp = format!(".{name}.{:016x}", unpredictable());
        match open_at(dir, &tmp, flags, mode) {
            Ok(file) => {
                if let Err(e) = file.set_permissions(Permissions::from_mode(mode)) {
                    let _ = unlink_at(dir, &tmp);
                    return Err(e);
                }
                return Ok((tmp, file));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)))
}

fn fill(mut file: File, contents: &[u8], durable: bool) -> io::Result<()> {
    file.write_all(contents)?;
    if durable {
        file.sync_all()?;
    }
    Ok(())
}

/// 64 bits from the kernel's random pool, or (before it is ready, early at boot) from the
/// clock, the PID and a counter: a guessed name only makes O_EXCL fail, it never redirects.
fn unpredictable() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; 8];
    // SAFETY: getrandom writes at most `bytes.len()` bytes into the buffer.
    let got =
        unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), libc::GRND_NONBLOCK) };
    if got == bytes.len() as isize {
        return u64::from_ne_bytes(bytes);
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32) ^ COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// The outcome of reading the ownership record.
#[derive(Debug)]
pub enum OwnedLoad {
    Loaded(Owned),
    /// No record yet: a first start, or a state dir on a fresh tmpfs.
    Missing,
    /// The file exists but cannot be used; `reason` says why. Nothing is deleted, and the
    /// record is rebuilt from what the kernel holds with our marks (`Owned::adopt`).
    Corrupt {
        reason: String,
    },
}

impl OwnedLoad {
    pub fn into_owned(self) -> Owned {
        match self {
            OwnedLoad::Loaded(owned) => owned,
            OwnedLoad::Missing | OwnedLoad::Corrupt { .. } => Owned::default(),
        }
    }
}

pub fn load_owned(state: &StateDir) -> OwnedLoad {
    let path = state.path().join(OWNED_FILE);
    match state.read(OWNED_FILE) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => OwnedLoad::Missing,
        Err(e) => OwnedLoad::Corrupt {
            reason: format!("cannot read {}: {e}", path.display()),
        },
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(owned) => OwnedLoad::Loaded(owned),
            Err(e) => OwnedLoad::Corrupt {
                reason: format!("{} is not a valid ownership record: {e}", path.display()),
            },
        },
    }
}

/// Saves the record atomically and durably (file and directory fsynced).
pub fn save_owned(state: &StateDir, owned: &Owned) -> Result<(), StateError> {
    write_owned(state, owned, Durability::Durable)
}

/// Saves the claim made before a netlink batch: atomically, without waiting for the disk.
/// Killed mid-batch, the next start reads this claim (the renamed file is in the page cache,
/// which outlives the process). What the fsyncs would add is the claim surviving a machine
/// crash, which takes every object of the batch with the kernel's state: they would hold up
/// the batch (2–12 ms each on a busy disk) for nothing. The caller saves the record durably
/// after the batch ([`save_owned`]).
pub fn claim_owned(state: &StateDir, owned: &Owned) -> Result<(), StateError> {
    write_owned(state, owned, Durability::Atomic)
}

fn write_owned(state: &StateDir, owned: &Owned, durability: Durability) -> Result<(), StateError> {
    let mut text = serde_json::to_vec_pretty(owned).unwrap_or_default();
    text.push(b'\n');
    state.write(OWNED_FILE, &text, 0o644, durability)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct TempDir(PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn temp_dir(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("cn-state-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        TempDir(dir)
    }

    fn state(dir: &TempDir) -> StateDir {
        StateDir::create(&dir.0.join("state"), Trusted::default()).unwrap()
    }

    #[test]
    fn atomic_write_replaces_and_sets_mode() {
        let dir = temp_dir("atomic");
        let state = state(&dir);
        state
            .write(
                "provider/ec2/credentials",
                b"old",
                0o600,
                Durability::Durable,
            )
            .unwrap();
        state
            .write(
                "provider/ec2/credentials",
                b"new",
                0o600,
                Durability::Atomic,
            )
            .unwrap();
        let path = dir.0.join("state/provider/ec2/credentials");
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn a_file_that_was_there_is_replaced_not_inherited() {
        let dir = temp_dir("inherit");
        let state = state(&dir);
        let path = dir.0.join("state/credentials");
        fs::write(&path, b"planted").unwrap();
        fs::set_permissions(&path, Permissions::from_mode(0o666)).unwrap();
        let planted = fs::metadata(&path).unwrap().ino();
        state
            .write("credentials", b"secret", 0o600, Durability::Atomic)
            .unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_ne!(meta.ino(), planted);
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn links_in_the_directory_are_never_followed() {
        let dir = temp_dir("links");
        let state = state(&dir);
        let victim = dir.0.join("victim");
        fs::create_dir(&victim).unwrap();
        symlink(&victim, dir.0.join("state/links")).unwrap();
        let error = state
            .write("links/3", b"{}", 0o644, Durability::Atomic)
            .unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("links is a symlink or not a directory; not followed"),
            "{error}"
        );
        assert_eq!(fs::read_dir(&victim).unwrap().count(), 0);
        symlink(dir.0.join("victim-file"), dir.0.join("state/owned.json")).unwrap();
        assert!(matches!(load_owned(&state), OwnedLoad::Corrupt { .. }));
    }

    #[test]
    fn a_symlinked_or_shared_state_dir_is_refused() {
        let dir = temp_dir("refused");
        let real = dir.0.join("real");
        fs::create_dir(&real).unwrap();
        let link = dir.0.join("link");
        symlink(&real, &link).unwrap();
        assert!(matches!(
            StateDir::create(&link, Trusted::default()),
            Err(StateDirError::Symlink(_))
        ));
        assert!(matches!(
            StateDir::open(&link, Trusted::default()),
            Err(StateDirError::Symlink(_))
        ));
        fs::set_permissions(&real, Permissions::from_mode(0o777)).unwrap();
        let error = StateDir::open(&real, Trusted::default()).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "StateDir {} is writable by every user (mode 0777); refused (it must be \
                 writable only by root or the service user)",
                real.display()
            )
        );
        assert_eq!(error.exit_status(), 78);
        fs::set_permissions(&real, Permissions::from_mode(0o1777)).unwrap();
        assert!(check_state_dir(&real, Trusted::default()).is_err());
    }

    #[test]
    fn a_second_lock_fails_naming_the_holder() {
        let dir = temp_dir("lock");
        let first = state(&dir);
        let _held = first.lock().unwrap();
        let second = StateDir::open(first.path(), Trusted::default()).unwrap();
        let error = second.lock().unwrap_err();
        assert_eq!(error.holder, Some(std::process::id()), "{error}");
        assert!(error.to_string().starts_with(&format!(
            "another cloud-network (PID {}) holds StateDir",
            std::process::id()
        )));
    }

    #[test]
    fn the_lock_line_of_proc_locks_is_read() {
        let line = parse_lock_line("3: FLOCK  ADVISORY  WRITE 4242 00:1a:123456 0 EOF").unwrap();
        assert_eq!((line.pid, line.dev, line.inode), (4242, (0, 0x1a), 123456));
        assert!(parse_lock_line("1: POSIX  ADVISORY  WRITE 1 00:1a:1 0 EOF").is_none());
    }

    #[test]
    fn owned_record_missing_corrupt_and_round_trip() {
        let dir = temp_dir("owned");
        let state = state(&dir);
        assert!(matches!(load_owned(&state), OwnedLoad::Missing));
        let owned = Owned::default();
        save_owned(&state, &owned).unwrap();
        assert!(matches!(load_owned(&state), OwnedLoad::Loaded(o) if o == owned));
        let path = dir.0.join("state").join(OWNED_FILE);
        fs::write(&path, b"{\"version\":1,\"nics\":{\"00:0d").unwrap();
        match load_owned(&state) {
            OwnedLoad::Corrupt { reason } => {
                assert!(reason.contains("not a valid ownership record"))
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert!(load_owned(&state).into_owned().is_empty());
    }
}
