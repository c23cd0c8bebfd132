//! The reconcile planner, pure from end to end: `desired` turns metadata, links and settings into
//! the kernel objects we want (the links only address the wish: which link a NIC is); `diff`
//! compares that with the kernel and our ownership record and orders the changes; `pass` is one
//! whole planning pass of a round (record, changes, claim, VLAN preview); `render` prints them
//! as iproute2 commands, summaries and report lines. No I/O here: the daemon, `--oneshot`,
//! `--dry-run` and the golden tests all share this one path.

pub mod desired;
pub mod diff;
pub mod index;
pub mod optout;
pub mod owned;
pub mod pass;
pub mod ra;
pub mod render;
pub mod sanity;

pub use desired::{desired, routed_table, Desired, NicPlan, Skipped, UnknownNic};
pub use diff::{diff, Diff, NicRef, PlannedChange};
pub use owned::Owned;
pub use pass::{plan_pass, plan_round, rebuild_owned, PassInput, PassPlan, Planned};
pub use render::dry_run_lines;

/// The interface group of the NICs we manage unless `[Network] InterfaceGroup` says otherwise:
/// our routing protocol number, unused by iproute2's named groups (0 is "default").
pub const DEFAULT_IFGROUP: u32 = 201;

/// The knobs of the plan, taken from the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSettings {
    /// Table of the NIC with device index N is `table_base + N`.
    pub table_base: u32,
    /// Rules of the NIC with device index N sit at priority `priority_base + N`; the main rule
    /// that lets the host's own networks win sits at `priority_base - 1`.
    pub priority_base: u32,
    /// The interface group of the NICs we manage, which the main rule's lookup ignores.
    pub ifgroup: u32,
    /// Interface names that get a table and rules even as the primary NIC.
    pub supplementary: Vec<String>,
    /// The MTU of NICs whose metadata gives none (`[Network] MTU`); None is the cloud's
    /// default (`desired::default_mtu`).
    pub mtu: Option<u32>,
    /// What the operator keeps us off (`optout`).
    pub optouts: optout::OptOuts,
}

impl Default for PlanSettings {
    fn default() -> Self {
        PlanSettings {
            table_base: 10000,
            priority_base: 3000,
            ifgroup: DEFAULT_IFGROUP,
            supplementary: Vec::new(),
            mtu: None,
            optouts: optout::OptOuts::default(),
        }
    }
}

#[cfg(test)]
mod tests;
