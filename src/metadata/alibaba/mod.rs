//! Alibaba Cloud ECS: the metadata client (security hardening mode's session token, normal
//! mode only when the token PUT is refused, frugal per-NIC refresh reads, bounded whole-tree
//! walk; all through the token session shared with EC2 in `metadata::imds`) and, in `parse`,
//! the parser of its metadata tree.
//!
//! Requests per refresh (`fetch`): 1 listing of `macs/` + 5 leaves per NIC (+ 2 for a NIC whose
//! `ipv6s` lists an address), plus the token PUT when the token is new or about to expire
//! (every 6 h). The very first refresh also reads `mac`, `instance-id` and `region-id` once:
//! they cannot change while the instance lives.

pub mod parse;
pub(crate) mod profile;
#[cfg(test)]
mod tests;

use crate::metadata::imds::tree::tree_to_json;
use crate::metadata::imds::{self, Dialect, Session};
use crate::metadata::{http::Http, FetchError, Instance, Mac, Provider, ProviderKind};
use parse::{INSTANCE_ID, IPV6S, MACS_DIR, NIC_LEAVES, NIC_LEAVES_IPV6, PRIMARY_MAC, REGION_ID};
use std::sync::Arc;
use std::{collections::BTreeMap, time::Duration};

/// The top-level leaves read once, on the first refresh.
const IDENTITY_LEAVES: [&str; 3] = [PRIMARY_MAC, INSTANCE_ID, REGION_ID];
/// The RAM role's temporary keys: never part of the system view.
const SECRET_DIRS: [&str; 1] = ["meta-data/ram/security-credentials/"];
/// The metadata service of every ECS instance.
pub const DEFAULT_BASE_URL: &str = "http://100.100.100.200";
/// Security hardening mode's header names (the TTL header is the token header's `-ttl-seconds`).
pub const DIALECT: Dialect = Dialect::named(ProviderKind::Alibaba, "X-aliyun-ecs-metadata-token");

/// The Alibaba metadata provider. Keeps the session (token, normal-mode decision), the
/// identity leaves and the index each MAC had at the last refresh.
pub struct Alibaba {
    session: Session,
    identity: Option<BTreeMap<String, String>>,
    known_indexes: BTreeMap<Mac, u32>,
}

impl Alibaba {
    /// `base_url` is `http://100.100.100.200` in production ([`DEFAULT_BASE_URL`]).
    pub fn new(base_url: &str, http: Http) -> Alibaba {
        Alibaba {
            session: Session::new(base_url, http, DIALECT),
            identity: None,
            known_indexes: BTreeMap::new(),
        }
    }

    /// Requests session tokens living `ttl` (whole seconds, clamped to 1 s – 6 h; default 6 h).
    pub fn with_token_ttl(mut self, ttl: Duration) -> Alibaba {
        self.session.set_token_ttl(ttl);
        self
    }

    /// `mac`, `instance-id` and `region-id`, read until `mac` answers, then kept.
    fn identity(&mut self) -> Result<BTreeMap<String, String>, FetchError> {
        if let Some(cached) = &self.identity {
            return Ok(cached.clone());
        }
        let mut leaves = BTreeMap::new();
        for path in IDENTITY_LEAVES {
            if let Some(body) = self.session.get(path)? {
                leaves.insert(path.to_string(), body);
            }
        }
        if leaves.contains_key(PRIMARY_MAC) {
            self.identity = Some(leaves.clone());
        }
        Ok(leaves)
    }

    /// One NIC's leaves into `tree`; the IPv6 gateway and block only when it has IPv6.
    fn read_nic(
        &mut self,
        name: &str,
        tree: &mut BTreeMap<String, String>,
    ) -> Result<(), FetchError> {
        let mut leaves = self.session.read_nic(name, &NIC_LEAVES)?;
        if leaves.get(IPV6S).is_some_and(|body| lists_an_address(body)) {
            leaves.extend(self.session.read_nic(name, &NIC_LEAVES_IPV6)?);
        }
        for (leaf_name, body) in leaves {
            tree.insert(format!("{MACS_DIR}{name}/{leaf_name}"), body);
        }
        Ok(())
    }
}

/// True unless a bracketed list is empty (`[]`, `""`).
fn lists_an_address(body: &str) -> bool {
    let inner = body.trim().trim_start_matches('[').trim_end_matches(']');
    !inner.trim().is_empty()
}

impl Provider for Alibaba {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Alibaba
    }

    /// The refresh read; see the module doc for its request count.
    fn fetch(&mut self) -> Result<Instance, FetchError> {
        let mut tree = self.identity()?;
        for name in self.session.list_macs()? {
            self.read_nic(&name, &mut tree)?;
        }
        let instance = parse::parse_with_indexes(&tree, &self.known_indexes)
            .map_err(|source| imds::parse_error(ProviderKind::Alibaba, source))?;
        self.known_indexes.clear();
        self.known_indexes
            .extend(instance.nics.iter().map(|n| (n.mac, n.index)));
        Ok(instance)
    }

    /// The whole `meta-data/` tree (at most 1000 requests, 16 levels), the RAM role's keys
    /// excluded. Rare: the API's system view, not the refresh.
    fn fetch_system(&mut self) -> Result<Arc<serde_json::Value>, FetchError> {
        let tree = self.session.walk(&["meta-data/"], &SECRET_DIRS)?;
        Ok(Arc::new(tree_to_json(&tree)))
    }
}
