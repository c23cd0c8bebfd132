//! The metadata HTTP fetcher: plain HTTP/1.1 with connect/receive/global timeouts, no proxy,
//! a body size cap, retries of transient failures only, and a count of every request sent.
//! Providers call `get`, `get_optional` (404 is `Ok(None)`) and `put`; nothing else talks HTTP.

mod retry;
pub(crate) mod wire;

pub use retry::{Jitter, RetryPolicy, RETRY_AFTER_CAP};
pub use wire::Method;

use crate::metrics::{RequestResult, METRICS};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::{Limits, WireError};

/// Timeouts, body cap and retry policy of the fetcher. Tests inject millisecond values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpConfig {
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Timeout for the response headers, and separately for the body once headers arrived.
    pub recv_timeout: Duration,
    /// Whole-request timeout (one attempt), unless a request overrides it.
    pub global_timeout: Duration,
    /// Largest accepted body; a longer one is `HttpError::BodyTooLarge`, never truncated.
    pub body_limit: u64,
    pub retry: RetryPolicy,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            connect_timeout: Duration::from_secs(2),
            recv_timeout: Duration::from_secs(5),
            global_timeout: Duration::from_secs(10),
            body_limit: 4 * 1024 * 1024,
            retry: RetryPolicy::default(),
        }
    }
}

/// A successful (2xx) reply, with the few headers providers look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub etag: Option<String>,
    pub metadata_flavor: Option<String>,
    pub retry_after: Option<Duration>,
    pub body: String,
}

/// Why a request failed, after retries. Every variant names the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// Connecting, sending or receiving failed (refused, reset, unreachable). Transient.
    Transport { url: String, detail: String },
    /// A connect, receive or global timeout expired. Transient.
    Timeout { url: String, detail: String },
    /// The server answered with a non-2xx status. Transient for 5xx and 429 only.
    Status {
        url: String,
        status: u16,
        excerpt: String,
    },
    /// The body is larger than the configured cap. Permanent.
    BodyTooLarge { url: String, limit: u64 },
    /// The request or reply is malformed (bad URL, broken HTTP, body not UTF-8). Permanent.
    Invalid { url: String, detail: String },
}

impl HttpError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            HttpError::Transport { .. } | HttpError::Timeout { .. } => true,
            HttpError::Status { status, .. } => *status >= 500 || *status == 429,
            HttpError::BodyTooLarge { .. } | HttpError::Invalid { .. } => false,
        }
    }

    /// The HTTP status, when the server answered with one.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn url(&self) -> &str {
        match self {
            HttpError::Transport { url, .. }
            | HttpError::Timeout { url, .. }
            | HttpError::Status { url, .. }
            | HttpError::BodyTooLarge { url, .. }
            | HttpError::Invalid { url, .. } => url,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Transport { url, detail } => write!(f, "request to {url} failed: {detail}"),
            HttpError::Timeout { url, detail } => write!(f, "{url} timed out: {detail}"),
            HttpError::Status {
                url,
                status,
                excerpt,
            } => write!(f, "{url} answered HTTP {status}: {excerpt:?}"),
            HttpError::BodyTooLarge { url, limit } => {
                write!(f, "{url} sent a body larger than {limit} bytes")
            }
            HttpError::Invalid { url, detail } => write!(f, "{url}: {detail}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// A failed attempt, with the server's `Retry-After` when it sent one.
struct Failure {
    error: HttpError,
    retry_after: Option<Duration>,
}

impl From<HttpError> for Failure {
    fn from(error: HttpError) -> Self {
        Failure {
            error,
            retry_after: None,
        }
    }
}

/// The fetcher. Cheap to clone; clones share the jitter source and the counter.
#[derive(Clone)]
pub struct Http {
    config: HttpConfig,
    jitter: Arc<Jitter>,
    sent: Arc<AtomicU64>,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("config", &self.config)
            .field("requests_sent", &self.requests_sent())
            .finish()
    }
}

const EXCERPT_CHARS: usize = 160;

impl Http {
    pub fn new(config: HttpConfig) -> Http {
        Http {
            config,
            jitter: Arc::new(Jitter::from_entropy()),
            sent: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Requests sent so far by this fetcher and its clones, retries included.
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// GET with retries; any non-2xx final answer is an error.
    pub fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Reply, HttpError> {
        self.send(Method::Get, url, headers, None)
    }

    /// GET where 404 means "not there": `Ok(None)`, not an error (and not retried).
    pub fn get_optional(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<Option<Reply>, HttpError> {
        not_found_as_none(self.get(url, headers))
    }

    /// PUT with an empty body (EC2's token request), with retries.
    pub fn put(&self, url: &str, headers: &[(&str, &str)]) -> Result<Reply, HttpError> {
        self.send(Method::Put, url, headers, None)
    }

    /// Any request, with retries. `timeout` replaces the receive and global timeouts for this
    /// request only (long-polls).
    pub fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        timeout: Option<Duration>,
    ) -> Result<Reply, HttpError> {
        let mut done = 0;
        loop {
            done += 1;
            let failure = match self.send_once(method, url, headers, timeout) {
                Ok(reply) => return Ok(reply),
                Err(failure) => failure,
            };
            if !failure.error.is_transient() || !self.config.retry.should_retry(done) {
                return Err(failure.error);
            }
            let wait = self
                .config
                .retry
                .delay(done, failure.retry_after, &self.jitter);
            log::debug!("retrying in {wait:?} after: {}", failure.error);
            std::thread::sleep(wait);
        }
    }

    /// One attempt; a non-2xx answer is a failure.
    fn send_once(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        timeout: Option<Duration>,
    ) -> Result<Reply, Failure> {
        let mut reply = self.exchange(method, url, headers, timeout)?;
        if (200..300).contains(&reply.status) {
            return Ok(reply);
        }
        Err(Failure {
            retry_after: reply.retry_after.take(),
            error: HttpError::Status {
                url: url.to_string(),
                status: reply.status,
                excerpt: excerpt(&reply.body),
            },
        })
    }

    /// One attempt, counted (here and in the daemon's metrics, with its latency), without
    /// retries; a reply of any status is `Ok`. `timeout` as in [`Http::send`].
    pub fn exchange(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        timeout: Option<Duration>,
    ) -> Result<Reply, HttpError> {
        let started = Instant::now();
        let result = self.exchange_once(method, url, headers, timeout);
        METRICS.metadata_request(request_result(&result), started.elapsed());
        result
    }

    fn exchange_once(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        timeout: Option<Duration>,
    ) -> Result<Reply, HttpError> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let limits = Limits {
            connect: self.config.connect_timeout,
            recv: timeout.unwrap_or(self.config.recv_timeout),
            total: timeout.unwrap_or(self.config.global_timeout),
            body: self.config.body_limit,
        };
        let response =
            wire::exchange(method, url, headers, &limits).map_err(|e| self.with_url(url, e))?;
        let header = |name: &str| response.header(name).map(str::to_string);
        let (etag, metadata_flavor) = (header("etag"), header("metadata-flavor"));
        let retry_after = response.header("retry-after").and_then(parse_retry_after);
        let body = String::from_utf8(response.body).map_err(|_| HttpError::Invalid {
            url: url.to_string(),
            detail: "the body is not UTF-8".to_string(),
        })?;
        Ok(Reply {
            status: response.status,
            etag,
            metadata_flavor,
            retry_after,
            body,
        })
    }

    fn with_url(&self, url: &str, err: WireError) -> HttpError {
        let url = url.to_string();
        match err {
            WireError::Transport(detail) => HttpError::Transport { url, detail },
            WireError::Timeout(detail) => HttpError::Timeout { url, detail },
            WireError::BodyTooLarge => HttpError::BodyTooLarge {
                url,
                limit: self.config.body_limit,
            },
            WireError::Invalid(detail) => HttpError::Invalid { url, detail },
        }
    }
}

/// How one attempt ended, for the metrics.
fn request_result(result: &Result<Reply, HttpError>) -> RequestResult {
    match result {
        Ok(reply) if (200..300).contains(&reply.status) => RequestResult::Ok,
        Ok(reply) if reply.status == 404 => RequestResult::NotFound,
        Ok(_) => RequestResult::HttpError,
        Err(HttpError::Timeout { .. }) => RequestResult::Timeout,
        Err(HttpError::Transport { .. }) => RequestResult::Transport,
        Err(_) => RequestResult::Invalid,
    }
}

/// Maps a 404 to `Ok(None)`; everything else passes through.
pub fn not_found_as_none(result: Result<Reply, HttpError>) -> Result<Option<Reply>, HttpError> {
    match result {
        Ok(reply) => Ok(Some(reply)),
        Err(HttpError::Status { status: 404, .. }) => Ok(None),
        Err(err) => Err(err),
    }
}

/// `Retry-After` in delta seconds; the HTTP-date form is ignored (IMDS do not send it).
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The start of a body, on one line, for error messages.
fn excerpt(body: &str) -> String {
    let mut out: String = body
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests;
