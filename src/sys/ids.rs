//! User and group ids, and the NO_NEW_PRIVS flag.
//!
//! Ids are per thread in the kernel. glibc's `setgroups`, `setresgid` and `setresuid`
//! signal every thread of the process to make the same change (POSIX wants ids per process);
//! the raw system calls (`thread_*` here) change the calling thread only, and
//! `getresuid`/`getresgid` read the calling thread's.

use super::cvt;
use std::io;

/// The effective uid (no preconditions, cannot fail).
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The effective gid (no preconditions, cannot fail).
pub(crate) fn effective_gid() -> u32 {
    // SAFETY: getegid has no preconditions and cannot fail.
    unsafe { libc::getegid() }
}

/// The calling thread's real, effective and saved uid.
pub(crate) fn thread_user_ids() -> io::Result<[u32; 3]> {
    let (mut real, mut effective, mut saved) = (0, 0, 0);
    // SAFETY: three live u32 out-pointers.
    cvt(unsafe { libc::getresuid(&mut real, &mut effective, &mut saved) })?;
    Ok([real, effective, saved])
}

/// The calling thread's real, effective and saved gid.
pub(crate) fn thread_group_ids() -> io::Result<[u32; 3]> {
    let (mut real, mut effective, mut saved) = (0, 0, 0);
    // SAFETY: three live u32 out-pointers.
    cvt(unsafe { libc::getresgid(&mut real, &mut effective, &mut saved) })?;
    Ok([real, effective, saved])
}

/// No supplementary groups, for the whole process (glibc's wrapper).
pub(crate) fn setgroups_empty() -> io::Result<()> {
    // SAFETY: an empty group list; no pointer is read.
    cvt(unsafe { libc::setgroups(0, std::ptr::null()) }).map(drop)
}

/// Real, effective and saved gid, for the whole process (glibc's wrapper).
pub(crate) fn setresgid(gid: u32) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::setresgid(gid, gid, gid) }).map(drop)
}

/// Real, effective and saved uid, for the whole process (glibc's wrapper).
pub(crate) fn setresuid(uid: u32) -> io::Result<()> {
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::setresuid(uid, uid, uid) }).map(drop)
}

/// No supplementary groups, for the calling thread only (the raw system call).
pub(crate) fn thread_setgroups_empty() -> io::Result<()> {
    // SAFETY: setgroups(0, NULL) reads no memory.
    let rc = unsafe { libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) };
    cvt(rc).map(drop)
}

/// Real, effective and saved gid, for the calling thread only (the raw system call).
pub(crate) fn thread_setresgid(gid: u32) -> io::Result<()> {
    let id = libc::c_long::from(gid);
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::syscall(libc::SYS_setresgid, id, id, id) }).map(drop)
}

/// Real, effective and saved uid, for the calling thread only (the raw system call).
pub(crate) fn thread_setresuid(uid: u32) -> io::Result<()> {
    let id = libc::c_long::from(uid);
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::syscall(libc::SYS_setresuid, id, id, id) }).map(drop)
}

/// Sets NO_NEW_PRIVS: nothing the process or its threads exec can gain privileges.
pub(crate) fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }).map(drop)
}

/// The NO_NEW_PRIVS flag as the kernel reports it (1: set).
pub(crate) fn no_new_privs() -> io::Result<libc::c_int> {
    // SAFETY: plain integer arguments.
    cvt(unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) })
}
