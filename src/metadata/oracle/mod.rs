//! Oracle OCI: IMDS v2 only (`Authorization: Bearer Oracle` on every request). A refresh reads
//! the VNIC list (one request); the instance document (id, region) is read once and kept, and
//! read again in full for the system view.
//!
//! No fallback to IMDS v1 (`/opc/v1/`, no header): every OCI image since 2020 serves v2, v1 can
//! be disabled per instance (and Oracle recommends it), and a v2 refusal (401) means something
//! between us and the service is wrong, which v1 would hide rather than fix.
pub(crate) mod parse;
pub(crate) mod profile;
#[cfg(test)]
mod tests;

pub use parse::{document, instance_facts, parse_document, parse_instance, parse_vnics, vnics};

use super::http::Http;
use super::json::parse_json;
use super::{FetchError, Instance, ParseError, Provider, ProviderKind};
use crate::http::header;
use parse::InstanceFacts;
use serde_json::{json, Value};
use std::sync::Arc;

pub const INSTANCE_PATH: &str = "/opc/v2/instance/";
pub const VNICS_PATH: &str = "/opc/v2/vnics/";
/// The header IMDS v2 requires; without it the service answers 401.
pub const AUTHORIZATION: (&str, &str) = (header::AUTHORIZATION, "Bearer Oracle");

pub struct Oracle {
    base: String,
    http: Http,
    /// The instance document last read, with its id and region.
    instance: Option<(Value, InstanceFacts)>,
    /// The VNIC list of the last good fetch, for the system view.
    vnics: Option<Value>,
}

impl Oracle {
    /// `base` is the service root, e.g. `http://169.254.169.254`.
    pub fn new(base: &str, http: Http) -> Oracle {
        Oracle {
            base: base.trim_end_matches('/').to_string(),
            http,
            instance: None,
            vnics: None,
        }
    }

    fn get_json(&self, path: &str) -> Result<Value, FetchError> {
        let url = format!("{}{path}", self.base);
        let reply = self.http.get(&url, &[AUTHORIZATION])?;
        parse_json(&reply.body).map_err(parse_failed)
    }

    /// Reads the instance document and keeps it.
    fn read_instance(&mut self) -> Result<&(Value, InstanceFacts), FetchError> {
        let doc = self.get_json(INSTANCE_PATH)?;
        let facts = instance_facts(&doc, "instance").map_err(parse_failed)?;
        Ok(self.instance.insert((doc, facts)))
    }
}

fn parse_failed(source: ParseError) -> FetchError {
    FetchError::Parse {
        provider: ProviderKind::Oracle,
        source,
    }
}

impl Provider for Oracle {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Oracle
    }

    /// The VNIC list, plus the instance document on the first fetch only.
    fn fetch(&mut self) -> Result<Instance, FetchError> {
        let list = self.get_json(VNICS_PATH)?;
        let nics = vnics(&list).map_err(parse_failed)?;
        let (doc, facts) = match &self.instance {
            Some(kept) => kept.clone(),
            None => self.read_instance()?.clone(),
        };
        self.vnics = Some(list.clone());
        Ok(Instance {
            provider: ProviderKind::Oracle,
            instance_id: facts.id,
            location: facts.region,
            nics,
            raw: Arc::new(json!({ "instance": doc, "vnics": list })),
        })
    }

    /// `{"instance": ..., "vnics": ...}`: the instance document read now, and the VNIC list of
    /// the last fetch (read now when there was none).
    fn fetch_system(&mut self) -> Result<Arc<Value>, FetchError> {
        let doc = self.read_instance()?.0.clone();
        let list = match &self.vnics {
            Some(list) => list.clone(),
            None => {
                let list = self.get_json(VNICS_PATH)?;
                vnics(&list).map_err(parse_failed)?;
                list
            }
        };
        Ok(Arc::new(json!({ "instance": doc, "vnics": list })))
    }
}
