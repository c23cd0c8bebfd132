//! The emulator's HTTP side, on tiny_http: tiny_http accepts and reads every connection on a
//! thread of its own; one dispatch thread takes the parsed requests, sees a shutdown within
//! `ACCEPT_POLL`, and hands each request to a handler thread of its own (at most
//! `MAX_HANDLERS`; beyond that it answers 503 at once), so long-polls and hanging faults
//! never hold up other requests. The dispatch thread owns the server and drops it when it
//! ends: tiny_http's wake-up connection at drop then comes from the network namespace the
//! emulator was started in.
//!
//! tiny_http has no limits of its own (see the README, "Why not tiny_http for the API"): this
//! server is for tests and labs on loopback or inside a test's namespace, never a port that
//! untrusted users reach.

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use tiny_http::{Header, Request, Response, Server};

use super::facts::MAX_BODY;
use super::{lock, Reply, RequestFacts, RequestRecord, Shared};
use crate::http::reason;

/// How often the dispatch thread, while no request comes, looks for a shutdown.
const ACCEPT_POLL: Duration = Duration::from_millis(50);

/// Listens on `addr`; returns the server and the address actually bound.
pub(super) fn bind(addr: SocketAddr) -> io::Result<(Server, SocketAddr)> {
    let server = Server::http(addr).map_err(io::Error::other)?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| io::Error::other("not an IP listener"))?;
    Ok((server, bound))
}

/// Dispatches requests until shutdown; dropping the server on return frees the port.
pub(super) fn dispatch_loop(server: Server, shared: &Arc<Shared>) {
    while !lock(&shared.state).shutdown {
        match server.recv_timeout(ACCEPT_POLL) {
            Ok(Some(request)) => dispatch(shared, request),
            Ok(None) => {}
            Err(e) => {
                log::warn!("emulator: receiving a request failed: {e}");
                thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

/// Hands the request to its own thread, or answers 503 when too many are in flight.
fn dispatch(shared: &Arc<Shared>, request: Request) {
    if !shared.enter_handler() {
        let (method, path) = (method(&request), request.url().to_string());
        shared.record(RequestRecord {
            method,
            path,
            status: 503,
        });
        respond(request, &Reply::new(503, format!("{}\n", reason(503))));
        return;
    }
    let handler_shared = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name("emulator-request".to_string())
        .spawn(move || {
            handle(&handler_shared, request);
            handler_shared.leave_handler();
        });
    if let Err(e) = spawned {
        log::warn!("emulator: cannot spawn a request thread: {e}");
        shared.leave_handler();
    }
}

fn handle(shared: &Shared, mut request: Request) {
    let facts = facts(&mut request);
    shared.reload_if_changed();
    let answer = shared.answer(&facts);
    let status = answer.as_ref().map_or(0, |reply| reply.status);
    log::debug!("emulator: {} {} -> {status}", facts.method, request.url());
    shared.record(RequestRecord {
        method: facts.method,
        path: request.url().to_string(),
        status,
    });
    match answer {
        Some(reply) => respond(request, &reply),
        None => {
            shared.hang();
            respond(
                request,
                &Reply::new(500, "released unanswered at shutdown\n"),
            );
        }
    }
}

/// The method, upper-cased as the routes compare it.
fn method(request: &Request) -> String {
    request.method().as_str().to_ascii_uppercase()
}

/// The request's method, URL, headers and body (at most one byte past [`MAX_BODY`], so a
/// route can tell that it was longer).
fn facts(request: &mut Request) -> RequestFacts {
    let mut body = Vec::new();
    let limit = u64::try_from(MAX_BODY).map_or(u64::MAX, |max| max + 1);
    if let Err(e) = request.as_reader().take(limit).read_to_end(&mut body) {
        log::debug!("emulator: reading a request body failed: {e}");
    }
    let facts = RequestFacts::new(&method(request), request.url()).with_body(&body);
    request.headers().iter().fold(facts, |facts, header| {
        facts.with_header(header.field.as_str().as_str(), header.value.as_str())
    })
}

/// Sends `reply` with its headers (tiny_http adds the framing, `Date` and `Server`; a HEAD
/// gets no body).
fn respond(request: Request, reply: &Reply) {
    let headers = reply
        .headers
        .iter()
        .filter_map(|(name, value)| Header::from_bytes(name.as_bytes(), value.as_bytes()).ok())
        .collect();
    let response = Response::new(
        reply.status.into(),
        headers,
        reply.body.as_slice(),
        Some(reply.body.len()),
        None,
    );
    if let Err(e) = request.respond(response) {
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
        assert_eq!(emu.requests(), vec![]);
    }

    #[test]
    fn a_request_body_is_read_and_head_answers_without_a_body() {
        let emu = emulator();
        let put = raw_exchange(
            emu.addr(),
            b"PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 60\r\n\
              Content-Length: 5\r\nConnection: close\r\n\r\nhello",
        );
        assert!(put.starts_with("HTTP/1.1 200 OK\r\n"), "{put}");
        assert!(
            !put.ends_with("\r\n\r\n"),
            "a token follows the head: {put}"
        );
        let head = raw_exchange(
            emu.addr(),
            b"HEAD /latest/meta-data/ HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
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
