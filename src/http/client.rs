//! The one way this binary sends HTTP requests: a ureq agent that ignores every proxy setting
//! of the environment, follows no redirect (a 3xx comes back as a response), returns every
//! status as a response, runs under connect, receive and global timeouts, keeps no idle
//! connection, reads a body under a cap that fails instead of truncating, and sizes its
//! buffers to what our exchanges need. The metadata fetcher and cnctl each build one;
//! retries are the caller's business. An IP literal host (every metadata service but GCP's
//! name, cnctl's default) is used as it is: ureq's own resolver starts a thread for every
//! lookup made under a timeout.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use ureq::config::Config;
use ureq::http::{HeaderMap, Uri};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::{Agent, RequestBuilder};

/// The HTTP methods we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
    Post,
}

/// How long each step of one exchange may take, and how large a body may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub connect: Duration,
    /// For the response head, and separately for the body once the head arrived.
    pub recv: Duration,
    /// For the whole exchange.
    pub total: Duration,
    /// Largest body accepted; a longer one is [`Failure::BodyTooLarge`].
    pub body: u64,
}

/// A response of any status.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name`, when it is visible text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why an exchange failed; the caller adds the URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Resolving, connecting, sending or receiving failed, or the peer closed early.
    Transport(String),
    /// A connect, receive or global timeout expired.
    Timeout(String),
    /// The body is longer than [`Limits::body`].
    BodyTooLarge,
    /// The request could not be built (bad URL or header) or the reply is not HTTP.
    Invalid(String),
}

/// An agent and the body cap it reads under.
#[derive(Clone)]
pub(crate) struct Client {
    agent: Agent,
    limits: Limits,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("limits", &self.limits)
            .finish()
    }
}

const USER_AGENT: &str = concat!("cloud-network/", env!("CARGO_PKG_VERSION"));
/// Largest response head accepted (status line and headers), as the API's server allows;
/// metadata services send a few hundred bytes.
const MAX_RESPONSE_HEAD: usize = 8 * 1024;
/// The receive buffer: the response head must fit in it, and the body is read through it.
/// ureq's default is 128 KiB, allocated and zeroed for every request (with the send buffer,
/// 256 KiB of page faults per request and of peak memory).
const RECV_BUFFER: usize = 16 * 1024;
/// The send buffer holds a request's head: a URL and a few headers (an EC2 token is 56
/// bytes).
const SEND_BUFFER: usize = 4 * 1024;

impl Client {
    pub(crate) fn new(limits: Limits) -> Client {
        let config = Agent::config_builder()
            .proxy(None)
            .max_redirects(0)
            .http_status_as_error(false)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .user_agent(USER_AGENT)
            .max_response_header_size(MAX_RESPONSE_HEAD)
            .input_buffer_size(RECV_BUFFER)
            .output_buffer_size(SEND_BUFFER)
            .timeout_connect(Some(limits.connect))
            .timeout_recv_response(Some(limits.recv))
            .timeout_recv_body(Some(limits.recv))
            .timeout_global(Some(limits.total))
            .build();
        let agent = Agent::with_parts(config, DefaultConnector::new(), LiteralFirst::default());
        Client { agent, limits }
    }

    /// Sends one request with an empty body and reads the whole response. `timeout` replaces
    /// the receive and global timeouts for this request only (long-polls).
    pub(crate) fn exchange(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        timeout: Option<Duration>,
    ) -> Result<Response, Failure> {
        let sent = match method {
            Method::Get => prepare(self.agent.get(url), headers, timeout).call(),
            Method::Put => prepare(self.agent.put(url), headers, timeout).send_empty(),
            Method::Post => prepare(self.agent.post(url), headers, timeout).send_empty(),
        };
        let mut response = sent.map_err(classify)?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(self.limits.body)
            .read_to_vec()
            .map_err(classify)?;
        Ok(Response {
            status,
            headers: std::mem::take(response.headers_mut()),
            body,
        })
    }
}

/// Resolves an `http://` URL whose host is an IP literal without a lookup (and without a
/// thread); any other host goes to ureq's resolver.
#[derive(Debug, Default)]
struct LiteralFirst(DefaultResolver);

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
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

/// The socket address of `http://IP[:port]/…` (`[v6]` in brackets); None for a host name.
fn literal_addr(uri: &Uri) -> Option<SocketAddr> {
    if uri.scheme_str() != Some("http") {
        return None;
    }
    let authority = uri.authority()?;
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: IpAddr = host.parse().ok()?;
    Some(SocketAddr::new(ip, authority.port_u16().unwrap_or(80)))
}

fn prepare<B>(
    request: RequestBuilder<B>,
    headers: &[(&str, &str)],
    timeout: Option<Duration>,
) -> RequestBuilder<B> {
    let request = headers.iter().fold(request, |request, (name, value)| {
        request.header(*name, *value)
    });
    match timeout {
        Some(timeout) => request
            .config()
            .timeout_recv_response(Some(timeout))
            .timeout_recv_body(Some(timeout))
            .timeout_global(Some(timeout))
            .build(),
        None => request,
    }
}

/// Sorts ureq's error into the few kinds callers act on.
fn classify(err: ureq::Error) -> Failure {
    match err {
        ureq::Error::Timeout(which) => Failure::Timeout(format!("no progress in time ({which})")),
        ureq::Error::BodyExceedsLimit(_) => Failure::BodyTooLarge,
        ureq::Error::Io(e) => match e.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Failure::Timeout(e.to_string()),
            _ => Failure::Transport(e.to_string()),
        },
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => {
            Failure::Transport(err.to_string())
        }
        other => Failure::Invalid(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal(url: &str) -> Option<SocketAddr> {
        literal_addr(&url.parse::<Uri>().expect("a URI"))
    }

    #[test]
    fn ip_literals_resolve_without_a_lookup() {
        assert_eq!(
            literal("http://169.254.169.254/metadata/instance"),
            Some("169.254.169.254:80".parse().unwrap())
        );
        assert_eq!(
            literal("http://[fd00:ec2::254]:8080/latest/"),
            Some("[fd00:ec2::254]:8080".parse().unwrap())
        );
        assert_eq!(
            literal("http://metadata.google.internal/computeMetadata/v1/"),
            None
        );
        assert_eq!(literal("https://10.0.0.1/"), None);
    }
}
