//! The user database through NSS: `getpwnam_r`, which fills a caller's buffer and returns a
//! name's uid and gid; growing the buffer on ERANGE is the caller's.

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
