//! The `*at` system calls the state directory is used through (O_NOFOLLOW|O_CLOEXEC always),
//! and the temporary files a write goes through.

use super::DIR_MODE;
use std::ffi::CString;
use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Fresh names tried when a temporary name is taken (only a planted file can take one).
const TEMP_ATTEMPTS: usize = 8;

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
pub(super) fn open_at(dir: &File, name: &str, flags: libc::c_int, mode: u32) -> io::Result<File> {
    let name = c_name(name)?;
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: a valid directory descriptor and a NUL-terminated name; the new descriptor is
    // owned by the File from here on.
    let fd = cvt(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode) })?;
    // SAFETY: `fd` was just returned by openat and nobody else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

pub(super) fn mkdir_at(dir: &File, name: &str) -> io::Result<()> {
    let name = c_name(name)?;
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    cvt(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), DIR_MODE) }).map(drop)
}

pub(super) fn rename_at(dir: &File, from: &str, to: &str) -> io::Result<()> {
    let (from, to) = (c_name(from)?, c_name(to)?);
    let fd = dir.as_raw_fd();
    // SAFETY: a valid directory descriptor and NUL-terminated names.
    cvt(unsafe { libc::renameat(fd, from.as_ptr(), fd, to.as_ptr()) }).map(drop)
}

pub(super) fn unlink_at(dir: &File, name: &str) -> io::Result<()> {
    let name = c_name(name)?;
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) }).map(drop)
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
