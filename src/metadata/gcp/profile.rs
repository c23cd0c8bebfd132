//! GCP's profile: the metadata server (by name; its address is the link-local one), the links'
//! own MTU (the metadata gives each NIC's), google-guest-agent's `disable-address-manager`,
//! the whole document as its views.

use super::{agent, Gcp};
use crate::metadata::profile::{Dmi, Profile, View, LINK_LOCAL_METADATA};
use crate::metadata::views::find_nic;
use crate::metadata::Mac;
use serde_json::Value;
use std::net::IpAddr;

pub(crate) const PROFILE: Profile = Profile {
    recognises,
    client: |base, http| Box::new(Gcp::new(base, http)),
    endpoint: "http://metadata.google.internal",
    metadata_v4: LINK_LOCAL_METADATA,
    service_addresses: &[IpAddr::V4(LINK_LOCAL_METADATA)],
    default_mtu: None,
    agent_disables_ranges: agent::address_manager_disabled,
    system_view: View::Whole,
    network_view: View::Whole,
    nic_document,
};

/// The entry of `networkInterfaces` with this MAC, in the root or the instance document.
fn nic_document(system: &Value, mac: Mac) -> Option<Value> {
    let instance = system.get("instance").unwrap_or(system);
    find_nic(instance.get("networkInterfaces"), "mac", mac)
}

/// The product name, or the vendor string.
fn recognises(dmi: &Dmi) -> bool {
    dmi.product_name.contains("Google Compute Engine") || dmi.sys_vendor == "Google"
}
