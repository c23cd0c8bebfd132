//! A cloud's profile: what the program decides by the cloud, as one static value, and the
//! DMI facts detection hands to it (`Dmi`). Each provider's directory defines its own
//! (`<provider>/profile.rs`, `PROFILE`) and `ProviderKind::profile` (in `metadata/mod.rs`) is
//! the one match that picks it: the plan, the sanity gate, the daemon, the API's views and
//! detection read the cloud's addresses, MTU policy, agent switch, views, client and DMI
//! signature from here instead of matching on the provider themselves. A lookup, never an
//! allocation. What still names clouds elsewhere: their names (`net`), the order of detection,
//! the CLI's renderers and the original project's cloud-only API paths and `cnctl show` items.
//!
//! Table numbering is not here: it travels in the model, as each NIC's device index, which the
//! provider's parse computes (EC2's `100 × network-card + device-number`).

use super::http::Http;
use super::{Mac, Provider};
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// What the program needs to know about one cloud.
pub struct Profile {
    /// Whether the machine's DMI says it runs on this cloud (`detect`).
    pub recognises: fn(&Dmi) -> bool,
    /// The metadata client, talking to the service root it is given.
    pub client: fn(&str, Http) -> Box<dyn Provider>,
    /// Where the metadata service lives unless `[System] MetadataEndpoint` says otherwise.
    pub endpoint: &'static str,
    /// The metadata service's IPv4 address (GCP's name resolves to it), reached through the
    /// primary NIC: the address `cnctl check` follows.
    pub metadata_v4: Ipv4Addr,
    /// The cloud's own service addresses, which stay with the primary NIC through main: the
    /// metadata service and what sits beside it (DNS, NTP, Azure's WireServer). No NIC may
    /// hold one and no range may contain one, on any cloud (`plan::sanity`).
    pub service_addresses: &'static [IpAddr],
    /// The MTU the NICs get when neither the metadata nor `[Network] MTU` gives one; `None`:
    /// each link keeps its own.
    pub default_mtu: Option<u32>,
    /// Whether the cloud's own agent's settings in the document (`Instance::raw`) keep alias
    /// ranges and forwarded IPs off, for that agent and for us (GCP's
    /// `disable-address-manager`).
    pub agent_disables_ranges: fn(&Value) -> bool,
    /// `/api/cloud/system`: the system document in the original project's shape.
    pub system_view: View,
    /// `/api/cloud/network`: the NICs' part of the system document, in the provider's shape.
    pub network_view: View,
    /// `StateDir/links/<ifindex>`: the metadata entry of the NIC with this MAC.
    pub nic_document: fn(&Value, Mac) -> Option<Value>,
}

/// What the machine's firmware says about it: the DMI attributes of `/sys/class/dmi/id/` and
/// `/sys/hypervisor/uuid`, trimmed; empty where the file is missing or unreadable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dmi {
    pub sys_vendor: String,
    pub product_name: String,
    pub product_version: String,
    pub product_uuid: String,
    pub chassis_asset_tag: String,
    pub hypervisor_uuid: String,
}

/// The link-local metadata service most clouds serve.
pub(crate) const LINK_LOCAL_METADATA: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

/// Its endpoint, as the profiles give it.
pub(crate) const LINK_LOCAL_ENDPOINT: &str = "http://169.254.169.254";

/// For clouds whose agent has no switch over the items we configure.
pub(crate) fn no_agent_switch(_: &Value) -> bool {
    false
}

/// A view of the system document.
#[derive(Debug, Clone, Copy)]
pub enum View {
    /// The whole document: the same one, shared, never a copy.
    Whole,
    /// A part cut out of it, or reshaped: a document of its own.
    Cut(fn(&Value) -> Value),
}

impl View {
    /// This view of `system`.
    pub fn of(self, system: &Arc<Value>) -> Arc<Value> {
        match self {
            View::Whole => Arc::clone(system),
            View::Cut(cut) => Arc::new(cut(system)),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::net::ProviderKind;
    use std::net::IpAddr;

    #[test]
    fn each_cloud_s_metadata_address_is_one_of_its_service_addresses_and_its_endpoint_is_http() {
        for kind in ProviderKind::ALL {
            let profile = kind.profile();
            let v4 = IpAddr::V4(profile.metadata_v4);
            assert!(profile.service_addresses.contains(&v4), "{kind}");
            assert!(profile.endpoint.starts_with("http://"), "{kind}");
        }
    }
}
