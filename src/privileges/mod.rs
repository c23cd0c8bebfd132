//! Privileges and confinement, for the daemon and the API alike: the process's drop of root
//! at start-up and the confined threads that parse HTTP.
//!
//! The drop: create the state directory, switch to the service user when it exists, and keep
//! only the capabilities the daemon needs (CAP_NET_ADMIN, plus CAP_NET_BIND_SERVICE for a
//! privileged API port) in the effective, permitted and bounding sets, none inheritable or
//! ambient (the daemon execs nothing), with NO_NEW_PRIVS set; all verified by reading them
//! back.
//!
//! Capability sets, NO_NEW_PRIVS and the keep-capabilities flag belong to one thread:
//! [`drop_privileges`] must run first thing in `main`, before any thread exists. The threads
//! that parse HTTP then start confined (see `confine`): with no capability at all, and, when
//! the daemon stays root, as `nobody`. Switching a thread's ids needs CAP_SETUID and
//! CAP_SETGID (and CAP_SETPCAP to empty its bounding set), so as root the main thread keeps
//! those until [`Dropping::finish`], called once the confined threads run.
//!
//! This module owns the plan, the drop and its report; `confine` the confined thread spawn,
//! `sets` the calling thread's capability sets and ids (set, limit, read back), `user` the
//! user database lookup (`passwd_file` the entry in `/etc/passwd`), `state_dir` the state
//! directory made and handed over before the drop, `error` the errors. The system calls
//! themselves are `sys`'s.

pub mod confine;
mod error;
mod passwd_file;
mod sets;
mod state_dir;
#[cfg(test)]
mod tests;
mod user;

pub use error::PrivilegeError;
pub use user::lookup_user;

use crate::sys;
use caps::{Capability, CapsHashSet};
use confine::Confinement;
use sets::{
    cap_list, clear_inheritance, drop_from_bounding_set, limit_bounding_set, limit_sets,
    switch_user, verify_no_inheritance, verify_sets, verify_uids,
};
use state_dir::prepare_state_dir;
use std::fmt;
use std::path::PathBuf;

/// The user the daemon runs as when it exists.
pub const SERVICE_USER: &str = "cloud-network";

/// What to drop to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivilegePlan {
    /// The user to switch to ([`SERVICE_USER`]).
    pub user: String,
    /// Its uid and gid as [`lookup_user`] found them (looked up once by the caller, which
    /// also trusts that user with the state directory); `None`: there is no such user.
    pub account: Option<(u32, u32)>,
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
        match &self.report {
            PrivilegeReport::NotRoot { .. } => verify_no_inheritance()?,
            PrivilegeReport::SwitchedUser { uid, .. } => {
                verify_sets(keep)?;
                verify_uids(*uid)?;
            }
            PrivilegeReport::StayedRoot { .. } => {
                let lent = UNTIL_CONFINED.iter().filter(|cap| !keep.contains(cap));
                drop_from_bounding_set(lent)?;
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
    let euid = sys::effective_uid();
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
    if let Err(e) = prepare_state_dir(&plan.state_dir, plan.account) {
        log::warn!("{e}; going on: the network is configured, state files may not be written");
    }
    let (report, confinement) = match plan.account {
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
    sys::set_no_new_privs().map_err(PrivilegeError::NoNewPrivs)
}

fn verify_no_new_privs() -> Result<(), PrivilegeError> {
    let set = sys::no_new_privs().map_err(PrivilegeError::NoNewPrivs)?;
    if set == 1 {
        return Ok(());
    }
    Err(PrivilegeError::Verify {
        what: "NO_NEW_PRIVS flag",
        found: set.to_string(),
        expected: "1".to_string(),
    })
}

fn kept_caps(keep_bind_service: bool) -> Vec<Capability> {
    let mut keep = vec![Capability::CAP_NET_ADMIN];
    if keep_bind_service {
        keep.push(Capability::CAP_NET_BIND_SERVICE);
    }
    keep
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
