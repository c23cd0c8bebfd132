//! The service user's uid and gid from the user database (getpwnam_r).

use super::PrivilegeError;
use std::ffi::{CStr, CString};
use std::io;

/// Starting size of the getpwnam_r buffer; doubled on ERANGE up to the cap.
const PASSWD_BUF_BYTES: usize = 1024;
const PASSWD_BUF_MAX_BYTES: usize = 1 << 20;

/// The user's uid and gid, `None` when there is no such user.
pub fn lookup_user(user: &str) -> Result<Option<(u32, u32)>, PrivilegeError> {
    let fail = |source| PrivilegeError::UserLookup {
        user: user.to_string(),
        source,
    };
    let name = CString::new(user)
        .map_err(|_| fail(io::Error::new(io::ErrorKind::InvalidInput, "NUL in name")))?;
    let mut buf = vec![0 as libc::c_char; PASSWD_BUF_BYTES];
    loop {
        match getpwnam(&name, &mut buf) {
            Err(e)
                if e.raw_os_error() == Some(libc::ERANGE) && buf.len() < PASSWD_BUF_MAX_BYTES =>
            {
                buf.resize(buf.len() * 2, 0);
            }
            other => return other.map_err(fail),
        }
    }
}

fn getpwnam(name: &CStr, buf: &mut [libc::c_char]) -> io::Result<Option<(u32, u32)>> {
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
