//! What the daemon knows, published by the reconcile thread after every round and read by the
//! API (and, through the API, by `cnctl`). A snapshot is immutable; publishing swaps an `Arc`,
//! so readers never wait on the writer and nobody holds a lock across I/O. The API's JSON
//! bodies for `/api/v1/*` are these types, serialized.

use crate::metadata::views;
use crate::net::{IpNet, Mac, ProviderKind};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock, RwLock};

/// How the last reconcile round ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// RFC 3339, UTC.
    pub time: String,
    /// "ok" or "error".
    pub result: String,
    /// Number of kernel changes applied in that round.
    pub changes: usize,
    /// One line per NIC that changed (`eth1: +1 address`), empty when nothing changed.
    pub summary: Vec<String>,
}

/// The last failure (fetch, kernel read or a refused change), kept until a round succeeds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorRecord {
    pub time: String,
    pub message: String,
}

/// A policy rule as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleStatus {
    pub priority: u32,
    pub from: Option<IpNet>,
    pub to: Option<IpNet>,
    pub table: u32,
}

/// What the daemon configured on one link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStatus {
    pub name: String,
    pub ifindex: u32,
    pub mac: Mac,
    /// Device index from the metadata (0 = primary).
    pub device_index: u32,
    /// The NIC's routing table, when it has one.
    pub table: Option<u32>,
    /// Every metadata address on the link, with its prefix.
    pub addresses: Vec<IpNet>,
    /// The routes of the NIC's table and its local routes, as `ip route` arguments.
    pub routes: Vec<String>,
    pub rules: Vec<RuleStatus>,
    /// What the sanity gate refused on this NIC, one line per item (never configured).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
    /// Set when the NIC's metadata entry was unreadable this round (the field and the error):
    /// nothing on the link was added or removed, and the lists above are empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

/// Everything `/api/v1/status` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub provider: Option<ProviderKind>,
    pub version: String,
    /// When the daemon started (RFC 3339).
    pub started: String,
    pub last_refresh: Option<RefreshRecord>,
    pub last_error: Option<ErrorRecord>,
    pub links: Vec<LinkStatus>,
}

/// EC2's extra documents, served under `/api/cloud/`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Ec2Documents {
    pub document: Option<serde_json::Value>,
    pub pkcs7: Option<String>,
    pub signature: Option<String>,
    pub rsa2048: Option<String>,
    /// IAM role credentials; served over TCP only with `ServeCredentials=true`.
    pub credentials: Option<serde_json::Value>,
}

/// One published view of the daemon's knowledge. The documents are shared with the
/// reconcile thread's views and with the snapshots before and after this one: publishing
/// copies none of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub status: Status,
    /// The provider's whole document (`/api/v1/system`; `/api/cloud/system` serves its
    /// original-shaped view); None until the first good fetch.
    pub system: Option<Arc<serde_json::Value>>,
    /// The provider's network view (`/api/cloud/network`).
    pub network: Option<Arc<serde_json::Value>>,
    pub ec2: Option<Ec2Documents>,
    /// `system` and `network` as JSON bytes, serialized once per snapshot by the first reader.
    pub bodies: DocumentBodies,
}

/// The serialized documents of one snapshot. The snapshot never changes after it is published,
/// so the bytes are made at most once; the API then answers each request with a copy.
#[derive(Debug, Clone, Default)]
pub struct DocumentBodies {
    system: OnceLock<Option<Vec<u8>>>,
    original_system: OnceLock<Option<Vec<u8>>>,
    network: OnceLock<Option<Vec<u8>>>,
}

/// A cache of what the snapshot holds: two snapshots are equal whatever their caches hold.
impl PartialEq for DocumentBodies {
    fn eq(&self, _: &DocumentBodies) -> bool {
        true
    }
}

fn to_json(value: Option<&serde_json::Value>) -> Option<Vec<u8>> {
    value.and_then(|v| serde_json::to_vec(v).ok())
}

impl Snapshot {
    /// The snapshot before any fetch: the API answers, with nothing known yet.
    pub fn starting(provider: Option<ProviderKind>, started: String) -> Snapshot {
        Snapshot {
            status: Status {
                provider,
                version: env!("CARGO_PKG_VERSION").to_string(),
                started,
                last_refresh: None,
                last_error: None,
                links: Vec::new(),
            },
            system: None,
            network: None,
            ec2: None,
            bodies: DocumentBodies::default(),
        }
    }

    /// `system` as JSON bytes; None before the first good fetch.
    pub fn system_body(&self) -> Option<&[u8]> {
        let body = self
            .bodies
            .system
            .get_or_init(|| to_json(self.system.as_deref()));
        body.as_deref()
    }

    /// `/api/cloud/system`: the system document in the original project's shape
    /// ([`views::system_view`]) as JSON bytes; None before the first good fetch. Where that
    /// shape is the whole document, these are the bytes of [`Self::system_body`].
    pub fn original_system_body(&self) -> Option<&[u8]> {
        let kind = match self.status.provider {
            Some(kind) if !views::system_view_is_whole(kind) => kind,
            _ => return self.system_body(),
        };
        let body = self.bodies.original_system.get_or_init(|| {
            let system = self.system.as_ref()?;
            to_json(Some(&views::system_view(kind, system)))
        });
        body.as_deref()
    }

    /// `network` as JSON bytes; None before the first good fetch. Where the network view is
    /// the whole system document, these are the bytes of [`Self::system_body`].
    pub fn network_body(&self) -> Option<&[u8]> {
        if let (Some(network), Some(system)) = (&self.network, &self.system) {
            if Arc::ptr_eq(network, system) {
                return self.system_body();
            }
        }
        let body = self
            .bodies
            .network
            .get_or_init(|| to_json(self.network.as_deref()));
        body.as_deref()
    }
}

/// The one place a snapshot is published and read: a pointer swap under a short lock.
#[derive(Debug, Clone)]
pub struct SharedSnapshot(Arc<RwLock<Arc<Snapshot>>>);

impl SharedSnapshot {
    pub fn new(first: Snapshot) -> SharedSnapshot {
        SharedSnapshot(Arc::new(RwLock::new(Arc::new(first))))
    }

    /// The current snapshot; the lock is held only to clone the pointer.
    pub fn get(&self) -> Arc<Snapshot> {
        match self.0.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn publish(&self, next: Snapshot) {
        let next = Arc::new(next);
        match self.0.write() {
            Ok(mut guard) => *guard = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn document_bodies_are_serialized_once_per_snapshot() {
        let mut snapshot = Snapshot::starting(Some(ProviderKind::Azure), "t".into());
        assert_eq!(snapshot.network_body(), None);
        assert_eq!(snapshot.system_body(), None);
        snapshot = Snapshot {
            network: Some(Arc::new(
                json!({"interface": [{"macAddress": "000D3A047598"}]}),
            )),
            system: Some(Arc::new(json!({"compute": {"vmId": "x"}}))),
            ..Snapshot::starting(Some(ProviderKind::Azure), "t".into())
        };
        let first = snapshot.network_body().map(<[u8]>::as_ptr);
        assert_eq!(
            snapshot.network_body(),
            Some(&br#"{"interface":[{"macAddress":"000D3A047598"}]}"#[..])
        );
        assert_eq!(snapshot.network_body().map(<[u8]>::as_ptr), first);
        assert_eq!(
            snapshot.system_body(),
            Some(&br#"{"compute":{"vmId":"x"}}"#[..])
        );
    }

    #[test]
    fn a_view_that_is_the_whole_document_shares_its_bytes() {
        let system = Arc::new(json!({"network": {"interface": []}}));
        let snapshot = Snapshot {
            network: Some(views::network_view(ProviderKind::Azure, &system)),
            system: Some(system),
            ..Snapshot::starting(Some(ProviderKind::Azure), "t".into())
        };
        let bytes = snapshot.system_body().map(<[u8]>::as_ptr);
        assert_eq!(
            snapshot.system_body(),
            Some(&br#"{"network":{"interface":[]}}"#[..])
        );
        assert_eq!(snapshot.network_body().map(<[u8]>::as_ptr), bytes);
        assert_eq!(snapshot.original_system_body().map(<[u8]>::as_ptr), bytes);
    }

    #[test]
    fn ec2_s_original_system_view_has_bytes_of_its_own() {
        let system = Arc::new(json!({"meta-data": {"ami-launch-index": 0}}));
        let snapshot = Snapshot {
            system: Some(system),
            ..Snapshot::starting(Some(ProviderKind::Aws), "t".into())
        };
        assert_eq!(
            snapshot.original_system_body(),
            Some(&br#"{"ami-launch-index":"0"}"#[..])
        );
        assert_ne!(
            snapshot.original_system_body().map(<[u8]>::as_ptr),
            snapshot.system_body().map(<[u8]>::as_ptr)
        );
    }
}
