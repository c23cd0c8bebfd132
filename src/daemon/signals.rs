//! Shutdown and reload signals taken synchronously: SIGTERM, SIGINT and SIGHUP are blocked
//! (so no handler runs and no thread is interrupted) and the main thread collects them with a
//! timed wait, leaving it free to send watchdog pings between waits.

use crate::sys;
use std::time::Duration;

/// A signal the daemon acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// SIGTERM: shut down.
    Terminate,
    /// SIGINT: shut down.
    Interrupt,
    /// SIGHUP: re-read the config.
    Hangup,
}

/// The blocked signals, to wait for.
pub(crate) struct SignalSet {
    set: libc::sigset_t,
}

/// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread. Call it first thing in `main`:
/// threads started later inherit the mask, while a thread started earlier would still take
/// these signals with their default action (ending the process).
pub(crate) fn block_shutdown_signals() -> SignalSet {
    let set = sys::signal_set(&[libc::SIGTERM, libc::SIGINT, libc::SIGHUP]);
    // Fails only for an invalid `how`, and SIG_BLOCK is valid.
    let _ = sys::block_signals(&set);
    SignalSet { set }
}

impl SignalSet {
    /// The next pending signal of the set, waiting up to `timeout`; `None` when none came.
    pub(crate) fn wait(&self, timeout: Duration) -> Option<Signal> {
        match sys::sigtimedwait(&self.set, timeout) {
            Some(libc::SIGTERM) => Some(Signal::Terminate),
            Some(libc::SIGINT) => Some(Signal::Interrupt),
            Some(libc::SIGHUP) => Some(Signal::Hangup),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Runs `check` in a forked, single-threaded child (a signal to the whole process would
    /// otherwise reach the test harness's other threads) and returns its answer: 1 for true.
    fn in_child(check: fn() -> bool) -> u8 {
        let [answer] = sys::in_child(|| [u8::from(check())]).expect("fork the child");
        answer
    }

    /// Sends `signal` to this process, which blocks it.
    fn raise(signal: libc::c_int) {
        sys::raise(signal).expect("kill");
    }

    #[test]
    fn blocked_signals_to_the_process_are_collected_by_wait() {
        let collected = in_child(|| {
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
        assert_eq!(collected, 1, "the child did not collect all three signals");
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
