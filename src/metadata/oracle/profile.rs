//! OCI's profile: IMDS, jumbo frames on every VNIC, the VNIC list as its network view.

use super::Oracle;
use crate::metadata::profile::{
    no_agent_switch, Dmi, Profile, View, LINK_LOCAL_ENDPOINT, LINK_LOCAL_METADATA,
};
use crate::metadata::views::find_nic;
use crate::metadata::Mac;
use serde_json::Value;
use std::net::IpAddr;

pub(crate) const PROFILE: Profile = Profile {
    recognises,
    client: |base, http| Box::new(Oracle::new(base, http)),
    endpoint: LINK_LOCAL_ENDPOINT,
    metadata_v4: LINK_LOCAL_METADATA,
    service_addresses: &[IpAddr::V4(LINK_LOCAL_METADATA)],
    default_mtu: Some(VNIC_MTU),
    agent_disables_ranges: no_agent_switch,
    system_view: View::Whole,
    network_view: View::Cut(network_view),
    nic_document,
};

/// OCI's VNICs run at 9000 (its DHCP gives it to the primary only).
const VNIC_MTU: u32 = 9000;

fn network_view(system: &Value) -> Value {
    system.get("vnics").cloned().unwrap_or(Value::Null)
}

/// The entry of `vnics` with this MAC.
fn nic_document(system: &Value, mac: Mac) -> Option<Value> {
    find_nic(system.get("vnics"), "macAddr", mac)
}

fn recognises(dmi: &Dmi) -> bool {
    dmi.chassis_asset_tag.contains("OracleCloud")
}
