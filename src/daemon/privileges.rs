//! Dropping root at start-up: create the state directory, switch to the service user when it
//! exists, and keep only the capabilities the daemon needs (CAP_NET_ADMIN, plus
//! CAP_NET_BIND_SERVICE for a privileged API port), verified by reading them back.
//!
//! Capability sets and the keep-capabilities flag belong to one thread: [`drop_privileges`]
//! must run first thing in `main`, before any thread exists, or the other threads keep
//! everything (or, after the user switch, end up with nothing).

use caps::{CapSet, Capability, CapsHashSet};
use std::ffi::{CStr, CString};
use std::fmt;
use std::fs::{self, DirBuilder};
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The user the daemon runs as when it exists.
pub const SERVICE_USER: &str = "cloud-network";
const STATE_DIR_MODE: u32 = 0o755;
/// Starting size of the getpwnam_r buffer; doubled on ERANGE up to the cap.
const PASSWD_BUF_BYTES: usize = 1024;
const PASSWD_BUF_MAX_BYTES: usize = 1 << 20;

/// What to drop to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivilegePlan {
    /// The user to switch to ([`SERVICE_USER`]).
    pub user: String,
    /// Created (with parents, mode 0755) and given to the user.
    pub state_dir: PathBuf,
    /// Also keep CAP_NET_BIND_SERVICE (the API listens on a port below 1024).
    pub keep_bind_service: bool,
}

/// What was done, for one log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivilegeReport {
    /// Not started as root: nothing was changed.
    NotRoot { euid: u32 },
    /// Now running as `user`, keeping only `caps` (also in the ambient set).
    SwitchedUser {
        user: String,
        uid: u32,
        gid: u32,
        caps: Vec<Capability>,
    },
    /// `user` does not exist: still root, but with only `caps`, and nothing else in the
    /// bounding set.
    StayedRoot { user: String, caps: Vec<Capability> },
}

#[derive(Debug)]
pub enum PrivilegeError {
    /// The state directory could not be created, given its mode, or given to the user.
    StateDir {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
    /// The user database could not be read (not the same as the user not existing).
    UserLookup { user: String, source: io::Error },
    /// `setgroups`, `setresgid` or `setresuid` failed.
    SwitchIds {
        call: &'static str,
        source: io::Error,
    },
    /// A capability or securebits call failed.
    Capabilities { step: String, reason: String },
    /// Read back after the fact, a set or id is not what it should be.
    Verify {
        what: &'static str,
        found: String,
        expected: String,
    },
}

/// Creates the state directory and drops to the plan's user and capabilities (see the module
/// doc: call it before any thread exists). Not root: changes nothing.
pub fn drop_privileges(plan: &PrivilegePlan) -> Result<PrivilegeReport, PrivilegeError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Ok(PrivilegeReport::NotRoot { euid });
    }
    let user = lookup_user(&plan.user)?;
    if let Err(e) = prepare_state_dir(&plan.state_dir, user) {
        log::warn!("{e}; going on: the network is configured, state files may not be written");
    }
    let caps = kept_caps(plan.keep_bind_service);
    let keep: CapsHashSet = caps.iter().copied().collect();
    let report = match user {
        Some((uid, gid)) => {
            switch_user(uid, gid, &keep)?;
            verify_sets(&keep, &keep)?;
            verify_uids(uid)?;
            PrivilegeReport::SwitchedUser {
                user: plan.user.clone(),
                uid,
                gid,
                caps,
            }
        }
        None => {
            stay_root(&keep)?;
            verify_sets(&keep, &CapsHashSet::new())?;
            verify_bounding_set(&keep)?;
            verify_uids(0)?;
            PrivilegeReport::StayedRoot {
                user: plan.user.clone(),
                caps,
            }
        }
    };
    Ok(report)
}

fn kept_caps(keep_bind_service: bool) -> Vec<Capability> {
    let mut keep = vec![Capability::CAP_NET_ADMIN];
    if keep_bind_service {
        keep.push(Capability::CAP_NET_BIND_SERVICE);
    }
    keep
}

fn sorted(caps: &CapsHashSet) -> Vec<Capability> {
    let mut list: Vec<Capability> = caps.iter().copied().collect();
    list.sort_by_key(|cap| cap.index());
    list
}

/// Creates the state directory and hands it to the service user. A state directory that is
/// read-only or full costs the state files, never the network: the caller only warns.
fn prepare_state_dir(path: &Path, owner: Option<(u32, u32)>) -> Result<(), PrivilegeError> {
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

/// The user's uid and gid, `None` when there is no such user.
pub fn lookup_user(user: &str) -> Result<Option<(u32, u32)>, PrivilegeError> {
    let fail = |source| PrivilegeError::UserLookup {
        user: user.to_string(),
        source,
    };
    let name = CString::new(user)
        .map_err(|_| fail(io::Error::new(io::ErrorKind::InvalidInput, "NUL in name")))?;
    let mut buf = vec![0 as libc::c_char; PASSWD_BUF_BYTES];
    loop {
        match getpwnam(&name, &mut buf) {
            Err(e)
                if e.raw_os_error() == Some(libc::ERANGE) && buf.len() < PASSWD_BUF_MAX_BYTES =>
            {
                buf.resize(buf.len() * 2, 0);
            }
            other => return other.map_err(fail),
        }
    }
}

fn getpwnam(name: &CStr, buf: &mut [libc::c_char]) -> io::Result<Option<(u32, u32)>> {
    // SAFETY: passwd is plain data; getpwnam_r fills it (its strings point into `buf`).
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call and `buf.len()` is the buffer's real size.
    let rc = unsafe {
        libc::getpwnam_r(
            name.as_ptr(),
            &mut entry,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    match rc {
        0 if found.is_null() => Ok(None),
        0 => Ok(Some((entry.pw_uid, entry.pw_gid))),
        libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM => Ok(None),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

/// The ids with keepcaps on, then the sets, then ambient (the user switch emptied it).
fn switch_user(uid: u32, gid: u32, keep: &CapsHashSet) -> Result<(), PrivilegeError> {
    caps_step("turn keepcaps on", caps::securebits::set_keepcaps(true))?;
    // SAFETY: an empty group list; no pointer is read.
    id_call("setgroups", unsafe { libc::setgroups(0, std::ptr::null()) })?;
    // SAFETY: plain integer arguments.
    id_call("setresgid", unsafe { libc::setresgid(gid, gid, gid) })?;
    // SAFETY: plain integer arguments.
    id_call("setresuid", unsafe { libc::setresuid(uid, uid, uid) })?;
    limit_sets(keep)?;
    for cap in keep {
        caps_step(
            &format!("raise {cap} in the ambient set"),
            caps::raise(None, CapSet::Ambient, *cap),
        )?;
    }
    caps_step("turn keepcaps off", caps::securebits::set_keepcaps(false))
}

/// Bounding set first (dropping from it needs CAP_SETPCAP), then the sets; root needs no
/// ambient capabilities.
fn stay_root(keep: &CapsHashSet) -> Result<(), PrivilegeError> {
    limit_bounding_set(keep)?;
    limit_sets(keep)?;
    caps_step("clear the ambient set", caps::clear(None, CapSet::Ambient))
}

fn limit_bounding_set(keep: &CapsHashSet) -> Result<(), PrivilegeError> {
    let bounding = caps_step("read the bounding set", caps::read(None, CapSet::Bounding))?;
    for cap in bounding.difference(keep) {
        caps_step(
            &format!("drop {cap} from the bounding set"),
            caps::drop(None, CapSet::Bounding, *cap),
        )?;
    }
    Ok(())
}

/// Effective first (it must stay within permitted), then permitted, then inheritable.
fn limit_sets(keep: &CapsHashSet) -> Result<(), PrivilegeError> {
    for (set, name) in [
        (CapSet::Effective, "effective"),
        (CapSet::Permitted, "permitted"),
        (CapSet::Inheritable, "inheritable"),
    ] {
        caps_step(&format!("set the {name} set"), caps::set(None, set, keep))?;
    }
    Ok(())
}

/// Reads back the effective, permitted and inheritable sets (`keep`) and the ambient set.
fn verify_sets(keep: &CapsHashSet, ambient: &CapsHashSet) -> Result<(), PrivilegeError> {
    let expected = [
        (CapSet::Effective, "effective set", keep),
        (CapSet::Permitted, "permitted set", keep),
        (CapSet::Inheritable, "inheritable set", keep),
        (CapSet::Ambient, "ambient set", ambient),
    ];
    for (set, what, want) in expected {
        verify_set(set, what, want)?;
    }
    Ok(())
}

fn verify_bounding_set(keep: &CapsHashSet) -> Result<(), PrivilegeError> {
    verify_set(CapSet::Bounding, "bounding set", keep)
}

fn verify_set(set: CapSet, what: &'static str, want: &CapsHashSet) -> Result<(), PrivilegeError> {
    let found = caps_step(&format!("read the {what}"), caps::read(None, set))?;
    if &found == want {
        return Ok(());
    }
    Err(PrivilegeError::Verify {
        what,
        found: cap_list(&sorted(&found)),
        expected: cap_list(&sorted(want)),
    })
}

fn verify_uids(uid: u32) -> Result<(), PrivilegeError> {
    let (mut real, mut effective, mut saved) = (0, 0, 0);
    // SAFETY: three live u32 out-pointers.
    id_call("getresuid", unsafe {
        libc::getresuid(&mut real, &mut effective, &mut saved)
    })?;
    if [real, effective, saved] != [uid; 3] {
        return Err(PrivilegeError::Verify {
            what: "user ids (real, effective, saved)",
            found: format!("{real}, {effective}, {saved}"),
            expected: format!("{uid}, {uid}, {uid}"),
        });
    }
    Ok(())
}

fn id_call(call: &'static str, rc: libc::c_int) -> Result<(), PrivilegeError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(PrivilegeError::SwitchIds {
            call,
            source: io::Error::last_os_error(),
        })
    }
}

fn caps_step<T>(
    step: &str,
    result: Result<T, caps::errors::CapsError>,
) -> Result<T, PrivilegeError> {
    result.map_err(|e| PrivilegeError::Capabilities {
        step: step.to_string(),
        reason: e.to_string(),
    })
}

/// "CAP_NET_ADMIN", "CAP_NET_ADMIN and CAP_NET_BIND_SERVICE", or "no capabilities".
fn cap_list(caps: &[Capability]) -> String {
    match caps {
        [] => "no capabilities".to_string(),
        [one] => one.to_string(),
        [rest @ .., last] => {
            let rest: Vec<String> = rest.iter().map(Capability::to_string).collect();
            format!("{} and {last}", rest.join(", "))
        }
    }
}

impl fmt::Display for PrivilegeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivilegeReport::NotRoot { euid } => write!(
                f,
                "not started as root (uid {euid}): user and capabilities left as they are"
            ),
            PrivilegeReport::SwitchedUser {
                user, uid, caps, ..
            } => write!(
                f,
                "running as user {user} (uid {uid}) with {}",
                cap_list(caps)
            ),
            PrivilegeReport::StayedRoot { user, caps } => write!(
                f,
                "user {user} not found: staying root with only {}",
                cap_list(caps)
            ),
        }
    }
}

impl fmt::Display for PrivilegeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PrivilegeError::StateDir {
                path,
                action,
                source,
            } => write!(
                f,
                "cannot {action} state directory {}: {source}",
                path.display()
            ),
            PrivilegeError::UserLookup { user, source } => {
                write!(f, "cannot look up user {user}: {source}")
            }
            PrivilegeError::SwitchIds { call, source } => write!(f, "{call} failed: {source}"),
            PrivilegeError::Capabilities { step, reason } => {
                write!(f, "cannot {step}: {reason}")
            }
            PrivilegeError::Verify {
                what,
                found,
                expected,
            } => write!(
                f,
                "after dropping privileges the {what} is {found}, expected {expected}"
            ),
        }
    }
}

impl std::error::Error for PrivilegeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PrivilegeError::StateDir { source, .. }
            | PrivilegeError::UserLookup { source, .. }
            | PrivilegeError::SwitchIds { source, .. } => Some(source),
            PrivilegeError::Capabilities { .. } | PrivilegeError::Verify { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_read_as_one_log_line() {
        let switched = PrivilegeReport::SwitchedUser {
            user: "cloud-network".to_string(),
            uid: 998,
            gid: 997,
            caps: kept_caps(false),
        };
        assert_eq!(
            switched.to_string(),
            "running as user cloud-network (uid 998) with CAP_NET_ADMIN"
        );
        let root = PrivilegeReport::StayedRoot {
            user: "cloud-network".to_string(),
            caps: kept_caps(true),
        };
        assert_eq!(
            root.to_string(),
            "user cloud-network not found: staying root with only CAP_NET_ADMIN and CAP_NET_BIND_SERVICE"
        );
    }

    #[test]
    fn a_verify_error_names_the_set_and_both_values() {
        let error = PrivilegeError::Verify {
            what: "effective set",
            found: cap_list(&[Capability::CAP_CHOWN, Capability::CAP_NET_ADMIN]),
            expected: cap_list(&[]),
        };
        assert_eq!(
            error.to_string(),
            "after dropping privileges the effective set is CAP_CHOWN and CAP_NET_ADMIN, expected no capabilities"
        );
    }
}
