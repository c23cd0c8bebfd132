//! Giving up the CPU: `sched_yield` by its raw system call. glibc's wrapper does nothing
//! more, but on Debian's glibc it sits in a 64 KiB stretch of `libc.so.6` the daemon
//! otherwise never runs, which a call would keep resident (tests/benches/README.md, "Memory:
//! libc's code"); `syscall`, used by std for futexes, is resident anyway.

/// Lets another thread run on this CPU. It cannot fail on Linux.
pub(crate) fn yield_cpu() {
    // SAFETY: sched_yield takes no argument and touches no memory of the caller.
    unsafe { libc::syscall(libc::SYS_sched_yield) };
}
