//! The metadata HTTP fetcher: one `ureq::Agent` with connect/receive/global timeouts, no proxy,
//! a body size cap, retries of transient failures only, and a count of every request sent.
//! Providers call `get`, `get_optional` (404 is `Ok(None)`) and `put`; nothing else talks HTTP.

mod retry;

pub use retry::{Jitter, RetryPolicy, RETRY_AFTER_CAP};

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use ureq::config::ConfigBuilder;
use ureq::http::Response;
use ureq::typestate::RequestScope;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::Body;

type RequestConfig<B> = ConfigBuilder<RequestScope<B>>;

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

/// The HTTP methods the metadata services need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
}

/// The fetcher. Cheap to clone; clones share the agent, the jitter source and the counter.
#[derive(Clone)]
pub struct Http {
    agent: ureq::Agent,
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
        let agent_config = ureq::Agent::config_builder()
            .proxy(None)
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_recv_response(Some(config.recv_timeout))
            .timeout_recv_body(Some(config.recv_timeout))
            .timeout_global(Some(config.global_timeout))
            .build();
        let agent = ureq::Agent::with_parts(
            agent_config,
            DefaultConnector::new(),
            LiteralFirst::default(),
        );
        Http {
            agent,
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

    /// One attempt.
    fn send_once(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        timeout: Option<Duration>,
    ) -> Result<Reply, Failure> {
        self.sent.fetch_add(1, Ordering::Relaxed);
        let response = self
            .call(method, url, headers, timeout)
            .map_err(|e| Failure::from(classify(url, e)))?;
        let mut reply = self.read_reply(url, response)?;
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

    fn call(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        timeout: Option<Duration>,
    ) -> Result<Response<Body>, ureq::Error> {
        match method {
            Method::Get => {
                let mut req = self.agent.get(url);
                for (name, value) in headers {
                    req = req.header(*name, *value);
                }
                match timeout {
                    Some(t) => with_timeout(req.config(), t).build().call(),
                    None => req.call(),
                }
            }
            Method::Put => {
                let mut req = self.agent.put(url);
                for (name, value) in headers {
                    req = req.header(*name, *value);
                }
                match timeout {
                    Some(t) => with_timeout(req.config(), t).build().send_empty(),
                    None => req.send_empty(),
                }
            }
        }
    }

    fn read_reply(&self, url: &str, mut response: Response<Body>) -> Result<Reply, HttpError> {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim().to_string())
        };
        let status = response.status().as_u16();
        let etag = header("etag");
        let metadata_flavor = header("metadata-flavor");
        let retry_after = header("retry-after").and_then(|v| parse_retry_after(&v));
        let bytes = response
            .body_mut()
            .with_config()
            .limit(self.config.body_limit)
            .read_to_vec()
            .map_err(|e| classify(url, e))?;
        let body = String::from_utf8(bytes).map_err(|_| HttpError::Invalid {
            url: url.to_string(),
            detail: "the body is not UTF-8".to_string(),
        })?;
        Ok(Reply {
            status,
            etag,
            metadata_flavor,
            retry_after,
            body,
        })
    }
}

/// Replaces the receive and global timeouts of one request.
fn with_timeout<B>(config: RequestConfig<B>, t: Duration) -> RequestConfig<B> {
    config
        .timeout_recv_response(Some(t))
        .timeout_recv_body(Some(t))
        .timeout_global(Some(t))
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

/// Resolves an IP literal host (`169.254.169.254`, `[fd00:ec2::254]`) on the spot. ureq's
/// default resolver runs every lookup made under a timeout in a new thread, even of a literal:
/// a thread per metadata request. Names (`metadata.google.internal`) still go through it.
#[derive(Debug, Default)]
struct LiteralFirst(DefaultResolver);

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match literal_addr(uri) {
            Some(addr) => {
                let mut addrs = self.empty();
                addrs.push(addr);
                Ok(addrs)
            }
            None => self.0.resolve(uri, config, timeout),
        }
    }
}

/// The socket address of a URI whose host is an IP literal.
fn literal_addr(uri: &ureq::http::Uri) -> Option<SocketAddr> {
    let host = uri.host()?.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = host.parse().ok()?;
    let default_port = if uri.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    Some(SocketAddr::new(ip, uri.port_u16().unwrap_or(default_port)))
}

fn classify(url: &str, err: ureq::Error) -> HttpError {
    let url = url.to_string();
    match err {
        ureq::Error::Timeout(which) => HttpError::Timeout {
            url,
            detail: format!("{which:?} timeout"),
        },
        ureq::Error::BodyExceedsLimit(limit) => HttpError::BodyTooLarge { url, limit },
        ureq::Error::Io(e) if e.kind() == std::io::ErrorKind::TimedOut => HttpError::Timeout {
            url,
            detail: e.to_string(),
        },
        ureq::Error::Io(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::BodyStalled => HttpError::Transport {
            url,
            detail: err.to_string(),
        },
        other => HttpError::Invalid {
            url,
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests;
