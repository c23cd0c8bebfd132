//! One reconcile round: read the kernel, plan, diff, apply through the single netlink writer,
//! and record what we now own. The daemon loop, `--oneshot` and `--dry-run` all run this.

use crate::kernel::{Change, KernelState, Route};
use crate::metadata::Instance;
use crate::netlink::{Netlink, NetlinkError};
use crate::plan::render::link_namer;
use crate::plan::render::{ip_command, summary};
use crate::plan::{self, Desired, Owned, PlanSettings, PlannedChange, Skipped};
use serde::Serialize;

/// What a planning pass found, before anything is written.
#[derive(Debug, Clone)]
pub struct Planned {
    pub desired: Desired,
    /// The ownership record pruned against the kernel (what we own that still exists).
    pub owned: Owned,
    pub changes: Vec<PlannedChange>,
    pub conflicts: Vec<Route>,
}

/// Plans a round: pure, from the metadata, the kernel's state and the ownership record.
pub fn plan_round(
    instance: &Instance,
    kernel: &KernelState,
    owned: &Owned,
    settings: &PlanSettings,
) -> Planned {
    let desired = plan::desired(instance, &kernel.links, settings);
    let owned = owned.prune(kernel);
    let diff = plan::diff(&desired, kernel, &owned);
    Planned {
        desired,
        owned,
        changes: diff.changes,
        conflicts: diff.conflicts,
    }
}

/// The ownership record rebuilt from the kernel after the file was found corrupt: what this
/// metadata wants and the kernel holds with our marks (`Owned::adopt`).
pub fn rebuild_owned(instance: &Instance, kernel: &KernelState, settings: &PlanSettings) -> Owned {
    Owned::adopt(&plan::desired(instance, &kernel.links, settings), kernel)
}

/// A change the kernel refused.
#[derive(Debug, Serialize)]
pub struct Failure {
    pub link: String,
    pub command: String,
    pub error: String,
}

/// What a round did.
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// One line per NIC, e.g. `eth1: +3 addresses, +1 route table, +6 rules`.
    pub summary: Vec<String>,
    pub applied: usize,
    pub failures: Vec<Failure>,
    pub skipped: Vec<Skipped>,
    pub conflicts: Vec<String>,
}

/// Applies a planned round as one netlink batch and updates `owned` with what the kernel took.
/// An add answered "exists" means another agent got there first (not ours); a delete answered
/// "not found" means it is already gone. Every other refusal is a failure for that change only:
/// the rest of the batch, other links included, still goes through.
pub fn apply_round(
    netlink: &mut Netlink,
    planned: Planned,
    kernel: &KernelState,
) -> (Outcome, Owned) {
    let Planned {
        desired,
        mut owned,
        changes,
        conflicts,
    } = planned;
    let batch: Vec<Change> = changes.iter().map(|p| p.change.clone()).collect();
    let results = netlink.apply(&batch);
    let name_of = link_namer(kernel);
    let mut done = Vec::new();
    let mut failures = Vec::new();
    let mut links_now: Option<Vec<u32>> = None;
    for (planned, result) in changes.into_iter().zip(results) {
        match classify(&planned.change, result) {
            Applied::Yes => {
                owned.record(planned.nic.map(|n| (n.mac, n.ifindex)), &planned.change);
                done.push(planned);
            }
            Applied::AlreadyGone => {
                owned.record(planned.nic.map(|n| (n.mac, n.ifindex)), &planned.change)
            }
            Applied::SomeoneElses => {}
            Applied::Failed(error) => {
                let present = links_now.get_or_insert_with(|| link_indexes(netlink));
                failures.push(failure(&planned, &error, &name_of, present));
            }
        }
    }
    let outcome = Outcome {
        summary: summary(&done, &name_of),
        applied: done.len(),
        failures,
        skipped: desired.skipped,
        conflicts: conflicts
            .iter()
            .map(|r| ip_command(&Change::AddRoute(r.clone()), &name_of))
            .collect(),
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
        Change::DelAddress(_) | Change::DelRoute(_) | Change::DelRule(_)
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
fn link_indexes(netlink: &mut Netlink) -> Vec<u32> {
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
        .unwrap_or_else(|| "metadata rules".to_string());
    let vanished = planned
        .nic
        .is_some_and(|n| !links_now.is_empty() && !links_now.contains(&n.ifindex));
    let error = match error {
        NetlinkError::NoSuchDevice(_) => format!("link disappeared during apply: {error}"),
        other if vanished => format!("link disappeared during apply: {other}"),
        other => other.to_string(),
    };
    Failure {
        link,
        command: ip_command(&planned.change, name_of),
        error,
    }
}

/// The `--dry-run` rendering: one `ip` command per change, or "No changes".
pub fn dry_run_lines(planned: &Planned, kernel: &KernelState) -> Vec<String> {
    let name_of = link_namer(kernel);
    if planned.changes.is_empty() {
        return vec!["No changes".to_string()];
    }
    planned
        .changes
        .iter()
        .map(|p| ip_command(&p.change, &name_of))
        .collect()
}

/// A NIC without its link yet is normal (hot-plug in progress); the others need an operator.
pub fn log_skipped<'a>(skipped: impl IntoIterator<Item = &'a Skipped>) {
    for skip in skipped {
        match skip {
            Skipped::NoLink { .. } => log::info!("{skip}"),
            Skipped::Ambiguous { .. } | Skipped::IndexOutOfRange { .. } => log::warn!("{skip}"),
        }
    }
}
