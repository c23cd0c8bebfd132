//! Tests of the fetcher: error classification, and real requests against a scripted server
//! on 127.0.0.1 (retries, 404, 429 with Retry-After, timeouts, body cap, redirects not followed,
//! chunked bodies, connections cut mid-body), counting requests on the server side.

use super::*;
use crate::metadata::test_server::{fast, Answer, RawServer, ScriptedServer};
use std::time::Instant;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn status(status: u16) -> HttpError {
    HttpError::Status {
        url: "u".into(),
        status,
        excerpt: String::new(),
    }
}

#[test]
fn transient_and_permanent_errors() {
    for code in [500, 502, 503, 429] {
        assert!(status(code).is_transient(), "{code}");
    }
    for code in [400, 401, 403, 404, 405, 301] {
        assert!(!status(code).is_transient(), "{code}");
    }
    let too_large = HttpError::BodyTooLarge {
        url: "u".into(),
        limit: 1,
    };
    assert!(!too_large.is_transient());
    let timeout = HttpError::Timeout {
        url: "u".into(),
        detail: String::new(),
    };
    assert!(timeout.is_transient());
}

#[test]
fn not_found_is_none() {
    assert_eq!(not_found_as_none(Err(status(404))), Ok(None));
    assert_eq!(not_found_as_none(Err(status(403))), Err(status(403)));
}

#[test]
fn retry_after_and_excerpt() {
    assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
    assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    assert_eq!(excerpt("<html>\n<b>oops</b>"), "<html> <b>oops</b>");
    assert_eq!(excerpt(&"x".repeat(500)).chars().count(), EXCERPT_CHARS + 1);
}

#[test]
fn get_sends_headers_and_reads_reply_headers() {
    let server = ScriptedServer::start(vec![Answer::ok("{}")
        .header("ETag", "abc123")
        .header("Metadata-Flavor", "Google")]);
    let http = Http::new(fast());
    let url = format!("{}/x?y=1", server.base());
    let reply = http.get(&url, &[("Metadata", "true")]).unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "{}");
    assert_eq!(reply.etag.as_deref(), Some("abc123"));
    assert_eq!(reply.metadata_flavor.as_deref(), Some("Google"));
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].url, "/x?y=1");
    assert_eq!(seen[0].header("metadata"), Some("true"));
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn server_error_is_retried_then_succeeds() {
    let server = ScriptedServer::start(vec![Answer::status(503), Answer::ok("fine")]);
    let http = Http::new(fast());
    let reply = http.get(&format!("{}/", server.base()), &[]).unwrap();
    assert_eq!(reply.body, "fine");
    assert_eq!(server.seen().len(), 2);
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn persistent_server_error_gives_up_after_the_attempts() {
    let script = vec![Answer::status(500).body("boom"); 3];
    let server = ScriptedServer::start(script);
    let http = Http::new(fast());
    let url = format!("{}/", server.base());
    let err = http.get(&url, &[]).unwrap_err();
    assert_eq!(
        err,
        HttpError::Status {
            url,
            status: 500,
            excerpt: "boom".into()
        }
    );
    assert_eq!(server.seen().len(), 3);
}

#[test]
fn not_found_is_permanent_and_optional_none() {
    let server = ScriptedServer::start(vec![Answer::status(404), Answer::status(403)]);
    let http = Http::new(fast());
    let url = format!("{}/missing", server.base());
    assert_eq!(http.get_optional(&url, &[]), Ok(None));
    assert_eq!(http.get(&url, &[]).unwrap_err().status(), Some(403));
    assert_eq!(server.seen().len(), 2);
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn too_many_requests_honours_retry_after() {
    let server = ScriptedServer::start(vec![
        Answer::status(429).header("Retry-After", "1"),
        Answer::ok("later"),
    ]);
    let http = Http::new(fast());
    let start = Instant::now();
    let reply = http.get(&format!("{}/", server.base()), &[]).unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(reply.body, "later");
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn silent_server_times_out_transiently() {
    let server = ScriptedServer::start(vec![Answer::hang(), Answer::hang()]);
    let config = HttpConfig {
        retry: RetryPolicy {
            attempts: 2,
            ..fast().retry
        },
        ..fast()
    };
    let http = Http::new(config);
    let start = Instant::now();
    let err = http.get(&format!("{}/", server.base()), &[]).unwrap_err();
    assert!(matches!(err, HttpError::Timeout { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(start.elapsed() < ms(2000), "{:?}", start.elapsed());
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn per_request_timeout_overrides_the_default() {
    let server = ScriptedServer::start(vec![Answer::ok("slow").after(ms(600))]);
    let http = Http::new(fast());
    let url = format!("{}/", server.base());
    let reply = http.send(Method::Get, &url, &[], Some(ms(2000))).unwrap();
    assert_eq!(reply.body, "slow");
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn oversized_body_is_a_typed_error_not_retried() {
    let server = ScriptedServer::start(vec![Answer::status(200).filler(20 * 1024 * 1024)]);
    let http = Http::new(HttpConfig {
        global_timeout: ms(5000),
        recv_timeout: ms(5000),
        ..fast()
    });
    let url = format!("{}/big", server.base());
    let err = http.get(&url, &[]).unwrap_err();
    assert_eq!(
        err,
        HttpError::BodyTooLarge {
            url,
            limit: 4 * 1024 * 1024
        }
    );
    assert_eq!(server.seen().len(), 1);
}

#[test]
fn put_sends_a_put_with_headers() {
    let server = ScriptedServer::start(vec![Answer::ok("token")]);
    let http = Http::new(fast());
    let url = format!("{}/latest/api/token", server.base());
    let reply = http
        .put(&url, &[("X-aws-ec2-metadata-token-ttl-seconds", "21600")])
        .unwrap();
    assert_eq!(reply.body, "token");
    let seen = server.seen();
    assert_eq!(seen[0].method, "PUT");
    assert_eq!(
        seen[0].header("x-aws-ec2-metadata-token-ttl-seconds"),
        Some("21600")
    );
}

#[test]
fn refused_connection_is_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let http = Http::new(fast());
    let err = http.get(&format!("http://{addr}/"), &[]).unwrap_err();
    assert!(matches!(err, HttpError::Transport { .. }), "{err:?}");
    assert!(err.is_transient());
}

#[test]
fn a_redirect_is_not_followed_and_is_a_clear_permanent_error() {
    let target = ScriptedServer::start(vec![Answer::ok("elsewhere")]);
    let server = ScriptedServer::start(vec![Answer::status(302)
        .header("Location", &format!("{}/moved", target.base()))
        .body("moved")]);
    let http = Http::new(fast());
    let url = format!("{}/metadata", server.base());
    let err = http.get(&url, &[]).unwrap_err();
    assert_eq!(
        err,
        HttpError::Redirect {
            url: url.clone(),
            status: 302,
            location: format!("{}/moved", target.base()),
        }
    );
    assert!(!err.is_transient());
    assert_eq!(
        err.to_string(),
        format!(
            "{url} answered HTTP 302, a redirect to \"{}/moved\", which is not followed",
            target.base()
        )
    );
    assert_eq!(server.seen().len(), 1, "not retried");
    assert_eq!(target.seen().len(), 0, "not followed");
}

#[test]
fn a_chunked_body_is_decoded() {
    let answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: c1\r\n\r\n\
        5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: t\r\n\r\n";
    let server = RawServer::start(vec![answer.to_vec()]);
    let http = Http::new(fast());
    let reply = http.get(&format!("{}/", server.base()), &[]).unwrap();
    assert_eq!(reply.body, "hello, world");
    assert_eq!(reply.etag.as_deref(), Some("c1"));
    assert_eq!(server.finish(), 1);
}

#[test]
fn a_chunked_body_over_the_cap_is_a_typed_error() {
    let mut answer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..(5 * 16) {
        answer.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        answer.extend_from_slice(&chunk);
        answer.extend_from_slice(b"\r\n");
    }
    answer.extend_from_slice(b"0\r\n\r\n");
    let server = RawServer::start(vec![answer]);
    let http = Http::new(HttpConfig {
        recv_timeout: ms(5000),
        global_timeout: ms(5000),
        ..fast()
    });
    let url = format!("{}/big", server.base());
    let err = http.get(&url, &[]).unwrap_err();
    assert_eq!(
        err,
        HttpError::BodyTooLarge {
            url,
            limit: 4 * 1024 * 1024
        }
    );
    assert_eq!(server.finish(), 1, "not retried");
}

#[test]
fn a_connection_closed_mid_body_is_a_transient_error_and_retried() {
    let cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":".to_vec();
    let server = RawServer::start(vec![cut.clone(), cut.clone(), cut]);
    let http = Http::new(fast());
    let url = format!("{}/", server.base());
    let err = http.get(&url, &[]).unwrap_err();
    assert!(matches!(err, HttpError::Transport { .. }), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(server.finish(), 3, "three attempts");
}

#[test]
fn a_connection_closed_mid_body_then_a_whole_answer_succeeds() {
    let cut = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"partial\":".to_vec();
    let whole = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_vec();
    let server = RawServer::start(vec![cut, whole]);
    let http = Http::new(fast());
    let reply = http.get(&format!("{}/", server.base()), &[]).unwrap();
    assert_eq!(reply.body, "{}");
    assert_eq!(server.finish(), 2);
}

#[test]
fn a_chunked_body_cut_short_is_a_transient_error() {
    let cut = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nonly".to_vec();
    let server = RawServer::start(vec![cut.clone(), cut.clone(), cut]);
    let http = Http::new(fast());
    let err = http.get(&format!("{}/", server.base()), &[]).unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert_eq!(server.finish(), 3);
}
