//! The ownership record `owned.json`: read back (missing and corrupt told apart), saved
//! durably, or claimed before a batch.

use super::dir::StateDir;
use super::error::StateError;
use super::{Durability, OWNED_FILE};
use crate::plan::Owned;
use std::io;

/// The outcome of reading the ownership record.
#[derive(Debug)]
pub(crate) enum OwnedLoad {
    Loaded(Owned),
    /// No record yet: a first start, or a state dir on a fresh tmpfs.
    Missing,
    /// The file exists but cannot be used; `reason` says why. Nothing is deleted, and the
    /// record is rebuilt from what the kernel holds with our marks (`Owned::adopt`).
    Corrupt {
        reason: String,
    },
}

impl OwnedLoad {
    pub(crate) fn into_owned(self) -> Owned {
        match self {
            OwnedLoad::Loaded(owned) => owned,
            OwnedLoad::Missing | OwnedLoad::Corrupt { .. } => Owned::default(),
        }
    }
}

pub(crate) fn load_owned(state: &StateDir) -> OwnedLoad {
    let path = state.path().join(OWNED_FILE);
    match state.read(OWNED_FILE) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => OwnedLoad::Missing,
        Err(e) => OwnedLoad::Corrupt {
            reason: format!("cannot read {}: {e}", path.display()),
        },
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(owned) => OwnedLoad::Loaded(owned),
            Err(e) => OwnedLoad::Corrupt {
                reason: format!("{} is not a valid ownership record: {e}", path.display()),
            },
        },
    }
}

/// Saves the record atomically and durably (file and directory fsynced).
pub(crate) fn save_owned(state: &StateDir, owned: &Owned) -> Result<(), StateError> {
    write_owned(state, owned, Durability::Durable)
}

/// Saves the claim made before a netlink batch: atomically, without waiting for the disk.
/// Killed mid-batch, the next start reads this claim (the renamed file is in the page cache,
/// which outlives the process). What the fsyncs would add is the claim surviving a machine
/// crash, which takes every object of the batch with the kernel's state: they would hold up
/// the batch (2–12 ms each on a busy disk) for nothing. The caller saves the record durably
/// after the batch ([`save_owned`]).
pub(crate) fn claim_owned(state: &StateDir, owned: &Owned) -> Result<(), StateError> {
    write_owned(state, owned, Durability::Atomic)
}

fn write_owned(state: &StateDir, owned: &Owned, durability: Durability) -> Result<(), StateError> {
    let mut text = serde_json::to_vec_pretty(owned).unwrap_or_default();
    text.push(b'\n');
    state.write(OWNED_FILE, &text, 0o644, durability)
}
