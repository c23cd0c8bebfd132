//! The daemon's ownership record: as loaded at start, claimed before each batch, then as each
//! round leaves it. It is written only when it changed (a round that changes nothing writes
//! nothing), a claim without waiting for the disk and the round's result durably (see
//! `state::claim_owned`), and a record found corrupt is rebuilt at the first round with good
//! metadata.

use crate::plan::Owned;
use crate::state::{self, StateDir, StateError};

pub struct Ledger {
    state: StateDir,
    /// The record as last written (or loaded); None while a corrupt one waits to be rebuilt.
    owned: Option<Owned>,
    /// Whether that record is on disk (fsynced), not only claimed.
    durable: bool,
}

impl Ledger {
    /// The record in `state`; a corrupt one is logged (see `daemon::load_owned`).
    pub fn open(state: StateDir) -> Ledger {
        let owned = super::load_owned(Some(&state));
        Ledger {
            state,
            owned,
            durable: true,
        }
    }

    /// The record a round starts from; None when it is to be rebuilt.
    pub fn record(&self) -> Option<Owned> {
        self.owned.clone()
    }

    /// Makes the record `owned`, writing it when it differs from the one on disk (or that one
    /// was corrupt). A failed write costs the record, not the network: the caller logs it.
    pub fn keep(&mut self, owned: &Owned) -> Result<(), StateError> {
        if self.durable && self.owned.as_ref() == Some(owned) {
            return Ok(());
        }
        self.owned = Some(owned.clone());
        self.durable = true;
        state::save_owned(&self.state, owned)
    }

    /// Makes the record `owned` before a batch (or a rebuilt one), written when it differs,
    /// without waiting for the disk; the next [`Ledger::keep`] writes it durably.
    pub fn claim(&mut self, owned: &Owned) -> Result<(), StateError> {
        if self.owned.as_ref() == Some(owned) {
            return Ok(());
        }
        self.owned = Some(owned.clone());
        self.durable = false;
        state::claim_owned(&self.state, owned)
    }
}
