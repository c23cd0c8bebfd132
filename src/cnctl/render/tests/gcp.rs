//! Renderer tests for GCP: instance and project documents, interfaces, aliases and ssh keys.

use super::*;

#[test]
fn gcp_system_from_instance_and_project() {
    let doc = fixture("gcp/gce-metadata-server-emulator-recursive.json");
    assert_eq!(
        system(ProviderKind::Gcp, &doc),
        expected!("gcp-emulator-system.txt")
    );
}

#[test]
fn gcp_network_per_interface() {
    let doc = fixture("gcp/gce-metadata-server-emulator-recursive.json");
    let links = [link("ens4", 2, "42:01:0a:80:00:13", 0)];
    assert_eq!(
        network(ProviderKind::Gcp, &doc, &links),
        expected!("gcp-emulator-network.txt")
    );
}

#[test]
fn gcp_network_shows_aliases_and_forwarded_ips() {
    let doc = serde_json::json!({"instance": {"networkInterfaces": [{
        "mac": "42:01:0a:80:00:14", "ip": "10.128.0.20",
        "accessConfigs": [{"externalIp": "", "type": "ONE_TO_ONE_NAT"}],
        "ipAliases": ["10.8.1.0/24", "10.8.2.0/24"], "forwardedIps": ["35.1.2.3"],
        "mtu": 8244}]}});
    assert_eq!(
        network(ProviderKind::Gcp, &doc, &[]),
        concat!(
            "         Name: - \n",
            "  MAC Address: 42:01:0a:80:00:14 \n",
            "           IP: 10.128.0.20 \n",
            "          MTU: 8244 \n",
            "   IP Aliases: 10.8.1.0/24 10.8.2.0/24 \n",
            "Forwarded IPs: 35.1.2.3 \n",
        )
    );
}

#[test]
fn gcp_ssh_keys_from_instance_and_project_attributes() {
    let doc = fixture("gcp/gce-metadata-server-emulator-recursive.json");
    let keys = ssh_keys(ProviderKind::Gcp, &doc);
    assert_eq!(keys.len(), 1);
    assert!(
        keys[0].starts_with("srashid:ssh-rsa AAAAB3NzaC1yc2E"),
        "{}",
        keys[0]
    );
    assert!(keys[0].ends_with("= srashid@srashid12"), "{}", keys[0]);
    let doc = serde_json::json!({
        "instance": {"attributes": {"ssh-keys": "a:ssh-ed25519 A\n\nb:ssh-ed25519 B\n",
                                    "sshKeys": "c:ssh-rsa C"}},
        "project": {"attributes": {"ssh-keys": "p:ssh-rsa P"}}});
    assert_eq!(
        ssh_keys(ProviderKind::Gcp, &doc),
        [
            "a:ssh-ed25519 A",
            "b:ssh-ed25519 B",
            "c:ssh-rsa C",
            "p:ssh-rsa P"
        ]
    );
}

#[test]
fn gcp_block_project_ssh_keys_hides_the_project_keys() {
    let doc = serde_json::json!({
        "instance": {"attributes": {"ssh-keys": "a:ssh-ed25519 A",
                                    "block-project-ssh-keys": "TRUE"}},
        "project": {"attributes": {"ssh-keys": "p:ssh-rsa P"}}});
    assert_eq!(ssh_keys(ProviderKind::Gcp, &doc), ["a:ssh-ed25519 A"]);
}

#[test]
fn gcp_project() {
    let doc = fixture("gcp/gce-metadata-server-emulator-recursive.json");
    assert_eq!(
        project_text(project(&doc).unwrap()),
        expected!("gcp-emulator-project.txt")
    );
    assert_eq!(project(&serde_json::json!({"instance": {}})), None);
}

#[test]
fn gcp_system_shows_the_wsfc_attributes_as_changing_nothing() {
    let doc = serde_json::json!({
        "instance": {"id": 7, "attributes": {"wsfc-addrs": "192.168.0"}},
        "project": {"projectId": "p", "attributes": {"enable-wsfc": "true"}},
    });
    assert_eq!(
        system(ProviderKind::Gcp, &doc),
        concat!(
            "Cloud provider: gcp \n",
            "            ID: 7 \n",
            "    Project ID: p \n",
            "          WSFC: enable-wsfc=true (project attributes): Windows only, no effect on Linux \n",
            "                wsfc-addrs=192.168.0 (instance attributes, '192.168.0' is not an IP address): Windows only, no effect on Linux \n",
        )
    );
}
