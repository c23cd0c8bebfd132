//! Why the reconcile thread wakes up. Every other thread (API, metadata fetcher, signal
//! handling) only sends one of these; the reconcile thread is the only one that acts. Each
//! send also rings a doorbell (an eventfd), so the reconcile thread can wait for triggers and
//! for kernel events on its netlink socket in one `poll`. Refresh requests coalesce: while one
//! `ApiRefresh` waits to be taken, more are not queued (a flood of POSTs costs one trigger).

use crate::sys::{self, EventFd};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
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
struct Doorbell(EventFd);

impl Doorbell {
    fn ring(&self) {
        // A full counter (EAGAIN) already means "rung", so the result needs no handling.
        let _ = self.0.signal();
    }

    fn clear(&self) {
        self.0.drain();
    }
}

/// The sending side, cloned into every thread that can wake the reconcile thread.
#[derive(Debug, Clone)]
pub struct Wake {
    sender: Sender<Trigger>,
    bell: Arc<Doorbell>,
    refresh_queued: Arc<AtomicBool>,
}

impl Wake {
    /// Queues `trigger`; an `ApiRefresh` while another one is queued and not taken yet is
    /// already served by that one (Ok, nothing queued).
    pub fn send(&self, trigger: Trigger) -> Result<(), SendError<Trigger>> {
        if trigger == Trigger::ApiRefresh && self.refresh_queued.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if let Err(e) = self.sender.send(trigger) {
            self.refresh_queued.store(false, Ordering::SeqCst);
            return Err(e);
        }
        self.bell.ring();
        Ok(())
    }
}

/// The receiving side, owned by the reconcile thread.
#[derive(Debug)]
pub struct Triggers {
    receiver: Receiver<Trigger>,
    bell: Arc<Doorbell>,
    refresh_queued: Arc<AtomicBool>,
}

impl Triggers {
    /// The next trigger; taking an `ApiRefresh` lets the next refresh request be queued.
    pub fn try_recv(&self) -> Result<Trigger, TryRecvError> {
        let trigger = self.receiver.try_recv()?;
        if trigger == Trigger::ApiRefresh {
            self.refresh_queued.store(false, Ordering::SeqCst);
        }
        Ok(trigger)
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
        if let Err(error) = sys::poll(&mut fds, millis) {
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
        self.bell.clear();
        let triggers = std::iter::from_fn(|| self.try_recv().ok()).collect();
        Ok((triggers, fds[1].revents & libc::POLLIN != 0))
    }
}

/// A trigger channel: the `Wake` side for other threads, `Triggers` for the reconcile thread.
pub fn channel() -> io::Result<(Wake, Triggers)> {
    let (sender, receiver) = std::sync::mpsc::channel();
    let bell = Arc::new(Doorbell(EventFd::new()?));
    let refresh_queued = Arc::new(AtomicBool::new(false));
    Ok((
        Wake {
            sender,
            bell: Arc::clone(&bell),
            refresh_queued: Arc::clone(&refresh_queued),
        },
        Triggers {
            receiver,
            bell,
            refresh_queued,
        },
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
    fn refreshes_coalesce_while_one_is_queued() {
        let (wake, triggers) = channel().unwrap();
        for _ in 0..2000 {
            wake.send(Trigger::ApiRefresh).unwrap();
        }
        wake.send(Trigger::Reload).unwrap();
        wake.send(Trigger::ApiRefresh).unwrap();
        let (got, _) = triggers.wait(None, Duration::ZERO).unwrap();
        assert_eq!(got, [Trigger::ApiRefresh, Trigger::Reload]);
        wake.send(Trigger::ApiRefresh).unwrap();
        wake.send(Trigger::ApiRefresh).unwrap();
        assert_eq!(triggers.try_recv(), Ok(Trigger::ApiRefresh));
        assert_eq!(triggers.try_recv(), Err(TryRecvError::Empty));
        drop(triggers);
        assert!(wake.send(Trigger::ApiRefresh).is_err(), "receiver gone");
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
