//! What the reconcile thread shows of its work: the slow views the metadata thread read (the
//! system document, EC2's documents), what the last round configured and how it ended. It
//! publishes them as a `Snapshot` for the API, writes them to the state files and gives systemd
//! a status line. The last error is the problem memory's (`Problems`), passed in.

use super::files::StateFiles;
use crate::metadata::views;
use crate::net::{Mac, ProviderKind};
use crate::snapshot::{
    Ec2Documents, ErrorRecord, LinkStatus, RefreshRecord, SharedSnapshot, Snapshot,
};
use crate::state::StateError;
use serde_json::Value;
use std::sync::Arc;

/// Called after every round with a one-line status (for sd_notify's READY/STATUS).
pub(crate) type RoundHook = Box<dyn FnMut(&str) + Send>;

/// What is known, as plain data.
#[derive(Debug)]
pub(crate) struct Views {
    kind: ProviderKind,
    /// When the daemon started (RFC 3339).
    started: String,
    system: Option<Arc<Value>>,
    /// The network view of `system`, made when it comes.
    network: Option<Arc<Value>>,
    ec2: Option<Ec2Documents>,
    /// What the last applied round configured, per link.
    links: Vec<LinkStatus>,
    /// The links of the last round with their NIC's MAC, for the state files.
    configured: Vec<(u32, Mac)>,
    last_refresh: Option<RefreshRecord>,
}

impl Views {
    pub(crate) fn new(kind: ProviderKind, started: String) -> Views {
        Views {
            kind,
            started,
            system: None,
            network: None,
            ec2: None,
            links: Vec::new(),
            configured: Vec::new(),
            last_refresh: None,
        }
    }

    /// Takes in the slow views that came; true when any did.
    pub(crate) fn fetched(
        &mut self,
        system: Option<Arc<Value>>,
        ec2: Option<Ec2Documents>,
    ) -> bool {
        let new = system.is_some() || ec2.is_some();
        if let Some(system) = system {
            self.network = Some(views::network_view(self.kind, &system));
            self.system = Some(system);
        }
        if ec2.is_some() {
            self.ec2 = ec2;
        }
        new
    }

    /// The links a round planned (applied or not), for the state files.
    pub(crate) fn planned(&mut self, links: &[LinkStatus]) {
        self.configured = links.iter().map(|l| (l.ifindex, l.mac)).collect();
    }

    /// A round was applied: what it configured and how it ended.
    pub(crate) fn applied(&mut self, links: Vec<LinkStatus>, refresh: RefreshRecord) {
        self.links = links;
        self.last_refresh = Some(refresh);
    }

    pub(crate) fn snapshot(&self, last_error: Option<&ErrorRecord>) -> Snapshot {
        let kind = self.kind;
        let mut snapshot = Snapshot::starting(Some(kind), self.started.clone());
        snapshot.status.links = self.links.clone();
        snapshot.status.last_refresh = self.last_refresh.clone();
        snapshot.status.last_error = last_error.cloned();
        snapshot.network = self.network.clone();
        snapshot.system = self.system.clone();
        snapshot.ec2 = self.ec2.clone();
        snapshot
    }

    /// One line for systemd's STATUS=.
    pub(crate) fn status_line(&self, last_error: Option<&ErrorRecord>) -> String {
        let kind = self.kind;
        let links = self.links.len();
        match (last_error, &self.last_refresh) {
            (Some(error), _) => format!("{kind}: {}", error.message),
            (None, Some(refresh)) => format!(
                "{kind}: {links} link(s) configured, last refresh {} at {}",
                refresh.result, refresh.time
            ),
            (None, None) => format!("{kind}: waiting for metadata"),
        }
    }
}

/// Where the views go.
pub(crate) struct Publisher {
    pub views: Views,
    files: StateFiles,
    snapshot: SharedSnapshot,
    on_round: RoundHook,
}

impl Publisher {
    pub(crate) fn new(
        views: Views,
        files: StateFiles,
        snapshot: SharedSnapshot,
        on_round: RoundHook,
    ) -> Publisher {
        Publisher {
            views,
            files,
            snapshot,
            on_round,
        }
    }

    /// The state files from the current system view and the links configured last (nothing
    /// before the first system view).
    pub(crate) fn write_files(&mut self) -> Result<(), StateError> {
        let Some(system) = &self.views.system else {
            return Ok(());
        };
        let kind = self.views.kind;
        let mut result = self.files.write_system(system);
        result = result.and(self.files.write_links(kind, system, &self.views.configured));
        if let Some(ec2) = &self.views.ec2 {
            result = result.and(self.files.write_ec2(ec2));
        }
        result
    }

    /// Publishes what is known now for the API, and tells systemd.
    pub(crate) fn publish(&mut self, last_error: Option<&ErrorRecord>) {
        self.snapshot.publish(self.views.snapshot(last_error));
        let line = self.views.status_line(last_error);
        (self.on_round)(&line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refresh(result: &str) -> RefreshRecord {
        RefreshRecord {
            time: "2026-01-01T00:00:00Z".to_string(),
            result: result.to_string(),
            changes: 3,
            summary: vec!["eth1: +3 addresses".to_string()],
        }
    }

    #[test]
    fn the_status_line_says_the_error_first_then_the_last_refresh() {
        let mut views = Views::new(ProviderKind::Azure, "start".to_string());
        assert_eq!(views.status_line(None), "azure: waiting for metadata");
        views.applied(Vec::new(), refresh("ok"));
        assert_eq!(
            views.status_line(None),
            "azure: 0 link(s) configured, last refresh ok at 2026-01-01T00:00:00Z"
        );
        let error = ErrorRecord {
            time: "t".to_string(),
            message: "metadata fetch failed".to_string(),
        };
        assert_eq!(
            views.status_line(Some(&error)),
            "azure: metadata fetch failed"
        );
    }

    #[test]
    fn the_snapshot_holds_the_views_the_round_and_the_error() {
        let mut views = Views::new(ProviderKind::Aws, "start".to_string());
        assert!(!views.fetched(None, None));
        let ec2 = Ec2Documents {
            pkcs7: Some("p".to_string()),
            ..Ec2Documents::default()
        };
        assert!(views.fetched(None, Some(ec2.clone())));
        assert!(!views.fetched(None, None));
        views.applied(Vec::new(), refresh("error"));
        let error = ErrorRecord {
            time: "t".to_string(),
            message: "m".to_string(),
        };
        let snapshot = views.snapshot(Some(&error));
        assert_eq!(snapshot.ec2, Some(ec2), "kept when no new documents came");
        assert_eq!(snapshot.system, None);
        assert_eq!(snapshot.network, None);
        assert_eq!(snapshot.status.started, "start");
        assert_eq!(snapshot.status.last_refresh, Some(refresh("error")));
        assert_eq!(snapshot.status.last_error, Some(error));
    }
}
