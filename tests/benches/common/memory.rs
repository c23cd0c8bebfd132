//! The memory figure: the release daemon's peak and current resident memory and its threads
//! in a lab VM (Azure, 3 NICs), started as root in either of the two ways a machine starts
//! it, and where its resident pages are at the end of the run, mapping by mapping
//! (`/proc/PID/smaps`).

use crate::daemon::BenchLab;
use crate::lab_figures::AZURE_3NIC;
use cloud_network::metadata::ProviderKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The user the daemon switches to when the machine has it.
const SERVICE_USER: &str = "cloud-network";

/// How the daemon is started (as root both times).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMode {
    /// The machine has the service user (the caller holds one): the daemon switches to it.
    ServiceUser,
    /// The machine has no service user: the daemon stays root, its HTTP threads run as nobody.
    /// The daemon runs in a private mount namespace whose `/etc/passwd` lacks the user, so
    /// the figure does not depend on whether this machine has it.
    Root,
}

impl StartMode {
    pub fn label(self) -> &'static str {
        match self {
            StartMode::ServiceUser => "service user",
            StartMode::Root => "as root, no service user",
        }
    }

    /// The daemon's log line that proves the mode.
    fn logged(self) -> &'static str {
        match self {
            StartMode::ServiceUser => "running as user cloud-network",
            StartMode::Root => "user cloud-network not found: staying root",
        }
    }
}

/// Peak and current resident memory (KiB), threads, and where the resident pages are.
pub struct Memory {
    pub hwm_kib: u64,
    pub rss_kib: u64,
    pub threads: u64,
    pub by_mapping: Vec<(String, u64)>,
}

/// `binary` (the glibc or the musl build) started as `mode` for `run`, refreshing every 10 s.
pub fn memory(binary: &Path, run: Duration, mode: StartMode) -> Memory {
    let lab = BenchLab::up(ProviderKind::Azure, AZURE_3NIC);
    let extra = "RefreshTimer = \"10s\"";
    let passwd = passwd_for(&lab, mode);
    let daemon = lab.daemon_under(&[], binary, extra, passwd.as_deref());
    let mut daemon = crate::lab_figures::ready(&lab, daemon);
    let log = daemon.log_text();
    assert!(
        log.contains(mode.logged()),
        "started {} but the log does not say `{}`:\n{log}",
        mode.label(),
        mode.logged()
    );
    let end = daemon.started + run;
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    let smaps = std::fs::read_to_string(format!("/proc/{}/smaps", daemon.pid)).expect("smaps");
    Memory {
        hwm_kib: daemon.proc_status("VmHWM"),
        rss_kib: daemon.proc_status("VmRSS"),
        threads: daemon.proc_status("Threads"),
        by_mapping: resident_by_mapping(&smaps, binary),
    }
}

/// The `/etc/passwd` a daemon started as `mode` sees in `lab`: this machine's (None), or, as
/// root, a copy without the service user.
pub fn passwd_for(lab: &BenchLab, mode: StartMode) -> Option<PathBuf> {
    (mode == StartMode::Root).then(|| {
        let passwd = lab.dir.path().join("passwd");
        std::fs::write(&passwd, passwd_without_service_user()).expect("write the passwd");
        passwd
    })
}

/// This machine's `/etc/passwd` without the service user's line.
fn passwd_without_service_user() -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let prefix = format!("{SERVICE_USER}:");
    passwd
        .lines()
        .filter(|l| !l.starts_with(&prefix))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// One mapping of `/proc/PID/smaps`: its name (path or `[heap]`; empty when anonymous), its
/// permissions and its resident KiB.
struct Mapping {
    name: String,
    perms: String,
    size_kib: u64,
    rss_kib: u64,
}

fn parse_smaps(smaps: &str) -> Vec<Mapping> {
    let mut mappings: Vec<Mapping> = Vec::new();
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if let Some((start, end)) = first.split_once('-') {
            let span = |hex| u64::from_str_radix(hex, 16).ok();
            if let (Some(start), Some(end)) = (span(start), span(end)) {
                let perms = words.next().unwrap_or_default().to_string();
                let name = words.nth(3).unwrap_or_default().to_string();
                let size_kib = (end - start) / 1024;
                mappings.push(Mapping {
                    name,
                    perms,
                    size_kib,
                    rss_kib: 0,
                });
                continue;
            }
        }
        if first == "Rss:" {
            let kib = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            if let Some(last) = mappings.last_mut() {
                last.rss_kib = kib;
            }
        }
    }
    mappings
}

/// Resident KiB by kind of mapping, largest first: the binary, each shared library by name,
/// the heap, thread stacks (an anonymous mapping right after its guard page), malloc's
/// per-thread arenas (anonymous mappings of 1 MiB or more without a guard) and other anonymous
/// memory.
fn resident_by_mapping(smaps: &str, binary: &Path) -> Vec<(String, u64)> {
    let binary = std::fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
    let mappings = parse_smaps(smaps);
    let mut kinds: Vec<(String, u64)> = Vec::new();
    for (i, m) in mappings.iter().enumerate() {
        let after_guard = i > 0 && mappings[i - 1].perms.starts_with("---");
        let kind = kind_of(m, after_guard, &binary);
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, kib)) => *kib += m.rss_kib,
            None => kinds.push((kind, m.rss_kib)),
        }
    }
    kinds.retain(|(_, kib)| *kib > 0);
    kinds.sort_by_key(|(_, kib)| std::cmp::Reverse(*kib));
    kinds
}

fn kind_of(m: &Mapping, after_guard: bool, binary: &Path) -> String {
    let kind = match m.name.as_str() {
        name if Path::new(name) == binary => "binary",
        "[heap]" => "heap",
        "[stack]" => "main stack",
        "[vdso]" | "[vvar]" | "[vvar_vclock]" => "vdso",
        "" if after_guard && m.perms.starts_with("rw") => "thread stacks",
        "" if m.size_kib >= 1024 => "malloc arenas",
        "" => "other anonymous",
        name => {
            return Path::new(name)
                .file_name()
                .map_or(name.to_string(), |f| f.to_string_lossy().into_owned())
        }
    };
    kind.to_string()
}

/// `binary 1180, libc.so 1420, …` in KiB.
pub fn breakdown(memory: &Memory) -> String {
    let parts: Vec<String> = memory
        .by_mapping
        .iter()
        .map(|(kind, kib)| format!("{kind} {kib}"))
        .collect();
    format!("resident KiB at the end: {}", parts.join(", "))
}
