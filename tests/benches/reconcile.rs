//! The reconcile benchmark (`sudo cargo bench --bench reconcile`): 8 NICs × 32 IPv4 addresses
//! with their tables and rules, applied from a clean namespace by our netlink layer and by
//! `ip -batch` (the reference), plus a no-change reconcile with its CPU time, each part timed
//! apart. Prints a Markdown table; `cargo bench --bench footprint` gives the summary figures.

#[path = "common/apply.rs"]
mod apply;
#[path = "../support/mod.rs"]
mod support;

use apply::{machine, median, ms, Figures, EXPECTED_CHANGES, NOOP_REPEATS};
use cloud_network::plan::PlanSettings;
use std::time::Duration;

const ROUNDS: usize = 15;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("a benchmark, not a test: run it with `sudo cargo bench --bench reconcile`");
        return;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("the reconcile benchmark needs root (network namespaces): use sudo");
        std::process::exit(1);
    }
    let instance = apply::instance();
    let settings = PlanSettings::default();
    let mut figures = Figures::default();
    for round in 0..ROUNDS {
        apply::measure_round(&instance, &settings, &mut figures);
        eprintln!("round {}/{ROUNDS} done", round + 1);
    }
    print_report(&figures);
}

fn print_report(f: &Figures) {
    let reference = median(&f.ip_batch);
    let rows: [(&str, &[Duration]); 9] = [
        (
            "our apply from clean (open + state + plan + apply_round)",
            &f.apply_total,
        ),
        ("… of which open + state", &f.open_and_state),
        ("… of which plan_round (desired + prune + diff)", &f.plan),
        ("… of which apply_round (one netlink batch)", &f.apply_round),
        (
            "no-change reconcile (state + plan_round + empty apply_round), wall",
            &f.noop_wall,
        ),
        ("no-change reconcile, thread CPU time", &f.noop_cpu),
        ("`ip -batch FILE` in the namespace (reference)", &f.ip_batch),
        ("`ip netns exec NS ip -batch FILE`", &f.ip_netns_exec),
        ("`ip -batch /dev/null` (process start-up)", &f.ip_startup),
    ];
    println!("\n{EXPECTED_CHANGES} changes: 8 links up, 256 addresses, 14 routes, 449 rules.");
    println!("{ROUNDS} rounds (no-change reconcile: {NOOP_REPEATS} per round).\n");
    println!("| figure | median | min | ratio to ip -batch |");
    println!("|---|---:|---:|---:|");
    for (name, samples) in rows {
        let m = median(samples);
        println!(
            "| {name} | {} | {} | {:.2} |",
            ms(m),
            ms(min(samples)),
            m.as_secs_f64() / reference.as_secs_f64()
        );
    }
    println!("\n{}", machine());
}

fn min(samples: &[Duration]) -> Duration {
    samples.iter().copied().min().unwrap_or_default()
}
