//! The reconcile thread's memory of problems, so each is logged once, not every round: errors
//! (until a round without failures clears them; the last one is shown by the API), the changes
//! the kernel refused (each logged when it first fails, not again while it fails every round,
//! however many there are), warnings
//! (skipped NICs, disowned entries, unsaved files), and the NIC problems of the last round
//! (unknown NICs and sanity gate refusals: logged when they first appear, forgotten when they
//! go). Bounded: past `REMEMBERED` distinct errors the memory starts over.

use crate::plan::Skipped;
use crate::snapshot::ErrorRecord;
use std::collections::HashSet;

/// Distinct errors remembered as logged; past this the memory starts over (bounded memory).
const REMEMBERED: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct Problems {
    /// Errors logged since the last round without failures, by `message_key`.
    errors: HashSet<String>,
    /// The changes that failed in the last round with failures, by `message_key`: bounded by
    /// one round's changes, so a failure repeated every round is logged once.
    failed_changes: HashSet<String>,
    warnings: HashSet<String>,
    /// The last round's NIC problems, one line per NIC.
    nic_problems: HashSet<String>,
    last_error: Option<ErrorRecord>,
}

impl Problems {
    /// Records an error at `time` (RFC 3339) for the API; logs it when it is new. True when
    /// it was logged.
    pub(crate) fn error(&mut self, message: String, time: String) -> bool {
        if self.errors.len() >= REMEMBERED {
            self.errors.clear();
        }
        let new = self.errors.insert(message_key(&message).to_string());
        if new {
            log::error!("{message}");
        }
        self.last_error = Some(ErrorRecord { time, message });
        new
    }

    /// A round whose changes failed (one line each): logs those that did not fail in the last
    /// such round, remembers this round's, and keeps the last as the API's error. Returns the
    /// lines logged.
    pub(crate) fn failed_changes(&mut self, lines: Vec<String>, time: String) -> Vec<String> {
        let keys: HashSet<String> = lines.iter().map(|l| message_key(l).to_string()).collect();
        let new: Vec<String> = lines
            .iter()
            .filter(|l| !self.failed_changes.contains(message_key(l)))
            .cloned()
            .collect();
        for line in &new {
            log::error!("{line}");
        }
        self.failed_changes = keys;
        if let Some(message) = lines.into_iter().last() {
            self.last_error = Some(ErrorRecord { time, message });
        }
        new
    }

    /// A round without failures: the errors are over, and logged again should they return.
    pub(crate) fn resolved(&mut self) {
        self.last_error = None;
        self.errors.clear();
        self.failed_changes.clear();
    }

    pub(crate) fn last_error(&self) -> Option<&ErrorRecord> {
        self.last_error.as_ref()
    }

    /// Logs a warning the first time it is seen; true then.
    pub(crate) fn warn_once(&mut self, message: &str) -> bool {
        let new = self.warnings.insert(message.to_string());
        if new {
            log::warn!("{message}");
        }
        new
    }

    /// The skips not logged before (the caller logs them, grouped).
    pub(crate) fn new_skips<'a>(&mut self, skipped: &'a [Skipped]) -> Vec<&'a Skipped> {
        skipped
            .iter()
            .filter(|s| self.warnings.insert(s.to_string()))
            .collect()
    }

    /// Logs this round's NIC problems that were not there last round and forgets those that
    /// went away; returns the lines logged.
    pub(crate) fn nic_problems(&mut self, lines: &[String]) -> Vec<String> {
        let lines: HashSet<String> = lines.iter().cloned().collect();
        let mut new: Vec<String> = lines.difference(&self.nic_problems).cloned().collect();
        // The lines are distinct (a set's difference): an unstable sort orders them the same.
        new.sort_unstable();
        for line in &new {
            log::warn!("{line}");
        }
        self.nic_problems = lines;
        new
    }
}

/// The part of an error message that identifies it (the retry delay varies between rounds).
fn message_key(message: &str) -> &str {
    message.split(" (retry in ").next().unwrap_or(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(problems: &mut Problems, message: &str) -> bool {
        problems.error(message.to_string(), "2026-01-01T00:00:00Z".to_string())
    }

    #[test]
    fn an_error_is_logged_once_whatever_its_retry_delay_until_resolved() {
        let mut problems = Problems::default();
        assert!(error(&mut problems, "eth1: add failed (retry in 1s)"));
        assert!(!error(&mut problems, "eth1: add failed (retry in 2s)"));
        let last = problems.last_error().unwrap();
        assert_eq!(last.message, "eth1: add failed (retry in 2s)");
        assert!(error(&mut problems, "eth2: add failed (retry in 2s)"));
        problems.resolved();
        assert_eq!(problems.last_error(), None);
        assert!(error(&mut problems, "eth1: add failed (retry in 1s)"));
    }

    /// Issue 24: 126 VLAN links whose adds fail every round were 1,893 error lines in 15 s.
    #[test]
    fn a_change_that_fails_every_round_is_logged_once_however_many_fail() {
        let mut problems = Problems::default();
        let failures = |retry: &str| -> Vec<String> {
            (0..126)
                .map(|n| format!("eth0: ip link add eth0.{n} failed: EEXIST (retry in {retry})"))
                .collect()
        };
        let time = || "2026-01-01T00:00:00Z".to_string();
        assert_eq!(problems.failed_changes(failures("1s"), time()).len(), 126);
        for retry in ["2s", "4s", "8s", "16s", "30s"] {
            assert!(problems.failed_changes(failures(retry), time()).is_empty());
        }
        let last = problems.last_error().map(|e| e.message.clone());
        assert_eq!(
            last.as_deref(),
            Some("eth0: ip link add eth0.125 failed: EEXIST (retry in 30s)")
        );
        let fewer: Vec<String> = failures("30s").into_iter().take(2).collect();
        assert!(problems.failed_changes(fewer, time()).is_empty());
        assert_eq!(
            problems.failed_changes(failures("30s"), time()).len(),
            124,
            "those that failed again after a round without them are logged again"
        );
        problems.resolved();
        assert_eq!(problems.failed_changes(failures("1s"), time()).len(), 126);
    }

    #[test]
    fn the_error_memory_is_bounded() {
        let mut problems = Problems::default();
        for n in 0..REMEMBERED {
            assert!(error(&mut problems, &format!("problem {n}")));
        }
        assert_eq!(problems.errors.len(), REMEMBERED);
        assert!(error(&mut problems, "problem 0"), "the memory started over");
        assert!(error(&mut problems, "problem 1"));
        assert!(!error(&mut problems, "problem 0"));
        assert_eq!(problems.errors.len(), 2);
    }

    #[test]
    fn a_warning_is_logged_once() {
        let mut problems = Problems::default();
        assert!(problems.warn_once("state files not written"));
        assert!(!problems.warn_once("state files not written"));
        problems.resolved();
        assert!(
            !problems.warn_once("state files not written"),
            "not an error"
        );
        let mac = "02:00:00:00:00:02".parse().unwrap();
        let skipped = [Skipped::NoLink { mac }];
        assert_eq!(problems.new_skips(&skipped).len(), 1);
        assert!(problems.new_skips(&skipped).is_empty());
    }

    #[test]
    fn nic_problems_are_logged_when_they_appear_and_again_after_they_went() {
        let mut problems = Problems::default();
        let mut round = |lines: &[&str]| {
            let lines: Vec<String> = lines.iter().map(ToString::to_string).collect();
            problems.nic_problems(&lines)
        };
        assert_eq!(round(&["NIC a: refused"]), ["NIC a: refused"]);
        assert_eq!(
            round(&["NIC a: refused", "NIC b: unknown"]),
            ["NIC b: unknown"]
        );
        assert!(round(&["NIC a: refused", "NIC b: unknown"]).is_empty());
        assert!(round(&["NIC b: unknown"]).is_empty());
        assert_eq!(
            round(&["NIC a: refused", "NIC b: unknown"]),
            ["NIC a: refused"]
        );
    }
}
