//! The system walk: the tree without secrets, the identity documents and credentials, and its bounds in requests and depth.

use super::*;

/// What the walk must return: the fixture minus what it never reads (user-data, secrets) and
/// minus listings that the leaves already imply.
fn walkable(tree: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    tree.iter()
        .filter(|(key, body)| !key.ends_with('/') || body.contains('='))
        .filter(|(key, _)| {
            key.starts_with("meta-data/") || key.starts_with("dynamic/instance-identity/")
        })
        .filter(|(key, _)| !SECRET_DIRS.iter().any(|dir| key.starts_with(dir)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn system_walk_returns_the_tree_without_secrets() {
    for name in ["aemm-default", "cloudinit-secondary-ips-ipv6-2018-09-24"] {
        let tree = fixture(name);
        let imds = Imds::start(tree.clone(), PutMode::Token);
        let got = imds.client().fetch_system().unwrap();
        assert_eq!(*got, tree_to_json(&walkable(&tree)), "{name}");
        assert!(!got.to_string().contains("SecretAccessKey"), "{name}");
    }
}

#[test]
fn identity_documents_and_credentials() {
    let tree = fixture("aemm-default");
    let imds = Imds::start(tree.clone(), PutMode::Token);
    let mut ec2 = imds.client();
    let docs = ec2.fetch_identity_documents().unwrap();
    assert_eq!(
        docs,
        IdentityDocs {
            document: tree.get(IDENTITY_DOCUMENT).cloned(),
            pkcs7: tree.get("dynamic/instance-identity/pkcs7").cloned(),
            signature: tree.get("dynamic/instance-identity/signature").cloned(),
            rsa2048: None,
        }
    );
    let credentials = ec2.fetch_credentials().unwrap().unwrap();
    let want: serde_json::Value =
        serde_json::from_str(&tree["meta-data/iam/security-credentials/baskinc-role"]).unwrap();
    assert_eq!(credentials, want);

    let imds = Imds::start(fixture(TWO_NICS), PutMode::Token);
    assert_eq!(imds.client().fetch_credentials().unwrap(), None);
}

#[test]
fn system_walk_is_bounded_in_requests_and_depth() {
    let wide: BTreeMap<String, String> = (0..1200)
        .map(|i| (format!("meta-data/many/leaf{i:04}"), "x".to_string()))
        .collect();
    let imds = Imds::start(wide, PutMode::Token);
    let got = imds.client().fetch_system().unwrap();
    let gets = imds.seen().iter().filter(|s| s.method == "GET").count();
    assert_eq!(
        gets,
        WALK_MAX_REQUESTS + 4,
        "the walk's cap, then the identity documents"
    );
    assert_eq!(got["meta-data"]["many"].as_object().unwrap().len(), 998);

    let deep_key = format!("meta-data/{}leaf", "d/".repeat(20));
    let imds = Imds::start([(deep_key, "x".to_string())].into(), PutMode::Token);
    let got = imds.client().fetch_system().unwrap();
    let gets = imds.seen().iter().filter(|s| s.method == "GET").count();
    assert_eq!(
        gets,
        WALK_MAX_DEPTH + 4,
        "16 levels, then the four identity documents"
    );
    assert_eq!(*got, serde_json::json!({}));
}

#[test]
fn each_identity_document_is_read_once_per_process() {
    let tree = fixture("aemm-default");
    let imds = Imds::start(tree.clone(), PutMode::Token);
    let mut ec2 = imds.client();
    for _ in 0..3 {
        ec2.fetch().unwrap();
        let system = ec2.fetch_system().unwrap();
        assert_eq!(*system, tree_to_json(&walkable(&tree)));
        let docs = ec2.identity_documents().unwrap().unwrap();
        assert_eq!(docs.document.as_ref(), tree.get(IDENTITY_DOCUMENT));
    }
    for leaf in ["document", "pkcs7", "signature", "rsa2048"] {
        let path = format!("dynamic/instance-identity/{leaf}");
        let reads = imds
            .seen()
            .iter()
            .filter(|s| s.path.ends_with(&path))
            .count();
        assert_eq!(reads, 1, "{path}");
    }
}
