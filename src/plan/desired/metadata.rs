//! The metadata service's address the plan's readers follow (`cnctl check`), from the cloud's
//! profile. No rule pins it, nor any other of the cloud's service addresses: requests the VM
//! starts bind no source, match no `from` rule of ours and leave by the primary NIC through
//! main (see `main_rule` for why a pin would do harm).

use crate::net::ProviderKind;
use std::net::Ipv4Addr;

/// The provider's IPv4 metadata address.
pub fn metadata_v4(provider: ProviderKind) -> Ipv4Addr {
    provider.profile().metadata_v4
}
