//! The one rule per family that lets the host's own networks win over our tables: before the
//! NICs' rules, `lookup main suppress_prefixlength 0 suppress_ifgroup G`, with every NIC we
//! manage in the interface group G.
//!
//! It takes main's answer unless that answer is a default route or leaves through one of our
//! NICs. So from any of our addresses, a more specific main route over a link we do not manage
//! (docker0, a CNI's veths, WireGuard, a VPN) is followed; a main route through a NIC of ours
//! (the primary's DHCP subnet route, its `168.63.129.16` or metadata host routes) is ignored,
//! and the `from` rule of the source's NIC decides: to its own subnet by that NIC, everything
//! else by its NIC's gateway. A bare `suppress_prefixlength 0` would let main's
//! `10.4.0.0/24 dev eth0` carry eth1's replies to its own subnet out of eth0, with a source eth0
//! does not own.
//!
//! No rule pins the metadata service or WireServer to main: requests the VM starts bind no
//! source, match no `from` rule and reach main's own rule; a `to 168.63.129.16 lookup main` pin
//! would also catch the replies to Azure's load-balancer probes (which come from that address)
//! and send them out of the primary NIC with a secondary NIC's source.

use super::{NicPlan, PlanSettings};
use crate::kernel::{Family, Rule, TABLE_MAIN};

/// While any NIC has rules of a family: that family's main rule at `RulePriorityBase - 1`.
pub(super) fn main_rules(nics: &[NicPlan], settings: &PlanSettings) -> Vec<Rule> {
    // A tabled NIC's refused items may keep rules of ours (see `NicPlan::holds_net`): the main
    // rule stays with them.
    let has_family = |family| {
        let ruled = nics
            .iter()
            .flat_map(|n| &n.rules)
            .any(|r| r.family == family);
        let held = nics
            .iter()
            .filter(|n| n.table.is_some())
            .flat_map(|n| &n.held)
            .any(|h| Family::of_net(h) == family);
        ruled || held
    };
    [Family::V4, Family::V6]
        .into_iter()
        .filter(|f| has_family(*f))
        .map(|family| main_rule(family, settings))
        .collect()
}

/// `lookup main suppress_prefixlength 0 suppress_ifgroup G priority RulePriorityBase-1`.
pub fn main_rule(family: Family, settings: &PlanSettings) -> Rule {
    Rule {
        family,
        priority: settings.priority_base - 1,
        src: None,
        dst: None,
        table: TABLE_MAIN,
        suppress_prefixlen: Some(0),
        suppress_ifgroup: Some(settings.ifgroup),
    }
}
