//! The addresses of the clouds' metadata services and of Azure's WireServer. No rule pins
//! them: requests the VM starts bind no source, match no `from` rule of ours and leave by the
//! primary NIC through main (see `main_rule` for why a pin would do harm).

use crate::net::ProviderKind;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The instance metadata service on every cloud we serve but Alibaba.
pub const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
/// Alibaba ECS's metadata service.
pub const ALIBABA_METADATA_V4: Ipv4Addr = Ipv4Addr::new(100, 100, 100, 200);
/// EC2's IPv6 metadata endpoint.
pub const METADATA_V6_EC2: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
/// Azure's WireServer (agent and DNS/DHCP plumbing), reached through the primary NIC only.
pub const AZURE_WIRESERVER: Ipv4Addr = Ipv4Addr::new(168, 63, 129, 16);

/// The provider's IPv4 metadata address.
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
