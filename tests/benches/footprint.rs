//! The footprint benchmark, one command for every performance promise:
//! `sudo cargo bench --bench footprint -- [--quick] [FIGURE...]`, FIGURE one of apply, noop,
//! instructions, memory, size, start, requests, hotplug, api, stop, check, removal (default:
//! all). Prints one
//! Markdown table (figure | measured | reference | target | verdict); each figure and its
//! reference come from the same run. `--baseline=BINARY` also measures another build of the
//! daemon (e.g. the previous commit's) for start and api, alternating with this one, and gives
//! the ratio. Everything it creates (namespaces, processes, files) is named after its pid and
//! removed on drop, on panic, and on SIGINT/SIGTERM. The musl rows use the binary
//! `CLOUD_NETWORK_MUSL_BIN` names, or build one; under `CI=true` they never skip.
//! `--write-layout` measures nothing: it profiles the daemon and rewrites
//! `packaging/link/hot.ld` (see `common/layout.rs`).

#[path = "common/apply.rs"]
mod apply;
#[path = "common/check_figures.rs"]
mod check_figures;
#[path = "common/daemon.rs"]
mod daemon;
#[path = "common/lab_figures.rs"]
mod lab_figures;
#[path = "common/layout.rs"]
mod layout;
#[path = "common/memory.rs"]
mod memory;
#[path = "common/removal.rs"]
mod removal;
#[path = "../support/mod.rs"]
mod support;

use apply::{median, ms, Figures};
use cloud_network::daemon::apply::apply_round;
use cloud_network::metadata::ProviderKind;
use cloud_network::netlink::monitor::Monitor;
use cloud_network::netlink::Netlink;
use cloud_network::plan::{plan_round, rebuild_owned, Owned, PlanSettings};
use daemon::Completion;
use memory::StartMode;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use support::running::ServiceUser;

const FIGURES: [&str; 12] = [
    "apply",
    "noop",
    "instructions",
    "memory",
    "size",
    "start",
    "requests",
    "hotplug",
    "api",
    "stop",
    "check",
    "removal",
];
/// Child mode: `footprint --noop-rounds N` runs N no-change reconciles (under callgrind).
const NOOP_ROUNDS_FLAG: &str = "--noop-rounds";
const MIB: f64 = 1024.0 * 1024.0;

/// How long each figure runs: `--quick` for development, the default for the figures in
/// tests/benches/README.md.
#[derive(Clone, Copy)]
struct Effort {
    apply_rounds: usize,
    memory_run: Duration,
    starts: usize,
    refreshes: usize,
    gcp_idle: Duration,
    hotplugs: usize,
    api_run: Duration,
    stops: usize,
}

const FULL: Effort = Effort {
    apply_rounds: 11,
    memory_run: Duration::from_secs(60),
    starts: 7,
    refreshes: 6,
    gcp_idle: Duration::from_secs(35),
    hotplugs: 5,
    api_run: Duration::from_secs(5),
    stops: 3,
};

const QUICK: Effort = Effort {
    apply_rounds: 3,
    memory_run: Duration::from_secs(5),
    starts: 3,
    refreshes: 3,
    gcp_idle: Duration::from_secs(3),
    hotplugs: 1,
    api_run: Duration::from_secs(2),
    stops: 1,
};

/// One line of the table.
struct Row {
    figure: String,
    measured: String,
    reference: String,
    target: String,
    met: Option<bool>,
}

fn row(figure: &str, measured: String, reference: &str, target: &str, met: Option<bool>) -> Row {
    Row {
        figure: figure.to_string(),
        measured,
        reference: reference.to_string(),
        target: target.to_string(),
        met,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(rounds) = child_rounds(&args) {
        noop_rounds(rounds);
        return;
    }
    if let Some(n) = flag_value(&args, check_figures::CHILD_FLAG) {
        check_figures::child(n);
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        eprintln!("a benchmark, not a test: run it with `sudo cargo bench --bench footprint`");
        return;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("the footprint benchmark needs root (network namespaces): use sudo");
        std::process::exit(1);
    }
    if args.iter().any(|a| a == "--write-layout") {
        cleanup::on_signals();
        println!("{}", layout::write_layout());
        return;
    }
    let effort = if args.iter().any(|a| a == "--quick") {
        QUICK
    } else {
        FULL
    };
    let chosen = chosen_figures(&args);
    let baseline = baseline(&args);
    cleanup::on_signals();
    let mut rows = Vec::new();
    if chosen.iter().any(|f| *f == "apply" || *f == "noop") {
        rows.extend(apply_rows(&chosen, effort));
    }
    for figure in &chosen {
        if !matches!(*figure, "apply" | "noop") {
            eprintln!("measuring {figure}…");
        }
        rows.extend(match *figure {
            "instructions" => instruction_rows(),
            "memory" => memory_rows(effort),
            "size" => size_rows(),
            "start" => start_rows(effort, baseline.as_deref()),
            "requests" => request_rows(effort),
            "hotplug" => hotplug_rows(effort),
            "api" => api_rows(effort, baseline.as_deref()),
            "stop" => stop_rows(effort),
            "check" => check_rows(),
            "removal" => removal::removal_rows(effort.stops),
            _ => Vec::new(),
        });
    }
    print_table(&rows, effort);
}

fn child_rounds(args: &[String]) -> Option<usize> {
    flag_value(args, NOOP_ROUNDS_FLAG)
}

fn flag_value(args: &[String], flag: &str) -> Option<usize> {
    let at = args.iter().position(|a| a == flag)?;
    args.get(at + 1)?.parse().ok()
}

/// The reply-path check's peak memory and time per size; linear: at most 4 KiB per address.
fn check_rows() -> Vec<Row> {
    let figures = check_figures::measure();
    let text = |f: &check_figures::CheckFigure| {
        format!(
            "{}: {:.2} MiB, {} ({} lines)",
            f.addresses,
            f.peak_kib as f64 / 1024.0,
            ms(f.took),
            f.lines
        )
    };
    let measured: Vec<String> = figures.iter().map(text).collect();
    let linear = figures
        .iter()
        .all(|f| f.peak_kib <= 4 * f.addresses as u64 + 1024);
    vec![row(
        "check: peak memory over the resident size before (time), one NIC with N addresses and rules",
        measured.join("; "),
        "5f60ef8: 6.6 MB at 256, 100 MB at 2,000, 1.18 GB at 8,000",
        "linear: ≤ 4 KiB per address + 1 MiB",
        Some(linear),
    )]
}

/// `--baseline=BINARY`: another build to compare start and api with.
fn baseline(args: &[String]) -> Option<PathBuf> {
    let path = args.iter().find_map(|a| a.strip_prefix("--baseline="))?;
    let path = PathBuf::from(path);
    if !path.is_file() {
        eprintln!("--baseline={}: no such file", path.display());
        std::process::exit(2);
    }
    Some(path)
}

/// The figures named on the command line (all when none is), in table order.
fn chosen_figures(args: &[String]) -> Vec<&'static str> {
    let named: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    for name in &named {
        if !FIGURES.contains(&name.as_str()) {
            eprintln!("unknown figure '{name}'; figures: {}", FIGURES.join(" "));
            std::process::exit(2);
        }
    }
    FIGURES
        .into_iter()
        .filter(|f| named.is_empty() || named.iter().any(|n| n == f))
        .collect()
}

/// Apply 8 × 32 from clean against `ip -batch`, and the no-change reconcile, from the same
/// rounds of `tests/benches/common/apply.rs` (the reconcile bench's measurement).
fn apply_rows(chosen: &[&str], effort: Effort) -> Vec<Row> {
    eprintln!("measuring apply and noop…");
    let instance = apply::instance();
    let settings = PlanSettings::default();
    let mut figures = Figures::default();
    for _ in 0..effort.apply_rounds {
        apply::measure_round(&instance, &settings, &mut figures);
    }
    let ours = median(&figures.apply_total);
    let reference = median(&figures.ip_batch);
    let ratio = ours.as_secs_f64() / reference.as_secs_f64();
    let mut rows = Vec::new();
    if chosen.contains(&"apply") {
        rows.push(row(
            "apply 8 NICs × 32 IPv4 (+ tables, rules) from clean",
            format!("{} ({ratio:.2}×)", ms(ours)),
            &format!("`ip -batch`: {}", ms(reference)),
            "≤ 1.0×",
            Some(ratio <= 1.0),
        ));
    }
    if chosen.contains(&"noop") {
        let cpu = median(&figures.noop_cpu);
        rows.push(row(
            "no-change reconcile (8 × 32, metadata in hand), thread CPU",
            format!("{}, 0 netlink writes", ms(cpu)),
            &format!("wall {}", ms(median(&figures.noop_wall))),
            "< 1 ms CPU, 0 writes",
            Some(cpu < Duration::from_millis(1)),
        ));
    }
    rows
}

/// Child mode: `rounds` no-change reconciles of the 8 × 32 instance in the current namespace
/// (already configured by the parent), asserting that each plans and writes nothing.
fn noop_rounds(rounds: usize) {
    let instance = apply::instance();
    let settings = PlanSettings::default();
    let mut netlink = Netlink::open().expect("open netlink");
    let mut events = Monitor::open().expect("subscribe to kernel events");
    // The record the daemon holds after configuring the namespace: what it finds of ours.
    let configured = netlink.state().expect("read kernel state");
    let owned = rebuild_owned(&instance, &configured, &settings);
    for _ in 0..rounds {
        let kernel = netlink.state().expect("read kernel state");
        let planned = plan_round(&instance, &kernel, &owned, &settings);
        assert!(
            planned.changes.is_empty(),
            "the namespace is not configured"
        );
        let (outcome, _) = apply_round(&mut netlink, planned, &kernel, &AtomicBool::new(false));
        assert_eq!(outcome.applied, 0);
    }
    // The kernel announces a change before it acknowledges it: anything is queued by now.
    let changed = events
        .next_batch(Duration::ZERO)
        .expect("read kernel events");
    assert!(
        changed.is_empty(),
        "a no-change reconcile changed the kernel: {changed:?}"
    );
}

/// Instructions of one no-change reconcile: this binary under callgrind doing 1 and then 21
/// rounds in a configured namespace; the difference over 20 leaves out start-up.
fn instruction_rows() -> Vec<Row> {
    let ns = apply::nic_namespace();
    let _entered = ns.enter();
    let instance = apply::instance();
    let mut netlink = Netlink::open().expect("open netlink");
    let kernel = netlink.state().expect("read kernel state");
    let planned = plan_round(
        &instance,
        &kernel,
        &Owned::default(),
        &PlanSettings::default(),
    );
    let (outcome, _) = apply_round(&mut netlink, planned, &kernel, &AtomicBool::new(false));
    assert!(outcome.failures.is_empty(), "{:?}", outcome.failures);
    settle_dad(&ns);
    let Some(one) = callgrind_instructions(1) else {
        return vec![row(
            "instructions per no-change reconcile (callgrind)",
            "valgrind not found".to_string(),
            "—",
            "—",
            None,
        )];
    };
    let many = callgrind_instructions(21).expect("valgrind ran once already");
    let per_round = many.saturating_sub(one) / 20;
    vec![row(
        "instructions per no-change reconcile (callgrind, 8 × 32)",
        format!("{:.2} M", per_round as f64 / 1e6),
        &format!("whole process, 1 round: {:.2} M", one as f64 / 1e6),
        "— (stable on a noisy machine)",
        None,
    )]
}

/// Waits until duplicate address detection has finished for every address of the namespace
/// (the links' own link-local addresses included): the kernel announces an address when its
/// detection ends, which the child would take for a change its rounds made.
fn settle_dad(ns: &support::netns::Netns) {
    let settled = support::running::wait_for(Duration::from_secs(10), || {
        let tentative = ns.json(&["ip", "-6", "-j", "address", "show", "tentative"]);
        tentative
            .as_array()
            .is_some_and(Vec::is_empty)
            .then_some(())
    });
    assert!(settled.is_some(), "addresses still tentative after 10 s");
}

/// Total instructions (`Collected`) of `footprint --noop-rounds N` under callgrind.
fn callgrind_instructions(rounds: usize) -> Option<u64> {
    let out_file = cleanup::temp_path("callgrind.out");
    let me = std::env::current_exe().expect("own path");
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(me)
        .args([NOOP_ROUNDS_FLAG, &rounds.to_string()])
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&out_file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "callgrind run failed: {stderr}");
    stderr
        .lines()
        .find_map(|l| l.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())
}

/// The glibc build, and the musl one when its target is installed, each started as root in
/// both ways (see `memory::StartMode`): on a machine with the `cloud-network` service user
/// (created for the run when the machine has none), which the daemon switches to, and on one
/// without it, where the daemon stays root.
fn memory_rows(effort: Effort) -> Vec<Row> {
    let _user = ServiceUser::ensure();
    let glibc = PathBuf::from(env!("CARGO_BIN_EXE_cloud-network"));
    let builds: Vec<_> = std::iter::once(("glibc", glibc))
        .chain(musl_binary().map(|m| ("musl", m)))
        .collect();
    let mut rows = Vec::new();
    for (name, binary) in &builds {
        for mode in [StartMode::ServiceUser, StartMode::Root] {
            rows.push(memory_row(name, binary, mode, effort));
        }
    }
    rows
}

fn memory_row(libc_name: &str, binary: &Path, mode: StartMode, effort: Effort) -> Row {
    let memory = memory::memory(binary, effort.memory_run, mode);
    let hwm = memory.hwm_kib as f64 / 1024.0;
    // Dynamic glibc maps its shared libraries' pages too (see the README).
    let limit = if libc_name == "musl" { 2.0 } else { 3.0 };
    row(
        &format!(
            "daemon ({libc_name}) VmHWM after {} s, Azure 3 NICs, {} (VmRSS; threads)",
            effort.memory_run.as_secs(),
            mode.label()
        ),
        format!(
            "{hwm:.2} MiB ({:.2} MiB; {} threads)",
            memory.rss_kib as f64 / 1024.0,
            memory.threads
        ),
        &memory::breakdown(&memory),
        &format!("≤ {limit} MiB, 4 threads"),
        Some(hwm <= limit && memory.threads == 4),
    )
}

/// Stripped release binaries: glibc (the one this bench runs) and musl when that target is
/// installed (built here into its own target directory).
fn size_rows() -> Vec<Row> {
    let glibc = Path::new(env!("CARGO_BIN_EXE_cloud-network"));
    let mut rows = vec![size_row("glibc", glibc)];
    if let Some(musl) = musl_binary() {
        rows.push(size_row("musl", &musl));
    }
    rows
}

fn size_row(libc_name: &str, binary: &Path) -> Row {
    let bytes = std::fs::metadata(binary).expect("stat the binary").len();
    let stripped = Command::new("file")
        .arg(binary)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(", stripped"))
        .unwrap_or(false);
    let mib = bytes as f64 / MIB;
    row(
        &format!("release binary size, {libc_name}"),
        format!(
            "{mib:.2} MiB{}",
            if stripped { "" } else { " (not stripped)" }
        ),
        "—",
        "≤ 2.0 MiB",
        Some(mib <= 2.0 && stripped),
    )
}

const MUSL: &str = "x86_64-unknown-linux-musl";

/// The musl build: the file `CLOUD_NETWORK_MUSL_BIN` names (`.ci/run` builds it first), or
/// one built here once per run. Under `CI=true` its rows are never skipped.
fn musl_binary() -> Option<PathBuf> {
    static BUILT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let binary = BUILT.get_or_init(|| match std::env::var_os("CLOUD_NETWORK_MUSL_BIN") {
        Some(path) => Some(PathBuf::from(path)).filter(|p| p.is_file()),
        None => build_musl(),
    });
    if binary.is_none() && std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI measures the musl rows: install {MUSL} or set CLOUD_NETWORK_MUSL_BIN to the static binary");
    }
    binary.clone()
}

fn build_musl() -> Option<PathBuf> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .ok()?;
    if !String::from_utf8_lossy(&installed.stdout).contains(MUSL) {
        eprintln!("{MUSL} not installed: musl rows skipped");
        return None;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target_dir = root.join("target").join("footprint-musl");
    let status = Command::new("cargo")
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--bin",
            "cloud-network",
            "--target",
            MUSL,
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .ok()?;
    status
        .success()
        .then(|| target_dir.join(MUSL).join("release/cloud-network"))
}

fn start_rows(effort: Effort, baseline: Option<&Path>) -> Vec<Row> {
    // A binary just built (the size figure builds the musl one) still has pages under
    // writeback, and exec faults on them wait for it: measure an installed binary instead.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let ours = Path::new(env!("CARGO_BIN_EXE_cloud-network"));
    let (mut mine, mut theirs) = (Vec::new(), Vec::new());
    // Against a baseline: three times the starts, in pairs whose order alternates (ours
    // first, then theirs first), so that neither build always starts on the heels of the other.
    let rounds = effort.starts * if baseline.is_some() { 3 } else { 1 };
    // A baseline from before the main rule configures everything else: both are timed to that.
    let completion = match baseline {
        Some(_) => Completion::WithoutMainRule,
        None => Completion::Whole,
    };
    for round in 0..rounds {
        let ours_first = round % 2 == 0;
        if ours_first {
            mine.push(lab_figures::start(ours, completion));
        }
        if let Some(baseline) = baseline {
            theirs.push(lab_figures::start(baseline, completion));
        }
        if !ours_first {
            mine.push(lab_figures::start(ours, completion));
        }
    }
    let (ready, kernel): (Vec<_>, Vec<_>) = mine.into_iter().unzip();
    let (ready, kernel) = (median(&ready), median(&kernel));
    let mut rows = vec![row(
        "start → all NICs configured (Azure, 2 NICs, lab)",
        format!(
            "{} to the kernel state; {} to READY=1",
            ms(kernel),
            ms(ready)
        ),
        "—",
        "≤ 5 ms",
        Some(kernel <= Duration::from_millis(5) && ready <= Duration::from_millis(5)),
    )];
    if let Some(baseline) = baseline {
        let (base_ready, base_kernel): (Vec<_>, Vec<_>) = theirs.into_iter().unzip();
        let (base_ready, base_kernel) = (median(&base_ready), median(&base_kernel));
        let ratio = kernel.as_secs_f64() / base_kernel.as_secs_f64();
        rows.push(row(
            "start → configured, this build / baseline (alternating runs)",
            format!(
                "{ratio:.2}× ({} / {}; medians of {rounds} starts each)",
                ms(kernel),
                ms(base_kernel)
            ),
            &format!(
                "baseline {}: READY=1 {}",
                baseline.display(),
                ms(base_ready)
            ),
            "≤ 1.10×",
            Some(ratio <= 1.10),
        ));
    }
    rows
}

fn request_rows(effort: Effort) -> Vec<Row> {
    let mut rows = Vec::new();
    for (provider, limit, formula) in [
        (ProviderKind::Azure, 1, ""),
        (ProviderKind::Gcp, 1, ""),
        (ProviderKind::Oracle, 1, ""),
        (ProviderKind::DigitalOcean, 1, ""),
        (
            ProviderKind::Aws,
            2 + 6 * 3 + 2,
            " (2 + 6 × NICs + 1 per delegated-prefix leaf; 2 NICs with one)",
        ),
        (ProviderKind::Alibaba, 2 + 5 * 3, " (2 + 5 × NICs)"),
    ] {
        let r = lab_figures::requests(provider, effort.refreshes, effort.gcp_idle);
        let worst = r.per_refresh.iter().copied().max().unwrap_or(0);
        let what = match provider {
            ProviderKind::Gcp => "per change",
            _ => "per refresh",
        };
        let mut measured = format!(
            "{worst} {what} (runs: {:?}); {} at start",
            r.per_refresh, r.at_start
        );
        if let Some((idle, count)) = r.idle {
            measured.push_str(&format!("; {count} in {} s idle", idle.as_secs()));
        }
        let idle_ok = r
            .idle
            .is_none_or(|(idle, n)| n as u64 <= idle.as_secs() / 30 + 1);
        rows.push(row(
            &format!("metadata requests, {provider}, 3 NICs"),
            measured,
            &format!("daemon CPU {} {what}", ms(r.cpu_per_refresh)),
            &format!("≤ {limit}{formula}"),
            Some(worst <= limit && idle_ok),
        ));
    }
    rows
}

fn hotplug_rows(effort: Effort) -> Vec<Row> {
    let limit = Duration::from_secs(2);
    let mut rows = Vec::new();
    for (name, delay) in [
        (
            "hot-plug: link appears → configured (metadata listed)",
            None,
        ),
        (
            "hot-plug: … metadata appears 500 ms after the link",
            Some(Duration::from_millis(500)),
        ),
    ] {
        let took: Vec<Duration> = (0..effort.hotplugs)
            .map(|_| lab_figures::hotplug(delay))
            .collect();
        let worst = took.iter().copied().max().unwrap_or_default();
        rows.push(row(
            name,
            format!("{} (worst {})", ms(median(&took)), ms(worst)),
            "—",
            "< 2 s",
            Some(worst < limit),
        ));
    }
    rows
}

/// SIGTERM during an apply of 5,000 addresses: the process is gone within 1 s with exit 0,
/// and what it applied stays.
fn stop_rows(effort: Effort) -> Vec<Row> {
    let stops: Vec<lab_figures::Stop> = (0..effort.stops)
        .map(|_| lab_figures::stop_mid_apply())
        .collect();
    let took: Vec<Duration> = stops.iter().map(|s| s.took).collect();
    let worst = took.iter().copied().max().unwrap_or_default();
    let clean = stops
        .iter()
        .all(|s| s.exit_code == Some(0) && s.on_eth1 > 1500);
    let kept: Vec<usize> = stops.iter().map(|s| s.on_eth1).collect();
    vec![row(
        "SIGTERM mid-apply (Azure, 5,000 addresses on eth1) → exit",
        format!(
            "{} (worst {}); exit codes {:?}",
            ms(median(&took)),
            ms(worst),
            stops.iter().map(|s| s.exit_code).collect::<Vec<_>>()
        ),
        &format!("addresses on eth1 after the exit: {kept:?} (kept)"),
        "≤ 1 s, exit 0, nothing removed",
        Some(worst <= Duration::from_secs(1) && clean),
    )]
}

fn api_rows(effort: Effort, baseline: Option<&Path>) -> Vec<Row> {
    let ours = Path::new(env!("CARGO_BIN_EXE_cloud-network"));
    let t = lab_figures::api(ours, effort.api_run);
    let mut rows = vec![row(
        "API GET /api/cloud/network, loopback, 2 keep-alive clients",
        format!("{:.0} req/s, p99 {}", t.per_second, ms(t.p99)),
        "—",
        "≥ 5000 req/s, p99 < 5 ms",
        Some(t.per_second >= 5000.0 && t.p99 < Duration::from_millis(5)),
    )];
    if let Some(baseline) = baseline {
        let base = lab_figures::api(baseline, effort.api_run);
        let ratio = t.per_second / base.per_second;
        rows.push(row(
            "API throughput, this build / baseline",
            format!(
                "{ratio:.2}× ({:.0} / {:.0} req/s)",
                t.per_second, base.per_second
            ),
            &format!("baseline {}: p99 {}", baseline.display(), ms(base.p99)),
            "≥ 0.90×",
            Some(ratio >= 0.90),
        ));
    }
    rows
}

fn print_table(rows: &[Row], effort: Effort) {
    println!("\n| figure | measured | reference (same run) | target | verdict |");
    println!("|---|---|---|---|---|");
    for r in rows {
        let verdict = match r.met {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "—",
        };
        println!(
            "| {} | {} | {} | {} | {verdict} |",
            r.figure, r.measured, r.reference, r.target
        );
    }
    println!(
        "\nMedians of {} apply rounds, {} starts, {} hot-plugs. {}",
        effort.apply_rounds,
        effort.starts,
        effort.hotplugs,
        apply::machine()
    );
}

/// Removal of everything this process made when it is interrupted: namespaces, the processes
/// in them, `/etc/netns` entries and temporary files all carry its pid in their names.
mod cleanup {
    use crate::support::lab::kill_processes_in;
    use std::path::PathBuf;
    use std::process::Command;

    /// A path in the temporary directory with this process's pid in its name.
    pub fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("cn-fp-{}-{name}", std::process::id()))
    }

    /// Blocks SIGINT and SIGTERM here (every later thread inherits it) and leaves them to a
    /// thread that cleans up and exits 130.
    pub fn on_signals() {
        // SAFETY: the set is initialised by sigemptyset before use; the signals are valid.
        let set = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            set
        };
        std::thread::spawn(move || {
            let mut signal = 0;
            // SAFETY: a valid, initialised set and a place to write the signal number.
            unsafe { libc::sigwait(&set, &mut signal) };
            eprintln!("signal {signal}: removing what the bench created");
            remove_all();
            std::process::exit(130);
        });
    }

    fn remove_all() {
        let mark = format!("-{}-", std::process::id());
        let list = Command::new("ip").args(["netns", "list"]).output();
        let names = list.map_or(String::new(), |o| String::from_utf8_lossy(&o.stdout).into());
        for ns in names.split_whitespace().filter(|n| n.contains(&mark)) {
            kill_processes_in(ns);
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            let _ = std::fs::remove_dir_all(format!("/etc/netns/{ns}"));
        }
        let temp = std::fs::read_dir(std::env::temp_dir());
        for entry in temp.into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().contains(&mark) {
                let path = entry.path();
                let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
            }
        }
    }
}
