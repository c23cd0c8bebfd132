//! The state directory, made (mode 0755) and handed to the service user before the drop.

use super::PrivilegeError;
use std::fs::{self, DirBuilder};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

const STATE_DIR_MODE: u32 = 0o755;

/// Creates the state directory and hands it to the service user. A state directory that is
/// read-only or full costs the state files, never the network: the caller only warns.
pub(super) fn prepare_state_dir(
    path: &Path,
    owner: Option<(u32, u32)>,
) -> Result<(), PrivilegeError> {
    create_state_dir(path)?;
    match owner {
        Some((uid, gid)) => chown_tree(path, uid, gid),
        None => Ok(()),
    }
}

fn create_state_dir(path: &Path) -> Result<(), PrivilegeError> {
    let fail = |action, source| PrivilegeError::StateDir {
        path: path.to_path_buf(),
        action,
        source,
    };
    DirBuilder::new()
        .recursive(true)
        .mode(STATE_DIR_MODE)
        .create(path)
        .map_err(|e| fail("create", e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(STATE_DIR_MODE))
        .map_err(|e| fail("set mode 0755 on", e))
}

/// Gives the directory and everything inside it to `uid:gid`; symlinks themselves, never
/// their targets.
fn chown_tree(path: &Path, uid: u32, gid: u32) -> Result<(), PrivilegeError> {
    let fail = |path: &Path, action, source| PrivilegeError::StateDir {
        path: path.to_path_buf(),
        action,
        source,
    };
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(|e| fail(path, "chown", e))?;
    if !fs::symlink_metadata(path)
        .map_err(|e| fail(path, "inspect", e))?
        .is_dir()
    {
        return Ok(());
    }
    for entry in fs::read_dir(path).map_err(|e| fail(path, "list", e))? {
        let entry = entry.map_err(|e| fail(path, "list", e))?;
        chown_tree(&entry.path(), uid, gid)?;
    }
    Ok(())
}
