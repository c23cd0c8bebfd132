//! PLACEHOLDER (issue 9 base branch): replaced by the real Oracle provider before merging.
use super::http::Http;
use super::{FetchError, Instance, Provider, ProviderKind};

pub struct Oracle;

impl Oracle {
    pub fn new(base: &str, http: Http) -> Self {
        let _ = (base, http);
        todo!("Oracle provider")
    }
}

impl Provider for Oracle {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Oracle
    }
    fn fetch(&mut self) -> Result<Instance, FetchError> {
        todo!()
    }
    fn fetch_system(&mut self) -> Result<serde_json::Value, FetchError> {
        todo!()
    }
}
