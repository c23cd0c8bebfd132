//! The hot layout, `packaging/link/hot.ld` (`footprint -- --write-layout`): the code and the
//! read-only data the daemon uses in its ordinary work, found under valgrind's lackey, written
//! as a linker script that places each together at the start of its kind (`.text`,
//! `.rodata`). Each provider's daemon (3 NICs, as the service user; Azure also as root)
//! starts, configures, refreshes every second, answers every API path, puts back an address
//! taken from it, and stops on SIGTERM; every instruction it ran and every byte of the binary
//! it read, in its own process (not the user lookup's child), names an input section of the
//! link (the linker's map): those sections are the hot set. Why and what it saves:
//! packaging/link/README.md.

use crate::daemon::BenchLab;
use crate::lab_figures::{
    ready_within, ALIBABA_3NIC, AWS_3NIC, AZURE_3NIC, DIGITALOCEAN_3NIC, GCP_3NIC, ORACLE_3NIC,
};
use crate::memory::{passwd_for, StartMode};
use crate::support::lab::in_netns;
use crate::support::running::{request, ServiceUser};
use crate::support::scene::TempDir;
use cloud_network::metadata::ProviderKind;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Where the script lives, from the repository's root.
pub const LAYOUT: &str = "packaging/link/hot.ld";

/// Where valgrind loads a position-independent program on x86_64 (its own choice, whatever
/// the program's segment alignment); checked against the profile (`_start` must have run
/// there).
const VALGRIND_PIE_BASE: u64 = 0x108000;

/// How long a daemon under lackey may take to start and to configure the VM (AWS, the most
/// requests, takes 10 s and more).
const UNDER_VALGRIND_LIMIT: Duration = Duration::from_secs(60);

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

/// Where an input section (a function's code, a constant) was used: on which providers (a
/// bit each), and whether only when the API was asked.
#[derive(Clone, Copy)]
struct Use {
    providers: u8,
    api_only: bool,
}

/// Profiles the daemon on every provider, writes the script and says what it holds.
pub fn write_layout() -> String {
    let _user = ServiceUser::ensure();
    let build = build_with_map();
    let map = LinkMap::read(&build.map);
    let mut uses: BTreeMap<String, Use> = BTreeMap::new();
    for (provider, scenario, mode) in RUNS {
        let bit = 1u8 << provider_bit(provider);
        for api in [false, true] {
            let asked = if api { ", API asked" } else { "" };
            eprintln!(
                "profiling the daemon on {provider} ({}{asked})…",
                mode.label()
            );
            for section in profile(&build.binary, &map, provider, scenario, mode, api) {
                let used = uses.entry(section).or_insert(Use {
                    providers: 0,
                    api_only: api,
                });
                used.providers |= bit;
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::write(root.join(LAYOUT), script(&uses)).expect("write the layout");
    let code = uses.keys().filter(|s| function_of(s).is_some()).count();
    let data = uses.keys().filter(|s| is_read_only_data(s)).count();
    format!("{LAYOUT}: {code} functions and {data} read-only data sections the daemon uses")
}

fn provider_bit(provider: ProviderKind) -> usize {
    RUNS.iter()
        .position(|(p, _, _)| *p == provider)
        .expect("a profiled provider")
}

/// The release binary and the linker's map of it.
struct Build {
    binary: PathBuf,
    map: PathBuf,
}

/// The release binary built as shipped, with the linker's map (`-Wl,-Map`) beside it: RUSTFLAGS
/// do not enter the crates' metadata hash, so every name in the map is the shipped build's. A
/// profile that changed `strip` or another setting would change every hash in the names.
fn build_with_map() -> Build {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = root.join("target").join("footprint-layout");
    let map = target_dir.join("cloud-network.map");
    let status = Command::new("cargo")
        .current_dir(root)
        .args(["build", "--release", "--locked", "--bin", "cloud-network"])
        .arg("--target-dir")
        .arg(&target_dir)
        .env(
            "RUSTFLAGS",
            format!("-C link-arg=-Wl,-Map={}", map.display()),
        )
        .status()
        .expect("run cargo build");
    assert!(
        status.success(),
        "building the daemon with a link map failed"
    );
    Build {
        binary: target_dir.join("release/cloud-network"),
        map,
    }
}

/// One profiled run: the input sections whose code ran or whose bytes were read in the
/// daemon's own process.
fn profile(
    binary: &Path,
    map: &LinkMap,
    provider: ProviderKind,
    scenario: &str,
    mode: StartMode,
    api: bool,
) -> BTreeSet<String> {
    let lab = BenchLab::up(provider, scenario);
    // valgrind opens the log before the daemon switches users; `%p`: as root, the user
    // lookup's child writes its own.
    let out = TempDir::new("layout");
    let launcher = [
        "valgrind".to_string(),
        "--tool=lackey".to_string(),
        "--trace-mem=yes".to_string(),
        format!("--log-file={}/lackey.%p", out.path().display()),
    ];
    let passwd = passwd_for(&lab, mode);
    let extra = "RefreshTimer = \"1s\"";
    let daemon = lab.daemon_under(&launcher, binary, extra, passwd.as_deref());
    let mut daemon = ready_within(&lab, daemon, UNDER_VALGRIND_LIMIT);
    if api {
        ask_the_api(&lab);
    }
    exercise(&lab);
    let (took, status) = daemon.terminate_within(Duration::from_secs(120));
    eprintln!("stopped in {took:?}");
    assert!(status.success(), "{}", daemon.log_text());
    let log = out.path().join(format!("lackey.{}", daemon.pid));
    let file = std::fs::File::open(&log).expect("open the daemon's lackey log");
    map.sections_used(BufReader::new(file))
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

/// The input sections of the link, by address, from the linker's map (lld's format: `VMA
/// LMA Size Align`, then an output section's name, or an input section indented by 8
/// columns as `file:(name)`, or a symbol indented by 16).
struct LinkMap {
    /// Address, size and name, sorted by address; only the binary's code and read-only data.
    sections: Vec<(u64, u64, String)>,
    /// Where `_start` is: the first input section of code, `Scrt1.o`'s `.text`.
    start: u64,
}

impl LinkMap {
    fn read(path: &Path) -> LinkMap {
        let text = std::fs::read_to_string(path).expect("read the link map");
        let mut sections = Vec::new();
        let mut start = None;
        let mut output = String::new();
        for line in text.lines().skip(1) {
            let Some((address, size, indent, name)) = map_line(line) else {
                continue;
            };
            match indent {
                0 => output = name.to_string(),
                8 if is_placed(&output) => {
                    let Some((file, section)) = name.rsplit_once(":(") else {
                        continue;
                    };
                    let section = section.trim_end_matches(')').to_string();
                    if section == ".text" && file.ends_with("crt1.o") {
                        start = Some(address);
                    }
                    sections.push((address, size, section));
                }
                _ => {}
            }
        }
        sections.sort_by_key(|(address, _, _)| *address);
        LinkMap {
            sections,
            start: start.expect("the link map names crt1.o's .text (_start)"),
        }
    }

    /// The input sections a lackey log (`--trace-mem=yes`) shows the program running or
    /// reading: `I  ADDR,SIZE` is an instruction, ` L`, ` S`, ` M` a data access.
    fn sections_used(&self, log: impl BufRead) -> BTreeSet<String> {
        let mut used = BTreeSet::new();
        let mut started = false;
        for line in log.lines() {
            let line = line.expect("read the lackey log");
            let Some(address) = traced_address(&line) else {
                continue;
            };
            let Some(offset) = address.checked_sub(VALGRIND_PIE_BASE) else {
                continue;
            };
            started |= line.starts_with('I') && offset == self.start;
            if let Some(section) = self.section_at(offset) {
                used.insert(section.to_string());
            }
        }
        assert!(
            started,
            "no instruction ran at _start + {VALGRIND_PIE_BASE:#x}: valgrind loaded the daemon elsewhere"
        );
        used
    }

    fn section_at(&self, address: u64) -> Option<&str> {
        let at = self
            .sections
            .partition_point(|(start, _, _)| *start <= address);
        let (start, size, name) = self.sections.get(at.checked_sub(1)?)?;
        (address < start + size).then_some(name.as_str())
    }
}

/// The output sections whose input sections the layout places: code and read-only data.
fn is_placed(output: &str) -> bool {
    matches!(output, ".text" | ".text.hot" | ".rodata" | ".rodata.hot")
}

/// One line of lld's map: address, size, how far the name is indented past the columns, name.
fn map_line(line: &str) -> Option<(u64, u64, usize, &str)> {
    let mut rest = line;
    let mut columns = [0u64; 4];
    for column in &mut columns {
        rest = rest.trim_start_matches(' ');
        let end = rest.find(' ')?;
        *column = u64::from_str_radix(&rest[..end], 16).ok()?;
        rest = &rest[end + 1..];
    }
    let name = rest.trim_start_matches(' ');
    Some((columns[0], columns[2], rest.len() - name.len(), name))
}

/// The address of a lackey trace line: `I  04001000,3`, ` L 1ffefff8,8`.
fn traced_address(line: &str) -> Option<u64> {
    let rest = line
        .strip_prefix("I  ")
        .or_else(|| line.strip_prefix(" L "))
        .or_else(|| line.strip_prefix(" S "))
        .or_else(|| line.strip_prefix(" M "))?;
    let (address, _) = rest.split_once(',')?;
    u64::from_str_radix(address, 16).ok()
}

/// The function whose code an input section holds: `.text.NAME` or `.text.unlikely.NAME`
/// (LLVM's section for cold-marked functions); `None` for other sections and for a C
/// object's plain `.text`.
fn function_of(section: &str) -> Option<&str> {
    let name = section
        .strip_prefix(".text.unlikely.")
        .or_else(|| section.strip_prefix(".text."))?;
    is_symbol(name).then_some(name)
}

/// Read-only data: constants, jump tables, string and constant pools (`.rodata.*`).
fn is_read_only_data(section: &str) -> bool {
    section.strip_prefix(".rodata.").is_some_and(is_symbol)
}

/// A name a linker script can match as it is: mangled Rust and C names, LLVM's local labels.
fn is_symbol(name: &str) -> bool {
    !name.is_empty()
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

/// The linker script: `.text.hot` before `.text`, `.rodata.hot` before `.rodata`. A
/// function or a constant is placed by the first pattern that matches it, in this order:
/// 1. the exact names (this build's hashes: the tightest layout) of what the daemon uses
///    without the API being asked, what is used on more providers first, each provider's
///    own together: a daemon touches one run of pages;
/// 2. std's slow paths of its locks and channels ([`CONTENDED`]), which run when threads
///    meet, and never under valgrind, which runs one thread at a time;
/// 3. what is used only when the API is asked;
/// 4. the same names with their hashes made wildcards, in the same order, which still find
///    them when a version, a dependency or the target (musl) changes the hashes, at the cost
///    of placing every instance of a generic function. LLVM's local constants
///    (`.rodata..Lanon.*`, switch tables) and the string and constant pools keep their exact
///    names only.
///
/// LLVM puts cold-marked functions in `.text.unlikely.NAME`. The C runtime's start and exit
/// code (`_start`, `frame_dummy`, ...) runs in every process but sits in the plain `.text` of
/// its objects, which no name matches: [`C_RUNTIME`] places it first, or it would keep the
/// first 64 KiB window of `.text` resident.
fn script(uses: &BTreeMap<String, Use>) -> String {
    let mut ordered: Vec<(&String, &Use)> = uses.iter().collect();
    ordered.sort_by_key(|(name, used)| {
        (
            used.api_only,
            std::cmp::Reverse(used.providers.count_ones()),
            used.providers,
            name.as_str(),
        )
    });
    let functions: Vec<&str> = ordered.iter().filter_map(|(s, _)| function_of(s)).collect();
    let without_api = ordered
        .iter()
        .filter(|(s, used)| !used.api_only && function_of(s).is_some())
        .count();
    let data: Vec<&str> = ordered
        .iter()
        .map(|(s, _)| s.as_str())
        .filter(|s| is_read_only_data(s))
        .collect();
    let mut text = String::from(HEADER);
    text.push_str("SECTIONS\n{\n  .text.hot :\n  {\n");
    text.push_str(C_RUNTIME);
    for name in &functions[..without_api] {
        text.push_str(&function_pattern(name));
    }
    for name in CONTENDED {
        text.push_str(&function_pattern(name));
    }
    for name in &functions[without_api..] {
        text.push_str(&function_pattern(name));
    }
    let mut placed = BTreeSet::new();
    for name in &functions {
        let wildcard = without_hashes(name);
        if wildcard != *name && placed.insert(wildcard.clone()) {
            text.push_str(&function_pattern(&wildcard));
        }
    }
    text.push_str("  }\n}\nINSERT BEFORE .text;\n\nSECTIONS\n{\n  .rodata.hot :\n  {\n");
    for section in &data {
        text.push_str(&format!("    *({section})\n"));
    }
    let mut placed = BTreeSet::new();
    for section in &data {
        let name = &section[".rodata.".len()..];
        if name.starts_with('.') {
            continue;
        }
        let wildcard = without_hashes(name);
        if wildcard != name && placed.insert(wildcard.clone()) {
            text.push_str(&format!("    *(.rodata.{wildcard})\n"));
        }
    }
    text.push_str("  }\n}\nINSERT BEFORE .rodata;\n");
    text
}

fn function_pattern(name: &str) -> String {
    format!("    *(.text.{name} .text.unlikely.{name})\n")
}

/// std's code for threads that meet on a lock or a channel: spinning before sleeping, and
/// sleeping. Under valgrind threads never meet; in the daemon they do now and then (at the
/// start the main thread polls the channel a confined thread answers on), and one such
/// function left in the cold code costs a 64 KiB window when it runs.
const CONTENDED: [&str; 6] = [
    "*Backoff10spin_light*",
    "*Backoff10spin_heavy*",
    "*Mutex14lock_contended*",
    "*RwLock14read_contended*",
    "*RwLock15write_contended*",
    "*Context10wait_until*",
];

/// The C runtime's start and exit code, by object (`Scrt1.o`/`rcrt1.o`, `crti.o`,
/// `crtbeginS.o`, `crtendS.o`, `crtn.o`).
const C_RUNTIME: &str = "    *crt1.o(.text .text.*) *crti.o(.text) *crtbegin*.o(.text .text.*) \
                         *crtend*.o(.text .text.*) *crtn.o(.text)\n";

const HEADER: &str = "\
/* The code and read-only data the daemon uses, first of each: packaging/link/README.md.
 * Generated by `sudo cargo bench --bench footprint -- --write-layout`; do not edit. */
";
