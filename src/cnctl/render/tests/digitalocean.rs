//! Renderer tests for DigitalOcean: the droplet document, with and without a reserved IP.

use super::*;
use std::sync::Arc;

fn digitalocean_document(name: &str) -> Value {
    let file = format!(
        "{}/tests/fixtures/digitalocean/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

#[test]
fn digitalocean_system_names_the_reserved_ip() {
    let doc = digitalocean_document("reference-two-nics-reserved-ip.json");
    assert_eq!(
        system(ProviderKind::DigitalOcean, &doc),
        expected!("digitalocean-reference-system.txt")
    );
}

#[test]
fn digitalocean_network_in_device_index_order_with_anchor() {
    let doc = digitalocean_document("reference-two-nics-reserved-ip.json");
    let view = network_view(ProviderKind::DigitalOcean, &Arc::new(doc));
    let links = [
        link("eth0", 2, "16:a4:3b:7e:20:01", 0),
        link("eth1", 3, "16:a4:3b:7e:20:02", 1),
    ];
    assert_eq!(
        network(ProviderKind::DigitalOcean, &view, &links),
        expected!("digitalocean-reference-network.txt")
    );
}

#[test]
fn digitalocean_network_of_a_capture_without_reserved_ip() {
    let doc = digitalocean_document("capture-string-id-gateway-off-subnet.json");
    assert_eq!(
        network(ProviderKind::DigitalOcean, &doc, &[]),
        concat!(
            "          Name: - \n",
            "   MAC Address: 04:01:57:d1:9e:01 \n",
            "          Type: public \n",
            "          IPv4: 192.0.0.20/24 \n",
            "  IPv4 Gateway: 104.236.0.1 \n",
            "          IPv6: 2604:A880:0800:0000:1000:0000:0000:0000/64 \n",
            "  IPv6 Gateway: 2604:A880:0800:0000:0000:0000:0000:0001 \n",
            "   Anchor IPv4: 10.0.0.5/16 \n",
            "Anchor Gateway: 10.0.0.1 \n",
            "\n",
            "        Name: - \n",
            " MAC Address: 04:01:57:d1:9e:02 \n",
            "        Type: private \n",
            "        IPv4: 10.132.6.205/16 \n",
            "IPv4 Gateway: 10.132.0.1 \n",
        )
    );
}

#[test]
fn digitalocean_ssh_keys_from_a_list_or_one_string() {
    let doc = digitalocean_document("reference-two-nics-reserved-ip.json");
    let keys = ssh_keys(ProviderKind::DigitalOcean, &doc);
    assert_eq!(keys.len(), 2);
    assert!(keys[0].starts_with("ssh-ed25519 AAAAC3"), "{}", keys[0]);
    assert_eq!(
        keys[1],
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDk3Lq7 deploy@example.com"
    );
    let doc = digitalocean_document("capture-string-id-gateway-off-subnet.json");
    assert_eq!(
        ssh_keys(ProviderKind::DigitalOcean, &doc),
        ["ssh-rsa AAAAB3NzaC1yc2EAAAA... test@do.co"]
    );
    for keys in [
        serde_json::json!(""),
        serde_json::json!(null),
        serde_json::json!(["", " "]),
        serde_json::json!({"a": 1}),
    ] {
        let doc = serde_json::json!({ "public_keys": keys });
        assert!(
            ssh_keys(ProviderKind::DigitalOcean, &doc).is_empty(),
            "{doc}"
        );
    }
    let doc = serde_json::json!({"public_keys": "ssh-ed25519 A a@x\nssh-ed25519 B b@x\n"});
    assert_eq!(
        ssh_keys(ProviderKind::DigitalOcean, &doc),
        ["ssh-ed25519 A a@x", "ssh-ed25519 B b@x"]
    );
}
