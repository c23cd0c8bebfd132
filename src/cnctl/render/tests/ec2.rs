//! Renderer tests for EC2: the meta-data tree and the per-MAC view as the API serves them.

use super::*;
use std::sync::Arc;

#[test]
fn ec2_system_from_the_meta_data_tree() {
    assert_eq!(
        system(ProviderKind::Aws, &ec2_system()),
        expected!("ec2-aemm-system.txt")
    );
}

#[test]
fn ec2_region_falls_back_to_the_identity_document() {
    let doc = serde_json::json!({
        "meta-data": {"instance-id": "i-1"},
        "dynamic": {"instance-identity": {"document": {"region": "eu-west-1"}}}});
    assert_eq!(
        system(ProviderKind::Aws, &doc),
        concat!(
            "Cloud provider: aws \n",
            "   Instance ID: i-1 \n",
            "        Region: eu-west-1 \n",
        )
    );
}

#[test]
fn ec2_network_from_the_per_mac_view() {
    let view = network_view(ProviderKind::Aws, &Arc::new(ec2_system()));
    let links = [link("ens5", 2, "0e:49:61:0f:c3:11", 0)];
    assert_eq!(
        network(ProviderKind::Aws, &view, &links),
        expected!("ec2-aemm-network.txt")
    );
}

#[test]
fn ec2_network_in_device_order_with_lists_on_one_line() {
    let view = serde_json::json!({
        "0a:00:00:00:00:01": {"device-number": "1", "local-ipv4s": "10.0.1.5\n10.0.1.6"},
        "0a:00:00:00:00:09": {"device-number": "0", "local-ipv4s": "10.0.0.5\n"}});
    assert_eq!(
        network(ProviderKind::Aws, &view, &[]),
        concat!(
            "         Name: - \n",
            "  MAC Address: 0a:00:00:00:00:09 \n",
            "Device Number: 0 \n",
            "  Local IPv4s: 10.0.0.5 \n",
            "\n",
            "         Name: - \n",
            "  MAC Address: 0a:00:00:00:00:01 \n",
            "Device Number: 1 \n",
            "  Local IPv4s: 10.0.1.5 10.0.1.6 \n",
        )
    );
}

#[test]
fn ec2_ssh_keys_from_public_keys() {
    let keys = ssh_keys(ProviderKind::Aws, &ec2_system());
    assert_eq!(keys.len(), 1);
    assert!(keys[0].starts_with("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC/JxGByvHDHgQ"));
    assert!(keys[0].ends_with("A3iia2UVtLO/xcTt test"), "{}", keys[0]);
    let doc = serde_json::json!({"meta-data": {"public-keys": {
        "10": {"openssh-key": "ssh-ed25519 B ten"},
        "2": {"openssh-key": "ssh-ed25519 A two\n"}},
        "public-keys/": "2=two\n10=ten"}});
    assert_eq!(
        ssh_keys(ProviderKind::Aws, &doc),
        ["ssh-ed25519 A two", "ssh-ed25519 B ten"]
    );
}
