//! The drop's report and error lines.

use super::sets::cap_list;
use super::*;

#[test]
fn reports_read_as_one_log_line() {
    let switched = PrivilegeReport::SwitchedUser {
        user: "cloud-network".to_string(),
        uid: 998,
        gid: 997,
        caps: kept_caps(false),
    };
    assert_eq!(
        switched.to_string(),
        "running as user cloud-network (uid 998) with CAP_NET_ADMIN"
    );
    let root = PrivilegeReport::StayedRoot {
        user: "cloud-network".to_string(),
        caps: kept_caps(true),
    };
    assert_eq!(
        root.to_string(),
        "user cloud-network not found: staying root with only CAP_NET_ADMIN and CAP_NET_BIND_SERVICE"
    );
}

#[test]
fn a_verify_error_names_the_set_and_both_values() {
    let error = PrivilegeError::Verify {
        what: "effective set",
        found: cap_list(&[Capability::CAP_CHOWN, Capability::CAP_NET_ADMIN]),
        expected: cap_list(&[]),
    };
    assert_eq!(
        error.to_string(),
        "after dropping privileges the effective set is CAP_CHOWN and CAP_NET_ADMIN, expected no capabilities"
    );
}
