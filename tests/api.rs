//! The API server over real loopback sockets: keep-alive, pipelining, HEAD, limits (head and
//! body size, slow drip, idle and unread responses, connection cap), bad input, shutdown.
mod api_client;

use api_client::*;
use cloud_network::api::{self, ApiError, ApiOptions, Limits, MAX_HEAD};
use cloud_network::privileges::confine::Confinement;
use cloud_network::trigger::{self, Trigger};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc::TryRecvError;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn keep_alive_serves_two_requests_on_one_connection() {
    let api = start(Limits::default());
    let mut stream = api.connect();
    stream
        .write_all(get("/api/cloud/system").as_bytes())
        .unwrap();
    let first = read_reply(&mut stream, false);
    assert_eq!((first.status, first.body.as_str()), (200, SYSTEM_JSON));
    assert_eq!(first.header("Content-Type"), Some("application/json"));
    assert_eq!(first.header("Cache-Control"), Some("no-store"));
    assert_eq!(first.header("Content-Length"), Some("24"));
    assert_eq!(first.header("Connection"), None);
    let refresh = "POST /api/v1/refresh HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}";
    stream.write_all(refresh.as_bytes()).unwrap();
    let second = read_reply(&mut stream, false);
    assert_eq!(
        (second.status, second.body.as_str()),
        (202, r#"{"status":"refresh requested"}"#)
    );
    assert_eq!(api.triggers.try_recv(), Ok(Trigger::ApiRefresh));
    assert_eq!(api.triggers.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let api = start(Limits::default());
    let mut stream = api.connect();
    let two = format!("{}{}", get("/api/v1/links"), get("/nope"));
    stream.write_all(two.as_bytes()).unwrap();
    let first = read_reply(&mut stream, false);
    assert_eq!((first.status, first.body.as_str()), (200, "[]"));
    let second = read_reply(&mut stream, false);
    assert_eq!(
        (second.status, second.body.as_str()),
        (404, r#"{"error":"no such path: /nope"}"#)
    );
}

#[test]
fn http10_and_connection_close_end_the_connection() {
    let api = start(Limits::default());
    for request in [
        "GET /api/v1/links HTTP/1.0\r\n\r\n",
        "GET /api/v1/links HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    ] {
        let mut stream = api.connect();
        stream.write_all(request.as_bytes()).unwrap();
        let reply = read_reply(&mut stream, false);
        assert_eq!((reply.status, reply.body.as_str()), (200, "[]"));
        assert_eq!(reply.header("Connection"), Some("close"));
        assert!(
            closed_within(&mut stream, Duration::from_secs(2)),
            "{request}"
        );
    }
}

#[test]
fn head_gets_headers_without_a_body() {
    let api = start(Limits::default());
    let mut stream = api.connect();
    let head = "HEAD /api/cloud/system HTTP/1.1\r\nHost: localhost\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let reply = read_reply(&mut stream, true);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Content-Length"), Some("24"));
    stream.write_all(get("/api/v1/links").as_bytes()).unwrap();
    let next = read_reply(&mut stream, false);
    assert_eq!((next.status, next.body.as_str()), (200, "[]"));
}

#[test]
fn foreign_hosts_and_wrong_methods_over_the_wire() {
    let api = start(Limits::default());
    let evil = exchange(
        &api,
        b"GET /api/v1/status HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    );
    assert_eq!(evil.status, 403);
    assert_eq!(
        evil.body,
        r#"{"error":"Host \"evil.example\" is not a loopback name or address (DNS rebinding protection)"}"#
    );
    let wrong = exchange(
        &api,
        b"DELETE /api/v1/status HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(
        (wrong.status, wrong.header("Allow")),
        (405, Some("GET, HEAD"))
    );
}

#[test]
fn invalid_utf8_path_is_400() {
    let api = start(Limits::default());
    let reply = exchange(
        &api,
        b"GET /api/\xff\xfe HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body,
        r#"{"error":"request path must be printable ASCII"}"#
    );
}

#[test]
fn chunked_bodies_are_501() {
    let api = start(Limits::default());
    let request = b"POST /api/v1/refresh HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    let reply = exchange(&api, request);
    assert_eq!(reply.status, 501);
    assert_eq!(api.triggers.try_recv(), Err(TryRecvError::Empty));
}

/// Writes `bytes` from another thread, ignoring errors (the server may close first).
fn write_in_background(stream: &std::net::TcpStream, bytes: Vec<u8>) -> thread::JoinHandle<()> {
    let mut writer = stream.try_clone().unwrap();
    thread::spawn(move || {
        let _ = writer.write_all(&bytes);
    })
}

#[test]
fn one_megabyte_header_is_431_and_closed() {
    let api = start(Limits::default());
    let mut stream = api.connect();
    let mut request = b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nX-Big: ".to_vec();
    request.resize(request.len() + (1 << 20), b'a');
    request.extend_from_slice(b"\r\n\r\n");
    let writer = write_in_background(&stream, request);
    let reply = read_reply(&mut stream, false);
    assert_eq!(reply.status, 431);
    assert_eq!(
        reply.body,
        format!(r#"{{"error":"request head larger than {MAX_HEAD} bytes"}}"#)
    );
    assert_eq!(reply.header("Connection"), Some("close"));
    assert!(closed_within(&mut stream, Duration::from_secs(2)));
    writer.join().unwrap();
}

#[test]
fn ten_megabyte_body_is_413_and_closed() {
    let api = start(Limits::default());
    let mut stream = api.connect();
    let length = 10 << 20;
    let mut request = format!(
        "POST /api/v1/refresh HTTP/1.1\r\nHost: localhost\r\nContent-Length: {length}\r\n\r\n"
    )
    .into_bytes();
    request.resize(request.len() + length, b'x');
    let writer = write_in_background(&stream, request);
    let reply = read_reply(&mut stream, false);
    assert_eq!(reply.status, 413);
    assert_eq!(
        reply.body,
        r#"{"error":"request body larger than 4096 bytes"}"#
    );
    assert!(closed_within(&mut stream, Duration::from_secs(2)));
    assert_eq!(api.triggers.try_recv(), Err(TryRecvError::Empty));
    writer.join().unwrap();
}

#[test]
fn slow_drip_gets_408_then_closed_within_the_deadline() {
    let limits = fast_limits();
    let api = start(limits);
    let mut stream = api.connect();
    let started = Instant::now();
    let mut writer = stream.try_clone().unwrap();
    let drip = thread::spawn(move || {
        for byte in b"GET /api/v1/status HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaa" {
            if writer.write_all(&[*byte]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
    });
    let reply = read_reply(&mut stream, false);
    let elapsed = started.elapsed();
    assert_eq!(reply.status, 408);
    assert_eq!(
        reply.body,
        r#"{"error":"request not received within 0.3 s"}"#
    );
    assert!(elapsed >= limits.head_timeout, "{elapsed:?}");
    assert!(elapsed < limits.head_timeout * 4, "{elapsed:?}");
    assert!(closed_within(&mut stream, Duration::from_secs(2)));
    drip.join().unwrap();
}

#[test]
fn a_silent_connection_is_closed_without_an_answer() {
    let api = start(fast_limits());
    // Taken before the connection exists: the server's deadline starts at its accept, which
    // may come before this thread runs again after connect().
    let started = Instant::now();
    let mut stream = api.connect();
    let mut received = Vec::new();
    stream.read_to_end(&mut received).unwrap();
    assert_eq!(received, b"");
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1200), "{elapsed:?}");
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let api = start(fast_limits());
    let mut stream = api.connect();
    stream.write_all(get("/api/v1/links").as_bytes()).unwrap();
    assert_eq!(read_reply(&mut stream, false).status, 200);
    let idle_since = Instant::now();
    assert!(closed_within(&mut stream, Duration::from_secs(3)));
    let elapsed = idle_since.elapsed();
    assert!(elapsed >= Duration::from_millis(250), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(1200), "{elapsed:?}");
}

#[test]
fn a_client_that_does_not_read_is_dropped_and_others_are_served() {
    let api = start(fast_limits());
    let mut big = snapshot();
    let payload = "x".repeat(8 << 20);
    big.system = Some(Arc::new(json!({ "blob": payload })));
    api.snapshot.publish(big);
    let full_length = payload.len() + r#"{"blob":""}"#.len();
    let mut stalled = api.connect();
    stalled
        .write_all(get("/api/cloud/system").as_bytes())
        .unwrap();
    let mut first = [0u8; 1];
    stalled.read_exact(&mut first).unwrap();
    let started = Instant::now();
    let other = exchange(&api, get("/api/v1/links").as_bytes());
    assert_eq!(other.status, 200);
    assert!(started.elapsed() < Duration::from_millis(250));
    thread::sleep(Duration::from_millis(600));
    let (closed, received) = drain_until_closed(&mut stalled, Duration::from_secs(2));
    assert!(closed, "the stalled client was not dropped");
    assert!(
        received + 1 < full_length,
        "{received} of {full_length} bytes"
    );
}

/// Reads until EOF or reset (true) or until `wait` passes without data (false), counting bytes.
fn drain_until_closed(stream: &mut std::net::TcpStream, wait: Duration) -> (bool, usize) {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (true, total),
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (true, total),
            Err(_) => return (false, total),
        }
    }
}

#[test]
fn past_the_connection_cap_the_oldest_idle_connections_are_closed() {
    let limits = Limits {
        max_connections: 8,
        ..Limits::default()
    };
    let api = start(limits);
    let mut idle: Vec<_> = (0..20)
        .map(|_| {
            let stream = api.connect();
            thread::sleep(Duration::from_millis(5));
            stream
        })
        .collect();
    let reply = exchange(&api, get("/api/v1/links").as_bytes());
    assert_eq!((reply.status, reply.body.as_str()), (200, "[]"));
    let closed: Vec<bool> = idle
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_millis(100)))
        .collect();
    let expected: Vec<bool> = (0..20).map(|i| i < 13).collect();
    assert_eq!(closed, expected);
}

#[test]
fn shutdown_closes_connections_and_frees_the_port() {
    let api = start(Limits::default());
    let addr = api.addr();
    let mut open = api.connect();
    open.write_all(get("/api/v1/links").as_bytes()).unwrap();
    assert_eq!(read_reply(&mut open, false).status, 200);
    api.handle.shutdown();
    assert!(closed_within(&mut open, Duration::from_secs(1)));
    assert!(std::net::TcpStream::connect(addr).is_err());
    TcpListener::bind(addr).unwrap();
}

#[test]
fn a_port_in_use_is_a_bind_error_before_any_thread() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr: SocketAddr = taken.local_addr().unwrap();
    let (wake, _triggers) = trigger::channel().expect("trigger channel");
    let options = ApiOptions {
        serve_credentials: false,
        listen: addr,
        limits: Limits::default(),
    };
    let shared = cloud_network::snapshot::SharedSnapshot::new(snapshot());
    match api::spawn(addr, shared, wake, options, Confinement::NoCapabilities) {
        Err(e @ ApiError::Bind { .. }) => {
            assert_eq!(
                e.to_string(),
                format!("cannot listen on {addr}: Address already in use (os error 98)")
            );
        }
        other => panic!("expected a bind error, got {other:?}"),
    }
}
