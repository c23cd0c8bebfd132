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
use crate::plan::{plan_pass, Desired, Owned, PassInput, PlanSettings, Planned, Skipped};
use crate::snapshot::LinkStatus;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a round starts from besides the kernel.
pub struct RoundInput<'a> {
    pub instance: &'a Instance,
    /// The ownership record; None when its file was corrupt: it is then rebuilt from the
    /// kernel the round reads.
    pub owned: Option<Owned>,
    pub settings: &'a PlanSettings,
}

/// Whether a round applies, and how it keeps the ownership record current meanwhile.
pub enum Apply<'a> {
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
pub struct Pass {
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
    pub fn nic_problems(&self) -> Vec<String> {
        nic_problem_lines(&self.desired)
    }

    /// What each link gets, as planned.
    pub fn links(&self) -> Vec<LinkStatus> {
        link_statuses(&self.desired, &self.kernel)
    }
}

/// What a round did and left to do.
#[derive(Debug, Default)]
pub struct RoundOutcome {
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
    pub fn failures(&self) -> Vec<String> {
        if let Some(e) = &self.unreadable {
            return vec![unreadable_line(e)];
        }
        self.applied()
            .last()
            .map(|outcome| outcome.failures.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    /// The outcomes of the passes that were applied, in order.
    pub fn applied(&self) -> impl DoubleEndedIterator<Item = &Outcome> {
        self.passes.iter().filter_map(|p| p.outcome.as_ref())
    }

    /// The summary lines of every applied pass, and how many changes they made.
    pub fn summary(&self) -> (Vec<String>, usize) {
        let summary = self.applied().flat_map(|o| o.summary.clone()).collect();
        (summary, self.applied().map(|o| o.applied).sum())
    }

    fn push(&mut self, pass: Pass, owned: Owned) {
        self.owned = Some(owned);
        self.passes.push(pass);
    }

    /// The first pass (the metadata against the kernel as it stood before the round).
    pub fn first(&self) -> Option<&Pass> {
        self.passes.first()
    }
}

/// The one line saying that a round could not read the kernel, and why.
pub fn unreadable_line(error: &NetlinkError) -> String {
    format!("cannot read the kernel's network state: {error}")
}

/// Runs a round: reads the kernel, plans, and (with `Apply::Changes`) applies, pass after pass
/// while a pass creates links.
pub fn round(
    kernel: &mut impl Kernel<Error = NetlinkError>,
    input: RoundInput,
    mut apply: Apply,
) -> RoundOutcome {
    let mut round = RoundOutcome {
        owned: input.owned,
        ..RoundOutcome::default()
    };
    let preview = matches!(apply, Apply::Preview);
    loop {
        let state = match kernel.state() {
            Ok(state) => state,
            Err(e) => {
                METRICS.round(false);
                round.unreadable = Some(e);
                return round;
            }
        };
        let mut plan = plan_pass(&PassInput {
            instance: input.instance,
            kernel: &state,
            owned: round.owned.as_ref(),
            settings: input.settings,
            preview,
        });
        let owned = match plan.rebuilt.take() {
            Some(rebuilt) => kept_rebuilt(rebuilt, &mut apply),
            None => round.owned.take().unwrap_or_default(),
        };
        METRICS.refused(
            plan.planned
                .desired
                .refused
                .iter()
                .map(|r| r.reason.label()),
        );
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
pub fn log_skipped<'a>(skipped: impl IntoIterator<Item = &'a Skipped>) {
    let (operator, waiting) = skipped_lines(skipped);
    for line in operator {
        log::warn!("{line}");
    }
    if let Some(line) = waiting {
        log::info!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::apply::Failure;

    fn pass(summary: &[&str], failed: &[&str], applied: bool) -> Pass {
        let outcome = Outcome {
            summary: summary.iter().map(ToString::to_string).collect(),
            applied: summary.len(),
            failures: failed
                .iter()
                .map(|command| Failure {
                    link: "eth1".to_string(),
                    command: command.to_string(),
                    error: "Invalid argument".to_string(),
                })
                .collect(),
            conflicts: Vec::new(),
            created_links: 0,
        };
        let instance = Instance {
            provider: crate::net::ProviderKind::Azure,
            instance_id: "vm".to_string(),
            location: "westeurope".to_string(),
            nics: Vec::new(),
            raw: Default::default(),
        };
        Pass {
            kernel: KernelState::default(),
            desired: crate::plan::desired(&instance, &[], &PlanSettings::default()),
            disowned: Vec::new(),
            outcome: applied.then_some(outcome),
        }
    }

    #[test]
    fn what_is_left_undone_is_the_last_applied_passs_failures() {
        let round = RoundOutcome {
            passes: vec![
                pass(&["eth0: +VLAN 5 link eth0.5"], &["ip a", "ip b"], true),
                pass(&["eth0.5: +1 address"], &["ip b"], true),
                pass(&[], &["not sent"], false),
            ],
            ..RoundOutcome::default()
        };
        assert_eq!(round.failures(), ["eth1: ip b failed: Invalid argument"]);
        let (summary, changes) = round.summary();
        assert_eq!(summary, ["eth0: +VLAN 5 link eth0.5", "eth0.5: +1 address"]);
        assert_eq!(changes, 2);
        assert_eq!(RoundOutcome::default().failures(), Vec::<String>::new());
    }

    #[test]
    fn an_unreadable_kernel_is_the_one_failure() {
        let round = RoundOutcome {
            passes: vec![pass(&["eth0: +VLAN 5 link eth0.5"], &["ip a"], true)],
            unreadable: Some(NetlinkError::Decode("cut short".to_string())),
            ..RoundOutcome::default()
        };
        assert_eq!(
            round.failures(),
            ["cannot read the kernel's network state: netlink message: cut short"]
        );
    }

    #[test]
    fn every_change_and_refusal_is_counted_under_a_label_of_the_exposition() {
        use crate::kernel::{Address, Change, Route, Rule};
        use crate::metrics::{CHANGE_KINDS, REFUSAL_REASONS};
        use crate::plan::sanity::Reason;
        let (mac, addr): (crate::net::Mac, std::net::IpAddr) = (
            "02:00:00:00:00:01".parse().unwrap(),
            "10.0.0.1".parse().unwrap(),
        );
        let net: crate::net::IpNet = "10.0.0.0/8".parse().unwrap();
        let address = Address {
            ifindex: 2,
            addr: net,
            noprefixroute: true,
            valid_lft: u32::MAX,
            preferred_lft: u32::MAX,
        };
        let route: Route = serde_json::from_value(serde_json::json!({
            "table": 254, "dst": "10.0.0.0/8", "gateway": null, "src": null, "oif": 2,
            "protocol": 201, "scope": "link", "kind": "unicast", "onlink": false
        }))
        .unwrap();
        let rule: Rule = serde_json::from_value(serde_json::json!({
            "family": "V4", "priority": 3000, "src": null, "dst": null, "table": 254
        }))
        .unwrap();
        let name = String::from("eth1");
        let changes = [
            Change::LinkUp {
                ifindex: 2,
                name: name.clone(),
            },
            Change::SetMtu {
                ifindex: 2,
                name: name.clone(),
                mtu: 9000,
            },
            Change::PromoteSecondaries {
                ifindex: 2,
                name: name.clone(),
            },
            Change::AddAddress(address.clone()),
            Change::DelAddress(address),
            Change::AddRoute(route.clone()),
            Change::DelRoute(route.clone()),
            Change::AddRule(rule.clone()),
            Change::DelRule(rule),
            Change::AddVlan {
                name: name.clone(),
                parent: 2,
                parent_name: name.clone(),
                mac,
                id: 5,
            },
            Change::DelVlan {
                ifindex: 2,
                name: name.clone(),
            },
            Change::SetGroup {
                ifindex: 2,
                name,
                group: 201,
            },
            Change::AdoptRoute(route),
        ];
        let labels: Vec<&str> = changes.iter().map(Change::label).collect();
        assert_eq!(labels, CHANGE_KINDS);
        let reasons = [
            Reason::Loopback,
            Reason::Unspecified,
            Reason::Multicast,
            Reason::Broadcast,
            Reason::LinkLocal,
            Reason::MetadataService { addr },
            Reason::Gateway { mac },
            Reason::ContainsGateway { mac, gateway: addr },
            Reason::ContainsMetadataService { addr },
            Reason::ContainsAddress { mac, addr },
            Reason::ContainsSubnet { mac, subnet: net },
            Reason::TooWide { min: 8 },
            Reason::EveryDestination,
            Reason::OnTwoNics { other: mac },
            Reason::MtuOutOfRange,
            Reason::OutsideSubnet,
            Reason::ContainsReserved { mac, addr },
            Reason::NotUnicast,
            Reason::NotPrivate,
            Reason::NicAddress { mac },
        ];
        for (reason, label) in reasons.iter().zip(REFUSAL_REASONS) {
            assert_eq!(reason.label(), label);
            assert_eq!(serde_json::to_value(reason).unwrap()["reason"], label);
        }
        assert_eq!(reasons.len(), REFUSAL_REASONS.len());
    }
}
