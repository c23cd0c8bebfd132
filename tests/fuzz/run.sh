#!/usr/bin/env bash
# Runs every fuzz target (or those named in FUZZ_TARGETS) for SECONDS each, default 30.
# Installs cargo-fuzz when missing, seeds the corpora, and copies whatever libFuzzer finds
# (crash-*, timeout-*, oom-*, leak-*) into tests/fuzz/regressions/<target>/, where
# `cargo test --test fuzz_regressions` replays it from then on. Exits non-zero on a finding.
# Usage: tests/fuzz/run.sh [SECONDS]
#        FUZZ_TARGETS="api_request ec2_parse" tests/fuzz/run.sh 600
# FUZZ_BUILD adds cargo-fuzz build flags: CI uses "--dev --sanitizer none" (a much quicker build;
# safe Rust gains little from ASan); the default is cargo-fuzz's optimized ASan build.
set -euo pipefail
seconds="${1:-30}"
here="$(cd "$(dirname "$0")" && pwd)"
read -r -a build_flags <<<"${FUZZ_BUILD:-}"
all_targets="azure_parse gcp_parse oracle_parse digitalocean_parse ec2_parse alibaba_parse ec2_listing config_parse duration_parse api_request"
read -r -a targets <<<"${FUZZ_TARGETS:-$all_targets}"

# The pinned cargo-fuzz, also named in .ci/run and tests/fuzz/README.md.
cargo_fuzz_version=0.13.2
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --version "$cargo_fuzz_version" --locked
fi
"$here/seed.sh"

# libFuzzer needs -Zsanitizer; RUSTC_BOOTSTRAP lets the stable toolchain accept it.
export RUSTC_BOOTSTRAP=1
cd "$here"
start=$(date +%s)
for target in "${targets[@]}"; do
  cargo fuzz build --fuzz-dir "$here" "${build_flags[@]}" "$target"
done
echo "run.sh: built ${#targets[@]} targets in $(($(date +%s) - start)) s"

found=0
for target in "${targets[@]}"; do
  rm -rf "artifacts/$target"
  status=0
  cargo fuzz run --fuzz-dir "$here" "${build_flags[@]}" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 || status=$?
  for artifact in "artifacts/$target"/*; do
    [ -f "$artifact" ] || continue
    mkdir -p "regressions/$target"
    cp "$artifact" "regressions/$target/"
    echo "run.sh: $target found $(basename "$artifact"): tests/fuzz/regressions/$target/" >&2
    found=1
  done
  if [ "$status" -ne 0 ] && [ "$found" -eq 0 ]; then
    echo "run.sh: $target exited with $status without an artifact" >&2
    found=1
  fi
done
echo "run.sh: ${#targets[@]} targets, ${seconds} s each, total $(($(date +%s) - start)) s"
exit "$found"
