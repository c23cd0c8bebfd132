//! What the triggers of one wake-up of the reconcile thread ask for, gathered: several
//! triggers in one wake-up make one round.

use crate::trigger::Trigger;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Wants {
    /// Ask the metadata thread for a fetch.
    pub fetch: bool,
    /// With the slow views (asked for by someone).
    pub views: bool,
    /// Apply the metadata in hand again (a link changed, failed changes are due, or the damper
    /// let a kernel change's round run).
    pub reconcile: bool,
    /// The kernel changed under us (an object of ours went, a router came, changed or went):
    /// a round, once the damper lets it run (`daemon::damp`).
    pub kernel: bool,
    /// Re-read the config first.
    pub reload: bool,
    /// The metadata thread left a result in its inbox.
    pub metadata_changed: bool,
    pub shutdown: bool,
}

impl Wants {
    pub(crate) fn add(&mut self, trigger: Trigger) {
        match trigger {
            Trigger::LinkChanged => self.reconcile = true,
            Trigger::KernelChanged => self.kernel = true,
            Trigger::MetadataChanged => self.metadata_changed = true,
            Trigger::ApiRefresh => {
                self.fetch = true;
                self.views = true;
            }
            Trigger::Reload => {
                self.reload = true;
                self.fetch = true;
                self.views = true;
            }
            Trigger::Shutdown => self.shutdown = true,
        }
    }
}

impl FromIterator<Trigger> for Wants {
    fn from_iter<I: IntoIterator<Item = Trigger>>(triggers: I) -> Wants {
        let mut wants = Wants::default();
        triggers.into_iter().for_each(|t| wants.add(t));
        wants
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_of_one_wake_up_add_up() {
        let wants: Wants = [Trigger::KernelChanged, Trigger::MetadataChanged]
            .into_iter()
            .collect();
        let expected = Wants {
            kernel: true,
            metadata_changed: true,
            ..Wants::default()
        };
        assert_eq!(wants, expected);
        let wants: Wants = [Trigger::Reload, Trigger::ApiRefresh, Trigger::Shutdown]
            .into_iter()
            .collect();
        let expected = Wants {
            fetch: true,
            views: true,
            reload: true,
            shutdown: true,
            ..Wants::default()
        };
        assert_eq!(wants, expected);
        assert_eq!(
            [Trigger::LinkChanged].into_iter().collect::<Wants>(),
            Wants {
                reconcile: true,
                ..Wants::default()
            }
        );
    }
}
