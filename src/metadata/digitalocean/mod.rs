//! DigitalOcean: fetches the droplet's whole metadata document (`/metadata/v1.json`, one
//! request, no header) and parses it.
pub mod parse;
#[cfg(test)]
mod tests;

pub use parse::{parse, parse_value};

use super::http::Http;
use super::json::parse_json;
use super::{FetchError, Instance, Provider, ProviderKind};

/// The whole document in one reply; the `/metadata/v1/` tree holds the same data leaf by leaf.
pub const DOCUMENT_PATH: &str = "/metadata/v1.json";

pub struct DigitalOcean {
    url: String,
    http: Http,
    /// The document of the last good fetch: the system view costs no extra request.
    last_document: Option<serde_json::Value>,
}

impl DigitalOcean {
    /// `base` is the service root, e.g. `http://169.254.169.254`.
    pub fn new(base: &str, http: Http) -> DigitalOcean {
        DigitalOcean {
            url: format!("{}{DOCUMENT_PATH}", base.trim_end_matches('/')),
            http,
            last_document: None,
        }
    }

    fn get_body(&self) -> Result<String, FetchError> {
        Ok(self.http.get(&self.url, &[])?.body)
    }
}

fn parse_failed(source: super::ParseError) -> FetchError {
    FetchError::Parse {
        provider: ProviderKind::DigitalOcean,
        source,
    }
}

impl Provider for DigitalOcean {
    fn kind(&self) -> ProviderKind {
        ProviderKind::DigitalOcean
    }

    fn fetch(&mut self) -> Result<Instance, FetchError> {
        let instance = parse(&self.get_body()?).map_err(parse_failed)?;
        self.last_document = Some(instance.raw.clone());
        Ok(instance)
    }

    /// The document is the whole system view: the last fetch's copy when there is one.
    fn fetch_system(&mut self) -> Result<serde_json::Value, FetchError> {
        match &self.last_document {
            Some(document) => Ok(document.clone()),
            None => parse_json(&self.get_body()?).map_err(parse_failed),
        }
    }
}
