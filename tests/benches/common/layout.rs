//! The hot-text layout, `packaging/link/hot-text.ld` (`footprint -- --write-layout`): the
//! functions the daemon runs in its ordinary work, found under valgrind's callgrind, written
//! as a linker script that places them together at the start of the code. Each provider's
//! daemon (3 NICs, as the service user; Azure also as root) starts, configures, refreshes
//! every second, answers every API path, puts back an address taken from it, and stops on
//! SIGTERM; the functions callgrind saw in the daemon's own process (not the user lookup's
//! child) are the hot set. Why and what it saves: packaging/link/README.md.

use crate::daemon::BenchLab;
use crate::lab_figures::{
    ready, ALIBABA_3NIC, AWS_3NIC, AZURE_3NIC, DIGITALOCEAN_3NIC, GCP_3NIC, ORACLE_3NIC,
};
use crate::memory::{passwd_for, StartMode};
use crate::support::lab::in_netns;
use crate::support::running::{request, ServiceUser};
use crate::support::scene::TempDir;
use cloud_network::metadata::ProviderKind;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Where the script lives, from the repository's root.
pub const LAYOUT: &str = "packaging/link/hot-text.ld";

/// The API paths a profiled daemon answers (the check and a refresh included).
const PATHS: [(&str, &str); 12] = [
    ("GET", "/api/v1/status"),
    ("GET", "/api/v1/links"),
    ("GET", "/api/v1/system"),
    ("GET", "/api/cloud/network"),
    ("GET", "/api/cloud/system"),
    ("GET", "/api/cloud/credentials"),
    ("GET", "/api/cloud/dynamicinstanceidentity/document"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/check"),
    ("GET", "/api/v1/nowhere"),
    ("POST", "/api/v1/refresh"),
    ("GET", "/api/v1/status"),
];

/// The profiled runs: each provider as the service user, Azure also as root.
const RUNS: [(ProviderKind, &str, StartMode); 7] = [
    (ProviderKind::Azure, AZURE_3NIC, StartMode::ServiceUser),
    (ProviderKind::Azure, AZURE_3NIC, StartMode::Root),
    (ProviderKind::Aws, AWS_3NIC, StartMode::ServiceUser),
    (ProviderKind::Gcp, GCP_3NIC, StartMode::ServiceUser),
    (ProviderKind::Oracle, ORACLE_3NIC, StartMode::ServiceUser),
    (ProviderKind::Alibaba, ALIBABA_3NIC, StartMode::ServiceUser),
    (
        ProviderKind::DigitalOcean,
        DIGITALOCEAN_3NIC,
        StartMode::ServiceUser,
    ),
];

/// Where a function ran: on which providers (a bit each), and whether only when the API
/// was asked.
#[derive(Clone, Copy)]
struct Use {
    providers: u8,
    api_only: bool,
}

/// Profiles the daemon on every provider, writes the script and says what it holds.
pub fn write_layout() -> String {
    let _user = ServiceUser::ensure();
    let binary = build_with_symbols();
    let mut uses: BTreeMap<String, Use> = BTreeMap::new();
    for (provider, scenario, mode) in RUNS {
        let bit = 1u8 << provider_bit(provider);
        for api in [false, true] {
            let asked = if api { ", API asked" } else { "" };
            eprintln!(
                "profiling the daemon on {provider} ({}{asked})…",
                mode.label()
            );
            for name in profile(&binary, provider, scenario, mode, api) {
                let used = uses.entry(name).or_insert(Use {
                    providers: 0,
                    api_only: api,
                });
                used.providers |= bit;
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::write(root.join(LAYOUT), script(&uses)).expect("write the layout");
    format!("{LAYOUT}: {} functions the daemon runs", uses.len())
}

fn provider_bit(provider: ProviderKind) -> usize {
    RUNS.iter()
        .position(|(p, _, _)| *p == provider)
        .expect("a profiled provider")
}

/// The release binary with its symbol table, for callgrind to name the functions by: built
/// as shipped but for `-C strip=none` in RUSTFLAGS, which do not enter the crates' metadata
/// hash. A profile that changes `strip` would, and with it every hash in the names.
fn build_with_symbols() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = root.join("target").join("footprint-layout");
    let status = Command::new("cargo")
        .current_dir(root)
        .args(["build", "--release", "--locked", "--bin", "cloud-network"])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", "-C strip=none")
        .status()
        .expect("run cargo build");
    assert!(status.success(), "building the daemon with symbols failed");
    target_dir.join("release/cloud-network")
}

/// One profiled run: the mangled names of the functions callgrind saw run in the daemon.
fn profile(
    binary: &Path,
    provider: ProviderKind,
    scenario: &str,
    mode: StartMode,
    api: bool,
) -> Vec<String> {
    let lab = BenchLab::up(provider, scenario);
    // The daemon writes its profile at exit, after it switched users: a file it may write.
    // As root, the user lookup's child writes there first; the daemon's dump, last, replaces it.
    let out = TempDir::new("layout");
    let file = out.path().join("callgrind.out");
    std::fs::write(&file, "").expect("create the profile file");
    let everyone = std::fs::Permissions::from_mode(0o666);
    std::fs::set_permissions(&file, everyone).expect("chmod the profile file");
    let launcher = [
        "valgrind".to_string(),
        "--tool=callgrind".to_string(),
        "--demangle=no".to_string(),
        format!("--callgrind-out-file={}", file.display()),
    ];
    let passwd = passwd_for(&lab, mode);
    let extra = "RefreshTimer = \"1s\"";
    let daemon = lab.daemon_under(&launcher, binary, extra, passwd.as_deref());
    let mut daemon = ready(&lab, daemon);
    if api {
        ask_the_api(&lab);
    }
    exercise(&lab);
    let (took, status) = daemon.terminate_within(Duration::from_secs(120));
    eprintln!("stopped in {took:?}");
    assert!(status.success(), "{}", daemon.log_text());
    let text = std::fs::read_to_string(&file).expect("read the profile");
    functions_in(&text, binary)
}

/// Every API path, once.
fn ask_the_api(lab: &BenchLab) {
    in_netns(lab.lab.vm.name(), || {
        for (method, path) in PATHS {
            let _ = request(crate::daemon::API, method, path, Duration::from_secs(20));
        }
    });
}

/// The daemon's ordinary work after its start: a few refreshes, and an address of its own
/// taken away and put back.
fn exercise(lab: &BenchLab) {
    if let Some(address) = lab.lab.instance.nics[0].ipv4.get(1) {
        let address = address.to_string();
        lab.lab
            .vm
            .run_ok(&["ip", "addr", "del", &address, "dev", "eth0"]);
    }
    std::thread::sleep(Duration::from_secs(6));
}

/// The functions of `binary` in a callgrind profile: its `fn=` entries while `ob=` names the
/// binary, or `???`, valgrind's name for the code of a section other than `.text` (the
/// `.text.hot` of a build with the layout); every library the daemon maps is named. Names
/// are compressed: `(id) name` once, then `(id)`.
fn functions_in(text: &str, binary: &Path) -> Vec<String> {
    let ours = binary.to_string_lossy();
    let mut objects = std::collections::HashMap::new();
    let mut functions = std::collections::HashMap::new();
    let mut in_ours = false;
    let mut seen = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("ob=") {
            let object = expand(rest, &mut objects);
            in_ours = object == *ours || object == "???";
        } else if let Some(rest) = line.strip_prefix("fn=") {
            let name = expand(rest, &mut functions);
            if in_ours && is_symbol(&name) {
                seen.push(name);
            }
        } else if let Some(rest) = line.strip_prefix("cfn=") {
            expand(rest, &mut functions);
        } else if let Some(rest) = line.strip_prefix("cob=") {
            expand(rest, &mut objects);
        }
    }
    seen
}

/// A compressed callgrind name: `(id) name` defines the id, `(id)` refers to it.
fn expand(field: &str, names: &mut std::collections::HashMap<String, String>) -> String {
    let Some(rest) = field.strip_prefix('(') else {
        return field.to_string();
    };
    let Some((id, name)) = rest.split_once(')') else {
        return field.to_string();
    };
    let name = name.trim_start();
    if name.is_empty() {
        return names.get(id).cloned().unwrap_or_default();
    }
    names.insert(id.to_string(), name.to_string());
    name.to_string()
}

/// A name a linker script can match as it is: mangled Rust and C names only (callgrind
/// names code without a symbol by its address).
fn is_symbol(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with("0x")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b == b'.')
}

/// The hash a symbol's name ends with, made a wildcard: legacy Rust names end in
/// `17h<16 hex digits>E`, which changes with the crate's build (version, dependencies,
/// target), and v0 names spell each crate's disambiguator as `Cs<base62>_`.
fn without_hashes(name: &str) -> String {
    let mut pattern = match name.len().checked_sub(20) {
        Some(at) if is_legacy_hash(&name[at..]) => format!("{}17h*E", &name[..at]),
        _ => name.to_string(),
    };
    if pattern.starts_with("_R") {
        pattern = v0_without_disambiguators(&pattern);
    }
    pattern
}

fn is_legacy_hash(tail: &str) -> bool {
    tail.len() == 20
        && tail.starts_with("17h")
        && tail.ends_with('E')
        && tail[3..19].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `Cs<base62>_` → `Cs*_`, each crate root of a v0 name.
fn v0_without_disambiguators(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find("Cs") {
        out.push_str(&rest[..at + 2]);
        let after = &rest[at + 2..];
        match after.find('_') {
            Some(end) if end > 0 && after[..end].bytes().all(|b| b.is_ascii_alphanumeric()) => {
                out.push('*');
                rest = &after[end..];
            }
            _ => rest = after,
        }
    }
    out.push_str(rest);
    out
}

/// The linker script. A function is placed by the first pattern that matches it, in this
/// order:
/// 1. the exact names (this build's hashes: the tightest layout) of the functions the daemon
///    runs without the API being asked, those that run on more providers first, each
///    provider's own together: a daemon touches one run of pages;
/// 2. those that run only when the API is asked;
/// 3. the same names with their hashes made wildcards, in the same order, which still find
///    the functions when a version, a dependency or the target (musl) changes the hashes, at
///    the cost of placing every instance of a generic function.
///
/// LLVM puts cold-marked functions in `.text.unlikely.NAME`. The C runtime's start and exit
/// code (`_start`, `frame_dummy`, ...) runs in every process but sits in the plain `.text` of
/// its objects, which no name matches: [`C_RUNTIME`] places it first, or it would keep the
/// first 64 KiB window of `.text` resident.
fn script(uses: &BTreeMap<String, Use>) -> String {
    let mut exact: Vec<(&String, &Use)> = uses.iter().collect();
    exact.sort_by_key(|(name, used)| {
        (
            used.api_only,
            std::cmp::Reverse(used.providers.count_ones()),
            used.providers,
            name.as_str(),
        )
    });
    let mut text = String::from(HEADER);
    text.push_str("SECTIONS\n{\n  .text.hot :\n  {\n");
    text.push_str(C_RUNTIME);
    for (name, _) in &exact {
        text.push_str(&pattern(name));
    }
    let mut placed = BTreeSet::new();
    for (name, _) in &exact {
        let wildcard = without_hashes(name);
        if !uses.contains_key(&wildcard) && placed.insert(wildcard.clone()) {
            text.push_str(&pattern(&wildcard));
        }
    }
    text.push_str("  }\n}\nINSERT BEFORE .text;\n");
    text
}

fn pattern(name: &str) -> String {
    format!("    *(.text.{name} .text.unlikely.{name})\n")
}

/// The C runtime's start and exit code, by object (`Scrt1.o`/`rcrt1.o`, `crti.o`,
/// `crtbeginS.o`, `crtendS.o`, `crtn.o`).
const C_RUNTIME: &str = "    *crt1.o(.text .text.*) *crti.o(.text) *crtbegin*.o(.text .text.*) \
                         *crtend*.o(.text .text.*) *crtn.o(.text)\n";

const HEADER: &str = "\
/* The functions the daemon runs, first in its code: packaging/link/README.md.
 * Generated by `sudo cargo bench --bench footprint -- --write-layout`; do not edit. */
";
