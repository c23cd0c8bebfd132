//! The HTTP client of `cnctl`: the binary's one HTTP client ([`crate::http::client`]: no proxy,
//! no redirects, short timeouts, capped bodies), without retries, talking to the daemon's local
//! API, and the errors it reports in one line each.

use crate::http::client::{Client, Failure, Limits, Method, Response};
use crate::http::API_BODY_LIMIT;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RECV_TIMEOUT: Duration = Duration::from_secs(5);
const GLOBAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request to the daemon failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// Nothing answered: refused, timed out, reset. `base` is the API's base URL.
    Unreachable { base: String, reason: String },
    /// The daemon answered with a non-2xx status; `message` is its JSON `error` (or the body).
    Status { status: u16, message: String },
    /// A 2xx answer that is not the JSON expected.
    BadBody { path: String, reason: String },
}

impl ApiError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Unreachable { base, reason } => {
                write!(
                    f,
                    "cannot reach the cloud-network daemon at {base}: {reason}"
                )
            }
            ApiError::Status { status, message } => write!(f, "{message} (HTTP {status})"),
            ApiError::BadBody { path, reason } => {
                write!(f, "the daemon's answer to {path} is not valid: {reason}")
            }
        }
    }
}

/// The base URL from `--url` (`http://host:port` or `host:port`), else from `Listen=`.
pub fn base_url(url: Option<&str>, listen: SocketAddr) -> String {
    url.map_or_else(|| listen_url(listen), normalize_url)
}

fn normalize_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.contains("://") {
        url.to_string()
    } else {
        format!("http://{url}")
    }
}

/// `Listen=` as a URL; a wildcard address is reached through loopback.
fn listen_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

/// The daemon's API at one base URL.
pub struct ApiClient {
    client: Client,
    base: String,
}

impl ApiClient {
    pub fn new(base: String) -> ApiClient {
        let client = Client::new(Limits {
            connect: CONNECT_TIMEOUT,
            recv: RECV_TIMEOUT,
            total: GLOBAL_TIMEOUT,
            body: API_BODY_LIMIT,
        });
        ApiClient { client, base }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// GET `path` as JSON.
    pub fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.call(Method::Get, path)
    }

    /// GET `path` into a typed body.
    pub fn get_as<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let value = self.get(path)?;
        serde_json::from_value(value).map_err(|e| ApiError::BadBody {
            path: path.to_string(),
            reason: e.to_string(),
        })
    }

    /// POST with an empty body; the answer as JSON.
    pub fn post(&self, path: &str) -> Result<Value, ApiError> {
        self.call(Method::Post, path)
    }

    fn call(&self, method: Method, path: &str) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .client
            .exchange(method, &url, &[], None)
            .map_err(|e| self.failed(path, e))?;
        json(path, response)
    }

    fn failed(&self, path: &str, err: Failure) -> ApiError {
        let reason = match err {
            Failure::Transport(detail) => detail,
            Failure::Timeout(detail) => format!("no answer in time ({detail})"),
            Failure::BodyTooLarge => {
                return ApiError::BadBody {
                    path: path.to_string(),
                    reason: format!("larger than {API_BODY_LIMIT} bytes"),
                }
            }
            Failure::Invalid(detail) => {
                return ApiError::BadBody {
                    path: path.to_string(),
                    reason: detail,
                }
            }
        };
        ApiError::Unreachable {
            base: self.base.clone(),
            reason,
        }
    }
}

/// The reply's JSON, or its error message when the status is not 2xx.
fn json(path: &str, response: Response) -> Result<Value, ApiError> {
    let parsed = serde_json::from_slice::<Value>(&response.body);
    if !(200..300).contains(&response.status) {
        return Err(ApiError::Status {
            status: response.status,
            message: error_message(parsed.ok(), &String::from_utf8_lossy(&response.body)),
        });
    }
    parsed.map_err(|e| ApiError::BadBody {
        path: path.to_string(),
        reason: e.to_string(),
    })
}

/// The `error` of a JSON error body; otherwise the body's first line, or a generic text.
fn error_message(parsed: Option<Value>, text: &str) -> String {
    if let Some(message) = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .and_then(Value::as_str)
    {
        return message.to_string();
    }
    match text.lines().next().map(str::trim) {
        Some(line) if !line.is_empty() => line.chars().take(200).collect(),
        _ => "the daemon refused the request".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_with_or_without_scheme() {
        assert_eq!(normalize_url("127.0.0.1:6000"), "http://127.0.0.1:6000");
        assert_eq!(normalize_url("http://[::1]:6000/"), "http://[::1]:6000");
    }

    #[test]
    fn wildcard_listen_goes_through_loopback() {
        assert_eq!(
            listen_url("0.0.0.0:5209".parse().unwrap()),
            "http://127.0.0.1:5209"
        );
        assert_eq!(listen_url("[::]:80".parse().unwrap()), "http://[::1]:80");
        assert_eq!(
            listen_url("127.0.0.2:7000".parse().unwrap()),
            "http://127.0.0.2:7000"
        );
    }

    #[test]
    fn url_option_wins_over_listen() {
        let listen = "127.0.0.1:5209".parse().unwrap();
        assert_eq!(base_url(None, listen), "http://127.0.0.1:5209");
        assert_eq!(base_url(Some("10.0.0.1:1"), listen), "http://10.0.0.1:1");
    }

    #[test]
    fn error_messages_come_from_the_json_error() {
        let body = json!({"error": "no metadata yet"});
        assert_eq!(error_message(Some(body), ""), "no metadata yet");
        assert_eq!(error_message(None, "Bad thing\nmore"), "Bad thing");
        assert_eq!(error_message(None, ""), "the daemon refused the request");
    }
}
