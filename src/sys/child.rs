//! A forked child process that computes a few bytes, writes them to a pipe and exits: work
//! whose side effects (libraries loaded, signals taken) must stay out of this process.

use super::cvt;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Runs `work` in a forked child and returns the `N` bytes it answers. In a process with
/// other threads the child may only do what is async-signal-safe (another thread may have
/// held a lock at the fork): call it before threads start, or with `work` keeping to that.
pub(crate) fn in_child<const N: usize>(work: impl FnOnce() -> [u8; N]) -> io::Result<[u8; N]> {
    let (read_end, write_end) = pipe()?;
    // SAFETY: the child only runs `work` (see the doc), writes to the pipe and `_exit`s.
    let pid = cvt(unsafe { libc::fork() })?;
    if pid == 0 {
        answer_and_exit(work(), write_end.as_raw_fd());
    }
    drop(write_end);
    let answer = read_answer(read_end.as_raw_fd());
    reap(pid);
    answer
}

/// A close-on-exec pipe: its read and write ends.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: both were just created by pipe2 and nobody else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The child's part: never returns.
fn answer_and_exit<const N: usize>(answer: [u8; N], write_end: RawFd) -> ! {
    // SAFETY: writes our buffer to our pipe, then ends the child without running anything
    // of the parent's (no atexit handlers, no buffers flushed twice).
    unsafe {
        libc::write(write_end, answer.as_ptr().cast(), N);
        libc::_exit(0)
    }
}

fn read_answer<const N: usize>(read_end: RawFd) -> io::Result<[u8; N]> {
    let mut answer = [0u8; N];
    let mut got = 0;
    while got < N {
        let rest = &mut answer[got..];
        // SAFETY: reads into the unfilled rest of our buffer.
        let n = unsafe { libc::read(read_end, rest.as_mut_ptr().cast(), rest.len()) };
        match n {
            0 => {
                return Err(io::Error::other(
                    "the child process ended without answering",
                ))
            }
            n if n > 0 => got += n as usize,
            _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            _ => return Err(io::Error::last_os_error()),
        }
    }
    Ok(answer)
}

fn reap(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: waits for our own child.
    while unsafe { libc::waitpid(pid, &mut status, 0) } < 0
        && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted
    {}
}
