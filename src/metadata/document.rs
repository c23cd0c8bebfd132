//! A provider whose metadata is one JSON document read with one GET (Azure, DigitalOcean): the
//! request with the provider's headers, the parse into the common model, and the system view
//! served from the last good document at no extra request.

use super::http::Http;
use super::json::parse_json;
use super::{FetchError, Instance, ParseError, Provider, ProviderKind};
use serde_json::Value;
use std::sync::Arc;

/// Parses the document's text into the common model (the document itself lands in `raw`).
type ParseDocument = fn(&str) -> Result<Instance, ParseError>;

pub struct DocumentProvider {
    kind: ProviderKind,
    url: String,
    headers: &'static [(&'static str, &'static str)],
    parse: ParseDocument,
    http: Http,
    /// The body of the last good fetch and what it was parsed into: the same body again is
    /// not parsed again, and the system view costs no extra request.
    last: Option<(String, Instance)>,
}

impl DocumentProvider {
    /// `base` is the service root (e.g. `http://169.254.169.254`), `path` the document's path.
    pub fn new(
        kind: ProviderKind,
        base: &str,
        path: &str,
        headers: &'static [(&'static str, &'static str)],
        parse: ParseDocument,
        http: Http,
    ) -> DocumentProvider {
        DocumentProvider {
            kind,
            url: format!("{}{path}", base.trim_end_matches('/')),
            headers,
            parse,
            http,
            last: None,
        }
    }

    fn get_body(&self) -> Result<String, FetchError> {
        Ok(self.http.get(&self.url, self.headers)?.body)
    }

    fn parse_failed(&self, source: ParseError) -> FetchError {
        FetchError::Parse {
            provider: self.kind,
            source,
        }
    }
}

impl Provider for DocumentProvider {
    fn kind(&self) -> ProviderKind {
        self.kind
    }

    fn fetch(&mut self) -> Result<Instance, FetchError> {
        let body = self.get_body()?;
        if let Some((last_body, last)) = &self.last {
            if *last_body == body {
                return Ok(last.clone());
            }
        }
        let mut instance = (self.parse)(&body).map_err(|e| self.parse_failed(e))?;
        if let Some((_, last)) = &self.last {
            instance.share_document(&last.raw);
        }
        let mut body = body;
        body.shrink_to_fit();
        self.last = Some((body, instance.clone()));
        Ok(instance)
    }

    /// The document is the whole system view: the last fetch's copy when there is one.
    fn fetch_system(&mut self) -> Result<Arc<Value>, FetchError> {
        match &self.last {
            Some((_, last)) => Ok(Arc::clone(&last.raw)),
            None => parse_json(&self.get_body()?)
                .map(Arc::new)
                .map_err(|e| self.parse_failed(e)),
        }
    }
}
