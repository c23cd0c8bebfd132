//! Signal sets, blocking them in the calling thread, and taking them synchronously.

use super::errno_result;
use std::io;
use std::time::Duration;

/// A signal set holding `signals`.
pub(crate) fn signal_set(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use; sigaddset only
    // fails for an invalid signal number, which leaves the set as it was.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &signal in signals {
            libc::sigaddset(&mut set, signal);
        }
        set
    }
}

/// Blocks `set` in the calling thread; threads started afterwards inherit the mask.
pub(crate) fn block_signals(set: &libc::sigset_t) -> io::Result<()> {
    // SAFETY: `set` is an initialised signal set; the old mask is not requested.
    errno_result(unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, set, std::ptr::null_mut()) })
}

/// The next pending signal of `set`, waiting up to `timeout` (one day at most); `None` when
/// none came (the timeout passed, or another signal interrupted the wait).
pub(crate) fn sigtimedwait(set: &libc::sigset_t, timeout: Duration) -> Option<libc::c_int> {
    // The field types differ between libcs (musl's time_t is changing); `as _` follows them.
    // One day of waiting at most keeps any of them from overflowing.
    let timeout = libc::timespec {
        tv_sec: timeout.as_secs().min(86_400) as _,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    // SAFETY: a live sigset_t and timespec; the siginfo pointer may be null.
    let signal = unsafe { libc::sigtimedwait(set, std::ptr::null_mut(), &timeout) };
    (signal > 0).then_some(signal)
}

/// Waits for a signal of `set` (blocked in this thread) and returns it.
pub(crate) fn sigwait(set: &libc::sigset_t) -> io::Result<libc::c_int> {
    let mut signal: libc::c_int = 0;
    // SAFETY: `set` is initialised and `signal` a live out-pointer.
    errno_result(unsafe { libc::sigwait(set, &mut signal) })?;
    Ok(signal)
}

/// Sends `signal` to this process.
#[cfg(test)]
pub(crate) fn raise(signal: libc::c_int) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    super::cvt(unsafe { libc::kill(libc::getpid(), signal) }).map(drop)
}
