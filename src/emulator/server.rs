//! The emulator's HTTP side: a non-blocking listener waited on with poll(2) by one accept
//! thread, which sees a shutdown within `ACCEPT_POLL`, and a thread per connection (at most `MAX_HANDLERS`; beyond that the
//! request is answered 503 at once), one request per connection, answered with
//! `Connection: close`.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::{lock, Reply, RequestFacts, RequestRecord, Shared};
use crate::api::reason;
use crate::metadata::http::wire::{self, Deadlined, WireError};

/// How often the accept thread, while no connection comes, looks for a shutdown.
const ACCEPT_POLL: Duration = Duration::from_millis(50);
/// How long a client may take to send its request, and we to send the answer.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a refused client may take to send its request: the accept thread reads it.
const REFUSE_TIMEOUT: Duration = Duration::from_secs(1);
/// A request body (none is expected) is read and dropped up to this size.
const MAX_REQUEST_BODY: u64 = 1024 * 1024;

/// Listens on `addr`, non-blocking, for [`accept_loop`].
pub(super) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Accepts connections until shutdown; dropping the listener on return frees the port.
pub(super) fn accept_loop(listener: TcpListener, shared: &Arc<Shared>) {
    while !lock(&shared.state).shutdown {
        match listener.accept() {
            Ok((stream, _)) => dispatch(shared, stream),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_for_connection(&listener),
            Err(e) => {
                log::warn!("emulator: accepting a connection failed: {e}");
                thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

/// Returns when a connection is pending or after [`ACCEPT_POLL`].
fn wait_for_connection(listener: &TcpListener) {
    let mut fd = libc::pollfd {
        fd: listener.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = ACCEPT_POLL.as_millis() as libc::c_int;
    // SAFETY: one valid pollfd that outlives the call; the result is only a hint (an error or
    // a timeout just means accepting again).
    unsafe { libc::poll(&mut fd, 1, millis) };
}

/// Hands the connection to its own thread, or answers 503 when too many are in flight.
fn dispatch(shared: &Arc<Shared>, stream: TcpStream) {
    if !shared.enter_handler() {
        refuse(shared, &stream);
        return;
    }
    let handler_shared = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name("emulator-request".to_string())
        .spawn(move || {
            handle(&handler_shared, &stream);
            handler_shared.leave_handler();
        });
    if let Err(e) = spawned {
        log::warn!("emulator: cannot spawn a request thread: {e}");
        shared.leave_handler();
    }
}

/// Over `MAX_HANDLERS`: reads the request and answers 503 from the accept thread.
fn refuse(shared: &Shared, stream: &TcpStream) {
    let Some(request) = read_request(stream, REFUSE_TIMEOUT) else {
        return;
    };
    shared.record(RequestRecord {
        method: request.method,
        path: request.target,
        status: 503,
    });
    respond(stream, &Reply::new(503, "Service Unavailable\n"), false);
}

fn handle(shared: &Shared, stream: &TcpStream) {
    let Some(request) = read_request(stream, IO_TIMEOUT) else {
        return;
    };
    let facts = request.facts();
    shared.reload_if_changed();
    let answer = shared.answer(&facts);
    let status = answer.as_ref().map_or(0, |reply| reply.status);
    log::debug!(
        "emulator: {} {} -> {status}",
        request.method,
        request.target
    );
    let head_only = request.method == "HEAD";
    shared.record(RequestRecord {
        method: request.method,
        path: request.target,
        status,
    });
    match answer {
        Some(reply) => respond(stream, &reply, head_only),
        None => {
            shared.hang();
            let released = Reply::new(500, "released unanswered at shutdown\n");
            respond(stream, &released, head_only);
        }
    }
}

/// A request as sent: the method (upper-cased), the target with its query, the headers.
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn facts(&self) -> RequestFacts {
        let facts = RequestFacts::new(&self.method, &self.target);
        self.headers
            .iter()
            .fold(facts, |facts, (name, value)| facts.with_header(name, value))
    }
}

/// The request, or `None` (answered 400 when it is malformed) when none could be read.
fn read_request(stream: &TcpStream, timeout: Duration) -> Option<Request> {
    match try_read_request(stream, timeout) {
        Ok(request) => Some(request),
        Err(WireError::Invalid(detail)) => {
            log::debug!("emulator: malformed request: {detail}");
            respond(stream, &Reply::new(400, format!("{detail}\n")), false);
            None
        }
        Err(e) => {
            log::debug!("emulator: no request read: {e:?}");
            None
        }
    }
}

fn try_read_request(stream: &TcpStream, timeout: Duration) -> Result<Request, WireError> {
    stream.set_nonblocking(false)?;
    let deadline = Instant::now() + timeout;
    let mut reader = Deadlined::reader(stream.try_clone()?, deadline, "waiting for the request");
    let (line, headers) = wire::read_head(&mut reader)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(WireError::Invalid(format!("bad request line {line:?}")));
    };
    if method.is_empty() || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        return Err(WireError::Invalid(format!("bad request line {line:?}")));
    }
    let length = match headers.iter().find(|(name, _)| name == "content-length") {
        Some((_, value)) => value
            .parse::<u64>()
            .map_err(|_| WireError::Invalid("bad Content-Length".to_string()))?,
        None => 0,
    };
    io::copy(
        &mut reader.take(length.min(MAX_REQUEST_BODY)),
        &mut io::sink(),
    )?;
    Ok(Request {
        method: method.to_ascii_uppercase(),
        target: target.to_string(),
        headers,
    })
}

/// Sends `reply` with its headers, `Content-Length` and `Connection: close`.
fn respond(mut stream: &TcpStream, reply: &Reply, head_only: bool) {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(
        head,
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        reply.body.len()
    );
    let body: &[u8] = if head_only { &[] } else { &reply.body };
    let sent = stream
        .set_write_timeout(Some(IO_TIMEOUT))
        .and_then(|()| stream.write_all(head.as_bytes()))
        .and_then(|()| stream.write_all(body));
    if let Err(e) = sent {
        log::debug!("emulator: the client went away before the answer: {e}");
    }
}

#[cfg(test)]
mod tests {
    use crate::emulator::{start, EmulatorConfig};
    use crate::net::ProviderKind;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(request).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    }

    fn emulator() -> crate::emulator::Emulator {
        let mut cfg = EmulatorConfig::new(ProviderKind::Aws);
        cfg.listen = "127.0.0.1:0".parse().unwrap();
        start(cfg).unwrap()
    }

    #[test]
    fn a_malformed_request_is_answered_400_and_not_recorded() {
        let emu = emulator();
        let answer = raw_exchange(emu.addr(), b"GET\r\n\r\n");
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer}"
        );
        assert!(answer.contains("bad request line \"GET\""), "{answer}");
        assert_eq!(emu.requests(), vec![]);
    }

    #[test]
    fn a_request_body_is_read_and_head_answers_without_a_body() {
        let emu = emulator();
        let put = raw_exchange(
            emu.addr(),
            b"PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\
              Content-Length: 5\r\n\r\nhello",
        );
        assert!(put.starts_with("HTTP/1.1 200 OK\r\n"), "{put}");
        assert!(
            !put.ends_with("\r\n\r\n"),
            "a token follows the head: {put}"
        );
        let head = raw_exchange(emu.addr(), b"HEAD /latest/meta-data/ HTTP/1.1\r\n\r\n");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.ends_with("\r\n\r\n"), "{head}");
        let methods: Vec<(String, u16)> = emu
            .requests()
            .into_iter()
            .map(|r| (r.method, r.status))
            .collect();
        assert_eq!(methods, [("PUT".into(), 200), ("HEAD".into(), 200)]);
    }
}
