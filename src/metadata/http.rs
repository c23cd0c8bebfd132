//! The metadata HTTP fetcher: requests through the binary's one HTTP client
//! ([`crate::http::client`]: no proxy, no redirects, timeouts, a body cap), retries of
//! transient failures only, and errors that name the URL. Providers call `get`,
//! `get_optional` (404 is `Ok(None)`), `put` and `send`; nothing else in metadata talks HTTP.

mod retry;

pub use crate::http::client::Method;
pub use retry::{Jitter, RetryPolicy, RETRY_AFTER_CAP};

use crate::http::client::{Client, Failure as ClientFailure, Limits};
use crate::http::header::{ETAG, LOCATION, METADATA_FLAVOR, RETRY_AFTER};
use crate::http::METADATA_BODY_LIMIT;
use crate::metrics::{RequestResult, METRICS};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
            body_limit: METADATA_BODY_LIMIT,
            retry: RetryPolicy::default(),
        }
    }
}

/// A reply, with the few headers the fetcher and providers look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub etag: Option<String>,
    pub metadata_flavor: Option<String>,
    /// Where a 3xx points.
    pub location: Option<String>,
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
    /// The server answered with a redirect, which is never followed: a metadata service
    /// does not redirect, so something else is answering. Permanent.
    Redirect {
        url: String,
        status: u16,
        location: String,
    },
    /// The request or reply is malformed (bad URL, broken HTTP, body not UTF-8). Permanent.
    Invalid { url: String, detail: String },
}

impl HttpError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            HttpError::Transport { .. } | HttpError::Timeout { .. } => true,
            HttpError::Status { status, .. } => *status >= 500 || *status == 429,
            HttpError::BodyTooLarge { .. }
            | HttpError::Redirect { .. }
            | HttpError::Invalid { .. } => false,
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
            | HttpError::Redirect { url, .. }
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
            HttpError::Redirect {
                url,
                status,
                location,
            } => write!(
                f,
                "{url} answered HTTP {status}, a redirect to {location:?}, which is not followed"
            ),
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

/// The fetcher. Cheap to clone; clones share the agent and the jitter source.
#[derive(Clone)]
pub struct Http {
    config: HttpConfig,
    client: Client,
    jitter: Arc<Jitter>,
}

impl fmt::Debug for Http {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Http")
            .field("config", &self.config)
            .finish()
    }
}

const EXCERPT_CHARS: usize = 160;

impl Http {
    pub fn new(config: HttpConfig) -> Http {
        let client = Client::new(Limits {
            connect: config.connect_timeout,
            recv: config.recv_timeout,
            total: config.global_timeout,
            body: config.body_limit,
        });
        Http {
            config,
            client,
            jitter: Arc::new(Jitter::from_entropy()),
        }
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
        if (300..400).contains(&reply.status) {
            return Err(Failure::from(HttpError::Redirect {
                url: url.to_string(),
                status: reply.status,
                location: reply.location.take().unwrap_or_default(),
            }));
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
        let response = self
            .client
            .exchange(method, url, headers, timeout)
            .map_err(|e| self.with_url(url, e))?;
        let header = |name: &str| response.header(name).map(str::to_string);
        let (etag, metadata_flavor) = (header(ETAG), header(METADATA_FLAVOR));
        let location = header(LOCATION);
        let retry_after = response.header(RETRY_AFTER).and_then(parse_retry_after);
        let body = String::from_utf8(response.body).map_err(|_| HttpError::Invalid {
            url: url.to_string(),
            detail: "the body is not UTF-8".to_string(),
        })?;
        Ok(Reply {
            status: response.status,
            etag,
            metadata_flavor,
            location,
            retry_after,
            body,
        })
    }

    fn with_url(&self, url: &str, err: ClientFailure) -> HttpError {
        let url = url.to_string();
        match err {
            ClientFailure::Transport(detail) => HttpError::Transport { url, detail },
            ClientFailure::Timeout(detail) => HttpError::Timeout { url, detail },
            ClientFailure::BodyTooLarge => HttpError::BodyTooLarge {
                url,
                limit: self.config.body_limit,
            },
            ClientFailure::Invalid(detail) => HttpError::Invalid { url, detail },
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
