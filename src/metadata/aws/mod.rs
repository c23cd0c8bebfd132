//! AWS EC2: the IMDS client (IMDSv2 session token, IMDSv1 fallback only when the token PUT is
//! refused, frugal per-NIC refresh reads, hot-plug propagation retries, bounded whole-tree walk)
//! and, in `parse`, the parser of its metadata tree.
//!
//! Requests per refresh (`fetch`): 1 listing of `macs/`, then per NIC the listing of its
//! directory and those of its leaves the model needs that the listing names: `device-number`,
//! `network-card`, `local-ipv4s`, `subnet-ipv4-cidr-block`, the two IPv6 leaves when the NIC
//! has IPv6 and one per delegated-prefix leaf (`ipv4-prefix`, `ipv6-prefix`) it has. An
//! IPv4-only NIC costs 5 requests, a dual-stack one 7. Plus the token PUT when the token is new
//! or about to expire (every 6 h). The very first refresh also reads the
//! identity document once, which is cached for the process lifetime (it cannot change while
//! the instance lives); so are its signatures (`pkcs7`, `signature`, `rsa2048`), read once when
//! first asked for. The system view's walk leaves `dynamic/instance-identity/` out and shows
//! the cached documents: each of the four is read once per start. EC2 caps link-local traffic at 1024 packets/s per NIC, shared with DNS
//! and NTP: nothing here reads more than the model needs.

pub mod parse;
pub(crate) mod profile;
#[cfg(test)]
mod tests;

use crate::metadata::http::Http;
use crate::metadata::imds::{self, Dialect, Session};
use crate::metadata::{FetchError, Instance, Mac, ParseError, Provider, ProviderKind};
use parse::{parse_listing, tree_to_json, IDENTITY_DOCUMENT, MACS_DIR, NIC_LEAVES, PREFIX_LEAVES};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The IMDS of every EC2 instance.
pub const DEFAULT_BASE_URL: &str = super::profile::LINK_LOCAL_ENDPOINT;
/// IMDSv2's header names (the TTL header is the token header's `-ttl-seconds`).
pub const DIALECT: Dialect = Dialect::named(ProviderKind::Aws, "X-aws-ec2-metadata-token");
/// How long a hot-plugged NIC may take to show a usable `device-number`.
const NOT_READY_DELAYS: [Duration; 3] = [Duration::from_millis(500); 3];
/// Subtrees holding secret keys: never part of the system view (the API serves it).
const SECRET_DIRS: [&str; 2] = [
    "meta-data/iam/security-credentials/",
    "meta-data/identity-credentials/ec2/security-credentials/",
];
const CREDENTIALS_DIR: &str = "meta-data/iam/security-credentials/";
const IDENTITY_PKCS7: &str = "dynamic/instance-identity/pkcs7";
const IDENTITY_SIGNATURE: &str = "dynamic/instance-identity/signature";
const IDENTITY_RSA2048: &str = "dynamic/instance-identity/rsa2048";

/// The signed identity documents under `dynamic/instance-identity/`, as IMDS sent them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdentityDocs {
    pub document: Option<String>,
    pub pkcs7: Option<String>,
    pub signature: Option<String>,
    pub rsa2048: Option<String>,
}

/// The EC2 metadata provider. Keeps the session (token, IMDSv1 decision), the identity
/// documents and which MAC held each device index at the last refresh.
pub struct Ec2 {
    session: Session,
    /// The identity document's body as read (None inside: the service has none); read once.
    document: Option<Option<String>>,
    /// The same, kept only when it is a JSON object (what the refresh parses).
    identity: Option<Option<String>>,
    /// `pkcs7`, `signature` and `rsa2048` as read; read once, when first asked for.
    signatures: Option<[Option<String>; 3]>,
    known_indexes: BTreeMap<u32, Mac>,
    not_ready_delays: Vec<Duration>,
}

/// The leaves read for each NIC, by MAC directory name as listed.
type NicLeaves = BTreeMap<String, BTreeMap<&'static str, String>>;

impl Ec2 {
    /// `base_url` is `http://169.254.169.254` in production ([`DEFAULT_BASE_URL`]).
    pub fn new(base_url: &str, http: Http) -> Ec2 {
        Ec2 {
            session: Session::new(base_url, http, DIALECT),
            document: None,
            identity: None,
            signatures: None,
            known_indexes: BTreeMap::new(),
            not_ready_delays: NOT_READY_DELAYS.to_vec(),
        }
    }

    /// Requests session tokens living `ttl` (whole seconds, clamped to 1 s – 6 h; default 6 h).
    /// Each is renewed min(60 s, ttl/4) before it expires.
    pub fn with_token_ttl(mut self, ttl: Duration) -> Ec2 {
        self.session.set_token_ttl(ttl);
        self
    }

    /// Replaces the waits before re-reading a NIC that is still propagating (default 3 × 500 ms);
    /// one re-read follows each wait.
    pub fn with_not_ready_delays(mut self, delays: Vec<Duration>) -> Ec2 {
        self.not_ready_delays = delays;
        self
    }

    /// The four documents of `dynamic/instance-identity/` (absent ones are `None`): read once
    /// per process (at most 4 requests in all), then from the cache.
    fn fetch_identity_documents(&mut self) -> Result<IdentityDocs, FetchError> {
        let document = self.raw_document()?;
        let [pkcs7, signature, rsa2048] = match &self.signatures {
            Some(cached) => cached.clone(),
            None => {
                let read = [
                    self.get(IDENTITY_PKCS7)?,
                    self.get(IDENTITY_SIGNATURE)?,
                    self.get(IDENTITY_RSA2048)?,
                ];
                self.signatures = Some(read.clone());
                read
            }
        };
        Ok(IdentityDocs {
            document,
            pkcs7,
            signature,
            rsa2048,
        })
    }

    /// The identity document's body, read on first use only.
    fn raw_document(&mut self) -> Result<Option<String>, FetchError> {
        if let Some(cached) = &self.document {
            return Ok(cached.clone());
        }
        let body = self.get(IDENTITY_DOCUMENT)?;
        self.document = Some(body.clone());
        Ok(body)
    }

    /// The IAM role credentials (`iam/security-credentials/<first role>`), `None` without a
    /// role. Secret: the caller stores them 0600 and never logs them.
    fn fetch_credentials(&mut self) -> Result<Option<serde_json::Value>, FetchError> {
        let Some(listing) = self.get(CREDENTIALS_DIR)? else {
            return Ok(None);
        };
        let Some(role) = parse_listing(&listing).into_iter().next() else {
            return Ok(None);
        };
        let path = format!("{CREDENTIALS_DIR}{}", role.trim_end_matches('/'));
        let Some(body) = self.get(&path)? else {
            return Ok(None);
        };
        serde_json::from_str(&body).map(Some).map_err(|e| {
            parse_error(ParseError::NotJson {
                detail: format!("{path}: {e}"),
            })
        })
    }

    fn get(&mut self, path: &str) -> Result<Option<String>, FetchError> {
        self.session.get(path)
    }

    /// The identity document, read on the first refresh only. A body that is not a JSON
    /// object is not kept (the instance id then comes out empty) rather than failing refreshes.
    fn identity_document(&mut self) -> Result<Option<String>, FetchError> {
        if let Some(cached) = &self.identity {
            return Ok(cached.clone());
        }
        let body = self.raw_document()?.filter(|body| {
            let valid =
                serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| v.is_object());
            if !valid {
                log::warn!("ignoring the EC2 identity document: not a JSON object");
            }
            valid
        });
        self.identity = Some(body.clone());
        Ok(body)
    }

    /// The MAC directory's listing, then those of [`NIC_LEAVES`] and [`PREFIX_LEAVES`] it
    /// names: nothing is asked for that the service would answer 404. A directory gone since
    /// the `macs/` listing (the NIC just detached) has no leaves.
    fn read_nic(&mut self, name: &str) -> Result<BTreeMap<&'static str, String>, FetchError> {
        let Some(listing) = self.get(&format!("{MACS_DIR}{name}/"))? else {
            return Ok(BTreeMap::new());
        };
        let listed = parse_listing(&listing);
        let mut leaves = BTreeMap::new();
        for leaf in NIC_LEAVES.iter().chain(&PREFIX_LEAVES) {
            if !listed.iter().any(|entry| entry == leaf) {
                continue;
            }
            if let Some(body) = self.get(&format!("{MACS_DIR}{name}/{leaf}"))? {
                leaves.insert(*leaf, body);
            }
        }
        Ok(leaves)
    }

    /// Re-reads NICs that are still propagating after each configured wait; those still not
    /// ready at the end are left out of this refresh (with a warning), never guessed at.
    fn settle(&mut self, nics: &mut NicLeaves) -> Result<(), FetchError> {
        let delays = self.not_ready_delays.clone();
        for delay in delays {
            let pending = self.not_ready(nics);
            if pending.is_empty() {
                return Ok(());
            }
            std::thread::sleep(delay);
            for name in pending {
                let leaves = self.read_nic(&name)?;
                nics.insert(name, leaves);
            }
        }
        for name in self.not_ready(nics) {
            log::warn!("EC2 NIC {name} is still propagating (device-number missing or taken): left out of this refresh");
            nics.remove(&name);
        }
        Ok(())
    }

    /// NICs without a `device-number`, or claiming an index another NIC claims too. Of two
    /// claimants the one that held the index at the last refresh keeps it; with no history
    /// neither is trusted (a hot-plugged NIC says 0 for a while: it must not become primary).
    fn not_ready(&self, nics: &NicLeaves) -> Vec<String> {
        let mut by_index: BTreeMap<u32, Vec<&String>> = BTreeMap::new();
        let mut pending = Vec::new();
        for (name, leaves) in nics {
            match claimed_index(leaves) {
                Claim::Missing => pending.push(name.clone()),
                Claim::Index(index) => by_index.entry(index).or_default().push(name),
                Claim::Unparsable => {}
            }
        }
        for (index, names) in by_index.into_iter().filter(|(_, names)| names.len() > 1) {
            let holder = self.known_indexes.get(&index);
            pending.extend(
                names
                    .into_iter()
                    .filter(|name| holder != name.parse::<Mac>().ok().as_ref())
                    .cloned(),
            );
        }
        pending
    }

    fn remember_indexes(&mut self, instance: &Instance) {
        self.known_indexes.clear();
        self.known_indexes
            .extend(instance.nics.iter().map(|n| (n.index, n.mac)));
    }
}

impl Provider for Ec2 {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Aws
    }

    fn identity_documents(&mut self) -> Result<Option<IdentityDocs>, FetchError> {
        self.fetch_identity_documents().map(Some)
    }

    fn credentials(&mut self) -> Result<Option<serde_json::Value>, FetchError> {
        self.fetch_credentials()
    }

    /// The refresh read; see the module doc for its request count.
    fn fetch(&mut self) -> Result<Instance, FetchError> {
        let mut tree = BTreeMap::new();
        if let Some(document) = self.identity_document()? {
            tree.insert(IDENTITY_DOCUMENT.to_string(), document);
        }
        let mut nics = NicLeaves::new();
        for name in self.session.list_macs()? {
            let leaves = self.read_nic(&name)?;
            nics.insert(name, leaves);
        }
        self.settle(&mut nics)?;
        for (name, leaves) in nics {
            for (leaf_name, body) in leaves {
                tree.insert(format!("{MACS_DIR}{name}/{leaf_name}"), body);
            }
        }
        let instance = parse::parse(&tree).map_err(parse_error)?;
        self.remember_indexes(&instance);
        Ok(instance)
    }

    /// The whole `meta-data/` tree (at most 1000 requests, 16 levels), secrets excluded, and
    /// the identity documents from the cache. Rare: the API's system view, not the refresh.
    fn fetch_system(&mut self) -> Result<Arc<serde_json::Value>, FetchError> {
        let mut tree = self.session.walk(&["meta-data/"], &SECRET_DIRS)?;
        let docs = self.fetch_identity_documents()?;
        let named = [
            (IDENTITY_DOCUMENT, docs.document),
            (IDENTITY_PKCS7, docs.pkcs7),
            (IDENTITY_SIGNATURE, docs.signature),
            (IDENTITY_RSA2048, docs.rsa2048),
        ];
        for (path, body) in named {
            if let Some(body) = body {
                tree.insert(path.to_string(), body);
            }
        }
        Ok(Arc::new(tree_to_json(&tree)))
    }
}

enum Claim {
    Missing,
    Index(u32),
    /// Left for the parser to reject with its field path.
    Unparsable,
}

fn claimed_index(leaves: &BTreeMap<&'static str, String>) -> Claim {
    let number = |name: &str| {
        leaves
            .get(name)
            .map(|body| body.trim())
            .filter(|b| !b.is_empty())
    };
    let Some(device) = number("device-number") else {
        return Claim::Missing;
    };
    let card = number("network-card").unwrap_or("0");
    match (device.parse::<u32>(), card.parse::<u32>()) {
        (Ok(device), Ok(card)) => card
            .checked_mul(100)
            .and_then(|c| c.checked_add(device))
            .map_or(Claim::Unparsable, Claim::Index),
        _ => Claim::Unparsable,
    }
}

fn parse_error(source: ParseError) -> FetchError {
    imds::parse_error(ProviderKind::Aws, source)
}
