//! Durations for the unit tests of the daemon's timers, which take `now` as plain data: each
//! test counts from one `Instant` of its own.

use std::time::Duration;

pub(super) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
