//! Alibaba ECS's profile: its own metadata service address, the links' own MTU, the per-MAC
//! subtree as its network view.

use super::{Alibaba, DEFAULT_BASE_URL};
use crate::metadata::profile::{no_agent_switch, Dmi, Profile, View};
use crate::metadata::views::{ec2_macs, ec2_nic};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};

pub(crate) const PROFILE: Profile = Profile {
    recognises,
    client: |base, http| Box::new(Alibaba::new(base, http)),
    endpoint: DEFAULT_BASE_URL,
    metadata_v4: METADATA_V4,
    service_addresses: &[IpAddr::V4(METADATA_V4)],
    default_mtu: None,
    agent_disables_ranges: no_agent_switch,
    system_view: View::Whole,
    network_view: View::Cut(network_view),
    nic_document: ec2_nic,
};

/// The metadata service of every ECS instance.
const METADATA_V4: Ipv4Addr = Ipv4Addr::new(100, 100, 100, 200);

fn network_view(system: &Value) -> Value {
    ec2_macs(system).cloned().unwrap_or(Value::Null)
}

fn recognises(dmi: &Dmi) -> bool {
    dmi.product_name.contains("Alibaba Cloud")
}
