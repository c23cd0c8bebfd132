//! Every system call the crate makes through `libc` by hand, as safe functions: the only
//! module allowed `unsafe` (lib.rs denies it everywhere else). Each wrapper states in its
//! SAFETY comment why the call is sound, turns the C convention (-1 and errno, or an error
//! number returned) into an `io::Result`, and hands back owned Rust values (a `File`, an
//! [`EventFd`], numbers), never a pointer. Descriptors are passed as `RawFd`s the caller owns
//! and keeps open for the call. What the calls are for stays with their callers: `fd`
//! (eventfd, poll, sockets, flock), `at` (the state directory's `*at` calls and random bytes),
//! `ids` (user and group ids, NO_NEW_PRIVS), `passwd` (the user database), `child` (a forked
//! helper process), `signals` (blocking and waiting for signals), `malloc` (glibc's
//! allocator tuning), `pages` (a buffer of zero-filled pages, resident only where written),
//! `sched` (yielding the CPU).

mod at;
#[cfg(any(target_env = "gnu", test))]
mod child;
mod fd;
mod ids;
mod malloc;
mod pages;
mod passwd;
mod sched;
mod signals;

pub(crate) use at::{getrandom, mkdir_at, open_at, rename_at, unlink_at};
#[cfg(any(target_env = "gnu", test))]
pub(crate) use child::in_child;
pub(crate) use fd::{listen, poll, send_no_signal, set_socket_option, try_lock_exclusive, EventFd};
pub(crate) use ids::{
    effective_gid, effective_uid, no_new_privs, set_no_new_privs, setgroups_empty, setresgid,
    setresuid, thread_group_ids, thread_setgroups_empty, thread_setresgid, thread_setresuid,
    thread_user_ids,
};
pub(crate) use malloc::{malloc_arena_max, malloc_trim};
pub(crate) use pages::ZeroedPages;
pub(crate) use passwd::getpwnam;
pub(crate) use sched::yield_cpu;
#[cfg(test)]
pub(crate) use signals::raise;
pub(crate) use signals::{block_signals, signal_set, sigtimedwait, sigwait};

use std::io;

/// A C call's result: negative means failed, and errno says why.
fn cvt<T: Default + PartialOrd>(result: T) -> io::Result<T> {
    if result < T::default() {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// A call that returns 0 on success and an error number otherwise (the pthread and `_r`
/// calls), with errno untouched.
fn errno_result(rc: libc::c_int) -> io::Result<()> {
    match rc {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}
