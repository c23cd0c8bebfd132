//! Every input kept for the fuzz targets, run through the same harness as the fuzzers: the
//! hand-written seeds (`tests/fuzz/seeds/<target>/`) and every case a fuzzer once found
//! (`tests/fuzz/regressions/<target>/`). A new finding becomes a regression test by dropping
//! its file there; `tests/fuzz/run.sh` does that itself.

#[path = "fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn run_all(kind: &str) -> usize {
    let mut count = 0;
    for (target, _) in harness::TARGETS {
        for file in inputs(kind, target) {
            let data = std::fs::read(&file).expect("a readable input");
            let outcome = std::panic::catch_unwind(|| harness::run(target, &data));
            assert!(outcome.is_ok(), "{target} fails on {}", file.display());
            count += 1;
        }
    }
    count
}

#[test]
fn every_seed_passes_its_target() {
    for (target, _) in harness::TARGETS {
        assert!(
            inputs("seeds", target).len() >= 3,
            "{target} has at least three hand-written seeds"
        );
    }
    assert!(run_all("seeds") >= 24);
}

#[test]
fn every_found_case_stays_fixed() {
    run_all("regressions");
}

/// The fixture bodies `seed.sh` copies into the corpora, as (target, file).
fn fixture_inputs() -> Vec<(&'static str, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut found = Vec::new();
    for (target, dir) in [
        ("azure_parse", "azure"),
        ("gcp_parse", "gcp"),
        ("oracle_parse", "oci"),
        ("ec2_parse", "ec2"),
        ("alibaba_parse", "alibaba"),
    ] {
        for entry in std::fs::read_dir(root.join(dir)).expect("the shared fixtures") {
            let path = entry.expect("a readable directory entry").path();
            let body = if path.is_dir() {
                path.join("metadata.json")
            } else {
                path
            };
            found.push((target, body));
        }
    }
    found.sort();
    found
}

#[test]
fn every_fixture_passes_its_target() {
    let inputs = fixture_inputs();
    assert!(inputs.len() >= 30, "{} fixtures", inputs.len());
    for (target, file) in inputs {
        let data = std::fs::read(&file).expect("a readable fixture");
        let outcome = std::panic::catch_unwind(|| harness::run(target, &data));
        assert!(outcome.is_ok(), "{target} fails on {}", file.display());
    }
}
