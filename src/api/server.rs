//! The API's event loop: one thread, one poll(2) over the wake-up eventfd, the listener, the
//! checks' eventfd and every connection. It accepts (closing the longest-idle connection when
//! at the cap), hands ready sockets to their `Conn`, enforces deadlines, starts a check when a
//! connection waits for one and hands its result to every waiting connection, and exits when
//! the wake-up eventfd is signalled.

use super::checks::{self, Checks};
use super::conn::{Answer, Answered, Conn, Phase};
use super::http::RequestHead;
use super::routes::Reply;
use super::{respond, ApiOptions, Limits};
use crate::snapshot::SharedSnapshot;
use crate::sys::{self, EventFd};
use crate::trigger::{Trigger, Wake};
use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections accepted per loop turn, so a connect flood cannot starve the open ones.
const ACCEPT_PER_TURN: usize = 64;
/// After an accept error other than "nothing pending" (out of descriptors), accepting pauses
/// this long instead of spinning on a listener that stays readable.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// After a failed poll(2) (out of memory), the loop waits this long before trying again.
const POLL_RETRY: Duration = Duration::from_millis(100);

pub(super) struct Server {
    listener: TcpListener,
    wakeup: Arc<EventFd>,
    service: Service,
    limits: Limits,
}

/// Answers requests from the current snapshot, and checks from the check's thread.
struct Service {
    snapshot: SharedSnapshot,
    wake: Wake,
    options: ApiOptions,
    checks: Checks,
}

impl Answer for Service {
    fn answer(&self, head: &RequestHead<'_>) -> Answered {
        let snap = self.snapshot.get();
        let wake = || self.wake.send(Trigger::ApiRefresh).is_ok();
        match respond(head, &snap, &self.options, &wake) {
            Reply::Now(response) => Answered::Now(response),
            Reply::Check => match self.checks.fresh(Instant::now()) {
                Some(response) => {
                    checks::count(&response);
                    Answered::Now(response)
                }
                None => Answered::Wait,
            },
        }
    }
}

impl Server {
    pub(super) fn new(
        listener: TcpListener,
        wakeup: Arc<EventFd>,
        snapshot: SharedSnapshot,
        wake: Wake,
        options: ApiOptions,
        checks_done: EventFd,
    ) -> Server {
        Server {
            listener,
            wakeup,
            limits: options.limits,
            service: Service {
                checks: Checks::new(snapshot.clone(), checks_done),
                snapshot,
                wake,
                options,
            },
        }
    }

    /// Serves until the wake-up eventfd becomes readable; then every socket is closed.
    pub(super) fn run(self) {
        // Both grow with the connections open (at most `max_connections`): room for the cap
        // up front would hold 34 KiB of heap for the one or two clients a machine has.
        let mut conns: Vec<Conn> = Vec::new();
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut accept_paused_until: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let accepting = accept_paused_until.is_none_or(|until| until <= now);
            let own = [
                self.wakeup.as_raw_fd(),
                self.listener.as_raw_fd(),
                self.service.checks.fd(),
            ];
            fill_pollfds(&mut fds, own, accepting, &conns);
            let deadline = conns
                .iter()
                .map(Conn::deadline)
                .chain(accept_paused_until)
                .min();
            if let Err(e) = poll(&mut fds, timeout_ms(deadline, now)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("API: poll failed: {e}");
                    std::thread::sleep(POLL_RETRY);
                }
                continue;
            }
            if fds[0].revents != 0 {
                self.service.checks.stop();
                return;
            }
            let now = Instant::now();
            self.serve_ready(&mut conns, &fds[OWN_FDS..], now);
            if fds[2].revents != 0 {
                self.deliver_check(&mut conns, now);
            }
            if accepting && fds[1].revents != 0 {
                accept_paused_until = self.accept(&mut conns, now);
            }
            let waiting = conns.iter().filter(|c| c.phase() == Phase::Waiting).count();
            self.service.checks.waiting(waiting);
        }
    }

    /// A check finished: its result goes to every connection waiting for one.
    fn deliver_check(&self, conns: &mut Vec<Conn>, now: Instant) {
        let Some(response) = self.service.checks.finished() else {
            return;
        };
        for conn in conns.iter_mut().filter(|c| c.phase() == Phase::Waiting) {
            checks::count(&response);
            conn.deliver(&response, &self.service, &self.limits, now);
        }
        conns.retain(|conn| conn.phase() != Phase::Closed);
    }

    fn serve_ready(&self, conns: &mut Vec<Conn>, fds: &[libc::pollfd], now: Instant) {
        for (conn, fd) in conns.iter_mut().zip(fds) {
            if fd.revents != 0 {
                conn.on_ready(&self.service, &self.limits, now);
            }
            if conn.phase() != Phase::Closed && conn.deadline() <= now {
                conn.on_deadline(&self.service, &self.limits, now);
            }
        }
        conns.retain(|conn| conn.phase() != Phase::Closed);
    }

    /// Accepts pending connections; returns until when accepting pauses after an error.
    fn accept(&self, conns: &mut Vec<Conn>, now: Instant) -> Option<Instant> {
        for _ in 0..ACCEPT_PER_TURN {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    if conns.len() >= self.limits.max_connections {
                        evict(conns);
                    }
                    conns.push(Conn::new(stream, peer.ip(), now, &self.limits));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) => {}
                Err(e) => {
                    log::warn!("API: accept failed: {e}; pausing new connections briefly");
                    return Some(now + ACCEPT_PAUSE);
                }
            }
        }
        None
    }
}

/// Closes one connection to make room: the longest idle one, else the one longest in its
/// current phase (the closest to its own deadline).
fn evict(conns: &mut Vec<Conn>) {
    let victim = conns
        .iter()
        .enumerate()
        .min_by_key(|(_, conn)| (conn.phase() != Phase::Idle, conn.since()))
        .map(|(i, _)| i);
    if let Some(i) = victim {
        log::debug!("API: connection limit reached; closing the longest-idle connection");
        conns.swap_remove(i);
    }
}

/// The loop's own descriptors before the connections': wake-up, listener, checks.
const OWN_FDS: usize = 3;

fn fill_pollfds(
    fds: &mut Vec<libc::pollfd>,
    [wakeup, listener, checks]: [RawFd; OWN_FDS],
    accepting: bool,
    conns: &[Conn],
) {
    let entry = |fd, events| libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    fds.clear();
    fds.push(entry(wakeup, libc::POLLIN));
    fds.push(entry(listener, if accepting { libc::POLLIN } else { 0 }));
    fds.push(entry(checks, libc::POLLIN));
    fds.extend(conns.iter().map(|conn| entry(conn.fd(), conn.interest())));
}

/// Milliseconds until `deadline`, rounded up; -1 (wait forever) without one.
fn timeout_ms(deadline: Option<Instant>, now: Instant) -> libc::c_int {
    let Some(deadline) = deadline else {
        return -1;
    };
    let micros = deadline.saturating_duration_since(now).as_micros();
    libc::c_int::try_from(micros.div_ceil(1000)).unwrap_or(libc::c_int::MAX)
}

fn poll(fds: &mut [libc::pollfd], timeout: libc::c_int) -> io::Result<()> {
    sys::poll(fds, timeout).map(drop)
}
