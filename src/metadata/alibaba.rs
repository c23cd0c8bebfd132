//! PLACEHOLDER (issue 9 base branch): replaced by the real Alibaba provider before merging.
use super::http::Http;
use super::{FetchError, Instance, Provider, ProviderKind};

pub struct Alibaba;

impl Alibaba {
    pub fn new(base: &str, http: Http) -> Self {
        let _ = (base, http);
        todo!("Alibaba provider")
    }
}

impl Provider for Alibaba {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Alibaba
    }
    fn fetch(&mut self) -> Result<Instance, FetchError> {
        todo!()
    }
    fn fetch_system(&mut self) -> Result<serde_json::Value, FetchError> {
        todo!()
    }
}
