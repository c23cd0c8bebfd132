//! Tests of the wire: URL parts, the exact request bytes, and replies a raw server on 127.0.0.1
//! sends byte for byte (chunked, to EOF, oversized, truncated, malformed, too slow).

use super::*;
use std::net::TcpListener;
use std::thread::JoinHandle;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn limits(body: u64) -> Limits {
    Limits {
        connect: ms(500),
        recv: ms(500),
        total: ms(1500),
        body,
    }
}

/// Accepts one connection, reads the request head, sends `reply` (in pieces, `pause` apart)
/// and closes. Returns the base URL and the request as received.
fn serve_once(reply: Vec<Vec<u8>>, pause: Duration) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let thread = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
            request.push(byte[0]);
        }
        for piece in reply {
            std::thread::sleep(pause);
            if stream.write_all(&piece).is_err() {
                break;
            }
        }
        String::from_utf8(request).unwrap()
    });
    (url, thread)
}

fn fetch(reply: &[u8], body_limit: u64) -> Result<Response, WireError> {
    let (url, server) = serve_once(vec![reply.to_vec()], Duration::ZERO);
    let result = exchange(Method::Get, &format!("{url}/"), &[], &limits(body_limit));
    server.join().unwrap();
    result
}

#[test]
fn urls_give_host_port_and_path() {
    let t = Target::parse("http://169.254.169.254/metadata/instance?api-version=1").unwrap();
    assert_eq!(
        (t.authority, t.host, t.port, t.path),
        (
            "169.254.169.254",
            "169.254.169.254",
            80,
            "/metadata/instance?api-version=1"
        )
    );
    let t = Target::parse("http://[fd00:ec2::254]:8080").unwrap();
    assert_eq!(
        (t.authority, t.host, t.port, t.path),
        ("[fd00:ec2::254]:8080", "fd00:ec2::254", 8080, "/")
    );
    let t = Target::parse("http://metadata.google.internal?x=1").unwrap();
    assert_eq!(
        (t.host, t.port, t.path),
        ("metadata.google.internal", 80, "?x=1")
    );
    for bad in [
        "https://a/",
        "a/",
        "http:///x",
        "http://a:99999/",
        "http://u@a/",
        "http://a/b c",
        "http://[::1/",
    ] {
        assert!(
            matches!(Target::parse(bad), Err(WireError::Invalid(_))),
            "{bad}"
        );
    }
}

#[test]
fn the_request_is_minimal_and_closes() {
    let (url, server) = serve_once(vec![b"HTTP/1.1 200 OK\r\n\r\n".to_vec()], Duration::ZERO);
    let put = exchange(
        Method::Put,
        &format!("{url}/latest/api/token"),
        &[("X-aws-ec2-metadata-token-ttl-seconds", "21600")],
        &limits(10),
    )
    .unwrap();
    assert_eq!((put.status, put.body.len()), (200, 0));
    let authority = url.trim_start_matches("http://");
    assert_eq!(
        server.join().unwrap(),
        format!(
            "PUT /latest/api/token HTTP/1.1\r\nHost: {authority}\r\n\
             X-aws-ec2-metadata-token-ttl-seconds: 21600\r\nContent-Length: 0\r\n\
             Connection: close\r\n\r\n"
        )
    );
}

#[test]
fn header_values_cannot_inject_lines() {
    let err = exchange(
        Method::Get,
        "http://127.0.0.1:9/",
        &[("X-aws-ec2-metadata-token", "t\r\nEvil: 1")],
        &limits(10),
    )
    .unwrap_err();
    assert!(matches!(err, WireError::Invalid(_)), "{err:?}");
}

#[test]
fn content_length_body_and_case_insensitive_headers() {
    let reply = fetch(
        b"HTTP/1.1 200 OK\r\nETAG:  \"x1\" \r\nContent-Length: 5\r\n\r\nhello",
        100,
    )
    .unwrap();
    assert_eq!(reply.header("etag"), Some("\"x1\""));
    assert_eq!(reply.body, b"hello");
}

#[test]
fn chunked_body_is_decoded_and_trailers_skipped() {
    let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                4;ext=1\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nX-T: 1\r\n\r\n";
    let reply = fetch(raw, 100).unwrap();
    assert_eq!(
        String::from_utf8(reply.body).unwrap(),
        "Wikipedia in \r\n\r\nchunks."
    );
}

#[test]
fn body_to_the_end_of_the_stream() {
    let reply = fetch(b"HTTP/1.0 404 Not Found\n\nno such thing", 100).unwrap();
    assert_eq!(
        (reply.status, reply.body.as_slice()),
        (404, &b"no such thing"[..])
    );
}

#[test]
fn the_cap_applies_to_every_framing() {
    let exact = fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd", 4).unwrap();
    assert_eq!(exact.body, b"abcd");
    for raw in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabcde"[..],
        b"HTTP/1.1 200 OK\r\n\r\nabcde",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    ] {
        assert_eq!(fetch(raw, 4), Err(WireError::BodyTooLarge));
    }
}

#[test]
fn a_short_body_is_a_transport_error() {
    let err = fetch(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 100).unwrap_err();
    assert!(matches!(err, WireError::Transport(_)), "{err:?}");
    let err = fetch(b"HTTP/1.1 200 OK\r\nTransfer-", 100).unwrap_err();
    assert!(matches!(err, WireError::Transport(_)), "{err:?}");
}

#[test]
fn malformed_or_huge_heads_are_invalid() {
    let huge = format!(
        "HTTP/1.1 200 OK\r\nX: {}\r\n\r\n",
        "a".repeat(MAX_HEAD as usize)
    );
    for raw in [
        huge.as_bytes(),
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        let err = fetch(raw, 100).unwrap_err();
        assert!(matches!(err, WireError::Invalid(_)), "{err:?}");
    }
}

#[test]
fn a_dribbling_server_hits_the_global_deadline() {
    let pieces = (0..20).map(|_| b"X".to_vec()).collect();
    let (url, server) = serve_once(pieces, ms(100));
    let start = Instant::now();
    let limits = Limits {
        total: ms(400),
        ..limits(100)
    };
    let err = exchange(Method::Get, &url, &[], &limits).unwrap_err();
    let took = start.elapsed();
    assert!(matches!(err, WireError::Timeout(_)), "{err:?}");
    assert!(took >= ms(400) && took < ms(900), "{took:?}");
    drop(server);
}

#[test]
fn a_name_is_resolved_and_each_address_tried() {
    let (url, server) = serve_once(vec![b"HTTP/1.1 200 OK\r\n\r\nok".to_vec()], Duration::ZERO);
    let port = url.rsplit(':').next().unwrap();
    let url = format!("http://localhost:{port}/x");
    let reply = exchange(Method::Get, &url, &[], &limits(100)).unwrap();
    assert_eq!(reply.body, b"ok");
    assert!(server
        .join()
        .unwrap()
        .contains(&format!("Host: localhost:{port}\r\n")));
}
