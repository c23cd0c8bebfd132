//! DigitalOcean's profile: IMDS, the links' own MTU, the whole document as its views (the
//! reserved IP sits beside `interfaces`).

use super::provider;
use crate::metadata::profile::{
    no_agent_switch, Dmi, Profile, View, LINK_LOCAL_ENDPOINT, LINK_LOCAL_METADATA,
};
use crate::metadata::views::find_nic;
use crate::metadata::Mac;
use serde_json::Value;
use std::net::IpAddr;

pub(crate) const PROFILE: Profile = Profile {
    recognises,
    client: |base, http| Box::new(provider(base, http)),
    endpoint: LINK_LOCAL_ENDPOINT,
    metadata_v4: LINK_LOCAL_METADATA,
    service_addresses: &[IpAddr::V4(LINK_LOCAL_METADATA)],
    default_mtu: None,
    agent_disables_ranges: no_agent_switch,
    system_view: View::Whole,
    network_view: View::Whole,
    nic_document,
};

/// The entry with this MAC among the public interfaces, then the private ones.
fn nic_document(system: &Value, mac: Mac) -> Option<Value> {
    let interfaces = system.get("interfaces");
    ["public", "private"]
        .iter()
        .find_map(|list| find_nic(interfaces.and_then(|i| i.get(list)), "mac", mac))
}

fn recognises(dmi: &Dmi) -> bool {
    dmi.sys_vendor.contains("DigitalOcean")
}
