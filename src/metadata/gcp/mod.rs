//! GCP: fetches the instance document (`Metadata-Flavor: Google`, checked in the reply too),
//! long-polls it for changes with the previous reply's ETag, and parses it.
pub(crate) mod agent;
pub(crate) mod parse;
pub(crate) mod profile;
#[cfg(test)]
mod tests;
pub(crate) mod wsfc;

pub use parse::{parse, parse_network_interfaces, parse_value, region_of_zone};

use super::http::{Http, Method, Reply};
use super::json::parse_json;
use super::{FetchError, Instance, ParseError, Provider, ProviderKind};
use crate::http::header;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const INSTANCE_PATH: &str = "/computeMetadata/v1/instance/?recursive=true";
const ROOT_PATH: &str = "/computeMetadata/v1/?recursive=true";
/// Extra time the client waits beyond the server's `timeout_sec` before giving up.
const LONG_POLL_SLACK: Duration = Duration::from_secs(10);

const FLAVOR: (&str, &str) = (header::METADATA_FLAVOR, "Google");
/// The root document (project attributes, ssh keys) is read again after this long; in between
/// the system view is that copy with the latest instance document in it, at no request.
const ROOT_MAX_AGE: Duration = Duration::from_secs(600);

pub struct Gcp {
    base: String,
    http: Http,
    /// The ETag of the last instance document, for `wait_for_change`.
    etag: Option<String>,
    /// The body of the last instance document and what it was parsed into (the same body
    /// again is not parsed again), and the last root document with when it was read.
    last: Option<(String, Instance)>,
    root: Option<(Instant, serde_json::Value)>,
}

impl Gcp {
    /// `base` is the service root, e.g. `http://metadata.google.internal`.
    pub fn new(base: &str, http: Http) -> Gcp {
        Gcp {
            base: base.trim_end_matches('/').to_string(),
            http,
            etag: None,
            last: None,
            root: None,
        }
    }

    /// One GET with the flavor header, checking the reply is from the metadata server.
    fn get(&self, url: &str, timeout: Option<Duration>) -> Result<Reply, FetchError> {
        let reply = self.http.send(Method::Get, url, &[FLAVOR], timeout)?;
        match reply.metadata_flavor.as_deref() {
            Some(v) if v.eq_ignore_ascii_case(FLAVOR.1) => Ok(reply),
            got => Err(FetchError::MissingFlavor {
                url: url.to_string(),
                got: got.map(str::to_string),
            }),
        }
    }

    fn instance_from(&mut self, reply: Reply) -> Result<Instance, FetchError> {
        if let Some((last_body, last)) = &self.last {
            if *last_body == reply.body {
                let instance = last.clone();
                self.etag = reply.etag;
                return Ok(instance);
            }
        }
        let mut instance = parse(&reply.body).map_err(parse_failed)?;
        self.etag = reply.etag;
        if let Some((_, last)) = &self.last {
            instance.share_document(&last.raw);
        }
        let mut body = reply.body;
        body.shrink_to_fit();
        self.last = Some((body, instance.clone()));
        Ok(instance)
    }

    fn long_poll_url(&self, etag: &str, timeout_sec: u64) -> String {
        format!(
            "{}{INSTANCE_PATH}&wait_for_change=true&last_etag={}&timeout_sec={timeout_sec}",
            self.base,
            query_escape(etag)
        )
    }
}

fn parse_failed(source: ParseError) -> FetchError {
    FetchError::Parse {
        provider: ProviderKind::Gcp,
        source,
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Provider for Gcp {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Gcp
    }

    fn fetch(&mut self) -> Result<Instance, FetchError> {
        let url = format!("{}{INSTANCE_PATH}", self.base);
        let reply = self.get(&url, None)?;
        self.instance_from(reply)
    }

    /// The root document: read when the copy is older than [`ROOT_MAX_AGE`], otherwise that
    /// copy with the latest instance document in place (a change costs one request, not two).
    fn fetch_system(&mut self) -> Result<Arc<serde_json::Value>, FetchError> {
        if let (Some((read, root)), Some((_, instance))) = (&self.root, &self.last) {
            if read.elapsed() < ROOT_MAX_AGE {
                let mut system = root.clone();
                system["instance"] = serde_json::Value::clone(&instance.raw);
                return Ok(Arc::new(system));
            }
        }
        let url = format!("{}{ROOT_PATH}", self.base);
        let root = parse_json(&self.get(&url, None)?.body).map_err(parse_failed)?;
        self.root = Some((Instant::now(), root.clone()));
        Ok(Arc::new(root))
    }

    /// Without a previous ETag there is nothing to compare with: this fetches and reports the
    /// document as a change. A reply with the same ETag means the server's timeout passed.
    fn wait_for_change(&mut self, timeout: Duration) -> Result<Option<Instance>, FetchError> {
        let Some(etag) = self.etag.clone() else {
            return self.fetch().map(Some);
        };
        let timeout_sec = timeout.as_secs().max(1);
        let url = self.long_poll_url(&etag, timeout_sec);
        let reply = self.get(
            &url,
            Some(Duration::from_secs(timeout_sec) + LONG_POLL_SLACK),
        )?;
        if reply.etag.as_deref() == Some(etag.as_str()) {
            return Ok(None);
        }
        self.instance_from(reply).map(Some)
    }

    fn supports_wait_for_change(&self) -> bool {
        true
    }
}
