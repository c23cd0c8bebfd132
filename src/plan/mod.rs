//! The reconcile planner, pure from end to end: `desired` turns metadata, links and settings into
//! the kernel objects we want (the links only address the wish: which link a NIC is); `diff`
//! compares that with the kernel and our ownership record and orders the changes; `pass` is one
//! whole planning pass of a round (record, changes, claim, VLAN preview); `render` prints them
//! as iproute2 commands, summaries and report lines. No I/O here: the daemon, `--oneshot`,
//! `--dry-run` and the golden tests all share this one path.

pub mod desired;
pub(crate) mod diff;
pub mod index;
pub mod owned;
pub(crate) mod pass;
pub(crate) mod ra;
pub(crate) mod record;
pub(crate) mod render;
pub(crate) mod sanity;
pub(crate) mod settings;

pub use desired::{desired, routed_table, Desired, NicPlan, Skipped, UnknownNic};
pub use diff::{diff, Diff, NicRef, PlannedChange};
pub use owned::Owned;
pub use pass::{plan_pass, plan_round, rebuild_owned, PassInput, PassPlan, Planned};
pub use render::dry_run_lines;
pub use settings::{OptOuts, PlanSettings, DEFAULT_IFGROUP};

#[cfg(test)]
pub(crate) mod tests;
