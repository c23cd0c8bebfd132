//! The threads that parse HTTP (the API server, the metadata fetcher) run with no capability
//! at all and, when the daemon stays root, as `nobody`: a bug in a parser then gains nothing.
//! [`spawn_confined`] starts such a thread, which drops its own privileges before running its
//! body (never when the drop fails); [`Confining::confirmed`] waits until that drop is
//! verified, so the daemon starts both threads before it waits for either.
//!
//! Capabilities and ids are per thread in the kernel. The raw `capset`, `setgroups`,
//! `setresgid` and `setresuid` system calls change the calling thread only; glibc's wrappers
//! of the id calls instead signal every thread of the process to make the same change (POSIX
//! wants ids per process). So the id switch below uses the raw system calls (`sys::thread_*`),
//! which leave the main and reconcile threads (root with CAP_NET_ADMIN) as they are.

use super::sets::{caps_step, id_call, verify_no_inheritance, verify_set};
use super::PrivilegeError;
use crate::sys;
use caps::{CapSet, CapsHashSet};
use std::io;
use std::sync::mpsc::{self, Receiver, RecvError, TryRecvError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// `nobody`, the id confined threads of a daemon that stays root switch to.
pub const NOBODY: u32 = 65534;

/// What a confined thread drops to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confinement {
    /// Every capability of the thread; its ids stay (the service user, or whoever started a
    /// daemon that was not root).
    NoCapabilities,
    /// Started as root without the service user: also uid and gid [`NOBODY`], no
    /// supplementary groups, and an empty bounding set.
    Nobody,
}

/// The stack of each confined thread (the API server, the metadata fetcher), instead of
/// std's 2 MiB. In the lab (glibc) the API thread touches 8 KiB of it and the metadata thread
/// 32 KiB; the deepest document serde_json parses (127 levels: it refuses more) needs
/// 48–64 KiB of stack to be parsed and serialized in an optimized build, 192–224 KiB in a
/// debug one (`the_deepest_metadata_fits_the_stacks` checks it). Untouched stack pages cost
/// no memory, only address space: this keeps the reservation near what is used.
pub const CONFINED_STACK_BYTES: usize = 256 * 1024;

/// A confined thread started, its drop not yet confirmed.
#[must_use = "confirm the drop: a thread that could not drop runs nothing and says why"]
#[derive(Debug)]
pub struct Confining {
    name: String,
    handle: JoinHandle<()>,
    confirmation: Receiver<Result<(), PrivilegeError>>,
}

/// Starts a thread named `name` that drops to `confinement` and then runs `body`; an error
/// when the thread could not be started. A thread that cannot drop never runs `body`, and
/// [`Confining::confirmed`] says why.
pub fn spawn_confined(
    name: &str,
    confinement: Confinement,
    body: impl FnOnce() + Send + 'static,
) -> io::Result<Confining> {
    let (confined_tx, confirmation) = mpsc::sync_channel(1);
    let handle = thread::Builder::new()
        .name(name.to_string())
        .stack_size(CONFINED_STACK_BYTES)
        .spawn(move || {
            let confined = confine_this_thread(confinement);
            let ok = confined.is_ok();
            let _ = confined_tx.send(confined);
            if ok {
                body();
            }
        })?;
    Ok(Confining {
        name: name.to_string(),
        handle,
        confirmation,
    })
}

impl Confining {
    /// Waits for the thread's drop: its handle once the drop is verified, an error when it
    /// could not drop (the thread then ends without running its body).
    pub fn confirmed(self) -> io::Result<JoinHandle<()>> {
        let failed = |reason: String| {
            io::Error::other(format!(
                "the {} thread cannot drop its privileges: {reason}",
                self.name
            ))
        };
        match wait_briskly(&self.confirmation) {
            Ok(Ok(())) => Ok(self.handle),
            Ok(Err(e)) => Err(failed(e.to_string())),
            Err(_) => Err(failed("it ended before saying".to_string())),
        }
    }
}

/// How long the spawning thread polls for the confirmation before it sleeps on it.
const CONFIRMATION_SPIN: Duration = Duration::from_millis(1);

/// The confirmation: polled for at most [`CONFIRMATION_SPIN`], yielding the CPU between
/// looks, then waited for. The drop takes some 50 µs; sleeping on the channel at once would
/// idle this CPU and add a wake-up (0.2–0.5 ms on a VM) to the start, which waits for both
/// confined threads before the network is configured. Yielding, not spinning, lets the new
/// thread run here when the other CPUs are busy (`sys::yield_cpu`: why not std's).
fn wait_briskly<T>(confirmation: &Receiver<T>) -> Result<T, RecvError> {
    let since = Instant::now();
    while since.elapsed() < CONFIRMATION_SPIN {
        match confirmation.try_recv() {
            Ok(said) => return Ok(said),
            Err(TryRecvError::Disconnected) => return Err(RecvError),
            Err(TryRecvError::Empty) => sys::yield_cpu(),
        }
    }
    confirmation.recv()
}

/// Drops the calling thread's privileges to `confinement` and reads them back.
fn confine_this_thread(confinement: Confinement) -> Result<(), PrivilegeError> {
    if confinement == Confinement::Nobody {
        empty_bounding_set()?;
        become_nobody()?;
    }
    let none = CapsHashSet::new();
    caps_step("clear the ambient set", caps::clear(None, CapSet::Ambient))?;
    for (set, name) in [
        (CapSet::Effective, "effective"),
        (CapSet::Permitted, "permitted"),
        (CapSet::Inheritable, "inheritable"),
    ] {
        caps_step(&format!("clear the {name} set"), caps::clear(None, set))?;
    }
    for (set, what) in [
        (CapSet::Effective, "effective set"),
        (CapSet::Permitted, "permitted set"),
    ] {
        verify_set(set, what, &none)?;
    }
    verify_no_inheritance()?;
    if confinement == Confinement::Nobody {
        verify_set(CapSet::Bounding, "bounding set", &none)?;
        verify_thread_ids(NOBODY)?;
    }
    Ok(())
}

/// Needs CAP_SETPCAP, which the main thread keeps for this until the drop is finished.
fn empty_bounding_set() -> Result<(), PrivilegeError> {
    let bounding = caps_step("read the bounding set", caps::read(None, CapSet::Bounding))?;
    for cap in bounding {
        caps_step(
            &format!("drop {cap} from the bounding set"),
            caps::drop(None, CapSet::Bounding, cap),
        )?;
    }
    Ok(())
}

/// No groups, then gid, then uid, each by the raw system call (this thread only; see the
/// module doc). Leaving uid 0 with keepcaps off empties the effective and permitted sets.
fn become_nobody() -> Result<(), PrivilegeError> {
    id_call("setgroups", sys::thread_setgroups_empty())?;
    id_call("setresgid", sys::thread_setresgid(NOBODY))?;
    id_call("setresuid", sys::thread_setresuid(NOBODY))
}

/// This thread's real, effective and saved uid and gid (getresuid/getresgid are per thread).
fn verify_thread_ids(id: u32) -> Result<(), PrivilegeError> {
    let [ruid, euid, suid] = id_call("getresuid", sys::thread_user_ids())?;
    let [rgid, egid, sgid] = id_call("getresgid", sys::thread_group_ids())?;
    let found = [ruid, euid, suid, rgid, egid, sgid];
    if found == [id; 6] {
        return Ok(());
    }
    Err(PrivilegeError::Verify {
        what: "thread's user and group ids (real, effective, saved)",
        found: format!("{found:?}"),
        expected: format!("{:?}", [id; 6]),
    })
}
