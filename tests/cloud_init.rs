//! cloud-init's own datasource code (Debian's cloud-init 22.4.2, with its Python dependencies
//! from Debian's archive, extracted by `.ci/run`, never installed) crawls the metadata service
//! of a lab VM for each of the six clouds, run inside the VM's namespace, where the only
//! metadata service is our emulator: every crawl succeeds with no warning or error logged, and
//! every address cloud-init would configure beyond DHCP's is one our daemon configured on the
//! link with that MAC. What 22.4 does not do is said, not hidden: it reads no NIC address on
//! GCP nor on Alibaba (where it also sends no session token, so the emulator runs in normal
//! mode there), and writes the GCP host key to guest attributes, which the scenario leaves
//! disabled (403, logged at debug level only).

mod support;

use cloud_network::metadata::ProviderKind;
use serde_json::Value;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::process::Stdio;
use std::time::Duration;
use support::binary;
use support::guest_agent::NEIGHBOURS_ENV;
use support::lab::{imds_address, in_netns, unique_name, Lab};
use support::netns::require_root;
use support::running::wait_for;
use support::scene::{ChildGuard, TempDir};

const CRAWLER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cloud_init/crawl.py");
/// Debian's interpreter, whose version the extracted packages are built for.
const PYTHON: &str = "/usr/bin/python3";

/// The extracted cloud-init and Python libraries (`<dir>/cloud-init`, `<dir>/python3-libs`).
fn site_dirs() -> Vec<PathBuf> {
    let dir = std::env::var_os(NEIGHBOURS_ENV).unwrap_or_else(|| {
        panic!("{NEIGHBOURS_ENV} is not set: .ci/run extracts cloud-init and sets it")
    });
    let dirs: Vec<PathBuf> = ["cloud-init", "python3-libs"]
        .iter()
        .map(|p| {
            Path::new(&dir)
                .join(p)
                .join("usr/lib/python3/dist-packages")
        })
        .collect();
    for d in &dirs {
        assert!(d.is_dir(), "{} is missing: run .ci/run", d.display());
    }
    dirs
}

fn scenario(provider: ProviderKind) -> &'static str {
    match provider {
        ProviderKind::Azure => include_str!("../src/emulator/scenarios/azure.json"),
        ProviderKind::Aws => include_str!("../src/emulator/scenarios/aws.json"),
        ProviderKind::Gcp => include_str!("../src/emulator/scenarios/gcp.json"),
        ProviderKind::Oracle => include_str!("../src/emulator/scenarios/oracle.json"),
        ProviderKind::Alibaba => include_str!("../src/emulator/scenarios/alibaba.json"),
        ProviderKind::DigitalOcean => include_str!("../src/emulator/scenarios/digitalocean.json"),
    }
}

/// The built-in scenario; GCP's with guest attributes enabled, where cloud-init writes its
/// host keys.
fn scenario_text(provider: ProviderKind) -> String {
    let text = scenario(provider);
    if provider != ProviderKind::Gcp {
        return text.to_string();
    }
    let mut doc: Value = serde_json::from_str(text).expect("GCP scenario");
    doc["instance"]["attributes"]["enable-guest-attributes"] = Value::from("TRUE");
    doc.to_string()
}

/// The lab VM configured by `daemon --oneshot`, then crawled by cloud-init.
fn crawl(provider: ProviderKind) -> (Lab, Value, TempDir) {
    let sites = site_dirs();
    let dir = TempDir::new("cloudinit");
    let file = dir.path().join("scenario.json");
    std::fs::write(&file, scenario_text(provider)).expect("write scenario");
    let tag = format!("i{}", &provider.to_string()[..1]);
    let mut lab = Lab::up(&unique_name(&tag), provider, &file, &binary());
    let normal_mode = (provider == ProviderKind::Alibaba).then(|| normal_mode_emulator(&mut lab));
    let config = dir.path().join("cloud-network.toml");
    let text = format!(
        "[System]\nProvider=\"{provider}\"\nStateDir=\"{}\"\n",
        dir.path().join("state").display()
    );
    std::fs::write(&config, text).expect("write config");
    // A second round when the first leaves a change to retry (OCI's IPv6 routes wait for their
    // source address), as the daemon does on its own.
    let configured = (0..2).any(|_| {
        Command::new("ip")
            .args(["netns", "exec", lab.vm.name()])
            .arg(binary())
            .args(["daemon", "--oneshot", "--config"])
            .arg(&config)
            .output()
            .expect("run the daemon")
            .status
            .success()
    });
    assert!(
        configured,
        "{provider}: the daemon did not configure the VM in two rounds"
    );
    let out = Command::new("ip")
        .args(["netns", "exec", lab.vm.name(), PYTHON, "-I", CRAWLER])
        .arg(provider.to_string())
        .args(&sites)
        .output()
        .expect("run cloud-init's crawler");
    let text = String::from_utf8_lossy(&out.stdout);
    let result: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "crawler output: {e}: {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    drop(normal_mode);
    (lab, result, dir)
}

/// Alibaba's metadata service in normal mode (no session token required), in place of the
/// lab's, which requires one: cloud-init 22.4 sends none.
fn normal_mode_emulator(lab: &mut Lab) -> ChildGuard {
    lab.stop_emulator();
    let imds = SocketAddr::from((imds_address(ProviderKind::Alibaba), 80));
    let child = Command::new("ip")
        .args(["netns", "exec", lab.cloud.name()])
        .arg(binary())
        .args([
            "emulate",
            "--provider",
            "alibaba",
            "--listen",
            &imds.to_string(),
        ])
        .arg("--scenario")
        .arg(&lab.scenario)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the emulator");
    let guard = ChildGuard(child);
    let up = wait_for(Duration::from_secs(10), || {
        in_netns(lab.cloud.name(), || {
            TcpStream::connect_timeout(&imds, Duration::from_millis(100)).ok()
        })
    });
    assert!(up.is_some(), "the emulator did not start");
    guard
}

/// The IPv4 and IPv6 addresses on the VM link with `mac`.
fn addresses_on(lab: &Lab, mac: &str) -> Vec<String> {
    let links = lab.vm.json(&["ip", "-j", "address", "show"]);
    links
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["address"].as_str() == Some(mac))
        .flat_map(|l| l["addr_info"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["local"].as_str().map(str::to_string))
        .collect()
}

/// The crawl succeeded without a warning; every address it read is on the link with its MAC.
fn succeeds_and_matches(provider: ProviderKind, reads_addresses: bool) -> Value {
    let (lab, result, _dir) = crawl(provider);
    assert_eq!(result["ok"], true, "{provider}: {result}");
    assert_eq!(result["log"], serde_json::json!([]), "{provider}: {result}");
    if !reads_addresses {
        assert_eq!(result["addresses"], Value::Null, "{provider}: {result}");
        return result;
    }
    let by_mac = result["addresses"].as_object().expect("addresses by MAC");
    let mut checked = 0;
    for (mac, addresses) in by_mac {
        let present = addresses_on(&lab, mac);
        for address in addresses.as_array().expect("a list") {
            let text = address.as_str().expect("an address");
            let ip = text.split('/').next().unwrap_or(text);
            assert!(
                present.iter().any(|p| p == ip),
                "{provider}: cloud-init reads {text} for {mac}; the link has {present:?}"
            );
            checked += 1;
        }
    }
    assert!(
        checked > 0,
        "{provider}: cloud-init read no address: {result}"
    );
    result
}

#[test]
#[ignore = "runs cloud-init from Debian's archive in the lab (root; .ci/run extracts it and sets CLOUD_NETWORK_NEIGHBOURS)"]
fn cloud_init_ec2_imdsv2_crawl_matches_the_daemon() {
    require_root();
    let result = succeeds_and_matches(ProviderKind::Aws, true);
    assert_eq!(result["token"], true, "IMDSv2: {result}");
}

#[test]
#[ignore = "runs cloud-init from Debian's archive in the lab (root; .ci/run extracts it and sets CLOUD_NETWORK_NEIGHBOURS)"]
fn cloud_init_azure_crawl_with_extended_matches_the_daemon() {
    require_root();
    let result = succeeds_and_matches(ProviderKind::Azure, true);
    assert_eq!(result["ppsType"], "None", "{result}");
}

#[test]
#[ignore = "runs cloud-init from Debian's archive in the lab (root; .ci/run extracts it and sets CLOUD_NETWORK_NEIGHBOURS)"]
fn cloud_init_gce_crawl_reads_no_address_and_writes_guest_attributes() {
    require_root();
    let result = succeeds_and_matches(ProviderKind::Gcp, false);
    assert_eq!(
        result["guest_attribute"],
        serde_json::json!([200, "AAAA test-key"]),
        "the host key cloud-init wrote, read back: {result}"
    );
}

#[test]
#[ignore = "runs cloud-init from Debian's archive in the lab (root; .ci/run extracts it and sets CLOUD_NETWORK_NEIGHBOURS)"]
fn cloud_init_oci_crawl_matches_the_daemon() {
    require_root();
    succeeds_and_matches(ProviderKind::Oracle, true);
}

#[test]
#[ignore = "runs cloud-init from Debian's archive in the lab (root; .ci/run extracts it and sets CLOUD_NETWORK_NEIGHBOURS)"]
fn cloud_init_alibaba_crawl_sends_no_token_and_reads_no_address() {
    require_root();
    let result = succeeds_and_matches(ProviderKind::Alibaba, false);
    assert_eq!(
        result["token"], false,
        "22.4 sends no Alibaba token: {result}"
    );
}

#[test]
#[ignore = "runs cloud-init from Debian's archive in the lab (root; .ci/run extracts it and sets CLOUD_NETWORK_NEIGHBOURS)"]
fn cloud_init_digitalocean_crawl_matches_the_daemon() {
    require_root();
    succeeds_and_matches(ProviderKind::DigitalOcean, true);
}
