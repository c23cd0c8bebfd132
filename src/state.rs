//! The state directory (`/run/cloud-network` by default): atomic file writes (temp file, fsync,
//! rename) and the ownership record `owned.json`. A corrupt record is reported and rebuilt
//! from the kernel (`Owned::adopt`), which can only mean "remove less": the safe direction.

use crate::plan::Owned;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// File name of the ownership record inside the state directory.
pub const OWNED_FILE: &str = "owned.json";

#[derive(Debug)]
pub struct StateError {
    pub path: PathBuf,
    pub action: &'static str,
    pub source: io::Error,
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot {} {}: {}",
            self.action,
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for StateError {}

/// Writes `contents` to `path` so that readers see the old file or the new one, never a mix:
/// a temporary file beside it, flushed to disk, then renamed over it. `mode` sets permissions
/// (0o600 for credentials).
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), StateError> {
    let err = |action, source| StateError {
        path: path.to_path_buf(),
        action,
        source,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| err("create the directory of", e))?;
    }
    let tmp = temp_path(path);
    let written = write_new(&tmp, contents, mode).and_then(|_| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(err("write", e));
    }
    Ok(())
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".tmp.{}", std::process::id()));
    path.with_file_name(name)
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut file: File = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// The outcome of reading the ownership record.
#[derive(Debug)]
pub enum OwnedLoad {
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
    pub fn into_owned(self) -> Owned {
        match self {
            OwnedLoad::Loaded(owned) => owned,
            OwnedLoad::Missing | OwnedLoad::Corrupt { .. } => Owned::default(),
        }
    }
}

pub fn owned_path(state_dir: &Path) -> PathBuf {
    state_dir.join(OWNED_FILE)
}

pub fn load_owned(state_dir: &Path) -> OwnedLoad {
    let path = owned_path(state_dir);
    match fs::read(&path) {
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

pub fn save_owned(state_dir: &Path, owned: &Owned) -> Result<(), StateError> {
    let mut text = serde_json::to_vec_pretty(owned).unwrap_or_default();
    text.push(b'\n');
    write_atomic(&owned_path(state_dir), &text, 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cn-state-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn atomic_write_replaces_and_sets_mode() {
        let dir = temp_dir("atomic");
        let path = dir.join("provider/ec2/credentials");
        write_atomic(&path, b"old", 0o600).unwrap();
        write_atomic(&path, b"new", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn owned_record_missing_corrupt_and_round_trip() {
        let dir = temp_dir("owned");
        assert!(matches!(load_owned(&dir), OwnedLoad::Missing));
        let owned = Owned::default();
        save_owned(&dir, &owned).unwrap();
        assert!(matches!(load_owned(&dir), OwnedLoad::Loaded(o) if o == owned));
        fs::write(owned_path(&dir), b"{\"version\":1,\"nics\":{\"00:0d").unwrap();
        match load_owned(&dir) {
            OwnedLoad::Corrupt { reason } => {
                assert!(reason.contains("not a valid ownership record"))
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        assert!(load_owned(&dir).into_owned().is_empty());
        fs::remove_dir_all(dir).unwrap();
    }
}
