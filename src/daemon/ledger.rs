//! The daemon's ownership record: as loaded at start, then as each round leaves it. It is
//! written only when it changed (a round that changes nothing writes nothing), and a record
//! found corrupt is rebuilt at the first round with good metadata.

use crate::plan::Owned;
use crate::state::{self, StateDir, StateError};

pub struct Ledger {
    state: StateDir,
    /// The record as last written (or loaded); None while a corrupt one waits to be rebuilt.
    owned: Option<Owned>,
}

impl Ledger {
    /// The record in `state`; a corrupt one is logged (see `daemon::load_owned`).
    pub fn open(state: StateDir) -> Ledger {
        let owned = super::load_owned(Some(&state));
        Ledger { state, owned }
    }

    /// The record a round starts from; None when it is to be rebuilt.
    pub fn record(&self) -> Option<Owned> {
        self.owned.clone()
    }

    /// Makes the record `owned`, writing it when it differs from the one on disk (or that one
    /// was corrupt). A failed write costs the record, not the network: the caller logs it.
    pub fn keep(&mut self, owned: &Owned) -> Result<(), StateError> {
        if self.owned.as_ref() == Some(owned) {
            return Ok(());
        }
        self.owned = Some(owned.clone());
        state::save_owned(&self.state, owned)
    }
}
