//! The one round every mode runs, as passes: each reads the kernel (this thread is the only
//! writer), makes one plan call (`plan::plan_pass`), applies (`apply::apply_round`) and keeps
//! the ownership record. A pass that creates VLAN links (OCI bare metal) is followed by another
//! that configures them, once the kernel has given them an index. The modes differ only in what
//! they do with the [`RoundOutcome`]: the daemon logs each problem once, publishes it and
//! schedules retries; `--oneshot` prints the summary or the failures and exits; `--dry-run`
//! prints the preview.

use super::apply::{apply_round, Outcome};
use super::status::link_statuses;
use crate::kernel::{Kernel, KernelState};
use crate::metadata::Instance;
use crate::metrics::{OwnedCounts, METRICS};
use crate::netlink::NetlinkError;
use crate::plan::render::{nic_problem_lines, skipped_lines};
use crate::plan::{plan_pass, Desired, Owned, PassInput, PassPlan, PlanSettings, Planned, Skipped};
use crate::snapshot::LinkStatus;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a round starts from besides the kernel.
pub(crate) struct RoundInput<'a> {
    pub instance: &'a Instance,
    /// The ownership record; None when its file was corrupt: it is then rebuilt from the
    /// kernel the round reads.
    pub owned: Option<Owned>,
    pub settings: &'a PlanSettings,
}

/// Whether a round applies, and how it keeps the ownership record current meanwhile.
pub(crate) enum Apply<'a> {
    /// `--dry-run`: the first pass is planned and rendered; nothing is applied or written.
    Preview,
    Changes {
        /// Called with the record as it must be in the state dir before the round goes on:
        /// rebuilt, or claiming what the next batch adds (see `Owned::claiming`), so a process
        /// killed mid-batch still knows those objects as ours.
        keep: &'a mut dyn FnMut(&Owned),
        /// Set at shutdown: the round sends no further batch.
        stop: &'a AtomicBool,
    },
}

/// One plan (and apply) against one reading of the kernel.
#[derive(Debug)]
pub(crate) struct Pass {
    /// The kernel as this pass read it.
    pub kernel: KernelState,
    /// What the metadata wants there.
    pub desired: Desired,
    /// The record entries dropped for lacking our marks, one line each.
    pub disowned: Vec<String>,
    /// What the batch did; None when it was not sent (a preview, or shutdown).
    pub outcome: Option<Outcome>,
}

impl Pass {
    /// The pass takes the wish out of `planned`: applying needs only the changes and record.
    fn planned(kernel: KernelState, planned: &mut Planned, disowned: Vec<String>) -> Pass {
        Pass {
            disowned,
            desired: std::mem::take(&mut planned.desired),
            kernel,
            outcome: None,
        }
    }

    /// The NICs unknown this pass and the sanity gate's refusals, one line per NIC.
    pub(crate) fn nic_problems(&self) -> Vec<String> {
        nic_problem_lines(&self.desired)
    }

    /// What each link gets, as planned.
    pub(crate) fn links(&self) -> Vec<LinkStatus> {
        link_statuses(&self.desired, &self.kernel)
    }
}

/// What a round did and left to do.
#[derive(Debug, Default)]
pub(crate) struct RoundOutcome {
    pub passes: Vec<Pass>,
    /// The ownership record after the round; None when the kernel could not be read at all
    /// (and a corrupt record is still to be rebuilt).
    pub owned: Option<Owned>,
    /// The kernel's state could not be read for the pass after the last one here.
    pub unreadable: Option<NetlinkError>,
    /// `Apply::Preview`: the `ip` commands the round would send, or `No changes`.
    pub preview: Vec<String>,
}

impl RoundOutcome {
    /// What is left undone, one line each: the last applied pass's failed changes (a later
    /// pass plans the earlier one's failures again), or why the kernel could not be read.
    pub(crate) fn failures(&self) -> Vec<String> {
        if let Some(e) = &self.unreadable {
            return vec![unreadable_line(e)];
        }
        self.applied()
            .last()
            .map(|outcome| outcome.failures.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    /// The outcomes of the passes that were applied, in order.
    pub(crate) fn applied(&self) -> impl DoubleEndedIterator<Item = &Outcome> {
        self.passes.iter().filter_map(|p| p.outcome.as_ref())
    }

    /// The summary lines of every applied pass, and how many changes they made.
    pub(crate) fn summary(&self) -> (Vec<String>, usize) {
        let summary = self.applied().flat_map(|o| o.summary.clone()).collect();
        (summary, self.applied().map(|o| o.applied).sum())
    }

    fn push(&mut self, pass: Pass, owned: Owned) {
        self.owned = Some(owned);
        self.passes.push(pass);
    }

    /// The first pass (the metadata against the kernel as it stood before the round).
    pub(crate) fn first(&self) -> Option<&Pass> {
        self.passes.first()
    }
}

/// The one line saying that a round could not read the kernel, and why.
pub(crate) fn unreadable_line(error: &NetlinkError) -> String {
    format!("cannot read the kernel's network state: {error}")
}

/// Runs a round: reads the kernel, plans, and (with `Apply::Changes`) applies, pass after pass
/// while a pass creates links.
pub(crate) fn round(
    kernel: &mut impl Kernel<Error = NetlinkError>,
    input: RoundInput,
    mut apply: Apply,
) -> RoundOutcome {
    let RoundInput {
        instance,
        owned,
        settings,
    } = input;
    let mut round = RoundOutcome {
        owned,
        ..RoundOutcome::default()
    };
    loop {
        let state = match kernel.state() {
            Ok(state) => state,
            Err(e) => {
                METRICS.round(false);
                round.unreadable = Some(e);
                return round;
            }
        };
        let input = PassInput {
            instance,
            kernel: &state,
            owned: round.owned.as_ref(),
            settings,
            preview: matches!(apply, Apply::Preview),
        };
        let (mut plan, rebuilt) = planned(&input, &mut apply);
        let owned = rebuilt.or_else(|| round.owned.take()).unwrap_or_default();
        let mut pass = Pass::planned(state, &mut plan.planned, plan.disowned);
        let (keep, stop) = match &mut apply {
            Apply::Changes { keep, stop } => (keep, stop),
            Apply::Preview => {
                round.preview = plan.dry_run;
                round.push(pass, owned);
                return round;
            }
        };
        if stop.load(Ordering::SeqCst) {
            round.push(pass, owned);
            return round;
        }
        if let Some(claimed) = &plan.claim {
            keep(claimed);
        }
        let (outcome, owned) = apply_round(kernel, plan.planned, &pass.kernel, stop);
        METRICS.owned(owned_counts(&owned));
        METRICS.round(outcome.failures.is_empty());
        let again = outcome.created_links > 0 && !stop.load(Ordering::SeqCst);
        pass.outcome = Some(outcome);
        round.push(pass, owned);
        if !again {
            return round;
        }
    }
}

/// The pass's one plan call; with the record it rebuilt, when it was corrupt (kept at once).
fn planned(input: &PassInput, apply: &mut Apply) -> (PassPlan, Option<Owned>) {
    let mut plan = plan_pass(input);
    let rebuilt = plan.rebuilt.take().map(|owned| kept_rebuilt(owned, apply));
    METRICS.refused(
        plan.planned
            .desired
            .refused
            .iter()
            .map(|r| r.reason.label()),
    );
    (plan, rebuilt)
}

/// The ownership record rebuilt from the kernel (`plan::rebuild_owned`), logged, and kept on
/// disk when the round applies.
fn kept_rebuilt(owned: Owned, apply: &mut Apply) -> Owned {
    log::warn!(
        "ownership record rebuilt from the kernel: {} objects adopted ({} NICs)",
        owned.len(),
        owned.nics.len()
    );
    if let Apply::Changes { keep, .. } = apply {
        keep(&owned);
    }
    owned
}

/// How many objects of each kind the record holds, for the metrics.
fn owned_counts(owned: &Owned) -> OwnedCounts {
    let mut counts = OwnedCounts {
        rules: owned.global_rules.len(),
        ..OwnedCounts::default()
    };
    for nic in owned.nics.values() {
        counts.addresses += nic.addresses.len();
        counts.routes += nic.routes.len();
        counts.rules += nic.rules.len();
        counts.vlans += usize::from(nic.vlan.is_some());
    }
    counts
}

/// Logs the skipped NICs: a NIC without its link yet is normal (hot-plug in progress), all of
/// them are one line; the others need an operator, one line each.
pub(crate) fn log_skipped<'a>(skipped: impl IntoIterator<Item = &'a Skipped>) {
    let (operator, waiting) = skipped_lines(skipped);
    for line in operator {
        log::warn!("{line}");
    }
    if let Some(line) = waiting {
        log::info!("{line}");
    }
}

#[cfg(test)]
mod kernel_tests;
#[cfg(test)]
mod tests;
