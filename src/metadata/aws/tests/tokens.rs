//! The IMDSv2 session token: cached across refreshes, renewed once when revoked, IMDSv1 only after a refused PUT, never after a hanging or failing one.

use super::*;

#[test]
fn token_is_cached_across_refreshes() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Token);
    let mut ec2 = imds.client();
    ec2.fetch().unwrap();
    let first = imds.seen().len();
    ec2.fetch().unwrap();
    let seen = imds.seen();
    assert_eq!(puts(&seen), 1);
    assert_eq!(first, 2 + 6 * 2 + 1);
    assert_eq!(
        seen.len() - first,
        1 + 6 * 2,
        "no PUT, no identity document"
    );
}

#[test]
fn revoked_token_is_renewed_once() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Token);
    let mut ec2 = imds.client();
    ec2.fetch().unwrap();
    let first = imds.seen().len();
    imds.revoke_tokens();
    let got = ec2.fetch().unwrap();
    assert_eq!(got.nics.len(), 2);
    let second = &imds.seen()[first..];
    assert_eq!(second[0].token.as_deref(), Some("token-1"));
    assert_eq!(second[1].method, "PUT");
    assert!(second[2..]
        .iter()
        .all(|s| s.token.as_deref() == Some("token-2")));
    assert_eq!(
        second.len(),
        1 + 1 + 1 + 6 * 2,
        "401, PUT, then the refresh"
    );
}

#[test]
fn refused_put_falls_back_to_v1_and_remembers_it() {
    for status in [403, 404, 405] {
        let imds = Imds::start(fixture(TWO_NICS), PutMode::Refuse(status));
        let mut ec2 = imds.client();
        assert_eq!(ec2.fetch().unwrap().nics.len(), 2);
        ec2.fetch().unwrap();
        let seen = imds.seen();
        assert_eq!(puts(&seen), 1, "{status}");
        assert!(seen.iter().all(|s| s.token.is_none()), "{status}");
        assert_eq!(seen.len(), 1 + (1 + 1 + 6 * 2) + (1 + 6 * 2));
    }
}

#[test]
fn hanging_put_is_an_error_not_a_fallback() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Hang);
    let err = imds.client().fetch().unwrap_err();
    assert!(
        matches!(&err, FetchError::Http(HttpError::Timeout { url, .. }) if url.ends_with("/latest/api/token")),
        "{err:?}"
    );
    let seen = imds.seen();
    assert_eq!(seen.len(), 1, "no GET after the failed PUT: {seen:?}");
}

#[test]
fn server_error_on_put_is_not_a_fallback() {
    let imds = Imds::start(fixture(TWO_NICS), PutMode::Refuse(500));
    let err = imds.client().fetch().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}/latest/api/token answered HTTP 500: \"\"", imds.base)
    );
    assert_eq!(imds.seen().len(), 1);
}
