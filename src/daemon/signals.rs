//! Shutdown and reload signals taken synchronously: SIGTERM, SIGINT and SIGHUP are blocked
//! (so no handler runs and no thread is interrupted) and the main thread collects them with a
//! timed wait, leaving it free to send watchdog pings between waits.

use std::time::Duration;

/// A signal the daemon acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM: shut down.
    Terminate,
    /// SIGINT: shut down.
    Interrupt,
    /// SIGHUP: re-read the config.
    Hangup,
}

/// The blocked signals, to wait for.
pub struct SignalSet {
    set: libc::sigset_t,
}

/// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread. Call it first thing in `main`:
/// threads started later inherit the mask, while a thread started earlier would still take
/// these signals with their default action (ending the process).
pub fn block_shutdown_signals() -> SignalSet {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a live sigset_t; these calls fail only for invalid signal numbers or
    // an invalid `how`, and the constants are valid.
    unsafe {
        libc::sigemptyset(&mut set);
        for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, signal);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    SignalSet { set }
}

impl SignalSet {
    /// The next pending signal of the set, waiting up to `timeout`; `None` when none came.
    pub fn wait(&self, timeout: Duration) -> Option<Signal> {
        // The field types differ between libcs (musl's time_t is changing); `as _` follows them.
        // One day of waiting at most keeps any of them from overflowing.
        let timeout = libc::timespec {
            tv_sec: timeout.as_secs().min(86_400) as _,
            tv_nsec: timeout.subsec_nanos() as _,
        };
        // SAFETY: a live sigset_t and timespec; the siginfo pointer may be null.
        let signal = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &timeout) };
        match signal {
            libc::SIGTERM => Some(Signal::Terminate),
            libc::SIGINT => Some(Signal::Interrupt),
            libc::SIGHUP => Some(Signal::Hangup),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Runs `check` in a forked, single-threaded child (a signal to the whole process would
    /// otherwise reach the test harness's other threads) and returns its exit status.
    fn in_child(check: fn() -> bool) -> i32 {
        // SAFETY: the child only calls async-signal-safe functions and leaves with _exit.
        match unsafe { libc::fork() } {
            -1 => panic!("fork failed"),
            0 => {
                let code = if check() { 0 } else { 1 };
                // SAFETY: ends the child without running the harness.
                unsafe { libc::_exit(code) }
            }
            pid => {
                let mut status = -1;
                // SAFETY: waits for our own child.
                assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
                status
            }
        }
    }

    fn raise(signal: libc::c_int) {
        // SAFETY: sends a signal to this process, which blocks it.
        unsafe { libc::kill(libc::getpid(), signal) };
    }

    #[test]
    fn blocked_signals_to_the_process_are_collected_by_wait() {
        let status = in_child(|| {
            let signals = block_shutdown_signals();
            let second = Duration::from_secs(1);
            raise(libc::SIGTERM);
            let terminate = signals.wait(second) == Some(Signal::Terminate);
            raise(libc::SIGINT);
            let interrupt = signals.wait(second) == Some(Signal::Interrupt);
            raise(libc::SIGHUP);
            let hangup = signals.wait(second) == Some(Signal::Hangup);
            terminate && interrupt && hangup
        });
        assert_eq!(status, 0, "the child did not collect all three signals");
    }

    #[test]
    fn wait_returns_none_after_the_timeout() {
        let signals = block_shutdown_signals();
        let started = Instant::now();
        assert_eq!(signals.wait(Duration::from_millis(50)), None);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(50), "{waited:?}");
    }
}
