//! Azure's profile: IMDS and WireServer, the links' own MTU, the whole document as its views.

use super::provider;
use crate::metadata::profile::{
    no_agent_switch, Dmi, Profile, View, LINK_LOCAL_ENDPOINT, LINK_LOCAL_METADATA,
};
use crate::metadata::views::find_nic;
use crate::metadata::Mac;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};

pub(crate) const PROFILE: Profile = Profile {
    recognises,
    client: |base, http| Box::new(provider(base, http)),
    endpoint: LINK_LOCAL_ENDPOINT,
    metadata_v4: LINK_LOCAL_METADATA,
    service_addresses: &[IpAddr::V4(LINK_LOCAL_METADATA), IpAddr::V4(WIRESERVER)],
    default_mtu: None,
    agent_disables_ranges: no_agent_switch,
    system_view: View::Whole,
    network_view: View::Whole,
    nic_document,
};

/// The WireServer (agent and DNS/DHCP plumbing, the load balancer's probes' source).
const WIRESERVER: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);

/// The entry of `network.interface` with this MAC.
fn nic_document(system: &Value, mac: Mac) -> Option<Value> {
    let interfaces = system.get("network").and_then(|n| n.get("interface"));
    find_nic(interfaces, "macAddress", mac)
}

/// The Microsoft vendor string, or the asset tag every Azure VM carries.
fn recognises(dmi: &Dmi) -> bool {
    dmi.sys_vendor.contains("Microsoft Corporation")
        || dmi
            .chassis_asset_tag
            .contains("7783-7084-3265-9085-8269-3286-77")
}
