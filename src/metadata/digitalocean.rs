//! PLACEHOLDER (issue 9 base branch): replaced by the real DigitalOcean provider before merging.
use super::http::Http;
use super::{FetchError, Instance, Provider, ProviderKind};

pub struct DigitalOcean;

impl DigitalOcean {
    pub fn new(base: &str, http: Http) -> Self {
        let _ = (base, http);
        todo!("DigitalOcean provider")
    }
}

impl Provider for DigitalOcean {
    fn kind(&self) -> ProviderKind {
        ProviderKind::DigitalOcean
    }
    fn fetch(&mut self) -> Result<Instance, FetchError> {
        todo!()
    }
    fn fetch_system(&mut self) -> Result<serde_json::Value, FetchError> {
        todo!()
    }
}
