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
    /// The document of the last good fetch: the system view costs no extra request.
    last_document: Option<serde_json::Value>,
}

impl Azure {
    /// `base` is the service root, e.g. `http://169.254.169.254`.
    pub fn new(base: &str, http: Http) -> Azure {
        Azure {
            url: format!("{}{INSTANCE_PATH}", base.trim_end_matches('/')),
            http,
            last_document: None,
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
        let instance = parse(&self.get_body()?).map_err(parse_failed)?;
        self.last_document = Some(instance.raw.clone());
        Ok(instance)
    }

    /// The instance document is the whole system view: the last fetch's copy when there is one.
    fn fetch_system(&mut self) -> Result<serde_json::Value, FetchError> {
        match &self.last_document {
            Some(document) => Ok(document.clone()),
            None => parse_json(&self.get_body()?).map_err(parse_failed),
        }
    }
}
