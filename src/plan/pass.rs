//! One planning pass, pure from end to end: the metadata model, the kernel's state as read, the
//! ownership record and the settings in; the planned changes out, with what the round needs
//! before it writes anything: the record rebuilt when its file was corrupt, the claim written
//! before the batch, the record entries dropped for lacking our marks, and, for VLAN links the
//! pass creates (OCI bare metal), the preview of the second pass that configures them.
//! `plan_pass` is the one call a round makes per pass; `plan_round` its core.

use super::index::KernelIndex;
use super::owned::Disowned;
use super::render::{disowned_lines, dry_run_lines};
use super::{desired, diff, ra, Desired, Owned, PlanSettings, PlannedChange};
use crate::kernel::{Change, KernelState, Link, OperState, Route, VLAN_KIND};
use crate::metadata::Instance;

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

/// What one pass of a round starts from.
pub struct PassInput<'a> {
    pub instance: &'a Instance,
    /// The kernel as the pass read it.
    pub kernel: &'a KernelState,
    /// The ownership record; None when its file was corrupt: it is then rebuilt from `kernel`.
    pub owned: Option<&'a Owned>,
    pub settings: &'a PlanSettings,
    /// `--dry-run`: the pass is rendered as `ip` commands and never applied.
    pub preview: bool,
}

/// One pass's plan: everything the round needs from the plan before it writes anything.
#[derive(Debug)]
pub struct PassPlan {
    pub planned: Planned,
    /// The record rebuilt from the kernel (`rebuild_owned`), when the input had none.
    pub rebuilt: Option<Owned>,
    /// The record claiming what the batch adds (`Owned::claiming`), to be kept before the
    /// batch is sent; None when the batch adds nothing, and for a preview.
    pub claim: Option<Owned>,
    /// The record entries dropped for lacking our marks, one line each.
    pub disowned: Vec<String>,
    /// A preview's `ip` commands, or `No changes` (`dry_run_lines`); empty unless previewing.
    pub dry_run: Vec<String>,
}

/// Plans one pass of a round: the record (rebuilt when corrupt), the changes, the claim and
/// the renderings the round reports.
pub fn plan_pass(input: &PassInput) -> PassPlan {
    let (instance, kernel, settings) = (input.instance, input.kernel, input.settings);
    let (planned, rebuilt) = match input.owned {
        Some(owned) => (plan_round(instance, kernel, owned, settings), None),
        None => {
            let owned = rebuild_owned(instance, kernel, settings);
            (plan_round(instance, kernel, &owned, settings), Some(owned))
        }
    };
    let (claim, dry_run) = if input.preview {
        (None, dry_run_lines(&planned, kernel))
    } else {
        (planned.owned.claiming(&planned.changes), Vec::new())
    };
    PassPlan {
        disowned: disowned_lines(&planned, kernel),
        planned,
        rebuilt,
        claim,
        dry_run,
    }
}

/// Plans a round: pure, from the metadata, the kernel's state and the ownership record.
pub fn plan_round(
    instance: &Instance,
    kernel: &KernelState,
    owned: &Owned,
    settings: &PlanSettings,
) -> Planned {
    let desired = desired(instance, &kernel.links, settings);
    let index = KernelIndex::new(kernel);
    let owned = owned.prune(&index).release(&desired.released);
    let (owned, disowned) = owned.vet(kernel, settings);
    let diff = diff(&desired, &index, &owned);
    let preview_links = created_links(&diff.changes, kernel);
    let preview = if preview_links.is_empty() {
        Vec::new()
    } else {
        let mut after = kernel.clone();
        after.links.extend(preview_links.iter().cloned());
        let desired = super::desired(instance, &after.links, settings);
        super::diff(&desired, &KernelIndex::new(&after), &owned)
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
            oper_state: OperState::Down,
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
    let desired = desired(instance, &kernel.links, settings);
    Owned::adopt(&ra::followed(&desired, kernel), kernel)
}
