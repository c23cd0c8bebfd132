//! The knobs of the plan, as the config file sets them: table and rule numbering, the interface
//! group, the MTU, and what the operator keeps us off (the opt-outs, applied by
//! `desired::optout`). Plain data, knowing no other part of the plan: every planning file may
//! read it.

use crate::net::Mac;

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
    /// default (`Profile::default_mtu`).
    pub mtu: Option<u32>,
    /// What the operator keeps us off (`optout`).
    pub optouts: OptOuts,
}

impl Default for PlanSettings {
    fn default() -> Self {
        PlanSettings {
            table_base: 10000,
            priority_base: 3000,
            ifgroup: DEFAULT_IFGROUP,
            supplementary: Vec::new(),
            mtu: None,
            optouts: OptOuts::default(),
        }
    }
}

/// What the operator keeps us off. The default opts out of nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOuts {
    /// NICs whose link has one of these names are left alone.
    pub interfaces: Vec<String>,
    /// NICs with one of these MACs are left alone.
    pub macs: Vec<Mac>,
    /// NICs whose device index falls in one of these ranges (inclusive) are left alone.
    pub device_indexes: Vec<(u32, u32)>,
    /// Add the metadata's addresses beyond each NIC's first of each family.
    pub secondary_addresses: bool,
    /// Make GCP's alias ranges local (and route their replies).
    pub alias_ranges: bool,
    /// Make GCP's forwarded and target-instance IPs local (and route their replies).
    pub forwarded_ips: bool,
    /// Give EC2's delegated prefixes their rules.
    pub delegated_prefixes: bool,
    /// Give NICs their own tables and rules, and pin metadata traffic to main.
    pub policy_routing: bool,
}

impl Default for OptOuts {
    fn default() -> Self {
        OptOuts {
            interfaces: Vec::new(),
            macs: Vec::new(),
            device_indexes: Vec::new(),
            secondary_addresses: true,
            alias_ranges: true,
            forwarded_ips: true,
            delegated_prefixes: true,
            policy_routing: true,
        }
    }
}
