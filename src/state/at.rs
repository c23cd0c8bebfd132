//! The `*at` system calls the state directory is used through (O_NOFOLLOW|O_CLOEXEC always),
//! and the temporary files a write goes through.

use super::DIR_MODE;
use crate::sys;
use std::ffi::CString;
use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Fresh names tried when a temporary name is taken (only a planted file can take one).
const TEMP_ATTEMPTS: usize = 8;

fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in name"))
}

/// openat with O_NOFOLLOW|O_CLOEXEC added.
pub(super) fn open_at(dir: &File, name: &str, flags: libc::c_int, mode: u32) -> io::Result<File> {
    let name = c_name(name)?;
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    sys::open_at(dir.as_raw_fd(), &name, flags, mode)
}

pub(super) fn mkdir_at(dir: &File, name: &str) -> io::Result<()> {
    let name = c_name(name)?;
    sys::mkdir_at(dir.as_raw_fd(), &name, DIR_MODE)
}

pub(super) fn rename_at(dir: &File, from: &str, to: &str) -> io::Result<()> {
    let (from, to) = (c_name(from)?, c_name(to)?);
    sys::rename_at(dir.as_raw_fd(), &from, &to)
}

pub(super) fn unlink_at(dir: &File, name: &str) -> io::Result<()> {
    let name = c_name(name)?;
    sys::unlink_at(dir.as_raw_fd(), &name)
}

/// A new file `.<name>.<random>` that did not exist before (O_EXCL), with exactly `mode`.
pub(super) fn create_temp(dir: &File, name: &str, mode: u32) -> io::Result<(String, File)> {
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

pub(super) fn fill(mut file: File, contents: &[u8], durable: bool) -> io::Result<()> {
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
    if sys::getrandom(&mut bytes).ok() == Some(bytes.len()) {
        return u64::from_ne_bytes(bytes);
    }
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32) ^ COUNTER.fetch_add(1, Ordering::Relaxed)
}
