//! The service user's uid and gid from the user database.
//!
//! `/etc/passwd` is read first, by [`super::passwd_file`], which loads nothing. glibc looks a
//! name up in each source `nsswitch.conf` lists for `passwd`, and loads the module of every
//! source it gets to: a user missing from `/etc/passwd` (`passwd: files systemd`) maps
//! `libnss_systemd` with `libm` and `libcap` into the process for good, 0.7 MiB of resident
//! pages for a daemon that then never looks anyone up again. So with glibc only a name the
//! file lacks is looked up through NSS, in a short-lived child process whose modules go with
//! it (systemd resolves `User=` in its forked child for the same reason). musl has no NSS
//! modules: its `getpwnam_r` (the file again, then nscd) runs in the process (a child
//! measured no smaller there).

use super::{passwd_file, PrivilegeError};
use crate::sys;
use std::ffi::{CStr, CString};
use std::io;
use std::path::Path;

/// The file NSS's `files` source reads.
const PASSWD_FILE: &str = "/etc/passwd";

/// Starting size of the getpwnam_r buffer; doubled on ERANGE up to the cap.
const PASSWD_BUF_BYTES: usize = 1024;
const PASSWD_BUF_MAX_BYTES: usize = 1 << 20;

/// The user's uid and gid, `None` when there is no such user. With glibc a name missing from
/// `/etc/passwd` is looked up by a forked child: call it before the process starts threads.
pub fn lookup_user(user: &str) -> Result<Option<(u32, u32)>, PrivilegeError> {
    let fail = |source| PrivilegeError::UserLookup {
        user: user.to_string(),
        source,
    };
    if let Some(found) = passwd_file::lookup(Path::new(PASSWD_FILE), user).map_err(fail)? {
        return Ok(Some(found));
    }
    let name = CString::new(user)
        .map_err(|_| fail(io::Error::new(io::ErrorKind::InvalidInput, "NUL in name")))?;
    #[cfg(target_env = "gnu")]
    {
        child::in_child(&name).map_err(fail)
    }
    #[cfg(not(target_env = "gnu"))]
    getpwnam(&name).map_err(fail)
}

/// `getpwnam_r` with a buffer grown on ERANGE.
fn getpwnam(name: &CStr) -> io::Result<Option<(u32, u32)>> {
    let mut buf = vec![0 as libc::c_char; PASSWD_BUF_BYTES];
    loop {
        match sys::getpwnam(name, &mut buf) {
            Err(e)
                if e.raw_os_error() == Some(libc::ERANGE) && buf.len() < PASSWD_BUF_MAX_BYTES =>
            {
                buf.resize(buf.len() * 2, 0);
            }
            other => return other,
        }
    }
}

/// The NSS lookup in a forked child process.
#[cfg(target_env = "gnu")]
mod child {
    use super::getpwnam;
    use crate::sys;
    use std::ffi::CStr;
    use std::io;

    /// What the child writes: a tag (0 no such user, 1 found, 2 error) and two numbers (uid
    /// and gid, or the errno).
    const ANSWER_BYTES: usize = 9;

    /// `getpwnam_r` through every NSS source, in a forked child that answers on a pipe and
    /// exits: the modules it loads never enter this process.
    pub(super) fn in_child(name: &CStr) -> io::Result<Option<(u32, u32)>> {
        decode(sys::in_child(|| answer(name))?)
    }

    /// The child's part: the lookup, as the bytes to write.
    fn answer(name: &CStr) -> [u8; ANSWER_BYTES] {
        let (tag, a, b) = match getpwnam(name) {
            Ok(None) => (0, 0, 0),
            Ok(Some((uid, gid))) => (1, uid, gid),
            Err(e) => (2, e.raw_os_error().unwrap_or(libc::EIO) as u32, 0),
        };
        let mut answer = [tag; ANSWER_BYTES];
        answer[1..5].copy_from_slice(&a.to_le_bytes());
        answer[5..].copy_from_slice(&b.to_le_bytes());
        answer
    }

    fn decode(answer: [u8; ANSWER_BYTES]) -> io::Result<Option<(u32, u32)>> {
        let number = |at: usize| {
            let bytes: [u8; 4] = answer[at..at + 4].try_into().unwrap_or_default();
            u32::from_le_bytes(bytes)
        };
        match answer[0] {
            0 => Ok(None),
            1 => Ok(Some((number(1), number(5)))),
            _ => Err(io::Error::from_raw_os_error(number(1) as i32)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_found_and_a_missing_name_is_not() {
        assert_eq!(lookup_user("root").expect("look up root"), Some((0, 0)));
        let missing = format!("cn-missing-{}", std::process::id());
        assert_eq!(lookup_user(&missing).expect("look it up"), None);
    }

    #[cfg(target_env = "gnu")]
    #[test]
    fn the_child_finds_what_getpwnam_finds() {
        assert_eq!(
            child::in_child(c"root").expect("look up root"),
            Some((0, 0))
        );
        assert_eq!(
            getpwnam(c"nobody").expect("nobody"),
            child::in_child(c"nobody").expect("nobody")
        );
        assert_eq!(
            child::in_child(c"cn-missing-user").expect("look it up"),
            None
        );
    }
}
