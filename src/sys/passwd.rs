//! The user database: `getpwnam_r`, and with glibc `/etc/passwd` read entry by entry with
//! libc's own parser (`fgetpwent_r`). Both fill a caller's buffer and return a name's uid
//! and gid; growing the buffer on ERANGE is the caller's.

use std::ffi::CStr;
use std::io;

/// `name`'s uid and gid through `getpwnam_r` with `buf` as its string space; `None` when
/// there is no such user (also the errors that mean it: ENOENT, ESRCH, EBADF, EPERM).
/// ERANGE: `buf` is too small.
pub(crate) fn getpwnam(name: &CStr, buf: &mut [libc::c_char]) -> io::Result<Option<(u32, u32)>> {
    // SAFETY: passwd is plain data; getpwnam_r fills it (its strings point into `buf`).
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf.len()` is the buffer's real size.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut entry,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    match rc {
        0 if found.is_null() => Ok(None),
        0 => Ok(Some((entry.pw_uid, entry.pw_gid))),
        libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => Ok(None),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// A passwd file open for reading with `fgetpwent_r`; closed on drop.
#[cfg(target_env = "gnu")]
#[derive(Debug)]
pub(crate) struct PasswdFile(std::ptr::NonNull<libc::FILE>);

/// One entry read from a [`PasswdFile`].
#[cfg(target_env = "gnu")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswdEntry {
    /// The entry of the name looked for: its uid and gid.
    Found(u32, u32),
    /// Another user's entry.
    Other,
    /// No more entries.
    End,
}

#[cfg(target_env = "gnu")]
impl PasswdFile {
    /// Opens `path` (close-on-exec); `None` when it does not exist.
    pub(crate) fn open(path: &CStr) -> io::Result<Option<PasswdFile>> {
        // SAFETY: both arguments are NUL-terminated strings.
        let file = unsafe { libc::fopen(path.as_ptr(), c"re".as_ptr()) };
        match std::ptr::NonNull::new(file) {
            Some(file) => Ok(Some(PasswdFile(file))),
            None => match io::Error::last_os_error() {
                e if e.kind() == io::ErrorKind::NotFound => Ok(None),
                e => Err(e),
            },
        }
    }

    /// Reads the next entry, comparing its name with `name`, with `buf` as its string space.
    /// ERANGE: `buf` is too small; fgetpwent_r then rewinds to the entry, so a bigger buffer
    /// reads it again.
    pub(crate) fn next_entry(
        &mut self,
        name: &CStr,
        buf: &mut [libc::c_char],
    ) -> io::Result<PasswdEntry> {
        // SAFETY: passwd is plain data; fgetpwent_r fills it (its strings point into `buf`).
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut read: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: an open stream, valid out-pointers and `buf.len()` the buffer's real size.
        let rc = unsafe {
            libc::fgetpwent_r(
                self.0.as_ptr(),
                &mut entry,
                buf.as_mut_ptr(),
                buf.len(),
                &mut read,
            )
        };
        match rc {
            0 if read.is_null() => Ok(PasswdEntry::End),
            // SAFETY: a returned entry's name points at a NUL-terminated string in `buf`.
            0 if unsafe { CStr::from_ptr(entry.pw_name) } == name => {
                Ok(PasswdEntry::Found(entry.pw_uid, entry.pw_gid))
            }
            0 => Ok(PasswdEntry::Other),
            libc::ENOENT => Ok(PasswdEntry::End),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

#[cfg(target_env = "gnu")]
impl Drop for PasswdFile {
    fn drop(&mut self) {
        // SAFETY: the stream came from fopen and is closed once, here.
        unsafe { libc::fclose(self.0.as_ptr()) };
    }
}
