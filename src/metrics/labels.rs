//! The fixed label sets of the exposition (none comes from outside input), in the order it
//! shows them; a label a hook is handed is looked up here (`index`).

pub(super) const ROUND_RESULTS: [&str; 2] = ["ok", "error"];

/// The labels of the changes the kernel takes or refuses, as `kernel::Change::label` names them.
pub(crate) const CHANGE_KINDS: [&str; 13] = [
    "link_up",
    "set_mtu",
    "promote_secondaries",
    "add_address",
    "del_address",
    "add_route",
    "del_route",
    "add_rule",
    "del_rule",
    "add_vlan",
    "del_vlan",
    "set_group",
    "adopt_route",
];

pub(super) const OWNED_KINDS: [&str; 4] = ["address", "route", "rule", "vlan"];

pub(super) const REQUEST_RESULTS: [&str; 6] = [
    "ok",
    "not_found",
    "http_error",
    "timeout",
    "transport_error",
    "invalid",
];

/// Upper bounds of the latency buckets, in seconds (the last bucket is +Inf).
pub(super) const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The API paths counted by name; anything else is `other` (so a client cannot grow the set).
pub(crate) const API_PATHS: [&str; 14] = [
    "/api/cloud/system",
    "/api/cloud/network",
    "/api/cloud/credentials",
    "/api/cloud/dynamicinstanceidentity/document",
    "/api/cloud/dynamicinstanceidentity/pkcs7",
    "/api/cloud/dynamicinstanceidentity/signature",
    "/api/cloud/dynamicinstanceidentity/rsa2048",
    "/api/v1/system",
    "/api/v1/status",
    "/api/v1/links",
    "/api/v1/check",
    "/api/v1/refresh",
    "/metrics",
    "other",
];

/// The statuses counted by code; any other is counted as `other`.
pub(super) const API_STATUSES: [u16; 13] = [
    200, 202, 400, 401, 403, 404, 405, 408, 413, 429, 431, 500, 503,
];

/// The sanity gate's reasons, as its JSON names them.
pub(crate) const REFUSAL_REASONS: [&str; 20] = [
    "loopback",
    "unspecified",
    "multicast",
    "broadcast",
    "link_local",
    "metadata_service",
    "gateway",
    "contains_gateway",
    "contains_metadata_service",
    "contains_address",
    "contains_subnet",
    "too_wide",
    "every_destination",
    "on_two_nics",
    "mtu_out_of_range",
    "outside_subnet",
    "contains_reserved",
    "not_unicast",
    "not_private",
    "nic_address",
];

/// Where `label` sits in `labels`; None for a label not in the set.
pub(super) fn index(labels: &[&str], label: &str) -> Option<usize> {
    labels.iter().position(|l| *l == label)
}
