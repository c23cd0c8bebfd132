//! The calling thread's capability sets and ids: switched, limited and read back.

use super::PrivilegeError;
use crate::sys;
use caps::{CapSet, Capability, CapsHashSet};
use std::io;

/// The bounding set first (dropping from it needs CAP_SETPCAP, gone with the user switch),
/// then the ids with keepcaps on, then the sets.
pub(super) fn switch_user(uid: u32, gid: u32, keep: &CapsHashSet) -> Result<(), PrivilegeError> {
    limit_bounding_set(keep)?;
    caps_step("turn keepcaps on", caps::securebits::set_keepcaps(true))?;
    id_call("setgroups", sys::setgroups_empty())?;
    id_call("setresgid", sys::setresgid(gid))?;
    id_call("setresuid", sys::setresuid(uid))?;
    limit_sets(keep)?;
    caps_step("turn keepcaps off", caps::securebits::set_keepcaps(false))
}

pub(super) fn limit_bounding_set(keep: &CapsHashSet) -> Result<(), PrivilegeError> {
    let bounding = caps_step("read the bounding set", caps::read(None, CapSet::Bounding))?;
    drop_from_bounding_set(bounding.difference(keep))
}

/// Dropping a capability the bounding set does not hold succeeds and changes nothing.
pub(super) fn drop_from_bounding_set<'a>(
    caps: impl Iterator<Item = &'a Capability>,
) -> Result<(), PrivilegeError> {
    for cap in caps {
        caps_step(
            &format!("drop {cap} from the bounding set"),
            caps::drop(None, CapSet::Bounding, *cap),
        )?;
    }
    Ok(())
}

/// Effective first (it must stay within permitted), then permitted; nothing inheritable or
/// ambient.
pub(super) fn limit_sets(keep: &CapsHashSet) -> Result<(), PrivilegeError> {
    for (set, name) in [
        (CapSet::Effective, "effective"),
        (CapSet::Permitted, "permitted"),
    ] {
        caps_step(&format!("set the {name} set"), caps::set(None, set, keep))?;
    }
    clear_inheritance()
}

/// Reads back the effective, permitted and bounding sets (`keep`), and the inheritable set
/// (empty, and with it the ambient set: see [`verify_no_inheritance`]).
pub(super) fn verify_sets(keep: &CapsHashSet) -> Result<(), PrivilegeError> {
    let expected = [
        (CapSet::Effective, "effective set"),
        (CapSet::Permitted, "permitted set"),
        (CapSet::Bounding, "bounding set"),
    ];
    for (set, what) in expected {
        verify_set(set, what, keep)?;
    }
    verify_no_inheritance()
}

/// Reads back an empty inheritable set, which proves the ambient set empty too: the kernel
/// keeps a capability ambient only while it is both permitted and inheritable, and drops it
/// from the ambient set when it leaves either (capabilities(7)). Reading the ambient set itself
/// costs 82 `prctl` calls (the caps crate probes every capability's support first), on the
/// start-up path of each thread that drops.
pub(super) fn verify_no_inheritance() -> Result<(), PrivilegeError> {
    let none = CapsHashSet::new();
    verify_set(
        CapSet::Inheritable,
        "inheritable set (and so the ambient set)",
        &none,
    )
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

pub(super) fn verify_uids(uid: u32) -> Result<(), PrivilegeError> {
    let [real, effective, saved] = id_call("getresuid", sys::thread_user_ids())?;
    if [real, effective, saved] != [uid; 3] {
        return Err(PrivilegeError::Verify {
            what: "user ids (real, effective, saved)",
            found: format!("{real}, {effective}, {saved}"),
            expected: format!("{uid}, {uid}, {uid}"),
        });
    }
    Ok(())
}

/// The result of an id call (libc's wrapper or the raw per-thread syscall), its error
/// naming the call.
pub(super) fn id_call<T>(call: &'static str, result: io::Result<T>) -> Result<T, PrivilegeError> {
    result.map_err(|source| PrivilegeError::SwitchIds { call, source })
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
pub(super) fn cap_list(caps: &[Capability]) -> String {
    match caps {
        [] => "no capabilities".to_string(),
        [one] => one.to_string(),
        [rest @ .., last] => {
            let rest: Vec<String> = rest.iter().map(Capability::to_string).collect();
            format!("{} and {last}", rest.join(", "))
        }
    }
}

/// Ambient and inheritable capabilities only matter across exec, which the daemon never does.
pub(super) fn clear_inheritance() -> Result<(), PrivilegeError> {
    caps_step("clear the ambient set", caps::clear(None, CapSet::Ambient))?;
    caps_step(
        "clear the inheritable set",
        caps::clear(None, CapSet::Inheritable),
    )
}

fn sorted(caps: &CapsHashSet) -> Vec<Capability> {
    let mut list: Vec<Capability> = caps.iter().copied().collect();
    list.sort_by_key(|cap| cap.index());
    list
}
