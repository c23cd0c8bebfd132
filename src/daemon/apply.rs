//! Applying a planned pass: its changes sent to the kernel as batches of [`STOP_SLICE`], a look
//! at the stop flag between two, each reply classified (taken, someone else's, already gone,
//! failed) and what the kernel took recorded in the ownership record; a refusal is rendered
//! with its `ip` command, and a link that vanished meanwhile is named as such.

use crate::kernel::{Change, Kernel, KernelState};
use crate::metrics::METRICS;
use crate::netlink::NetlinkError;
use crate::plan::render::{ip_command, link_namer, summary};
use crate::plan::{Owned, Planned, PlannedChange};
use std::sync::atomic::{AtomicBool, Ordering};

/// A change the kernel refused.
#[derive(Debug)]
pub struct Failure {
    pub link: String,
    pub command: String,
    pub error: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} failed: {}", self.link, self.command, self.error)
    }
}

/// What a round did.
#[derive(Debug)]
pub struct Outcome {
    /// One line per NIC, e.g. `eth1: +3 addresses, +1 route table, +6 rules`.
    pub summary: Vec<String>,
    pub applied: usize,
    pub failures: Vec<Failure>,
    pub conflicts: Vec<String>,
    /// VLAN links this round created: their NICs are configured by a second pass.
    pub created_links: usize,
}

/// Changes sent between two looks at the stop flag: a slice is sent in well under a second
/// (8,000 address deletes newest first take about 0.2 s), so a stop waits for at most one.
const STOP_SLICE: usize = 1024;

/// Applies a planned round as netlink batches of [`STOP_SLICE`] changes and updates `owned`
/// with what the kernel took; once `stop` is set no further batch is sent (the changes left are
/// simply not made, nor recorded). An add answered "exists" means another agent got there first
/// (not ours); a delete answered "not found" means it is already gone. Every other refusal is a
/// failure for that change only: the rest of the batch, other links included, still goes
/// through.
pub fn apply_round(
    netlink: &mut impl Kernel<Error = NetlinkError>,
    planned: Planned,
    kernel: &KernelState,
    stop: &AtomicBool,
) -> (Outcome, Owned) {
    let Planned {
        mut owned,
        mut changes,
        conflicts,
        ..
    } = planned;
    let mut results = Vec::with_capacity(changes.len());
    for slice in changes.chunks(STOP_SLICE) {
        if !results.is_empty() && stop.load(Ordering::SeqCst) {
            break;
        }
        let batch: Vec<Change> = slice.iter().map(|p| p.change.clone()).collect();
        results.extend(netlink.apply(&batch));
    }
    changes.truncate(results.len());
    let name_of = link_namer(kernel);
    let mut done = Vec::new();
    let mut failures = Vec::new();
    let mut links_now: Option<Vec<u32>> = None;
    let mut created_links = 0;
    for (planned, result) in changes.into_iter().zip(results) {
        match classify(&planned.change, result) {
            Applied::Yes => {
                METRICS.change_applied(planned.change.label());
                created_links += usize::from(matches!(planned.change, Change::AddVlan { .. }));
                owned.record(planned.nic.map(|n| (n.mac, n.ifindex)), &planned.change);
                done.push(planned);
            }
            Applied::AlreadyGone => {
                owned.record(planned.nic.map(|n| (n.mac, n.ifindex)), &planned.change)
            }
            Applied::SomeoneElses => {}
            Applied::Failed(error) => {
                METRICS.change_failed(planned.change.label());
                let present = links_now.get_or_insert_with(|| link_indexes(netlink));
                failures.push(failure(&planned, &error, &name_of, present));
            }
        }
    }
    let outcome = Outcome {
        summary: summary(&done, &name_of),
        applied: done.len(),
        failures,
        conflicts: conflicts
            .iter()
            .map(|r| ip_command(&Change::AddRoute(r.clone()), &name_of))
            .collect(),
        created_links,
    };
    (outcome, owned)
}

enum Applied {
    Yes,
    AlreadyGone,
    SomeoneElses,
    Failed(NetlinkError),
}

fn classify(change: &Change, result: Result<(), NetlinkError>) -> Applied {
    let is_delete = matches!(
        change,
        Change::DelAddress(_) | Change::DelRoute(_) | Change::DelRule(_) | Change::DelVlan { .. }
    );
    match result {
        Ok(()) => Applied::Yes,
        Err(NetlinkError::NotFound(_)) if is_delete => Applied::AlreadyGone,
        Err(NetlinkError::Exists(_)) if !is_delete => Applied::SomeoneElses,
        Err(error) => Applied::Failed(error),
    }
}

/// The links that exist now, read after a refusal to tell "the link left" from other errors
/// (a vanished link makes the kernel answer ENODEV, but also ENETUNREACH for a gateway route).
/// Empty when the read fails: then no error is blamed on a vanished link.
fn link_indexes(netlink: &mut impl Kernel<Error = NetlinkError>) -> Vec<u32> {
    match netlink.links() {
        Ok(links) => links.iter().map(|l| l.index).collect(),
        Err(e) => {
            log::warn!("cannot re-read the links after a failed change: {e}");
            Vec::new()
        }
    }
}

fn failure(
    planned: &PlannedChange,
    error: &NetlinkError,
    name_of: &dyn Fn(u32) -> String,
    links_now: &[u32],
) -> Failure {
    let link = planned
        .nic
        .map(|n| name_of(n.ifindex))
        .unwrap_or_else(|| "main rule".to_string());
    let vanished = planned
        .nic
        .is_some_and(|n| !links_now.is_empty() && !links_now.contains(&n.ifindex));
    let error = match (&planned.change, error) {
        (Change::AddVlan { .. }, e) if e.errno() == Some(libc::EOPNOTSUPP) => {
            no_vlan_support(&planned.change, e)
        }
        (_, NetlinkError::NoSuchDevice(_)) => format!("link disappeared during apply: {error}"),
        (_, other) if vanished => format!("link disappeared during apply: {other}"),
        (_, other) => other.to_string(),
    };
    Failure {
        link,
        command: ip_command(&planned.change, name_of),
        error,
    }
}

/// The kernel cannot make VLAN links (EOPNOTSUPP, "Unknown device type"): say so, naming the
/// NIC that needs one. Its NIC is left unconfigured; every other change still goes through.
fn no_vlan_support(change: &Change, error: &NetlinkError) -> String {
    let Change::AddVlan {
        parent_name,
        mac,
        id,
        ..
    } = change
    else {
        return error.to_string();
    };
    format!(
        "the kernel has no 802.1Q VLAN support (CONFIG_VLAN_8021Q), so VNIC {mac} \
         (VLAN {id} on {parent_name}) is not configured: {error}"
    )
}
