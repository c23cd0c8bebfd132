//! Azure: fetches the IMDS instance document (one request, `Metadata: true`) and parses it.
pub mod parse;
#[cfg(test)]
mod tests;

pub use parse::{parse, parse_value, GATEWAY6};

use super::http::Http;
use super::json::parse_json;
use super::{FetchError, Instance, Provider, ProviderKind};

/// The instance document path; 2021-02-01 is the newest version every region serves.
pub const INSTANCE_PATH: &str = "/metadata/instance?api-version=2021-02-01";

pub struct Azure {
    url: String,
    http: Http,
}

impl Azure {
    /// `base` is the service root, e.g. `http://169.254.169.254`.
    pub fn new(base: &str, http: Http) -> Azure {
        Azure {
            url: format!("{}{INSTANCE_PATH}", base.trim_end_matches('/')),
            http,
        }
    }

    fn get_body(&self) -> Result<String, FetchError> {
        Ok(self.http.get(&self.url, &[("Metadata", "true")])?.body)
    }
}

fn parse_failed(source: super::ParseError) -> FetchError {
    FetchError::Parse {
        provider: ProviderKind::Azure,
        source,
    }
}

impl Provider for Azure {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Azure
    }

    fn fetch(&mut self) -> Result<Instance, FetchError> {
        parse(&self.get_body()?).map_err(parse_failed)
    }

    fn fetch_system(&mut self) -> Result<serde_json::Value, FetchError> {
        parse_json(&self.get_body()?).map_err(parse_failed)
    }
}
