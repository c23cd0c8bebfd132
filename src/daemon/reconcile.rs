//! One pass of a reconcile round: plan against the kernel's state and the ownership record,
//! diff, apply through the single netlink writer, and record what we now own; the renderings
//! of a pass (`--dry-run`'s commands, the skipped NICs, the refusals). `round` runs the passes
//! for the daemon loop, `--oneshot` and `--dry-run` alike: a pass that creates VLAN links (OCI
//! bare metal) is followed by one that configures them; `--dry-run` shows that pass as a
//! preview (`Planned::preview`).

use crate::kernel::{Change, KernelState, Link, Route, VLAN_KIND};
use crate::metadata::Instance;
use crate::metrics::METRICS;
use crate::netlink::{Netlink, NetlinkError};
use crate::plan::owned::Disowned;
use crate::plan::render::link_namer;
use crate::plan::render::{ip_command, summary};
use crate::plan::sanity::Refusal;
use crate::plan::{self, Desired, Owned, PlanSettings, PlannedChange, Skipped};
use std::sync::atomic::{AtomicBool, Ordering};

/// What a planning pass found, before anything is written.
#[derive(Debug, Clone)]
pub struct Planned {
    pub desired: Desired,
    /// The ownership record pruned against the kernel and vetted: what we own that still
    /// exists and carries our marks.
    pub owned: Owned,
    /// Record entries whose kernel objects lack our marks: dropped, never deleted.
    pub disowned: Vec<Disowned>,
    pub changes: Vec<PlannedChange>,
    pub conflicts: Vec<Route>,
    /// What the second pass will do for the VLAN links this round creates, planned against
    /// them as they will be (down, bare, at stand-in indexes): shown by `--dry-run`, never
    /// applied (the second pass plans against the real links).
    pub preview: Vec<PlannedChange>,
    /// The VLAN links as the preview assumes them.
    pub preview_links: Vec<Link>,
}

/// Plans a round: pure, from the metadata, the kernel's state and the ownership record.
pub fn plan_round(
    instance: &Instance,
    kernel: &KernelState,
    owned: &Owned,
    settings: &PlanSettings,
) -> Planned {
    let desired = plan::desired(instance, &kernel.links, settings);
    let owned = owned.prune(kernel).release(&desired.released);
    let (owned, disowned) = owned.vet(kernel, settings);
    let diff = plan::diff(&desired, kernel, &owned);
    let preview_links = created_links(&diff.changes, kernel);
    let preview = if preview_links.is_empty() {
        Vec::new()
    } else {
        let mut after = kernel.clone();
        after.links.extend(preview_links.iter().cloned());
        let desired = plan::desired(instance, &after.links, settings);
        plan::diff(&desired, &after, &owned)
            .changes
            .into_iter()
            .filter(|c| !diff.changes.contains(c))
            .collect()
    };
    Planned {
        desired,
        owned,
        disowned,
        changes: diff.changes,
        conflicts: diff.conflicts,
        preview,
        preview_links,
    }
}

/// The links the `AddVlan` changes will create, down and at indexes after the kernel's.
fn created_links(changes: &[PlannedChange], kernel: &KernelState) -> Vec<Link> {
    let next = kernel.links.iter().map(|l| l.index).max().unwrap_or(0) + 1;
    changes
        .iter()
        .filter_map(|p| match &p.change {
            Change::AddVlan { name, mac, .. } => Some((name, mac)),
            _ => None,
        })
        .zip(next..)
        .map(|((name, mac), index)| Link {
            index,
            name: name.clone(),
            mac: Some(*mac),
            mtu: 1500,
            up: false,
            oper_state: crate::kernel::OperState::Down,
            kind: Some(VLAN_KIND.to_string()),
            master: None,
            loopback: false,
            ethernet: true,
            group: 0,
        })
        .collect()
}

/// The ownership record rebuilt from the kernel after the file was found corrupt: what this
/// metadata wants (with the RA default routes its tables follow) and the kernel holds with
/// our marks (`Owned::adopt`).
pub fn rebuild_owned(instance: &Instance, kernel: &KernelState, settings: &PlanSettings) -> Owned {
    let desired = plan::desired(instance, &kernel.links, settings);
    Owned::adopt(&plan::ra::followed(&desired, kernel), kernel)
}

/// One line per record entry dropped for lacking our marks, naming the delete not sent.
pub fn disowned_lines(planned: &Planned, kernel: &KernelState) -> Vec<String> {
    let name_of = link_namer(kernel);
    planned
        .disowned
        .iter()
        .map(|d| {
            format!(
                "the ownership record names {}, which does not carry our marks; not deleted, \
                 dropped from the record: {}",
                d.reason,
                ip_command(&d.delete, &name_of)
            )
        })
        .collect()
}

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
    netlink: &mut Netlink,
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
                METRICS.change_applied(&planned.change);
                created_links += usize::from(matches!(planned.change, Change::AddVlan { .. }));
                owned.record(planned.nic.map(|n| (n.mac, n.ifindex)), &planned.change);
                done.push(planned);
            }
            Applied::AlreadyGone => {
                owned.record(planned.nic.map(|n| (n.mac, n.ifindex)), &planned.change)
            }
            Applied::SomeoneElses => {}
            Applied::Failed(error) => {
                METRICS.change_failed(&planned.change);
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

/// The `--dry-run` rendering: one `ip` command per change (then the second pass's, for VLAN
/// links it creates), or "No changes".
pub fn dry_run_lines(planned: &Planned, kernel: &KernelState) -> Vec<String> {
    if planned.changes.is_empty() {
        return vec!["No changes".to_string()];
    }
    let mut after = kernel.clone();
    after.links.extend(planned.preview_links.iter().cloned());
    let name_of = link_namer(&after);
    planned
        .changes
        .iter()
        .chain(&planned.preview)
        .map(|p| ip_command(&p.change, &name_of))
        .collect()
}

/// A NIC without its link yet is normal (hot-plug in progress): all of them are one line. The
/// others need an operator, one line each.
pub fn log_skipped<'a>(skipped: impl IntoIterator<Item = &'a Skipped>) {
    let mut no_link = Vec::new();
    for skip in skipped {
        match skip {
            Skipped::NoLink { mac } => no_link.push(*mac),
            Skipped::Ambiguous { .. }
            | Skipped::IndexOutOfRange { .. }
            | Skipped::NoParent { .. }
            | Skipped::VlanClash { .. }
            | Skipped::MacInUse { .. } => log::warn!("{skip}"),
        }
    }
    match no_link.as_slice() {
        [] => {}
        [mac] => log::info!("{}", Skipped::NoLink { mac: *mac }),
        macs => log::info!("{}: no link with these MACs (yet)", nic_list(macs)),
    }
}

/// `NICs a, b, c and 7 more`: at most five MACs named.
fn nic_list(macs: &[crate::net::Mac]) -> String {
    const NAMED: usize = 5;
    let named: Vec<String> = macs.iter().take(NAMED).map(ToString::to_string).collect();
    let more = macs.len().saturating_sub(NAMED);
    if more == 0 {
        format!("NICs {}", named.join(", "))
    } else {
        format!("NICs {} and {more} more", named.join(", "))
    }
}

/// The NICs unknown this round, then what the sanity gate refused: one line per NIC each.
pub fn nic_problem_lines(desired: &Desired) -> Vec<String> {
    let unknown = desired.unknown.iter().map(ToString::to_string);
    unknown.chain(refusal_lines(&desired.refused)).collect()
}

/// What the sanity gate refused, one line per NIC (`NIC <mac>: address … refused: …; MTU …`).
pub fn refusal_lines(refused: &[Refusal]) -> Vec<String> {
    let mut lines: Vec<(crate::net::Mac, String)> = Vec::new();
    for refusal in refused {
        match lines.iter_mut().find(|(mac, _)| *mac == refusal.mac) {
            Some((_, line)) => line.push_str(&format!("; {refusal}")),
            None => lines.push((refusal.mac, format!("NIC {}: {refusal}", refusal.mac))),
        }
    }
    lines.into_iter().map(|(_, line)| line).collect()
}
