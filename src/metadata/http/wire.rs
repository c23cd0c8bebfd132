//! One HTTP/1.1 exchange on a fresh TCP connection, as the metadata services and our own API
//! need it: `http://` URLs only, no proxy, no redirects, no pooling (`Connection: close`).
//! Connect, write and read under timeouts; the reply body framed by `Content-Length`, chunked
//! encoding or the end of the stream, and never longer than the cap.

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Largest response head (status line and headers) accepted.
pub const MAX_HEAD: u64 = 64 * 1024;
/// Largest chunk-size line of a chunked body.
const MAX_CHUNK_LINE: u64 = 1024;

/// The parts of an `http://host[:port]/path?query` URL a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// `host[:port]` as written, for the `Host` header.
    pub authority: &'a str,
    /// The host without IPv6 brackets.
    pub host: &'a str,
    pub port: u16,
    /// The path with the query; `/` when the URL has none.
    pub path: &'a str,
}

impl<'a> Target<'a> {
    pub fn parse(url: &'a str) -> Result<Target<'a>, WireError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| invalid("only http:// URLs are supported"))?;
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        let (host, port) = split_port(authority)?;
        let visible = is_visible_ascii(authority) && is_visible_ascii(path);
        if host.is_empty() || authority.contains(['@', '#']) || !visible {
            return Err(invalid("malformed URL"));
        }
        Ok(Target {
            authority,
            host,
            port,
            path: if path.is_empty() { "/" } else { path },
        })
    }

    /// The socket address when the host is an IP literal, without any lookup.
    pub fn literal_addr(&self) -> Option<SocketAddr> {
        let ip: IpAddr = self.host.parse().ok()?;
        Some(SocketAddr::new(ip, self.port))
    }

    fn addrs(&self) -> Result<Vec<SocketAddr>, WireError> {
        if let Some(addr) = self.literal_addr() {
            return Ok(vec![addr]);
        }
        let addrs: Vec<SocketAddr> = (self.host, self.port)
            .to_socket_addrs()
            .map_err(|e| WireError::Transport(format!("cannot resolve {}: {e}", self.host)))?
            .collect();
        if addrs.is_empty() {
            return Err(WireError::Transport(format!(
                "{} has no address",
                self.host
            )));
        }
        Ok(addrs)
    }
}

/// Splits `host[:port]` / `[v6][:port]`; the port defaults to 80.
fn split_port(authority: &str) -> Result<(&str, u16), WireError> {
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']').ok_or_else(|| invalid("malformed URL"))?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(port) => port.parse().map_err(|_| invalid("malformed URL port"))?,
        None => 80,
    };
    Ok((host, port))
}

fn is_visible_ascii(s: &str) -> bool {
    s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// The HTTP methods we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
        }
    }
}

/// How long each step may take, and how large a body may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub connect: Duration,
    /// For the head, and separately for the body once the head arrived.
    pub recv: Duration,
    /// For the whole exchange.
    pub total: Duration,
    pub body: u64,
}

/// A response of any status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, values trimmed, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why an exchange failed; the caller adds the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    Transport(String),
    Timeout(String),
    BodyTooLarge,
    Invalid(String),
}

fn invalid(detail: &str) -> WireError {
    WireError::Invalid(detail.to_string())
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            // An expired socket timeout reads as EAGAIN on Unix.
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                WireError::Timeout(e.to_string())
            }
            _ => WireError::Transport(e.to_string()),
        }
    }
}

/// Sends one request with an empty body and reads the whole response.
pub fn exchange(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    limits: &Limits,
) -> Result<Response, WireError> {
    let start = Instant::now();
    let deadline = start + limits.total;
    let target = Target::parse(url)?;
    let request = encode_request(method, &target, headers)?;
    let stream = connect(&target, limits.connect, deadline)?;
    stream.set_write_timeout(Some(remaining(deadline, "sending the request")?))?;
    (&stream).write_all(&request)?;
    let mut reader = Deadlined::reader(
        stream,
        deadline.min(Instant::now() + limits.recv),
        "waiting for the response head",
    );
    let (status_line, headers) = read_head(&mut reader)?;
    let status = parse_status_line(&status_line)?;
    let body_deadline = deadline.min(Instant::now() + limits.recv);
    let inner = reader.get_mut();
    (inner.deadline, inner.phase) = (body_deadline, "reading the response body");
    let body = read_body(&mut reader, status, &headers, limits.body)?;
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn encode_request(
    method: Method,
    target: &Target,
    headers: &[(&str, &str)],
) -> Result<Vec<u8>, WireError> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\n",
        method.as_str(),
        target.path,
        target.authority
    );
    for (name, value) in headers {
        if name.is_empty() || !is_visible_ascii(name) || name.contains(':') {
            return Err(WireError::Invalid(format!("bad header name {name:?}")));
        }
        if value.chars().any(|c| c.is_control() && c != '\t') {
            return Err(WireError::Invalid(format!("bad value of header {name}")));
        }
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if method != Method::Get {
        head.push_str("Content-Length: 0\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    Ok(head.into_bytes())
}

/// Connects to the first address that answers, each try within the connect timeout.
fn connect(target: &Target, timeout: Duration, deadline: Instant) -> Result<TcpStream, WireError> {
    let mut last = WireError::Transport(format!("{} has no address", target.host));
    for addr in target.addrs()? {
        let wait = remaining(deadline, "connecting")?.min(timeout);
        match TcpStream::connect_timeout(&addr, wait) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e.into(),
        }
    }
    Err(last)
}

/// The time left before `deadline`, or a timeout error naming what was being done.
fn remaining(deadline: Instant, doing: &str) -> io::Result<Duration> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(left),
        _ => Err(timed_out(doing)),
    }
}

fn timed_out(doing: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, format!("no progress {doing}"))
}

/// A stream whose every read ends by `deadline`; `phase` names the wait in timeout errors.
pub struct Deadlined {
    stream: TcpStream,
    deadline: Instant,
    phase: &'static str,
}

impl Deadlined {
    pub fn reader(stream: TcpStream, deadline: Instant, phase: &'static str) -> Reader {
        BufReader::new(Deadlined {
            stream,
            deadline,
            phase,
        })
    }
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = remaining(self.deadline, self.phase)?;
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf).map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => timed_out(self.phase),
            _ => e,
        })
    }
}

pub type Reader = BufReader<Deadlined>;

/// Reads one line (LF or CRLF ended, ending stripped) of at most `max` bytes.
fn read_line(reader: &mut Reader, max: u64, what: &str) -> Result<Vec<u8>, WireError> {
    let mut line = Vec::new();
    reader.by_ref().take(max).read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(if line.len() as u64 >= max {
            WireError::Invalid(format!("{what} is too long"))
        } else {
            WireError::Transport(format!("the connection closed in the middle of {what}"))
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

/// The start line (status or request line) and the headers of a message head, within
/// [`MAX_HEAD`] bytes in all.
pub fn read_head(reader: &mut Reader) -> Result<(String, Vec<(String, String)>), WireError> {
    let mut budget = MAX_HEAD;
    let mut next_line = |reader: &mut Reader| {
        let line = read_line(reader, budget, "the response head")?;
        budget = budget.saturating_sub(line.len() as u64 + 2);
        String::from_utf8(line).map_err(|_| invalid("the response head is not UTF-8"))
    };
    let start = next_line(reader)?;
    let mut headers = Vec::new();
    loop {
        let line = next_line(reader)?;
        if line.is_empty() {
            return Ok((start, headers));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| invalid("a response header line has no colon"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
}

fn parse_status_line(line: &str) -> Result<u16, WireError> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") || code.len() != 3 {
        return Err(WireError::Invalid(format!("bad status line {line:?}")));
    }
    code.parse()
        .map_err(|_| WireError::Invalid(format!("bad status line {line:?}")))
}

fn read_body(
    reader: &mut Reader,
    status: u16,
    headers: &[(String, String)],
    limit: u64,
) -> Result<Vec<u8>, WireError> {
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    if status == 204 || status == 304 {
        return Ok(Vec::new());
    }
    if let Some(coding) = header("transfer-encoding") {
        let last = coding.rsplit(',').next().unwrap_or_default().trim();
        if last.eq_ignore_ascii_case("chunked") {
            return read_chunked(reader, limit);
        }
        return read_capped(reader, u64::MAX, limit);
    }
    match header("content-length") {
        Some(length) => {
            let length: u64 = length.parse().map_err(|_| invalid("bad Content-Length"))?;
            if length > limit {
                return Err(WireError::BodyTooLarge);
            }
            let body = read_capped(reader, length, limit)?;
            if (body.len() as u64) < length {
                return Err(WireError::Transport(
                    "the connection closed before the end of the body".to_string(),
                ));
            }
            Ok(body)
        }
        None => read_capped(reader, u64::MAX, limit),
    }
}

/// Reads up to `want` bytes (or to the end of the stream); more than `limit` is an error.
fn read_capped(reader: &mut Reader, want: u64, limit: u64) -> Result<Vec<u8>, WireError> {
    let mut body = Vec::new();
    reader
        .by_ref()
        .take(want.min(limit.saturating_add(1)))
        .read_to_end(&mut body)?;
    if body.len() as u64 > limit {
        return Err(WireError::BodyTooLarge);
    }
    Ok(body)
}

/// Decodes a chunked body; the cap applies to the decoded size. Trailers are skipped.
fn read_chunked(reader: &mut Reader, limit: u64) -> Result<Vec<u8>, WireError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader, MAX_CHUNK_LINE, "a chunk size")?;
        let size = chunk_size(&line)?;
        if size == 0 {
            break;
        }
        let left = limit - body.len() as u64;
        if size > left {
            return Err(WireError::BodyTooLarge);
        }
        let before = body.len();
        reader.by_ref().take(size).read_to_end(&mut body)?;
        if ((body.len() - before) as u64) < size {
            return Err(WireError::Transport(
                "the connection closed in the middle of a chunk".to_string(),
            ));
        }
        if !read_line(reader, 3, "a chunk end")?.is_empty() {
            return Err(invalid("a chunk is longer than its size"));
        }
    }
    while !read_line(reader, MAX_HEAD, "the trailers")?.is_empty() {}
    Ok(body)
}

fn chunk_size(line: &[u8]) -> Result<u64, WireError> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default();
    std::str::from_utf8(digits)
        .ok()
        .and_then(|d| u64::from_str_radix(d.trim(), 16).ok())
        .ok_or_else(|| invalid("bad chunk size"))
}

#[cfg(test)]
mod tests;
