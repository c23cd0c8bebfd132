//! The ownership record, the one way the daemon and `--oneshot` write it: as loaded at start,
//! claimed before each batch, then as each round leaves it. It is written only when it
//! changed (a daemon round that changes nothing writes nothing), a claim without waiting for
//! the disk and the round's result durably (see `state::claim_owned`), and a record found
//! corrupt is rebuilt at the first round with good metadata.

use crate::plan::Owned;
use crate::state::{self, StateDir, StateError};

pub(crate) struct Ledger {
    state: StateDir,
    /// The record as last written (or loaded); None while a corrupt one waits to be rebuilt.
    owned: Option<Owned>,
    /// Whether that record is on disk (fsynced), not only claimed.
    durable: bool,
}

impl Ledger {
    /// The record in `state`; a corrupt one is logged (see `daemon::load_owned`).
    pub(crate) fn open(state: StateDir) -> Ledger {
        let owned = super::load_owned(Some(&state));
        Ledger {
            state,
            owned,
            durable: true,
        }
    }

    /// The record in `state`, not taken to be on disk yet: the first [`Ledger::keep`] writes
    /// it durably even when unchanged, as `--oneshot` leaves it whatever it found (a claim
    /// left by a process killed mid-batch, a first start without one).
    pub(crate) fn open_to_save(state: StateDir) -> Ledger {
        Ledger {
            durable: false,
            ..Ledger::open(state)
        }
    }

    /// The record a round starts from; None when it is to be rebuilt.
    pub(crate) fn record(&self) -> Option<Owned> {
        self.owned.clone()
    }

    /// Makes the record `owned`, writing it when it differs from the one on disk (or that one
    /// was corrupt). A failed write costs the record, not the network: the caller logs it.
    pub(crate) fn keep(&mut self, owned: &Owned) -> Result<(), StateError> {
        if self.durable && self.owned.as_ref() == Some(owned) {
            return Ok(());
        }
        self.owned = Some(owned.clone());
        self.durable = true;
        state::save_owned(&self.state, owned)
    }

    /// Makes the record `owned` before a batch (or a rebuilt one), written when it differs,
    /// without waiting for the disk; the next [`Ledger::keep`] writes it durably.
    pub(crate) fn claim(&mut self, owned: &Owned) -> Result<(), StateError> {
        if self.owned.as_ref() == Some(owned) {
            return Ok(());
        }
        self.owned = Some(owned.clone());
        self.durable = false;
        state::claim_owned(&self.state, owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::test_dir::TempDir;
    use crate::kernel::{Family, Rule, TABLE_MAIN};
    use crate::state::{Trusted, OWNED_FILE};
    use std::fs;
    use std::os::unix::fs::MetadataExt;

    fn temp(tag: &str) -> TempDir {
        TempDir::new(&format!("ledger-{tag}"))
    }

    fn state(dir: &TempDir) -> StateDir {
        StateDir::create(dir.path(), Trusted::default()).unwrap()
    }

    /// A record holding one rule at `priority`.
    fn record(priority: u32) -> Owned {
        let mut owned = Owned::default();
        owned.global_rules.insert(Rule {
            family: Family::V4,
            priority,
            src: None,
            dst: None,
            table: TABLE_MAIN,
            suppress_prefixlen: None,
            suppress_ifgroup: None,
        });
        owned
    }

    /// The record on disk and the inode it is in (a write renames a new file into place).
    fn on_disk(dir: &TempDir) -> Option<(Owned, u64)> {
        let path = dir.path().join(OWNED_FILE);
        let inode = fs::metadata(&path).ok()?.ino();
        let owned = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        Some((owned, inode))
    }

    #[test]
    fn the_daemon_writes_the_record_only_when_it_changed() {
        let dir = temp("daemon");
        let mut ledger = Ledger::open(state(&dir));
        assert_eq!(ledger.record(), Some(Owned::default()));
        ledger.keep(&Owned::default()).unwrap();
        assert_eq!(on_disk(&dir), None, "nothing to record, nothing written");
        ledger.keep(&record(100)).unwrap();
        let (_, first) = on_disk(&dir).unwrap();

        let mut ledger = Ledger::open(state(&dir));
        assert_eq!(ledger.record(), Some(record(100)));
        ledger.keep(&record(100)).unwrap();
        assert_eq!(on_disk(&dir), Some((record(100), first)), "unchanged");
        ledger.claim(&record(200)).unwrap();
        let (claim, claimed) = on_disk(&dir).unwrap();
        assert_eq!(claim, record(200));
        ledger.keep(&record(200)).unwrap();
        let (kept, durable) = on_disk(&dir).unwrap();
        assert_eq!(kept, record(200));
        assert_ne!(durable, claimed, "a claim is written again, durably");
    }

    #[test]
    fn a_oneshot_saves_the_record_even_when_unchanged() {
        let dir = temp("oneshot");
        let mut ledger = Ledger::open_to_save(state(&dir));
        ledger.keep(&Owned::default()).unwrap();
        let (empty, first) = on_disk(&dir).expect("the empty record is written");
        assert_eq!(empty, Owned::default());

        let mut ledger = Ledger::open_to_save(state(&dir));
        ledger.keep(&Owned::default()).unwrap();
        let (again, second) = on_disk(&dir).unwrap();
        assert_eq!(again, Owned::default());
        assert_ne!(second, first, "written again");
    }

    #[test]
    fn a_corrupt_record_is_rebuilt_by_the_first_keep() {
        let dir = temp("corrupt");
        let state = state(&dir);
        fs::write(dir.path().join(OWNED_FILE), b"{\"version\":1,\"nics\":{").unwrap();
        let mut ledger = Ledger::open(state);
        assert_eq!(ledger.record(), None, "to be rebuilt");
        ledger.keep(&Owned::default()).unwrap();
        assert_eq!(on_disk(&dir).unwrap().0, Owned::default());
    }
}
