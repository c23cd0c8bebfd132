//! The rules that keep traffic to the metadata service (and Azure's WireServer) on the main
//! table while any NIC has rules of ours, and the addresses they pin.

use super::NicPlan;
use super::PlanSettings;
use crate::kernel::{Family, Rule, TABLE_MAIN};
use crate::net::{IpNet, Ipv4Net, Ipv6Net, ProviderKind};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The instance metadata service on every cloud we serve but Alibaba.
pub const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// Alibaba ECS's metadata service.
pub const ALIBABA_METADATA_V4: Ipv4Addr = Ipv4Addr::new(100, 100, 100, 200);
/// EC2's IPv6 metadata endpoint.
pub const METADATA_V6_EC2: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
/// Azure's WireServer (agent and DNS/DHCP plumbing), reached through the primary NIC only.
pub const AZURE_WIRESERVER: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);

/// The provider's IPv4 metadata address, which the rules below keep on the primary NIC.
pub fn metadata_v4(provider: ProviderKind) -> Ipv4Addr {
    match provider {
        ProviderKind::Alibaba => ALIBABA_METADATA_V4,
        ProviderKind::Azure
        | ProviderKind::Aws
        | ProviderKind::Gcp
        | ProviderKind::Oracle
        | ProviderKind::DigitalOcean => METADATA_V4,
    }
}

/// While any NIC has rules, traffic to the metadata service (and Azure's WireServer) is pinned
/// to the main table just before our rules, so no `from` rule can divert it off the primary NIC.
pub(super) fn metadata_rules(
    provider: ProviderKind,
    nics: &[NicPlan],
    settings: &PlanSettings,
) -> Vec<Rule> {
    // A tabled NIC's refused items may keep rules of ours (see `NicPlan::holds_net`): the pin
    // stays with them.
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
    let mut targets = Vec::new();
    if has_family(Family::V4) {
        targets.push(IpNet::V4(Ipv4Net::host(metadata_v4(provider))));
        if provider == ProviderKind::Azure {
            targets.push(IpNet::V4(Ipv4Net::host(AZURE_WIRESERVER)));
        }
    }
    if has_family(Family::V6) && provider == ProviderKind::Aws {
        targets.push(IpNet::V6(Ipv6Net::host(METADATA_V6_EC2)));
    }
    targets
        .into_iter()
        .map(|dst| Rule {
            family: Family::of_net(&dst),
            priority: settings.priority_base - 1,
            src: None,
            dst: Some(dst),
            table: TABLE_MAIN,
        })
        .collect()
}
