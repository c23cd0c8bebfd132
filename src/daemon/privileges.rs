//! Dropping root at start-up: create the state directory, switch to the service user when it
//! exists, and keep only the capabilities the daemon needs (CAP_NET_ADMIN, plus
//! CAP_NET_BIND_SERVICE for a privileged API port) in the effective, permitted and bounding
//! sets, none inheritable or ambient (the daemon execs nothing), with NO_NEW_PRIVS set; all
//! verified by reading them back.
//!
//! Capability sets, NO_NEW_PRIVS and the keep-capabilities flag belong to one thread:
//! [`drop_privileges`] must run first thing in `main`, before any thread exists. The threads
//! that parse HTTP then start confined (see `confine`): with no capability at all, and, when
//! the daemon stays root, as `nobody`. Switching a thread's ids needs CAP_SETUID and
//! CAP_SETGID (and CAP_SETPCAP to empty its bounding set), so as root the main thread keeps
//! those until [`Dropping::finish`], called once the confined threads run.

use super::confine::Confinement;
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

/// The capabilities the main thread keeps, as root, until the confined threads have switched
/// their ids ([`Dropping::finish`]).
const UNTIL_CONFINED: [Capability; 3] = [
    Capability::CAP_SETUID,
    Capability::CAP_SETGID,
    Capability::CAP_SETPCAP,
];

/// What was done, for one log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivilegeReport {
    /// Not started as root: the user is left as it is; ambient and inheritable capabilities
    /// are cleared.
    NotRoot { euid: u32 },
    /// Now running as `user`, keeping only `caps`.
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
    /// `prctl` failed for NO_NEW_PRIVS.
    NoNewPrivs(io::Error),
    /// Read back after the fact, a set or id is not what it should be.
    Verify {
        what: &'static str,
        found: String,
        expected: String,
    },
}

/// A drop under way: the main thread's final state once [`Dropping::finish`] is called, and
/// what the HTTP-parsing threads drop to meanwhile.
#[must_use = "finish the drop once the confined threads run"]
#[derive(Debug)]
pub struct Dropping {
    report: PrivilegeReport,
    keep: CapsHashSet,
    confinement: Confinement,
}

impl Dropping {
    /// What the threads that parse HTTP drop to when they start (see `confine`).
    pub fn confinement(&self) -> Confinement {
        self.confinement
    }

    /// Lets go of what the main thread kept for the confined threads (as root: the id
    /// switching capabilities) and verifies the final state. Threads started after this
    /// inherit exactly the kept capabilities.
    pub fn finish(self) -> Result<PrivilegeReport, PrivilegeError> {
        let keep = &self.keep;
        let none = CapsHashSet::new();
        match &self.report {
            PrivilegeReport::NotRoot { .. } => {
                verify_set(CapSet::Inheritable, "inheritable set", &none)?;
                verify_set(CapSet::Ambient, "ambient set", &none)?;
            }
            PrivilegeReport::SwitchedUser { uid, .. } => {
                verify_sets(keep)?;
                verify_uids(*uid)?;
            }
            PrivilegeReport::StayedRoot { .. } => {
                limit_bounding_set(keep)?;
                limit_sets(keep)?;
                verify_sets(keep)?;
                verify_uids(0)?;
            }
        }
        verify_no_new_privs()?;
        Ok(self.report)
    }
}

/// Creates the state directory and drops to the plan's user and capabilities (see the module
/// doc: call it before any thread exists, and finish it once the confined threads run). Not
/// root: the user and the permitted set stay; ambient and inheritable capabilities go.
pub fn drop_privileges(plan: &PrivilegePlan) -> Result<Dropping, PrivilegeError> {
    set_no_new_privs()?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    let caps = kept_caps(plan.keep_bind_service);
    let keep: CapsHashSet = caps.iter().copied().collect();
    if euid != 0 {
        clear_inheritance()?;
        return Ok(Dropping {
            report: PrivilegeReport::NotRoot { euid },
            keep,
            confinement: Confinement::NoCapabilities,
        });
    }
    let user = lookup_user(&plan.user)?;
    if let Err(e) = prepare_state_dir(&plan.state_dir, user) {
        log::warn!("{e}; going on: the network is configured, state files may not be written");
    }
    let (report, confinement) = match user {
        Some((uid, gid)) => {
            switch_user(uid, gid, &keep)?;
            let report = PrivilegeReport::SwitchedUser {
                user: plan.user.clone(),
                uid,
                gid,
                caps,
            };
            (report, Confinement::NoCapabilities)
        }
        None => {
            let until_confined: CapsHashSet = keep.iter().chain(&UNTIL_CONFINED).copied().collect();
            limit_bounding_set(&until_confined)?;
            limit_sets(&until_confined)?;
            let report = PrivilegeReport::StayedRoot {
                user: plan.user.clone(),
                caps,
            };
            (report, Confinement::Nobody)
        }
    };
    Ok(Dropping {
        report,
        keep,
        confinement,
    })
}

/// NO_NEW_PRIVS: nothing this process or its threads exec can gain privileges.
fn set_no_new_privs() -> Result<(), PrivilegeError> {
    // SAFETY: plain integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } == 0 {
        Ok(())
    } else {
        Err(PrivilegeError::NoNewPrivs(io::Error::last_os_error()))
    }
}

fn verify_no_new_privs() -> Result<(), PrivilegeError> {
    // SAFETY: plain integer arguments.
    let set = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
    if set == 1 {
        return Ok(());
    }
    Err(PrivilegeError::Verify {
        what: "NO_NEW_PRIVS flag",
        found: set.to_string(),
        expected: "1".to_string(),
    })
}

/// Ambient and inheritable capabilities only matter across exec, which the daemon never does.
fn clear_inheritance() -> Result<(), PrivilegeError> {
    caps_step("clear the ambient set", caps::clear(None, CapSet::Ambient))?;
    caps_step(
        "clear the inheritable set",
        caps::clear(None, CapSet::Inheritable),
    )
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

/// The bounding set first (dropping from it needs CAP_SETPCAP, gone with the user switch),
/// then the ids with keepcaps on, then the sets.
fn switch_user(uid: u32, gid: u32, keep: &CapsHashSet) -> Result<(), PrivilegeError> {
    limit_bounding_set(keep)?;
    caps_step("turn keepcaps on", caps::securebits::set_keepcaps(true))?;
    // SAFETY: an empty group list; no pointer is read.
    id_call("setgroups", unsafe { libc::setgroups(0, std::ptr::null()) })?;
    // SAFETY: plain integer arguments.
    id_call("setresgid", unsafe { libc::setresgid(gid, gid, gid) })?;
    // SAFETY: plain integer arguments.
    id_call("setresuid", unsafe { libc::setresuid(uid, uid, uid) })?;
    limit_sets(keep)?;
    caps_step("turn keepcaps off", caps::securebits::set_keepcaps(false))
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

/// Effective first (it must stay within permitted), then permitted; nothing inheritable or
/// ambient.
fn limit_sets(keep: &CapsHashSet) -> Result<(), PrivilegeError> {
    for (set, name) in [
        (CapSet::Effective, "effective"),
        (CapSet::Permitted, "permitted"),
    ] {
        caps_step(&format!("set the {name} set"), caps::set(None, set, keep))?;
    }
    clear_inheritance()
}

/// Reads back the effective, permitted and bounding sets (`keep`), and the inheritable and
/// ambient sets (empty).
fn verify_sets(keep: &CapsHashSet) -> Result<(), PrivilegeError> {
    let none = CapsHashSet::new();
    let expected = [
        (CapSet::Effective, "effective set", keep),
        (CapSet::Permitted, "permitted set", keep),
        (CapSet::Bounding, "bounding set", keep),
        (CapSet::Inheritable, "inheritable set", &none),
        (CapSet::Ambient, "ambient set", &none),
    ];
    for (set, what, want) in expected {
        verify_set(set, what, want)?;
    }
    Ok(())
}

pub(super) fn verify_set(
    set: CapSet,
    what: &'static str,
    want: &CapsHashSet,
) -> Result<(), PrivilegeError> {
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

/// The result of an id call (libc's wrapper or the raw per-thread syscall): 0 is success.
pub(super) fn id_call(
    call: &'static str,
    rc: impl Into<libc::c_long>,
) -> Result<(), PrivilegeError> {
    if rc.into() == 0 {
        Ok(())
    } else {
        Err(PrivilegeError::SwitchIds {
            call,
            source: io::Error::last_os_error(),
        })
    }
}

pub(super) fn caps_step<T>(
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
                "not started as root (uid {euid}): user and permitted capabilities left as they are"
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
            PrivilegeError::NoNewPrivs(source) => {
                write!(f, "cannot set NO_NEW_PRIVS: {source}")
            }
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
            | PrivilegeError::SwitchIds { source, .. }
            | PrivilegeError::NoNewPrivs(source) => Some(source),
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
