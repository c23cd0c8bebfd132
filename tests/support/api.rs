//! A raw HTTP/1.1 client for the daemon's local API, so tests see exact status lines, headers
//! and bodies (and can send what a library would refuse, like a foreign Host).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Where the daemon under test listens, in its own namespace (each has its own ports).
pub const API_PORT: u16 = 5209;
/// The same, as cnctl's `--url`.
pub const API_URL: &str = "http://127.0.0.1:5209";
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// One answer: status, headers as sent, body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// Connects to the API in the calling thread's namespace.
pub fn connect() -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(("127.0.0.1", API_PORT))?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// `METHOD path` with `Host: host` and `Connection: close`; the whole answer.
pub fn request_with_host(method: &str, path: &str, host: &str) -> std::io::Result<Answer> {
    let mut stream = connect()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(parse(&String::from_utf8_lossy(&raw)))
}

/// `METHOD path` with a loopback Host, panicking when the daemon does not answer.
pub fn request(method: &str, path: &str) -> Answer {
    let host = format!("127.0.0.1:{API_PORT}");
    request_with_host(method, path, &host)
        .unwrap_or_else(|e| panic!("{method} {path}: no answer from the API: {e}"))
}

/// `GET path`, asserting 200 and a JSON body; the parsed body.
pub fn get_json(path: &str) -> serde_json::Value {
    let answer = request("GET", path);
    assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    answer.json()
}

/// Sends one keep-alive `GET path` on `stream` and reads its answer (by Content-Length).
pub fn keep_alive_get(stream: &mut TcpStream, path: &str) -> std::io::Result<Answer> {
    keep_alive(
        stream,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    )
}

/// Sends `head` (a whole request without a body, blank line included) on a keep-alive
/// `stream` and reads its answer (by Content-Length).
pub fn keep_alive(stream: &mut TcpStream, head: &str) -> std::io::Result<Answer> {
    stream.write_all(head.as_bytes())?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before the whole answer",
            ));
        }
        raw.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&raw);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let answer = parse(&text);
            let length: usize = answer
                .header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("no Content-Length in {head}"));
            if body.len() >= length {
                return Ok(answer);
            }
        }
    }
}

fn parse(text: &str) -> Answer {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_string(),
    }
}
