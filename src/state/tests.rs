//! The state directory's own tests: atomic writes, links never followed, refused
//! directories, the lock and the ownership record.

use super::dir::parse_lock_line;
use super::*;
use crate::plan::Owned;
use std::fs::{self, Permissions};
use std::os::unix::fs::symlink;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

struct TempDir(PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(tag: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("cn-state-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
    TempDir(dir)
}

fn state(dir: &TempDir) -> StateDir {
    StateDir::create(&dir.0.join("state"), Trusted::default()).unwrap()
}

#[test]
fn atomic_write_replaces_and_sets_mode() {
    let dir = temp_dir("atomic");
    let state = state(&dir);
    state
        .write(
            "provider/ec2/credentials",
            b"old",
            0o600,
            Durability::Durable,
        )
        .unwrap();
    state
        .write(
            "provider/ec2/credentials",
            b"new",
            0o600,
            Durability::Atomic,
        )
        .unwrap();
    let path = dir.0.join("state/provider/ec2/credentials");
    assert_eq!(fs::read(&path).unwrap(), b"new");
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left behind");
}

#[test]
fn a_file_that_was_there_is_replaced_not_inherited() {
    let dir = temp_dir("inherit");
    let state = state(&dir);
    let path = dir.0.join("state/credentials");
    fs::write(&path, b"planted").unwrap();
    fs::set_permissions(&path, Permissions::from_mode(0o666)).unwrap();
    let planted = fs::metadata(&path).unwrap().ino();
    state
        .write("credentials", b"secret", 0o600, Durability::Atomic)
        .unwrap();
    let meta = fs::metadata(&path).unwrap();
    assert_ne!(meta.ino(), planted);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[test]
fn links_in_the_directory_are_never_followed() {
    let dir = temp_dir("links");
    let state = state(&dir);
    let victim = dir.0.join("victim");
    fs::create_dir(&victim).unwrap();
    symlink(&victim, dir.0.join("state/links")).unwrap();
    let error = state
        .write("links/3", b"{}", 0o644, Durability::Atomic)
        .unwrap_err();
    assert!(
        error
            .to_string()
            .ends_with("links is a symlink or not a directory; not followed"),
        "{error}"
    );
    assert_eq!(fs::read_dir(&victim).unwrap().count(), 0);
    symlink(dir.0.join("victim-file"), dir.0.join("state/owned.json")).unwrap();
    assert!(matches!(load_owned(&state), OwnedLoad::Corrupt { .. }));
}

#[test]
fn a_symlinked_or_shared_state_dir_is_refused() {
    let dir = temp_dir("refused");
    let real = dir.0.join("real");
    fs::create_dir(&real).unwrap();
    let link = dir.0.join("link");
    symlink(&real, &link).unwrap();
    assert!(matches!(
        StateDir::create(&link, Trusted::default()),
        Err(StateDirError::Symlink(_))
    ));
    assert!(matches!(
        StateDir::open(&link, Trusted::default()),
        Err(StateDirError::Symlink(_))
    ));
    fs::set_permissions(&real, Permissions::from_mode(0o777)).unwrap();
    let error = StateDir::open(&real, Trusted::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "StateDir {} is writable by every user (mode 0777); refused (it must be \
             writable only by root or the service user)",
            real.display()
        )
    );
    assert_eq!(error.exit_status(), 78);
    fs::set_permissions(&real, Permissions::from_mode(0o1777)).unwrap();
    assert!(check_state_dir(&real, Trusted::default()).is_err());
}

#[test]
fn a_second_lock_fails_naming_the_holder() {
    let dir = temp_dir("lock");
    let first = state(&dir);
    let _held = first.lock().unwrap();
    let second = StateDir::open(first.path(), Trusted::default()).unwrap();
    let error = second.lock().unwrap_err();
    assert_eq!(error.holder, Some(std::process::id()), "{error}");
    assert!(error.to_string().starts_with(&format!(
        "another cloud-network (PID {}) holds StateDir",
        std::process::id()
    )));
}

#[test]
fn the_lock_line_of_proc_locks_is_read() {
    let line = parse_lock_line("3: FLOCK  ADVISORY  WRITE 4242 00:1a:123456 0 EOF").unwrap();
    assert_eq!((line.pid, line.dev, line.inode), (4242, (0, 0x1a), 123456));
    assert!(parse_lock_line("1: POSIX  ADVISORY  WRITE 1 00:1a:1 0 EOF").is_none());
}

#[test]
fn owned_record_missing_corrupt_and_round_trip() {
    let dir = temp_dir("owned");
    let state = state(&dir);
    assert!(matches!(load_owned(&state), OwnedLoad::Missing));
    let owned = Owned::default();
    save_owned(&state, &owned).unwrap();
    assert!(matches!(load_owned(&state), OwnedLoad::Loaded(o) if o == owned));
    let path = dir.0.join("state").join(OWNED_FILE);
    fs::write(&path, b"{\"version\":1,\"nics\":{\"00:0d").unwrap();
    match load_owned(&state) {
        OwnedLoad::Corrupt { reason } => {
            assert!(reason.contains("not a valid ownership record"))
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(load_owned(&state).into_owned().is_empty());
}
