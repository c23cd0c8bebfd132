//! Instance metadata: the common model, parse and fetch errors, the HTTP fetcher, the
//! `Provider` trait every cloud implements, each cloud's `Profile` (the one match on the
//! provider, `ProviderKind::profile`), and one module per provider.
pub mod alibaba;
pub mod aws;
pub mod azure;
pub mod digitalocean;
pub(crate) mod document;
pub(crate) mod error;
pub mod gcp;
pub mod http;
pub mod imds;
mod json;
pub(crate) mod limits;
pub(crate) mod model;
pub mod oracle;
pub(crate) mod profile;
#[cfg(test)]
pub(crate) mod test_server;
pub mod views;
pub use crate::net::{
    netmask_to_prefix, parse_ipv4, parse_ipv6, parse_prefix, IpNet, Ipv4Net, Ipv6Net, Mac,
    ProviderKind, ValueError,
};
pub use error::ParseError;
pub use model::*;
pub use profile::Profile;

use http::{Http, HttpError};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why fetching the metadata failed. A failed fetch changes nothing on the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The request failed: transport error or timeout, unexpected status (with a body
    /// excerpt), body too large, malformed reply. The error names the URL.
    Http(HttpError),
    /// The reply arrived but is not a usable metadata document.
    Parse {
        provider: ProviderKind,
        source: ParseError,
    },
    /// A GCP reply without `Metadata-Flavor: Google`: not the metadata server answering.
    MissingFlavor { url: String, got: Option<String> },
    /// The provider cannot do this (e.g. long-polling outside GCP).
    Unsupported {
        provider: ProviderKind,
        what: &'static str,
    },
}

impl FetchError {
    /// Whether trying again later may succeed (timeouts, 5xx, 429); bad data is permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::Http(e) => e.is_transient(),
            FetchError::Parse { .. }
            | FetchError::MissingFlavor { .. }
            | FetchError::Unsupported { .. } => false,
        }
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Http(e) => e.fmt(f),
            FetchError::Parse { provider, source } => {
                write!(f, "{provider} metadata is unusable: {source}")
            }
            FetchError::MissingFlavor { url, got } => match got {
                Some(v) => write!(
                    f,
                    "{url}: reply has 'Metadata-Flavor: {v}', expected Google"
                ),
                None => write!(f, "{url}: reply lacks the 'Metadata-Flavor: Google' header"),
            },
            FetchError::Unsupported { provider, what } => {
                write!(f, "the {provider} provider does not support {what}")
            }
        }
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FetchError::Http(e) => Some(e),
            FetchError::Parse { source, .. } => Some(source),
            FetchError::MissingFlavor { .. } | FetchError::Unsupported { .. } => None,
        }
    }
}

impl From<HttpError> for FetchError {
    fn from(e: HttpError) -> Self {
        FetchError::Http(e)
    }
}

/// One cloud's metadata service. Implementations only fetch and parse; they never touch the
/// machine. The base URL is a constructor argument, so tests point them at 127.0.0.1.
pub trait Provider: Send {
    fn kind(&self) -> ProviderKind;

    /// The refresh read: only what configuration needs.
    fn fetch(&mut self) -> Result<Instance, FetchError>;

    /// The provider's whole document for the API's system view (rare; EC2 walks its tree).
    fn fetch_system(&mut self) -> Result<Arc<serde_json::Value>, FetchError>;

    /// Blocks until the metadata changes or `timeout` passes (GCP long-poll). Returns
    /// `Ok(Some(instance))` on a change, `Ok(None)` on timeout. Default: not supported.
    fn wait_for_change(&mut self, timeout: Duration) -> Result<Option<Instance>, FetchError> {
        let _ = timeout;
        Err(FetchError::Unsupported {
            provider: self.kind(),
            what: "waiting for metadata changes",
        })
    }

    fn supports_wait_for_change(&self) -> bool {
        false
    }

    /// The signed instance identity documents (EC2). Default: this provider has none.
    fn identity_documents(&mut self) -> Result<Option<aws::IdentityDocs>, FetchError> {
        Ok(None)
    }

    /// The instance's IAM role credentials (EC2); secret. Default: this provider has none.
    fn credentials(&mut self) -> Result<Option<serde_json::Value>, FetchError> {
        Ok(None)
    }
}

impl ProviderKind {
    /// The cloud's profile, from its directory (`<cloud>/profile.rs`): the one match that picks
    /// what the program knows about a cloud. The others name clouds for what is no profile:
    /// their names (`net`), the order of detection (`detect`), the CLI's renderers
    /// (`cnctl::render`) and the emulator.
    pub fn profile(self) -> &'static Profile {
        match self {
            ProviderKind::Azure => &azure::profile::PROFILE,
            ProviderKind::Aws => &aws::profile::PROFILE,
            ProviderKind::Gcp => &gcp::profile::PROFILE,
            ProviderKind::Oracle => &oracle::profile::PROFILE,
            ProviderKind::Alibaba => &alibaba::profile::PROFILE,
            ProviderKind::DigitalOcean => &digitalocean::profile::PROFILE,
        }
    }
}

/// Where each provider's metadata service lives unless the config says otherwise.
pub fn default_endpoint(kind: ProviderKind) -> &'static str {
    kind.profile().endpoint
}

/// The metadata client for `kind`, talking to `endpoint` or the provider's default address.
pub fn new_provider(kind: ProviderKind, endpoint: Option<&str>, http: Http) -> Box<dyn Provider> {
    let base = endpoint.unwrap_or(default_endpoint(kind));
    (kind.profile().client)(base, http)
}
