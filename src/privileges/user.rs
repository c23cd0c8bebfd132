//! The service user's uid and gid from the user database.
//!
//! glibc looks a name up in each source `nsswitch.conf` lists for `passwd`, and loads the
//! module of every source it gets to: a user missing from `/etc/passwd` (`passwd: files
//! systemd`) maps `libnss_systemd` with `libm` and `libcap` into the process for good, 0.7 MiB
//! of resident pages for a daemon that then never looks anyone up again. So with glibc,
//! `/etc/passwd` is read first with libc's own parser (`fgetpwent_r`), which loads nothing,
//! and only a name it lacks is looked up through NSS, in a short-lived child process whose
//! modules go with it (systemd resolves `User=` in its forked child for the same reason).
//! musl has no NSS modules: its `getpwnam_r` reads `/etc/passwd` (then asks nscd) in the
//! process (a child measured no smaller there).

use super::PrivilegeError;
use std::ffi::{CStr, CString};
use std::io;

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
    let name = CString::new(user)
        .map_err(|_| fail(io::Error::new(io::ErrorKind::InvalidInput, "NUL in name")))?;
    #[cfg(target_env = "gnu")]
    {
        if let Some(found) = gnu::in_passwd_file(&name).map_err(fail)? {
            return Ok(Some(found));
        }
        child::in_child(&name).map_err(fail)
    }
    #[cfg(not(target_env = "gnu"))]
    getpwnam(&name).map_err(fail)
}

/// `getpwnam_r` with a buffer grown on ERANGE.
fn getpwnam(name: &CStr) -> io::Result<Option<(u32, u32)>> {
    let mut buf = vec![0 as libc::c_char; PASSWD_BUF_BYTES];
    loop {
        match getpwnam_once(name, &mut buf) {
            Err(e)
                if e.raw_os_error() == Some(libc::ERANGE) && buf.len() < PASSWD_BUF_MAX_BYTES =>
            {
                buf.resize(buf.len() * 2, 0);
            }
            other => return other,
        }
    }
}

fn getpwnam_once(name: &CStr, buf: &mut [libc::c_char]) -> io::Result<Option<(u32, u32)>> {
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

#[cfg(target_env = "gnu")]
mod gnu {
    use super::{PASSWD_BUF_BYTES, PASSWD_BUF_MAX_BYTES};
    use std::ffi::CStr;
    use std::io;

    const PASSWD_FILE: &CStr = c"/etc/passwd";

    /// The name's entry in `/etc/passwd` (what NSS's `files` source reads), `None` when the
    /// file has none or does not exist.
    pub fn in_passwd_file(name: &CStr) -> io::Result<Option<(u32, u32)>> {
        // SAFETY: both arguments are NUL-terminated strings.
        let file = unsafe { libc::fopen(PASSWD_FILE.as_ptr(), c"re".as_ptr()) };
        if file.is_null() {
            let error = io::Error::last_os_error();
            return match error.kind() {
                io::ErrorKind::NotFound => Ok(None),
                _ => Err(error),
            };
        }
        let found = scan(file, name);
        // SAFETY: `file` came from fopen and is closed once.
        unsafe { libc::fclose(file) };
        found
    }

    /// Reads entries until `name`'s; fgetpwent_r rewinds to the entry on ERANGE, so a bigger
    /// buffer reads it again.
    fn scan(file: *mut libc::FILE, name: &CStr) -> io::Result<Option<(u32, u32)>> {
        let mut buf = vec![0 as libc::c_char; PASSWD_BUF_BYTES];
        loop {
            // SAFETY: passwd is plain data; fgetpwent_r fills it (its strings point into `buf`).
            let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
            let mut read: *mut libc::passwd = std::ptr::null_mut();
            // SAFETY: an open stream, valid out-pointers and `buf.len()` the buffer's real size.
            let rc = unsafe {
                libc::fgetpwent_r(file, &mut entry, buf.as_mut_ptr(), buf.len(), &mut read)
            };
            match rc {
                0 if read.is_null() => return Ok(None),
                // SAFETY: a returned entry's name points at a NUL-terminated string in `buf`.
                0 if unsafe { CStr::from_ptr(entry.pw_name) } == name => {
                    return Ok(Some((entry.pw_uid, entry.pw_gid)));
                }
                0 => {}
                libc::ENOENT => return Ok(None),
                libc::ERANGE if buf.len() < PASSWD_BUF_MAX_BYTES => buf.resize(buf.len() * 2, 0),
                errno => return Err(io::Error::from_raw_os_error(errno)),
            }
        }
    }
}

/// The NSS lookup in a forked child process.
#[cfg(target_env = "gnu")]
mod child {
    use super::getpwnam;
    use std::ffi::CStr;
    use std::io;

    /// What the child writes: a tag (0 no such user, 1 found, 2 error) and two numbers (uid
    /// and gid, or the errno).
    const ANSWER_BYTES: usize = 9;

    /// `getpwnam_r` through every NSS source, in a forked child that answers on a pipe and
    /// exits: the modules it loads never enter this process.
    pub fn in_child(name: &CStr) -> io::Result<Option<(u32, u32)>> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let [read_end, write_end] = fds;
        // SAFETY: the child only looks the name up, writes to the pipe and `_exit`s.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            answer_and_exit(name, write_end);
        }
        // SAFETY: our own descriptor, closed once; the child has its copy.
        unsafe { libc::close(write_end) };
        let answer = if pid < 0 {
            Err(io::Error::last_os_error())
        } else {
            let answer = read_answer(read_end);
            reap(pid);
            answer
        };
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(read_end) };
        decode(answer?)
    }

    /// The child's part: never returns.
    fn answer_and_exit(name: &CStr, write_end: libc::c_int) -> ! {
        let (tag, a, b) = match getpwnam(name) {
            Ok(None) => (0, 0, 0),
            Ok(Some((uid, gid))) => (1, uid, gid),
            Err(e) => (2, e.raw_os_error().unwrap_or(libc::EIO) as u32, 0),
        };
        let mut answer = [tag; ANSWER_BYTES];
        answer[1..5].copy_from_slice(&a.to_le_bytes());
        answer[5..].copy_from_slice(&b.to_le_bytes());
        // SAFETY: writes our buffer to our pipe, then ends the child without running
        // anything of the parent's (no atexit handlers, no buffers flushed twice).
        unsafe {
            libc::write(write_end, answer.as_ptr().cast(), ANSWER_BYTES);
            libc::_exit(0)
        }
    }

    fn read_answer(read_end: libc::c_int) -> io::Result<[u8; ANSWER_BYTES]> {
        let mut answer = [0u8; ANSWER_BYTES];
        let mut got = 0;
        while got < ANSWER_BYTES {
            let rest = &mut answer[got..];
            // SAFETY: reads into the unfilled rest of our buffer.
            let n = unsafe { libc::read(read_end, rest.as_mut_ptr().cast(), rest.len()) };
            match n {
                0 => {
                    return Err(io::Error::other(
                        "the lookup process ended without answering",
                    ))
                }
                n if n > 0 => got += n as usize,
                _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
                _ => return Err(io::Error::last_os_error()),
            }
        }
        Ok(answer)
    }

    fn reap(pid: libc::pid_t) {
        let mut status = 0;
        // SAFETY: waits for our own child.
        while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
            && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
        {}
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
