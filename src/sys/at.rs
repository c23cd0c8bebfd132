//! The `*at` calls, relative to an open directory (the state directory is only used through
//! them), and random bytes from the kernel.

use super::cvt;
use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, RawFd};

/// openat(2) with exactly these flags; the new descriptor as a `File`.
pub(crate) fn open_at(dir: RawFd, name: &CStr, flags: libc::c_int, mode: u32) -> io::Result<File> {
    // SAFETY: a NUL-terminated name; the new descriptor is owned by the File from here on.
    let fd = cvt(unsafe { libc::openat(dir, name.as_ptr(), flags, mode) })?;
    // SAFETY: `fd` was just returned by openat and nobody else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

pub(crate) fn mkdir_at(dir: RawFd, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: a NUL-terminated name.
    cvt(unsafe { libc::mkdirat(dir, name.as_ptr(), mode) }).map(drop)
}

/// renameat(2) within one directory.
pub(crate) fn rename_at(dir: RawFd, from: &CStr, to: &CStr) -> io::Result<()> {
    // SAFETY: NUL-terminated names.
    cvt(unsafe { libc::renameat(dir, from.as_ptr(), dir, to.as_ptr()) }).map(drop)
}

pub(crate) fn unlink_at(dir: RawFd, name: &CStr) -> io::Result<()> {
    // SAFETY: a NUL-terminated name.
    cvt(unsafe { libc::unlinkat(dir, name.as_ptr(), 0) }).map(drop)
}

/// Fills `bytes` from the kernel's random pool without waiting for it (GRND_NONBLOCK); how
/// many bytes it wrote.
pub(crate) fn getrandom(bytes: &mut [u8]) -> io::Result<usize> {
    // SAFETY: getrandom writes at most `bytes.len()` bytes into the buffer.
    let got =
        unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), libc::GRND_NONBLOCK) };
    usize::try_from(got).map_err(|_| io::Error::last_os_error())
}
