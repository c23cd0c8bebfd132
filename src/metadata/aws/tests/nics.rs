//! NICs still appearing: a hot-plugged NIC waited for, one still propagating left out, and device-number 0 claimed twice never making a new primary.

use super::*;

#[test]
fn hot_plugged_nic_is_waited_for() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Token);
    imds.script(SECONDARY_DEVICE, &[None, None]);
    let got = imds.client().fetch().unwrap();
    assert_eq!(got.nics, refresh_view(TWO_NICS));
    // Two re-reads of the propagating NIC's 6 leaves.
    assert_eq!(imds.seen().len(), 2 + 6 * 2 + 1 + 2 * 6);
}

#[test]
fn nic_still_propagating_is_left_out() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Token);
    imds.script(SECONDARY_DEVICE, &[None; 4]);
    let got = imds.client().fetch().unwrap();
    assert_eq!(got.nics.len(), 1);
    assert_eq!(got.nics[0].mac.to_string(), "06:17:04:d7:26:09");
}

#[test]
fn second_nic_claiming_device_zero_never_becomes_primary() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Token);
    let mut ec2 = imds.client();
    ec2.fetch().unwrap();
    imds.script(
        SECONDARY_DEVICE,
        &[Some("0"), Some("0"), Some("0"), Some("1")],
    );
    let got = ec2.fetch().unwrap();
    assert_eq!(got.nics, refresh_view(TWO_NICS));

    imds.script(SECONDARY_DEVICE, &[Some("0"); 4]);
    let got = ec2.fetch().unwrap();
    assert_eq!(got.nics.len(), 1);
    assert_eq!(got.nics[0].mac.to_string(), "06:17:04:d7:26:09");
    assert_eq!(got.nics[0].index, 0);
}

#[test]
fn two_device_zero_claims_without_history_are_both_held_back() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Token);
    imds.script(SECONDARY_DEVICE, &[Some("0"); 4]);
    let err = imds.client().fetch().unwrap_err();
    assert_eq!(
        err,
        FetchError::Parse {
            provider: ProviderKind::Aws,
            source: ParseError::NoInterfaces
        }
    );
}
