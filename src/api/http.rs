//! The HTTP/1.1 wire format the API speaks: parsing a request head out of a byte buffer (no
//! allocation; the head borrows the buffer) and encoding a response into a reusable buffer.

use crate::http::{header, media, reason};
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};

/// The protocol version of a request; HTTP/1.0 connections close after one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// The parts of a request head the API looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHead<'a> {
    /// The method token as sent (methods are case-sensitive).
    pub method: &'a str,
    /// The path, without the query string; printable ASCII only.
    pub path: &'a str,
    pub version: Version,
    /// The `Host` header's value, trimmed; None when absent.
    pub host: Option<&'a str>,
    /// The `Origin` header's value, trimmed; None when absent (browsers send it cross-site).
    pub origin: Option<&'a str>,
    /// The `Content-Length` header's value, 0 when absent.
    pub content_length: u64,
    /// True when the connection closes after this request (HTTP/1.0 or `Connection: close`).
    pub close: bool,
    /// The client's address: set by the connection from accept(2); unspecified (which is not
    /// loopback) until then.
    pub peer: IpAddr,
}

impl<'a> RequestHead<'a> {
    /// A GET request with a Host header from a loopback peer, for building requests by hand
    /// (tests, benchmarks).
    pub fn get(path: &'a str, host: &'a str) -> RequestHead<'a> {
        RequestHead {
            method: "GET",
            path,
            version: Version::Http11,
            host: Some(host),
            origin: None,
            content_length: 0,
            close: false,
            peer: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

/// Why a request head was refused before routing; each maps to one status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// The head is longer than the limit (431).
    TooLarge,
    /// Not a well-formed request line or header (400).
    Malformed(&'static str),
    /// The request target has a byte that is not printable ASCII (400).
    PathNotAscii,
    /// A `Transfer-Encoding` other than identity (501).
    TransferEncoding,
    /// A version other than HTTP/1.0 or HTTP/1.1 (505).
    Version,
}

impl HeadError {
    /// The status code and the JSON error message for this refusal.
    pub fn response(self, max_head: usize) -> Response {
        match self {
            HeadError::TooLarge => {
                Response::error(431, &format!("request head larger than {max_head} bytes"))
            }
            HeadError::Malformed(what) => {
                Response::error(400, &format!("malformed request: {what}"))
            }
            HeadError::PathNotAscii => Response::error(400, "request path must be printable ASCII"),
            HeadError::TransferEncoding => Response::error(
                501,
                "Transfer-Encoding is not supported; send a Content-Length",
            ),
            HeadError::Version => Response::error(505, "only HTTP/1.0 and HTTP/1.1 are served"),
        }
    }
}

/// The outcome of looking for a request head at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// No complete head yet, and still within the limit: read more.
    Incomplete,
    /// A head of `len` bytes (terminator included); its body, if any, follows.
    Head {
        head: RequestHead<'a>,
        len: usize,
    },
    Invalid(HeadError),
}

/// Looks for a complete request head (ended by an empty line, CRLF or bare LF) within the first
/// `max_head` bytes of `buf`, and parses it.
pub fn parse_head(buf: &[u8], max_head: usize) -> Parsed<'_> {
    let Some(len) = head_end(buf) else {
        return if buf.len() >= max_head {
            Parsed::Invalid(HeadError::TooLarge)
        } else {
            Parsed::Incomplete
        };
    };
    if len > max_head {
        return Parsed::Invalid(HeadError::TooLarge);
    }
    match parse_complete(&buf[..len]) {
        Ok(head) => Parsed::Head { head, len },
        Err(e) => Parsed::Invalid(e),
    }
}

/// The length of the head including its terminating empty line, if the buffer holds one.
fn head_end(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(offset) = buf[from..].iter().position(|&b| b == b'\n') {
        let next = from + offset + 1;
        match buf.get(next..) {
            Some([b'\n', ..]) => return Some(next + 1),
            Some([b'\r', b'\n', ..]) => return Some(next + 2),
            _ => from = next,
        }
    }
    None
}

fn parse_complete(head: &[u8]) -> Result<RequestHead<'_>, HeadError> {
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
    let request_line = lines.next().unwrap_or_default();
    let (method, path, version) = parse_request_line(request_line)?;
    let mut req = RequestHead {
        method,
        path,
        version,
        host: None,
        origin: None,
        content_length: 0,
        close: version == Version::Http10,
        peer: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    };
    let mut seen_length = false;
    for line in lines.take_while(|line| !line.is_empty()) {
        let (name, value) = split_header(line)?;
        apply_header(&mut req, &mut seen_length, name, value)?;
    }
    Ok(req)
}

fn parse_request_line(line: &[u8]) -> Result<(&str, &str, Version), HeadError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed("request line"));
    };
    if method.is_empty() || !method.iter().all(|&b| is_token_byte(b)) {
        return Err(HeadError::Malformed("method"));
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        v if v.starts_with(b"HTTP/") => return Err(HeadError::Version),
        _ => return Err(HeadError::Malformed("request line")),
    };
    if !target.iter().all(|&b| (0x21..=0x7e).contains(&b)) {
        return Err(HeadError::PathNotAscii);
    }
    if target.first() != Some(&b'/') {
        return Err(HeadError::Malformed("request target must be a path"));
    }
    let path_len = target
        .iter()
        .position(|&b| b == b'?' || b == b'#')
        .unwrap_or(target.len());
    Ok((ascii(method), ascii(&target[..path_len]), version))
}

/// Bytes already checked to be ASCII as a str.
fn ascii(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn split_header(line: &[u8]) -> Result<(&[u8], &[u8]), HeadError> {
    let colon = line
        .iter()
        .position(|&b| b == b':')
        .ok_or(HeadError::Malformed("header line without a colon"))?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().all(|&b| is_token_byte(b)) {
        return Err(HeadError::Malformed("header name"));
    }
    Ok((name, line[colon + 1..].trim_ascii()))
}

fn apply_header<'a>(
    req: &mut RequestHead<'a>,
    seen_length: &mut bool,
    name: &[u8],
    value: &'a [u8],
) -> Result<(), HeadError> {
    if name.eq_ignore_ascii_case(header::HOST.as_bytes()) {
        if req.host.is_some() {
            return Err(HeadError::Malformed("more than one Host header"));
        }
        let host = std::str::from_utf8(value)
            .map_err(|_| HeadError::Malformed("Host header is not UTF-8"))?;
        req.host = Some(host);
    } else if name.eq_ignore_ascii_case(header::ORIGIN.as_bytes()) {
        if req.origin.is_some() {
            return Err(HeadError::Malformed("more than one Origin header"));
        }
        let origin = std::str::from_utf8(value)
            .map_err(|_| HeadError::Malformed("Origin header is not UTF-8"))?;
        req.origin = Some(origin);
    } else if name.eq_ignore_ascii_case(header::CONTENT_LENGTH.as_bytes()) {
        let length = parse_length(value)?;
        if *seen_length && length != req.content_length {
            return Err(HeadError::Malformed("conflicting Content-Length headers"));
        }
        *seen_length = true;
        req.content_length = length;
    } else if name.eq_ignore_ascii_case(header::TRANSFER_ENCODING.as_bytes()) {
        if !value.eq_ignore_ascii_case(b"identity") {
            return Err(HeadError::TransferEncoding);
        }
    } else if name.eq_ignore_ascii_case(header::CONNECTION.as_bytes()) && has_close(value) {
        req.close = true;
    }
    Ok(())
}

fn parse_length(value: &[u8]) -> Result<u64, HeadError> {
    let bad = HeadError::Malformed(header::CONTENT_LENGTH);
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(bad);
    }
    ascii(value).parse().map_err(|_| bad)
}

fn has_close(value: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"))
}

/// A response: status, an optional `Allow` header (405), the body and its Content-Type (JSON
/// but for `/metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub allow: Option<&'static str>,
    pub body: Vec<u8>,
    pub content_type: &'static str,
}

#[derive(serde::Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl Response {
    /// A JSON body; a value that cannot be serialized becomes a 500 naming the failure.
    pub fn json<T: serde::Serialize + ?Sized>(status: u16, value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status,
                allow: None,
                body,
                content_type: media::JSON,
            },
            Err(e) => Response::error(500, &format!("could not serialize the answer: {e}")),
        }
    }

    /// A body that is already JSON.
    pub fn json_bytes(status: u16, body: &[u8]) -> Response {
        Response {
            status,
            allow: None,
            body: body.to_vec(),
            content_type: media::JSON,
        }
    }

    /// `{"error":"<message>"}` with `status`.
    pub fn error(status: u16, message: &str) -> Response {
        let body = serde_json::to_vec(&ErrorBody { error: message })
            .unwrap_or_else(|_| br#"{"error":"unprintable error"}"#.to_vec());
        Response {
            status,
            allow: None,
            body,
            content_type: media::JSON,
        }
    }

    /// A body of another type (the metrics exposition).
    pub fn text(status: u16, content_type: &'static str, body: String) -> Response {
        Response {
            status,
            allow: None,
            body: body.into_bytes(),
            content_type,
        }
    }

    /// The body as text (JSON or the metrics exposition, so always UTF-8).
    pub fn body_text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap_or_default()
    }

    /// Appends the status line, headers and (unless `head_only`) the body to `out`.
    pub fn encode(&self, out: &mut Vec<u8>, head_only: bool, close: bool) {
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\n{}: {}\r\n{}: {}\r\n{}: no-store\r\n",
            self.status,
            reason(self.status),
            header::CONTENT_TYPE,
            self.content_type,
            header::CONTENT_LENGTH,
            self.body.len(),
            header::CACHE_CONTROL,
        );
        if let Some(allow) = self.allow {
            let _ = write!(out, "{}: {allow}\r\n", header::ALLOW);
        }
        if close {
            let _ = write!(out, "{}: close\r\n", header::CONNECTION);
        }
        out.extend_from_slice(b"\r\n");
        if !head_only {
            out.extend_from_slice(&self.body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> RequestHead<'_> {
        match parse_head(text.as_bytes(), 8192) {
            Parsed::Head { head, len } => {
                assert_eq!(len, text.len());
                head
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }

    fn invalid(bytes: &[u8]) -> HeadError {
        match parse_head(bytes, 8192) {
            Parsed::Invalid(e) => e,
            other => panic!("{bytes:?}: {other:?}"),
        }
    }

    #[test]
    fn parses_a_keep_alive_get() {
        let req = head("GET /api/v1/status?x=1 HTTP/1.1\r\nhOsT:  localhost:5209 \r\n\r\n");
        assert_eq!(
            req,
            RequestHead {
                method: "GET",
                path: "/api/v1/status",
                version: Version::Http11,
                host: Some("localhost:5209"),
                origin: None,
                content_length: 0,
                close: false,
                peer: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            }
        );
    }

    #[test]
    fn the_origin_header_is_kept_and_must_be_single() {
        let req = head("POST / HTTP/1.1\r\nHost: x\r\nOrigin:  http://evil.example \r\n\r\n");
        assert_eq!(req.origin, Some("http://evil.example"));
        assert_eq!(
            invalid(b"POST / HTTP/1.1\r\nOrigin: a\r\nOrigin: b\r\n\r\n"),
            HeadError::Malformed("more than one Origin header")
        );
    }

    #[test]
    fn http10_and_connection_close_close() {
        assert!(head("GET / HTTP/1.0\r\n\r\n").close);
        assert!(head("GET / HTTP/1.1\r\nConnection: keep-alive, Close\r\n\r\n").close);
        assert!(!head("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n").close);
    }

    #[test]
    fn bare_lf_heads_and_lengths() {
        let req = head("POST /api/v1/refresh HTTP/1.1\nContent-Length: 12\nContent-Length: 12\n\n");
        assert_eq!(req.content_length, 12);
        assert_eq!(req.method, "POST");
    }

    #[test]
    fn incomplete_until_the_empty_line_then_too_large_past_the_limit() {
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nHost: a\r\n", 8192),
            Parsed::Incomplete
        );
        assert_eq!(parse_head(b"", 8192), Parsed::Incomplete);
        let long = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(100));
        assert_eq!(
            parse_head(long.as_bytes(), 64),
            Parsed::Invalid(HeadError::TooLarge)
        );
        let complete = format!("{long}\r\n");
        assert_eq!(
            parse_head(complete.as_bytes(), 64),
            Parsed::Invalid(HeadError::TooLarge)
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(
            invalid(b"GET /\xff\xfe HTTP/1.1\r\n\r\n"),
            HeadError::PathNotAscii
        );
        assert_eq!(
            invalid("GET /é HTTP/1.1\r\n\r\n".as_bytes()),
            HeadError::PathNotAscii
        );
        assert_eq!(invalid(b"GET / HTTP/2.0\r\n\r\n"), HeadError::Version);
        assert_eq!(
            invalid(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            HeadError::TransferEncoding
        );
        assert_eq!(
            invalid(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            HeadError::Malformed("more than one Host header")
        );
        assert_eq!(
            invalid(b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            HeadError::Malformed("conflicting Content-Length headers")
        );
        assert_eq!(
            invalid(b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            HeadError::Malformed("Content-Length")
        );
        assert_eq!(
            invalid(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"),
            HeadError::Malformed("header name")
        );
        assert_eq!(
            invalid(b"GET http://a/ HTTP/1.1\r\n\r\n"),
            HeadError::Malformed("request target must be a path")
        );
        assert_eq!(
            invalid(b"GET  / HTTP/1.1\r\n\r\n"),
            HeadError::Malformed("request line")
        );
        assert_eq!(
            invalid(b"GET / HTTP/1.1\r\n folded\r\n\r\n"),
            HeadError::Malformed("header line without a colon")
        );
    }

    #[test]
    fn encodes_headers_and_body() {
        let mut out = Vec::new();
        let mut resp = Response::error(405, "no");
        resp.allow = Some("GET, HEAD");
        resp.encode(&mut out, false, true);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\n\
             Content-Length: 14\r\nCache-Control: no-store\r\nAllow: GET, HEAD\r\n\
             Connection: close\r\n\r\n{\"error\":\"no\"}"
        );
        let mut head_only = Vec::new();
        Response::json(200, &[1, 2]).encode(&mut head_only, true, false);
        assert_eq!(
            String::from_utf8(head_only).unwrap(),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\
             Cache-Control: no-store\r\n\r\n"
        );
    }
}
