//! The original project's own clients against our API: for every path its `cnctl` reads
//! (`/api/cloud/{system,network,credentials}`, `/api/cloud/dynamicinstanceidentity/*`) on every
//! cloud it knew (Azure, EC2, GCP), the exact body we serve for a fixture, and a check that each
//! field of the Go struct it decodes into (`provider/*.go` of vmware/cloud-network-setup) sits
//! at the place and with the JSON type Go's decoder needs. A field of the wrong type is left
//! empty by Go (that is how EC2's `status system` came out blank), so a type mismatch fails here.
//! `/api/v1/system` keeps the whole document.

use cloud_network::api::{respond, ApiOptions, Limits, Reply, RequestHead};
use cloud_network::metadata::imds::tree::tree_to_json;
use cloud_network::metadata::views;
use cloud_network::net::ProviderKind;
use cloud_network::snapshot::{Ec2Documents, Snapshot};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

fn fixture_text(path: &str) -> String {
    let file = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn fixture(path: &str) -> Value {
    serde_json::from_str(&fixture_text(path)).unwrap()
}

fn snapshot(kind: ProviderKind, system: Value) -> Snapshot {
    let mut snap = Snapshot::starting(Some(kind), "2024-02-29T00:00:00Z".into());
    let system = Arc::new(system);
    snap.network = Some(views::network_view(kind, &system));
    snap.system = Some(system);
    snap
}

/// The directories the daemon's walk of the tree never enters (credentials are read apart).
const SECRET_DIRS: [&str; 2] = [
    "meta-data/iam/security-credentials/",
    "meta-data/identity-credentials/ec2/security-credentials/",
];

/// AEMM's tree as the daemon holds it (walked without the credentials), with the EC2 documents the fetcher reads beside it.
fn ec2_snapshot() -> Snapshot {
    let tree: BTreeMap<String, String> =
        serde_json::from_str(&fixture_text("ec2/aemm-default/metadata.json")).unwrap();
    let leaf = |key: &str| tree.get(key).cloned();
    let credentials = leaf("meta-data/iam/security-credentials/baskinc-role")
        .map(|text| serde_json::from_str(&text).unwrap());
    let walked: BTreeMap<String, String> = tree
        .iter()
        .filter(|(key, _)| !SECRET_DIRS.iter().any(|dir| key.starts_with(dir)))
        .map(|(key, body)| (key.clone(), body.clone()))
        .collect();
    let mut snap = snapshot(ProviderKind::Aws, tree_to_json(&walked));
    snap.ec2 = Some(Ec2Documents {
        document: leaf("dynamic/instance-identity/document")
            .map(|text| serde_json::from_str(&text).unwrap()),
        pkcs7: leaf("dynamic/instance-identity/pkcs7"),
        signature: leaf("dynamic/instance-identity/signature"),
        rsa2048: Some("MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkqhkiG9w0B".into()),
        credentials,
    });
    snap
}

fn get(path: &str, snap: &Snapshot) -> (u16, String) {
    let opts = ApiOptions {
        serve_credentials: true,
        listen: "127.0.0.1:5209".parse().unwrap(),
        limits: Limits::default(),
    };
    let req = RequestHead::get(path, "127.0.0.1:5209");
    match respond(&req, snap, &opts, &|| false) {
        Reply::Now(resp) => (resp.status, resp.body_text().to_string()),
        Reply::Check => panic!("{path}: the check is answered by its own thread"),
    }
}

/// The body of a 200 answer, parsed.
fn body(path: &str, snap: &Snapshot) -> Value {
    let (status, text) = get(path, snap);
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
}

/// Where Go's `json.Unmarshal` into the original's struct would leave a field empty for a type
/// it cannot take. Schema leaves: `"string"`, `"int"`, `"[string]"`, `"any"`; an object is a
/// nested struct (or `map`, for `{}`), a one-element array a slice of it. `null` decodes into
/// anything (as the zero value).
fn go_mismatches(schema: &Value, value: &Value, at: &str, out: &mut Vec<String>) {
    let fits = match (schema, value) {
        (_, Value::Null) => true,
        (Value::String(kind), value) => match kind.as_str() {
            "string" => value.is_string(),
            "int" => value.is_i64(),
            "[string]" => value
                .as_array()
                .is_some_and(|items| items.iter().all(|i| i.is_string() || i.is_null())),
            "any" => true,
            other => panic!("unknown schema type {other}"),
        },
        (Value::Object(fields), Value::Object(map)) => {
            for (name, field) in fields {
                if let Some(child) = map.get(name) {
                    go_mismatches(field, child, &format!("{at}/{name}"), out);
                }
            }
            true
        }
        (Value::Array(element), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                go_mismatches(&element[0], item, &format!("{at}/{i}"), out);
            }
            true
        }
        _ => false,
    };
    if !fits {
        out.push(format!("{at}: expected {schema}, got {value}"));
    }
}

/// Asserts the body decodes into the struct whole and that every pointer in `present` holds
/// the given value.
fn assert_decodes(what: &str, schema: &Value, body: &Value, present: &[(&str, Value)]) {
    let mut mismatches = Vec::new();
    go_mismatches(schema, body, "", &mut mismatches);
    assert!(mismatches.is_empty(), "{what}: {mismatches:#?}");
    for (pointer, expected) in present {
        assert_eq!(body.pointer(pointer), Some(expected), "{what}: {pointer}");
    }
}

/// `EC2System` of provider/ec2.go.
fn ec2_system_struct() -> Value {
    json!({
        "ami-id": "string", "ami-launch-index": "string", "ami-manifest-path": "string",
        "block-device-mapping": {"ami": "string", "root": "string"},
        "events": {"maintenance": {"history": "string", "scheduled": "string"}},
        "hostname": "string", "instance-action": "string", "instance-id": "string",
        "instance-life-cycle": "string", "instance-type": "string", "local-hostname": "string",
        "local-ipv4": "string", "mac": "string",
        "network": {"interfaces": {"macs": {}}},
        "placement": {"availability-zone": "string", "availability-zone-id": "string",
            "region": "string"},
        "profile": "string", "public-hostname": "string", "public-ipv4": "string",
        "public-keys": {}, "reservation-id": "string", "security-groups": "string",
        "services": {"domain": "string", "partition": "string"}
    })
}

/// `EC2MAC` of provider/ec2.go (one value of the `/api/cloud/network` map).
fn ec2_mac_struct() -> Value {
    json!({
        "device-number": "string", "interface-id": "string",
        "ipv4-associations": {"Ipv4Association": "[string]"},
        "local-hostname": "string", "local-ipv4s": "string", "mac": "string",
        "owner-id": "string", "public-hostname": "string", "public-ipv4s": "string",
        "security-group-ids": "string", "security-groups": "string", "subnet-id": "string",
        "subnet-ipv4-cidr-block": "string", "vpc-id": "string", "vpc-ipv4-cidr-block": "string",
        "vpc-ipv4-cidr-blocks": "string"
    })
}

/// `EC2Document` of provider/ec2.go.
fn ec2_document_struct() -> Value {
    json!({
        "accountId": "string", "architecture": "string", "availabilityZone": "string",
        "billingProducts": "[string]", "devpayProductCodes": "[string]",
        "marketplaceProductCodes": "[string]", "imageId": "string", "instanceId": "string",
        "instanceType": "string", "kernelId": "string", "pendingTime": "string",
        "privateIp": "string", "ramdiskId": "string", "region": "string", "version": "string"
    })
}

/// `EC2Credentials` of provider/ec2.go.
fn ec2_credentials_struct() -> Value {
    json!({
        "Code": "string", "LastUpdated": "string", "Type": "string", "AccessKeyId": "string",
        "SecretAccessKey": "string", "Token": "string", "Expiration": "string"
    })
}

/// `AzureMetaData` of provider/azure.go.
fn azure_struct() -> Value {
    let address = json!([{"privateIpAddress": "string", "publicIpAddress": "string"}]);
    json!({
        "compute": {
            "azEnvironment": "string", "customData": "string",
            "isHostCompatibilityLayerVm": "string", "licenseType": "string",
            "location": "string", "name": "string", "offer": "string",
            "osProfile": {"adminUsername": "string", "computerName": "string"},
            "osType": "string", "placementGroupId": "string",
            "plan": {"name": "string", "product": "string", "publisher": "string"},
            "platformFaultDomain": "string", "platformUpdateDomain": "string",
            "provider": "string", "publicKeys": [{"keyData": "string", "path": "string"}],
            "publisher": "string", "resourceGroupName": "string", "resourceId": "string",
            "securityProfile": {"secureBootEnabled": "string", "virtualTpmEnabled": "string"},
            "storageProfile": {
                "dataDisks": ["any"],
                "imageReference": {"id": "string", "offer": "string", "publisher": "string",
                    "sku": "string", "version": "string"},
                "osDisk": {
                    "caching": "string", "createOption": "string",
                    "diffDiskSettings": {"option": "string"}, "diskSizeGB": "string",
                    "encryptionSettings": {"enabled": "string"}, "image": {"uri": "string"},
                    "managedDisk": {"id": "string", "storageAccountType": "string"},
                    "name": "string", "osType": "string", "vhd": {"uri": "string"},
                    "writeAcceleratorEnabled": "string"
                }
            },
            "subscriptionId": "string", "tags": "string", "tagsList": ["any"],
            "version": "string", "vmId": "string", "vmScaleSetName": "string",
            "vmSize": "string", "zone": "string"
        },
        "network": {"interface": [{
            "ipv4": {"ipAddress": address, "subnet": [{"address": "string", "prefix": "string"}]},
            "ipv6": {"ipAddress": address},
            "macAddress": "string"
        }]}
    })
}

/// `GCPMetaData` of provider/gcp.go.
fn gcp_struct() -> Value {
    let account = json!({"aliases": "[string]", "email": "string", "scopes": "[string]"});
    json!({
        "instance": {
            "attributes": {}, "cpuPlatform": "string", "description": "string",
            "disks": [{"deviceName": "string", "index": "int", "interface": "string",
                "mode": "string", "type": "string"}],
            "guestAttributes": {}, "hostname": "string", "id": "int", "image": "string",
            "legacyEndpointAccess": {"0.1": "int", "v1beta1": "int"},
            "machineType": "string", "maintenanceEvent": "string", "name": "string",
            "networkInterfaces": [{
                "accessConfigs": [{"externalIp": "string", "type": "string"}],
                "dnsServers": "[string]", "forwardedIps": "[string]", "gateway": "string",
                "ip": "string", "ipAliases": "[string]", "mac": "string", "mtu": "int",
                "network": "string", "subnetmask": "string", "targetInstanceIps": "[string]"
            }],
            "preempted": "string", "remainingCpuTime": "int",
            "scheduling": {"automaticRestart": "string", "onHostMaintenance": "string",
                "preemptible": "string"},
            "serviceAccounts": {"default": account.clone(),
                "38191186391-compute@developer.gserviceaccount.com": account},
            "tags": ["any"], "virtualClock": {"driftToken": "string"}, "zone": "string"
        },
        "oslogin": {"authenticate": {"sessions": {}}},
        "project": {
            "attributes": {"ssh-keys": "string", "sshKeys": "string"},
            "numericProjectId": "int", "projectId": "string"
        }
    })
}

#[test]
fn azure_serves_its_document_on_both_paths_as_the_original_did() {
    let doc = fixture("azure/docs-imds-full-instance-linux.json");
    let snap = snapshot(ProviderKind::Azure, doc.clone());
    for path in ["/api/cloud/system", "/api/cloud/network", "/api/v1/system"] {
        assert_eq!(get(path, &snap), (200, doc.to_string()), "{path}");
    }
    let present = [
        ("/compute/azEnvironment", json!("AZUREPUBLICCLOUD")),
        (
            "/compute/vmId",
            json!("02aab8a4-74ef-476e-8182-f6d2ba4166a6"),
        ),
        ("/compute/osProfile/computerName", json!("examplevmname")),
        ("/compute/securityProfile/secureBootEnabled", json!("true")),
        ("/compute/publicKeys/1/keyData", json!("ssh-rsa 1")),
        ("/network/interface/0/macAddress", json!("0011AAFFBB22")),
        ("/network/interface/0/ipv4/subnet/0/prefix", json!("26")),
        (
            "/network/interface/0/ipv4/ipAddress/0/privateIpAddress",
            json!("10.144.133.132"),
        ),
    ];
    assert_decodes("AzureMetaData", &azure_struct(), &doc, &present);
    for path in [
        "/api/cloud/credentials",
        "/api/cloud/dynamicinstanceidentity/document",
    ] {
        assert_eq!(get(path, &snap).0, 404, "{path}");
    }
}

#[test]
fn gcp_serves_its_root_document_on_both_paths_as_the_original_did() {
    let doc = fixture("gcp/gce-metadata-server-emulator-recursive.json");
    let snap = snapshot(ProviderKind::Gcp, doc.clone());
    for path in ["/api/cloud/system", "/api/cloud/network", "/api/v1/system"] {
        assert_eq!(get(path, &snap), (200, doc.to_string()), "{path}");
    }
    let nic = &doc["instance"]["networkInterfaces"][0];
    let present = [
        ("/instance/id", doc["instance"]["id"].clone()),
        ("/instance/networkInterfaces/0/mac", nic["mac"].clone()),
        ("/instance/networkInterfaces/0/mtu", json!(1460)),
        ("/instance/networkInterfaces/0/ip", nic["ip"].clone()),
        ("/instance/remainingCpuTime", json!(-1)),
        ("/project/numericProjectId", json!(708288290784_u64)),
    ];
    assert!(nic["mac"].is_string() && nic["ip"].is_string(), "{nic}");
    assert_decodes("GCPMetaData", &gcp_struct(), &doc, &present);
}

#[test]
fn ec2_system_is_the_meta_data_tree_with_text_leaves() {
    let snap = ec2_snapshot();
    let (status, text) = get("/api/cloud/system", &snap);
    let expected = format!(
        "{}/tests/original_clients/ec2-aemm-cloud-system.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(expected).unwrap()).unwrap();
    assert_eq!((status, text), (200, expected.to_string()));
    let present = [
        ("/ami-id", json!("ami-0a887e401f7654935")),
        ("/ami-launch-index", json!("0")),
        ("/ami-manifest-path", json!("(unknown)")),
        ("/block-device-mapping/ami", json!("/dev/xvda")),
        ("/block-device-mapping/root", json!("/dev/xvda")),
        ("/hostname", json!("ip-172-16-34-43.ec2.internal")),
        ("/instance-action", json!("none")),
        ("/instance-id", json!("i-1234567890abcdef0")),
        ("/instance-life-cycle", json!("on-demand")),
        ("/instance-type", json!("m4.xlarge")),
        ("/local-hostname", json!("ip-172-16-34-43.ec2.internal")),
        ("/local-ipv4", json!("172.16.34.43")),
        ("/mac", json!("0e:49:61:0f:c3:11")),
        ("/placement/availability-zone", json!("us-east-1a")),
        ("/placement/availability-zone-id", json!("use1-az4")),
        ("/placement/region", json!("us-east-1")),
        (
            "/public-hostname",
            json!("ec2-192-0-2-54.compute-1.amazonaws.com"),
        ),
        ("/public-ipv4", json!("192.0.2.54")),
        ("/reservation-id", json!("r-046cb3eca3e201d2f")),
        ("/security-groups", json!("ura-launch-wizard-harry-1")),
        ("/services/domain", json!("amazonaws.com")),
        ("/services/partition", json!("aws")),
    ];
    assert_decodes("EC2System", &ec2_system_struct(), &expected, &present);
    let keys = expected["public-keys"].as_object().unwrap();
    assert_eq!(keys.keys().collect::<Vec<_>>(), ["0"]);
    assert!(keys["0"].as_str().unwrap().starts_with("ssh-rsa AAAAB3"));
    let whole = body("/api/v1/system", &snap);
    assert_eq!(whole, **snap.system.as_ref().unwrap());
    assert_eq!(whole["meta-data"]["instance-id"], "i-1234567890abcdef0");
    assert!(whole["dynamic"]["instance-identity"]["document"].is_object());
}

#[test]
fn ec2_json_bodies_and_public_keys_come_back_in_the_original_s_text_form() {
    let tree: BTreeMap<String, String> = [
        ("meta-data/instance-id", "i-1"),
        ("meta-data/events/maintenance/history", "[]"),
        (
            "meta-data/events/maintenance/scheduled",
            "[{\"Code\": \"system-reboot\"}]",
        ),
        ("meta-data/public-keys/", "0=my-key\n1=other"),
        (
            "meta-data/public-keys/0/openssh-key",
            "ssh-ed25519 AAA my-key",
        ),
        ("meta-data/public-keys/1/openssh-key", "ssh-rsa BBB other"),
        ("dynamic/instance-identity/document", "{\"region\": \"r\"}"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let snap = snapshot(ProviderKind::Aws, tree_to_json(&tree));
    let expected = json!({
        "instance-id": "i-1",
        "events": {"maintenance": {
            "history": "[]", "scheduled": "[{\"Code\":\"system-reboot\"}]"}},
        "public-keys": {"0=my-key": "ssh-ed25519 AAA my-key", "1=other": "ssh-rsa BBB other"}
    });
    assert_eq!(get("/api/cloud/system", &snap), (200, expected.to_string()));
    assert_decodes("EC2System", &ec2_system_struct(), &expected, &[]);
    assert_eq!(
        body("/api/v1/system", &snap)["meta-data"]["events"]["maintenance"]["history"],
        json!([])
    );
}

#[test]
fn ec2_network_is_the_map_of_mac_directories() {
    let snap = ec2_snapshot();
    let network = body("/api/cloud/network", &snap);
    let whole = snap.system.as_ref().unwrap();
    assert_eq!(network, whole["meta-data"]["network"]["interfaces"]["macs"]);
    let mac = "0e:49:61:0f:c3:11";
    assert_eq!(
        network.as_object().unwrap().keys().collect::<Vec<_>>(),
        [mac]
    );
    let present = [
        ("/device-number", json!("0")),
        ("/interface-id", json!("eni-0f95d3625f5c521cc")),
        ("/local-hostname", json!("ip-172-16-34-43.ec2.internal")),
        ("/local-ipv4s", json!("172.16.34.43")),
        ("/mac", json!(mac)),
        ("/owner-id", json!("515336597381")),
        (
            "/public-hostname",
            json!("ec2-192-0-2-54.compute-1.amazonaws.com"),
        ),
        ("/public-ipv4s", json!("192.0.2.54")),
        ("/security-group-ids", json!("sg-0b07f8f6cb485d4df")),
        ("/security-groups", json!("ura-launch-wizard-harry-1")),
        ("/subnet-id", json!("subnet-0ac62554")),
        ("/subnet-ipv4-cidr-block", json!("192.0.2.0/24")),
        ("/vpc-id", json!("vpc-d295a6a7")),
        ("/vpc-ipv4-cidr-block", json!("192.0.2.0/24")),
        ("/vpc-ipv4-cidr-blocks", json!("192.0.2.0/24")),
    ];
    assert_decodes("EC2MAC", &ec2_mac_struct(), &network[mac], &present);
}

#[test]
fn ec2_credentials_and_identity_documents_decode_into_the_original_s_structs() {
    let snap = ec2_snapshot();
    let credentials = body("/api/cloud/credentials", &snap);
    let present = [
        ("/Code", json!("Success")),
        ("/LastUpdated", json!("2020-04-02T18:50:40Z")),
        ("/Type", json!("AWS-HMAC")),
        ("/AccessKeyId", json!("12345678901")),
        ("/SecretAccessKey", json!("v/12345678901")),
        ("/Expiration", json!("2020-04-02T00:49:51Z")),
    ];
    assert_decodes(
        "EC2Credentials",
        &ec2_credentials_struct(),
        &credentials,
        &present,
    );
    assert!(credentials["Token"].as_str().unwrap().starts_with("TEST92"));

    let document = body("/api/cloud/dynamicinstanceidentity/document", &snap);
    let present = [
        ("/accountId", json!("0123456789")),
        ("/architecture", json!("x86_64")),
        ("/availabilityZone", json!("us-east-1f")),
        ("/imageId", json!("ami-0b69ea66ff7391e80")),
        ("/instanceId", json!("i-1234567890abcdef0")),
        ("/instanceType", json!("m4.xlarge")),
        ("/pendingTime", json!("2019-10-31T07:02:24Z")),
        ("/privateIp", json!("10.0.7.10")),
        ("/region", json!("us-east-1")),
        ("/version", json!("2017-09-30")),
    ];
    assert_decodes("EC2Document", &ec2_document_struct(), &document, &present);

    let docs = snap.ec2.as_ref().unwrap();
    for (name, text) in [
        ("pkcs7", &docs.pkcs7),
        ("signature", &docs.signature),
        ("rsa2048", &docs.rsa2048),
    ] {
        let path = format!("/api/cloud/dynamicinstanceidentity/{name}");
        let text = text.as_deref().unwrap();
        assert_eq!(get(&path, &snap), (200, json!(text).to_string()), "{name}");
    }
}
