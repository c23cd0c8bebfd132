//! Kernel churn, damped: the rounds that kernel events ask for (a default route learned from
//! router advertisements came, changed or went; an object of ours went, which is also the echo
//! of our own deletes) run at once for a short burst, then at most one per [`EVENT_INTERVAL`];
//! a change seen meanwhile is held, never lost, and its round runs when the interval is up. A
//! round rewrites a NIC's IPv6 default at most once (a delete and an add), so router
//! advertisements flapping at any rate cost each NIC at most [`EVENT_BURST`] such rewrites at
//! first, then one a second. Rounds for new metadata, links and retries are not damped. Pure
//! arithmetic over `Instant`s.

use std::time::{Duration, Instant};

/// Kernel-event rounds run at once before the pace applies.
const EVENT_BURST: u32 = 3;
/// One kernel-event round more per this interval once the burst is spent.
const EVENT_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventDamper {
    tokens: u32,
    /// When the last token came back (or the bucket was last full).
    refilled: Instant,
    /// A change whose round waits for a token.
    held: bool,
}

impl EventDamper {
    pub(crate) fn new(now: Instant) -> EventDamper {
        EventDamper {
            tokens: EVENT_BURST,
            refilled: now,
            held: false,
        }
    }

    fn refill(&mut self, now: Instant) {
        while self.tokens < EVENT_BURST && now >= self.refilled + EVENT_INTERVAL {
            self.tokens += 1;
            self.refilled += EVENT_INTERVAL;
        }
        if self.tokens == EVENT_BURST {
            self.refilled = now;
        }
    }

    /// A kernel change seen at `now`: true when its round runs now; otherwise it is held
    /// until [`EventDamper::due`].
    pub(crate) fn changed(&mut self, now: Instant) -> bool {
        self.held = true;
        self.take_due(now)
    }

    /// When the round of a held change may run; None when nothing is held.
    pub(crate) fn due(&self) -> Option<Instant> {
        if !self.held {
            return None;
        }
        Some(if self.tokens > 0 {
            self.refilled
        } else {
            self.refilled + EVENT_INTERVAL
        })
    }

    /// True (once) when a held change's round may run at `now`: a token is spent on it.
    pub(crate) fn take_due(&mut self, now: Instant) -> bool {
        self.refill(now);
        if !self.held || self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        self.held = false;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// How many rounds a change every `every` for `run` starts, with the damper woken at each
    /// change and at each `due` (as the reconcile thread does).
    fn rounds(every: Duration, run: Duration) -> Vec<Duration> {
        let start = Instant::now();
        let mut damper = EventDamper::new(start);
        let mut rounds = Vec::new();
        let mut next_change = start;
        while next_change < start + run {
            let due = damper.due().filter(|at| *at < next_change);
            let now = due.unwrap_or(next_change);
            let ran = match due {
                Some(_) => damper.take_due(now),
                None => {
                    next_change += every;
                    damper.changed(now)
                }
            };
            if ran {
                rounds.push(now - start);
            }
        }
        rounds
    }

    #[test]
    fn changes_every_100_ms_make_one_round_a_second_after_a_burst_of_three() {
        let ms = Duration::from_millis;
        let rounds = rounds(ms(100), Duration::from_secs(10));
        assert_eq!(&rounds[..5], [ms(0), ms(100), ms(200), ms(1000), ms(2000)]);
        assert_eq!(rounds.len(), 12, "{rounds:?}");
        let after_burst = rounds[2..].windows(2).map(|w| w[1] - w[0]);
        assert!(
            after_burst.skip(1).all(|gap| gap == EVENT_INTERVAL),
            "{rounds:?}"
        );
    }

    #[test]
    fn a_change_held_for_its_interval_runs_then_and_is_not_lost() {
        let start = Instant::now();
        let mut damper = EventDamper::new(start);
        for _ in 0..EVENT_BURST {
            assert!(damper.changed(start));
        }
        assert_eq!(damper.due(), None);
        let third = start + Duration::from_millis(10);
        assert!(!damper.changed(third));
        assert!(!damper.changed(third), "a second held change adds nothing");
        let due = damper.due().expect("held");
        assert_eq!(due, start + EVENT_INTERVAL);
        assert!(!damper.take_due(due - Duration::from_millis(1)));
        assert!(damper.take_due(due));
        assert!(!damper.take_due(due), "one round for what was held");
        assert_eq!(damper.due(), None);
    }

    #[test]
    fn a_quiet_link_gets_its_burst_back() {
        let start = Instant::now();
        let mut damper = EventDamper::new(start);
        let burst = |at: Instant, damper: &mut EventDamper| {
            (0..EVENT_BURST + 1)
                .map(|_| damper.changed(at))
                .collect::<Vec<_>>()
        };
        assert_eq!(burst(start, &mut damper), [true, true, true, false]);
        let later = start + EVENT_INTERVAL * EVENT_BURST;
        assert_eq!(burst(later, &mut damper), [true, true, true, false]);
    }
}
