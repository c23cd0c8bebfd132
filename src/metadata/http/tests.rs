//! Tests of the fetcher: error classification, and real requests against a scripted server
//! on 127.0.0.1 (retries, 404, 429 with Retry-After, timeouts, body cap, request counts).

use super::*;
use crate::metadata::test_server::{fast, Answer, ScriptedServer};
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
    assert_eq!(http.requests_sent(), 1);
}

#[test]
fn server_error_is_retried_then_succeeds() {
    let server = ScriptedServer::start(vec![Answer::status(503), Answer::ok("fine")]);
    let http = Http::new(fast());
    let reply = http.get(&format!("{}/", server.base()), &[]).unwrap();
    assert_eq!(reply.body, "fine");
    assert_eq!(server.seen().len(), 2);
    assert_eq!(http.requests_sent(), 2);
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
    assert_eq!(http.requests_sent(), 3);
}

#[test]
fn not_found_is_permanent_and_optional_none() {
    let server = ScriptedServer::start(vec![Answer::status(404), Answer::status(403)]);
    let http = Http::new(fast());
    let url = format!("{}/missing", server.base());
    assert_eq!(http.get_optional(&url, &[]), Ok(None));
    assert_eq!(http.get(&url, &[]).unwrap_err().status(), Some(403));
    assert_eq!(http.requests_sent(), 2);
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
    assert_eq!(http.requests_sent(), 2);
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
    assert_eq!(http.requests_sent(), 2);
}

#[test]
fn per_request_timeout_overrides_the_default() {
    let server = ScriptedServer::start(vec![Answer::ok("slow").after(ms(600))]);
    let http = Http::new(fast());
    let url = format!("{}/", server.base());
    let reply = http.send(Method::Get, &url, &[], Some(ms(2000))).unwrap();
    assert_eq!(reply.body, "slow");
    assert_eq!(http.requests_sent(), 1);
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
    assert_eq!(http.requests_sent(), 1);
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
    assert_eq!(http.requests_sent(), 3);
}

#[test]
fn clones_share_the_counter() {
    let server = ScriptedServer::start(vec![Answer::ok("a"), Answer::ok("b")]);
    let http = Http::new(fast());
    let clone = http.clone();
    let url = format!("{}/", server.base());
    http.get(&url, &[]).unwrap();
    clone.get(&url, &[]).unwrap();
    assert_eq!(http.requests_sent(), 2);
}

#[test]
fn literal_hosts_resolve_without_a_lookup() {
    let addr = |url: &str| wire::Target::parse(url).unwrap().literal_addr();
    assert_eq!(
        addr("http://169.254.169.254/metadata/instance"),
        Some("169.254.169.254:80".parse().unwrap())
    );
    assert_eq!(
        addr("http://[fd00:ec2::254]:8080/latest/"),
        Some("[fd00:ec2::254]:8080".parse().unwrap())
    );
    assert_eq!(
        addr("http://metadata.google.internal/computeMetadata/v1/"),
        None
    );
}
