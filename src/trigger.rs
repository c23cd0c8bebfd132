//! Why the reconcile thread wakes up. Every other thread (API, metadata fetcher, signal
//! handling) only sends one of these; the reconcile thread is the only one that acts. Each
//! send also rings a doorbell (an eventfd), so the reconcile thread can wait for triggers and
//! for kernel events on its netlink socket in one `poll`.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc::{Receiver, SendError, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// A link appeared, disappeared or changed (hot-plug, rename, carrier).
    LinkChanged,
    /// An address, route or rule was removed from outside; ours may need restoring.
    KernelChanged,
    /// A metadata fetch finished (or the GCP long-poll saw a change); the result is waiting.
    MetadataChanged,
    /// `POST /api/v1/refresh` or `cnctl refresh`.
    ApiRefresh,
    /// SIGHUP: re-read the config, then refresh.
    Reload,
    /// SIGTERM or SIGINT.
    Shutdown,
}

/// An eventfd counter: readable while something was sent and not yet taken.
#[derive(Debug)]
struct Doorbell(OwnedFd);

impl Doorbell {
    fn new() -> io::Result<Doorbell> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor we own.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
        Ok(Doorbell(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn ring(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our own eventfd. A full counter (EAGAIN)
        // already means "rung", so the result needs no handling.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    fn clear(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live u64; EAGAIN (not rung) is fine.
        unsafe { libc::read(self.0.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }
}

/// The sending side, cloned into every thread that can wake the reconcile thread.
#[derive(Debug, Clone)]
pub struct Wake {
    sender: Sender<Trigger>,
    bell: Arc<Doorbell>,
}

impl Wake {
    pub fn send(&self, trigger: Trigger) -> Result<(), SendError<Trigger>> {
        self.sender.send(trigger)?;
        self.bell.ring();
        Ok(())
    }
}

/// The receiving side, owned by the reconcile thread.
#[derive(Debug)]
pub struct Triggers {
    receiver: Receiver<Trigger>,
    bell: Arc<Doorbell>,
}

impl Triggers {
    pub fn try_recv(&self) -> Result<Trigger, TryRecvError> {
        self.receiver.try_recv()
    }

    /// Waits until a trigger arrives, `other` becomes readable, or `timeout` passes. Returns
    /// the triggers taken (empty when none came) and whether `other` is readable.
    pub fn wait(
        &self,
        other: Option<RawFd>,
        timeout: Duration,
    ) -> io::Result<(Vec<Trigger>, bool)> {
        let mut fds = [
            libc::pollfd {
                fd: self.bell.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: other.unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let millis = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
        // SAFETY: two live pollfds for the duration of the call; a negative fd is ignored.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, millis) } < 0 {
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
        self.bell.clear();
        let triggers = std::iter::from_fn(|| self.receiver.try_recv().ok()).collect();
        Ok((triggers, fds[1].revents & libc::POLLIN != 0))
    }
}

/// A trigger channel: the `Wake` side for other threads, `Triggers` for the reconcile thread.
pub fn channel() -> io::Result<(Wake, Triggers)> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let bell = Arc::new(Doorbell::new()?);
    Ok((
        Wake {
            sender,
            bell: Arc::clone(&bell),
        },
        Triggers { receiver, bell },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_send_wakes_the_waiter_and_the_trigger_is_taken() {
        let (wake, triggers) = channel().unwrap();
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            wake.send(Trigger::ApiRefresh).unwrap();
            wake.send(Trigger::Reload).unwrap();
        });
        let started = Instant::now();
        let (mut got, other) = triggers.wait(None, Duration::from_secs(5)).unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(!other);
        sender.join().unwrap();
        got.extend(triggers.wait(None, Duration::ZERO).unwrap().0);
        assert_eq!(got, [Trigger::ApiRefresh, Trigger::Reload]);
    }

    #[test]
    fn nothing_sent_times_out_empty() {
        let (_wake, triggers) = channel().unwrap();
        let started = Instant::now();
        let (got, other) = triggers.wait(None, Duration::from_millis(50)).unwrap();
        assert!(got.is_empty() && !other);
        assert!(started.elapsed() >= Duration::from_millis(45));
    }
}
