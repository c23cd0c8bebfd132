//! Why the reconcile thread wakes up. Every other thread (netlink monitor, API, signal handling,
//! timers) only sends one of these; the reconcile thread is the only one that acts.

use std::sync::mpsc::{Receiver, SendError, Sender};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// A link appeared, disappeared or changed (hot-plug, rename, carrier).
    LinkChanged,
    /// An address, route or rule was removed from outside; ours may need restoring.
    KernelChanged,
    /// The metadata service reported a change (GCP long-poll); the new document is waiting.
    MetadataChanged,
    /// `POST /api/v1/refresh` or `cnctl refresh`.
    ApiRefresh,
    /// SIGHUP: re-read the config, then refresh.
    Reload,
    /// SIGTERM or SIGINT.
    Shutdown,
}

/// The sending side, cloned into every thread that can wake the reconcile thread.
#[derive(Debug, Clone)]
pub struct Wake(Sender<Trigger>);

impl Wake {
    pub fn send(&self, trigger: Trigger) -> Result<(), SendError<Trigger>> {
        self.0.send(trigger)
    }
}

/// A trigger channel: the `Wake` side for other threads, the receiver for the reconcile thread.
pub fn channel() -> (Wake, Receiver<Trigger>) {
    let (sender, receiver) = std::sync::mpsc::channel();
    (Wake(sender), receiver)
}
