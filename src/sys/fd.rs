//! Calls on descriptors: the eventfd counter threads wake each other with, poll(2), socket
//! options, `send` without SIGPIPE, the listen backlog and a non-blocking `flock`.

use super::cvt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// An eventfd counter (non-blocking, close-on-exec): readable while it was signalled and not
/// yet drained, so a thread asleep in poll(2) wakes when another signals it.
#[derive(Debug)]
pub(crate) struct EventFd(OwnedFd);

impl EventFd {
    pub(crate) fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor we own.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Adds one to the counter. A full counter (EAGAIN) is an error, though it also means
    /// "signalled".
    pub(crate) fn signal(&self) -> io::Result<()> {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of a live u64 to our own eventfd.
        let n = unsafe { libc::write(self.0.as_raw_fd(), std::ptr::from_ref(&one).cast(), 8) };
        if n == 8 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Takes the counter back to zero. Nothing to take (EAGAIN: not signalled) is fine, and
    /// no other error can come from reading a live u64 off our own eventfd.
    pub(crate) fn drain(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64 from our own eventfd.
        unsafe { libc::read(self.0.as_raw_fd(), std::ptr::from_mut(&mut count).cast(), 8) };
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// poll(2) over `fds` for at most `timeout_ms` (-1: no limit); how many have events. An
/// interrupted wait is an `Interrupted` error, for the caller to take as it needs.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout_ms: libc::c_int) -> io::Result<usize> {
    let count = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
    // SAFETY: the pointer and count describe a live, exclusively borrowed slice of pollfd
    // (a negative fd in it is ignored by the kernel).
    let n = cvt(unsafe { libc::poll(fds.as_mut_ptr(), count, timeout_ms) })?;
    Ok(n as usize)
}

/// setsockopt(2) with `value` as the option's bytes (a `c_int`, a `timeval`, …).
pub(crate) fn set_socket_option<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // Options are a few bytes: the size always fits.
    let len = size_of::<T>() as libc::socklen_t;
    // SAFETY: the pointer and length describe a live `T` for the duration of the call; the
    // kernel only reads it.
    let rc = unsafe { libc::setsockopt(fd, level, name, std::ptr::from_ref(value).cast(), len) };
    cvt(rc).map(drop)
}

/// `send(2)` with MSG_NOSIGNAL: a peer gone away is an error, never a SIGPIPE. The bytes
/// sent.
pub(crate) fn send_no_signal(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe a live slice; the kernel only reads it.
    let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// listen(2): on a socket already listening it only changes the backlog.
pub(crate) fn listen(fd: RawFd, backlog: libc::c_int) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::listen(fd, backlog) }).map(drop)
}

/// An exclusive `flock` taken without waiting: `WouldBlock` when another holds it.
pub(crate) fn try_lock_exclusive(fd: RawFd) -> io::Result<()> {
    // SAFETY: flock on a descriptor; no memory is passed.
    cvt(unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) }).map(drop)
}
