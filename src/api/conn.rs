//! One client connection of the API server: its buffers, its phase (idle, reading a request,
//! waiting for a check, writing a response, draining before close) and the deadline of that
//! phase. Everything is non-blocking; the poll loop calls in when the socket is ready or the
//! deadline has passed.

use super::checks::CHECK_WAIT;
use super::http::{parse_head, Parsed, RequestHead, Response};
use super::Limits;
use crate::sys;
use std::io::{self, Read};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};

/// After the last response of a connection, unread input is drained for this long before
/// closing, so the client reads our answer instead of a reset.
const LINGER: Duration = Duration::from_secs(1);
/// An idle connection keeps at most this much output buffer for its next response.
const KEEP_OUTPUT: usize = 16 * 1024;
/// At most this many bytes are drained per readiness, so a fast sender cannot hog the loop.
const DRAIN_PER_TURN: usize = 64 * 1024;

/// What answers a complete request: the routing over the current snapshot.
pub(super) trait Answer {
    fn answer(&self, head: &RequestHead<'_>) -> Answered;
}

/// A response now, or later: the connection waits for the running check's result.
pub(super) enum Answered {
    Now(Response),
    Wait,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Between requests (or freshly accepted): waiting for a first byte.
    Idle,
    /// Part of a request has arrived.
    Reading,
    /// A check was asked for and is being computed; nothing is read meanwhile.
    Waiting,
    /// A response is being sent; nothing is read meanwhile.
    Writing,
    /// The last response is sent and our side shut down; unread input is discarded.
    Draining,
    Closed,
}

pub(super) struct Conn {
    stream: TcpStream,
    /// The client's address, as accept(2) gave it.
    peer: IpAddr,
    input: Vec<u8>,
    output: Vec<u8>,
    sent: usize,
    phase: Phase,
    /// When the current phase began (eviction picks the oldest idle connection).
    since: Instant,
    deadline: Instant,
    close_after: bool,
    /// The client has shut down its sending side.
    eof: bool,
    /// While waiting: whether the check's answer is head-only and closes the connection.
    pending: (bool, bool),
}

impl Conn {
    /// A freshly accepted connection: it must start a request within the head timeout.
    pub(super) fn new(stream: TcpStream, peer: IpAddr, now: Instant, limits: &Limits) -> Conn {
        Conn {
            stream,
            peer,
            input: Vec::new(),
            output: Vec::new(),
            sent: 0,
            phase: Phase::Idle,
            since: now,
            deadline: now + limits.head_timeout,
            close_after: false,
            eof: false,
            pending: (false, false),
        }
    }

    pub(super) fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    pub(super) fn phase(&self) -> Phase {
        self.phase
    }

    pub(super) fn since(&self) -> Instant {
        self.since
    }

    pub(super) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The poll events this connection waits for. While waiting for a check: the client
    /// hanging up (unless it had already shut down its side with the request).
    pub(super) fn interest(&self) -> libc::c_short {
        match self.phase {
            Phase::Writing => libc::POLLOUT,
            Phase::Waiting if self.eof => 0,
            Phase::Waiting => libc::POLLRDHUP,
            Phase::Closed => 0,
            _ => libc::POLLIN,
        }
    }

    /// The check's result: queued and written as far as the socket takes it.
    pub(super) fn deliver(
        &mut self,
        response: &Response,
        service: &dyn Answer,
        limits: &Limits,
        now: Instant,
    ) {
        if self.phase != Phase::Waiting {
            return;
        }
        let (head_only, close) = self.pending;
        self.queue(response, head_only, close, limits, now);
        self.advance(service, limits, now);
    }

    /// The socket is ready (or in error): read, answer and write as far as it goes.
    pub(super) fn on_ready(&mut self, service: &dyn Answer, limits: &Limits, now: Instant) {
        match self.phase {
            Phase::Idle | Phase::Reading => {
                self.read_input(limits, now);
                self.advance(service, limits, now);
            }
            Phase::Writing => self.advance(service, limits, now),
            Phase::Draining => self.drain(),
            // Only a hang-up or an error wakes a waiting connection: the client is gone.
            Phase::Waiting => self.phase = Phase::Closed,
            Phase::Closed => {}
        }
    }

    /// The phase's deadline has passed: close, or answer 408 to a half-sent request.
    pub(super) fn on_deadline(&mut self, service: &dyn Answer, limits: &Limits, now: Instant) {
        match self.phase {
            Phase::Reading => {
                let seconds = limits.head_timeout.as_secs_f64();
                let message = format!("request not received within {seconds} s");
                self.queue(&Response::error(408, &message), false, true, limits, now);
                self.advance(service, limits, now);
            }
            Phase::Writing => {
                log::debug!("API: dropping a client that did not read its response");
                self.phase = Phase::Closed;
            }
            Phase::Waiting => {
                let message = "the check did not answer in time";
                self.deliver(&Response::error(503, message), service, limits, now);
            }
            _ => self.phase = Phase::Closed,
        }
    }

    fn enter(&mut self, phase: Phase, now: Instant, timeout: Duration) {
        self.phase = phase;
        self.since = now;
        self.deadline = now + timeout;
    }

    fn read_input(&mut self, limits: &Limits, now: Instant) {
        let cap = limits.max_head + limits.max_body;
        while self.input.len() < cap {
            let start = self.input.len();
            self.input.resize(cap, 0);
            let result = self.stream.read(&mut self.input[start..]);
            self.input.truncate(start + *result.as_ref().unwrap_or(&0));
            match result {
                Ok(0) => {
                    self.eof = true;
                    return;
                }
                Ok(_) if self.phase == Phase::Idle => {
                    self.enter(Phase::Reading, now, limits.head_timeout);
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.phase = Phase::Closed;
                    return;
                }
            }
        }
    }

    /// Answers complete requests and writes responses until the socket or the input runs dry.
    fn advance(&mut self, service: &dyn Answer, limits: &Limits, now: Instant) {
        loop {
            match self.phase {
                Phase::Idle | Phase::Reading => {
                    if !self.next_request(service, limits, now) {
                        if self.eof {
                            self.phase = Phase::Closed;
                        }
                        return;
                    }
                }
                Phase::Writing => {
                    if !self.flush(limits, now) {
                        return;
                    }
                }
                Phase::Draining => return self.drain(),
                Phase::Waiting | Phase::Closed => return,
            }
        }
    }

    /// Queues the answer to the request at the start of the input, if it is complete.
    fn next_request(&mut self, service: &dyn Answer, limits: &Limits, now: Instant) -> bool {
        let (response, head_only, close, consumed) = match parse_head(&self.input, limits.max_head)
        {
            Parsed::Incomplete => return false,
            Parsed::Invalid(e) => (e.response(limits.max_head), false, true, 0),
            Parsed::Head { mut head, len } => {
                head.peer = self.peer;
                let head_only = head.method == "HEAD";
                if head.content_length > limits.max_body as u64 {
                    let message = format!("request body larger than {} bytes", limits.max_body);
                    (Response::error(413, &message), head_only, true, 0)
                } else {
                    let total = len + head.content_length as usize;
                    if self.input.len() < total {
                        return false;
                    }
                    let close = head.close || self.eof;
                    match service.answer(&head) {
                        Answered::Now(response) => (response, head_only, close, total),
                        Answered::Wait => {
                            self.input.drain(..total);
                            self.pending = (head_only, close);
                            self.enter(Phase::Waiting, now, CHECK_WAIT);
                            return true;
                        }
                    }
                }
            }
        };
        self.input.drain(..consumed);
        self.queue(&response, head_only, close, limits, now);
        true
    }

    fn queue(
        &mut self,
        response: &Response,
        head_only: bool,
        close: bool,
        limits: &Limits,
        now: Instant,
    ) {
        self.output.clear();
        self.sent = 0;
        response.encode(&mut self.output, head_only, close);
        self.close_after = close;
        self.enter(Phase::Writing, now, limits.write_timeout);
    }

    /// Writes pending output; true once it is all sent and the next phase is set.
    fn flush(&mut self, limits: &Limits, now: Instant) -> bool {
        while self.sent < self.output.len() {
            match send(&self.stream, &self.output[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => {
                    self.phase = Phase::Closed;
                    return false;
                }
            }
        }
        self.output.clear();
        self.output.shrink_to(KEEP_OUTPUT);
        if self.close_after {
            let _ = self.stream.shutdown(Shutdown::Write);
            self.enter(Phase::Draining, now, LINGER);
        } else if self.input.is_empty() {
            self.enter(Phase::Idle, now, limits.idle_timeout);
        } else {
            self.enter(Phase::Reading, now, limits.head_timeout);
        }
        true
    }

    /// Discards input after the last response, until the client closes or LINGER passes.
    fn drain(&mut self) {
        self.input = Vec::new();
        let mut scratch = [0u8; 4096];
        let mut drained = 0;
        while drained < DRAIN_PER_TURN {
            match self.stream.read(&mut scratch) {
                Ok(0) => break,
                Ok(n) => drained += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => break,
            }
        }
        if drained < DRAIN_PER_TURN {
            self.phase = Phase::Closed;
        }
    }
}

/// `send(2)` with MSG_NOSIGNAL: a client gone away is an error, never a SIGPIPE.
fn send(stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    sys::send_no_signal(stream.as_raw_fd(), data)
}
