//! The reconcile thread's own retry timing: the backoff after failed metadata fetches and
//! after rounds whose changes partly failed (1 s, doubling, capped by `RefreshTimer`; the same
//! arithmetic as the HTTP retry policy), and the schedule for applying the metadata in hand
//! again after such a round. Pure arithmetic over `Instant`s, tested without a clock.

use crate::metadata::http::RetryPolicy;
use std::time::{Duration, Instant};

/// First retry delay after a failed fetch or a round with failed changes.
const BACKOFF_BASE: Duration = Duration::from_secs(1);

/// The backoff ceiling after `failures` failures in a row (from 1): `BACKOFF_BASE` doubled
/// per further failure, capped by `cap` (the refresh timer).
pub(crate) fn backoff_ceiling(failures: u32, cap: Duration) -> Duration {
    RetryPolicy {
        attempts: 1,
        base: BACKOFF_BASE,
        max: cap,
    }
    .ceiling(failures)
}

/// When the metadata in hand is applied again after rounds with failed changes (an IPv6
/// address still tentative, a link mid-change): after the backoff ceiling itself, without
/// jitter (it costs no metadata request), counted over the failed rounds in a row and
/// cleared by a round without failures.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Reapply {
    failed_rounds: u32,
    due: Option<Instant>,
}

impl Reapply {
    /// A round ended at `now` with failed changes: the next re-apply is due after the
    /// backoff; returns that delay.
    pub(crate) fn failed(&mut self, now: Instant, cap: Duration) -> Duration {
        self.failed_rounds = self.failed_rounds.saturating_add(1);
        let delay = backoff_ceiling(self.failed_rounds, cap);
        self.due = Some(now + delay);
        delay
    }

    /// A round without failures: nothing is due any more. Returns how many failed rounds
    /// came before it (0 when there were none).
    pub(crate) fn succeeded(&mut self) -> u32 {
        self.due = None;
        std::mem::take(&mut self.failed_rounds)
    }

    /// When the next re-apply is due, if one is scheduled.
    pub(crate) fn due(&self) -> Option<Instant> {
        self.due
    }

    /// True once when the re-apply is due at `now`; it is then no longer scheduled (the round
    /// it starts schedules the next one if it fails again).
    pub(crate) fn take_due(&mut self, now: Instant) -> bool {
        let due = self.due.is_some_and(|at| at <= now);
        if due {
            self.due = None;
        }
        due
    }
}

/// The earlier of two optional deadlines.
pub(crate) fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    a.into_iter().chain(b).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::test_clock::secs;

    const MINUTES_5: Duration = Duration::from_secs(300);

    #[test]
    fn the_ceiling_doubles_from_1_s_up_to_the_refresh_timer() {
        let ceilings: Vec<Duration> = (1..=11).map(|n| backoff_ceiling(n, MINUTES_5)).collect();
        let expected = [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300].map(secs);
        assert_eq!(ceilings, expected);
        assert_eq!(backoff_ceiling(u32::MAX, MINUTES_5), MINUTES_5);
        assert_eq!(backoff_ceiling(3, secs(2)), secs(2));
    }

    #[test]
    fn failed_rounds_back_off_and_a_good_round_resets() {
        let start = Instant::now();
        let mut reapply = Reapply::default();
        assert_eq!(reapply.due(), None);
        assert_eq!(reapply.failed(start, MINUTES_5), secs(1));
        assert_eq!(reapply.due(), Some(start + secs(1)));
        assert_eq!(reapply.failed(start + secs(1), MINUTES_5), secs(2));
        assert_eq!(reapply.failed(start + secs(3), MINUTES_5), secs(4));
        assert_eq!(reapply.due(), Some(start + secs(7)));
        assert_eq!(reapply.succeeded(), 3);
        assert_eq!(reapply.due(), None);
        assert_eq!(reapply.succeeded(), 0);
        assert_eq!(reapply.failed(start + secs(10), MINUTES_5), secs(1));
    }

    #[test]
    fn a_due_reapply_is_taken_once_and_not_before_its_time() {
        let start = Instant::now();
        let mut reapply = Reapply::default();
        assert!(!reapply.take_due(start + secs(3600)), "nothing scheduled");
        reapply.failed(start, MINUTES_5);
        assert!(!reapply.take_due(start + Duration::from_millis(999)));
        assert!(reapply.take_due(start + secs(1)));
        assert!(!reapply.take_due(start + secs(2)), "taken already");
        assert_eq!(reapply.due(), None);
        assert_eq!(
            reapply.failed(start + secs(2), MINUTES_5),
            secs(2),
            "still counting"
        );
    }

    #[test]
    fn the_deadline_is_the_earlier_of_fetch_and_reapply() {
        let start = Instant::now();
        let (soon, later) = (Some(start + secs(1)), Some(start + secs(300)));
        assert_eq!(earliest(later, soon), soon);
        assert_eq!(earliest(soon, later), soon);
        assert_eq!(earliest(None, soon), soon, "timed while a fetch is out");
        assert_eq!(earliest(later, None), later);
        assert_eq!(earliest(None, None), None);
    }
}
