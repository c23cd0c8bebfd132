//! google-guest-agent from Debian's archive (extracted by `.ci/run`, never installed) running
//! inside a lab's VM namespace, in a private mount namespace: empty `/etc`, `/var`, `/run`,
//! `/root` and `/home` (tmpfs), its config written there, so it reaches only the lab's
//! metadata service and cannot touch the host's files, users, ssh keys or systemd. Its
//! account, clock-skew, NIC setup, host-key, boto and script managers are off: only the
//! address manager (forwarded IPs and alias ranges as `proto 66` local routes) runs.
use super::lab::Lab;
use super::scene::ChildGuard;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The directory `.ci/run` extracts the neighbours' packages into (`<dir>/<package>/...`).
pub const NEIGHBOURS_ENV: &str = "CLOUD_NETWORK_NEIGHBOURS";

/// The agent's config: only the address manager.
const CONFIG: &str = "[Daemons]
accounts_daemon = false
clock_skew_daemon = false
network_daemon = true

[InstanceSetup]
network_enabled = true
optimize_local_ssd = false
set_boto_config = false
set_host_keys = false
set_multiqueue = false

[IpForwarding]
ethernet_proto_id = 66
ip_aliases = true
target_instance_ips = true

[MetadataScripts]
startup = false
shutdown = false

[NetworkInterfaces]
ip_forwarding = true
setup = false
";

/// Hides the host's files behind tmpfs, writes the config and a hosts file, runs the agent.
const WRAPPER: &str = r#"set -e
for dir in /etc /var /run /root /home; do mount -t tmpfs -o mode=0755 tmpfs "$dir"; done
mkdir -p /etc/default
cp "$1" /etc/default/instance_configs.cfg
printf '127.0.0.1 localhost\n169.254.169.254 metadata.google.internal metadata\n' > /etc/hosts
printf 'root:x:0:0:root:/root:/bin/sh\n' > /etc/passwd
printf 'root:x:0:\n' > /etc/group
exec "$2"
"#;

/// The extracted agent binary; panics naming how to get it.
pub fn binary() -> PathBuf {
    let dir = std::env::var_os(NEIGHBOURS_ENV).unwrap_or_else(|| {
        panic!("{NEIGHBOURS_ENV} is not set: .ci/run extracts google-guest-agent and sets it")
    });
    let path = Path::new(&dir).join("google-guest-agent/usr/bin/google_guest_agent");
    assert!(path.is_file(), "{} is missing: run .ci/run", path.display());
    path
}

/// The agent running in the lab's VM; killed on drop (`stop` earlier).
pub struct GuestAgent {
    child: Option<ChildGuard>,
    /// Its stderr (it logs to syslog, which it cannot reach here: this holds start failures).
    pub log: PathBuf,
}

impl GuestAgent {
    /// Starts the agent in `lab`'s VM, its binary, config and log in `dir` (outside the
    /// directories the wrapper hides).
    pub fn start(lab: &Lab, dir: &Path) -> GuestAgent {
        let config = dir.join("instance_configs.cfg");
        std::fs::write(&config, CONFIG).expect("write the agent's config");
        // A copy beside the config: the cache it comes from may lie under /var, which the
        // wrapper hides.
        let agent = dir.join("google_guest_agent");
        std::fs::copy(binary(), &agent).expect("copy google_guest_agent");
        let log = dir.join("guest-agent.log");
        let stderr = File::create(&log).expect("create the agent's log");
        let child = Command::new("ip")
            .args(["netns", "exec", lab.vm.name()])
            .args(["unshare", "--mount", "--propagation", "private"])
            .args(["sh", "-c", WRAPPER, "guest-agent"])
            .arg(&config)
            .arg(&agent)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start google-guest-agent");
        GuestAgent {
            child: Some(ChildGuard(child)),
            log,
        }
    }

    /// Stops the agent (SIGKILL: it leaves its routes, as a crash or a removed package does).
    pub fn stop(&mut self) {
        self.child = None;
    }
}
