#!/usr/bin/env bash
# One-command demo: builds cloud-network, brings up the lab (a "cloud" namespace serving the
# emulated metadata service at 169.254.169.254, a VM namespace whose NICs carry the scenario's
# MACs, a peer host; the cloud drops packets a NIC sends from an address that is not its own),
# runs the daemon with only Provider= set, shows what it configured and pings the second NIC
# from the peer host. Everything is removed on exit, on failure and on Ctrl-C.
# cnctl works by name: the demo makes target/release/cnctl -> cloud-network and puts that
# directory first in PATH. See tests/lab/README.md.
# Usage, as root (or with sudo): tests/lab/demo.sh [azure|aws|gcp|oracle|alibaba|digitalocean]
# (default azure). With CARGO_BUILD_TARGET=x86_64-unknown-linux-musl it builds and runs the
# static binary (target/x86_64-unknown-linux-musl/release).
set -euo pipefail

provider=${1:-azure}
case "$provider" in
  azure|aws|gcp|oracle|alibaba|digitalocean) ;;
  *) echo "usage: $0 [azure|aws|gcp|oracle|alibaba|digitalocean]" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "$0: run as root (it creates network namespaces)" >&2; exit 1; }

top=$(cd "$(dirname "$0")/../.." && pwd)
echo "building (cargo build --release)..."
build=(build --release --quiet --manifest-path "$top/Cargo.toml" --bin cloud-network --example lab)
if command -v cargo >/dev/null 2>&1; then
  cargo "${build[@]}"
elif [ -n "${SUDO_USER:-}" ]; then
  # sudo's PATH rarely holds rustup's cargo: build as the user who ran sudo, with their login PATH.
  runuser -u "$SUDO_USER" -- env ${CARGO_BUILD_TARGET:+CARGO_BUILD_TARGET="$CARGO_BUILD_TARGET"} bash -lc 'cargo "$@"' cargo "${build[@]}"
else
  echo "$0: cargo not found in PATH" >&2; exit 1
fi
out="$top/target/${CARGO_BUILD_TARGET:+$CARGO_BUILD_TARGET/}release"
bin="$out/cloud-network"
lab="$out/examples/lab"
ln -sfn cloud-network "$out/cnctl"
export PATH="$out:$PATH"

name="cn-demo-$$"
vm="$name-v"
work=$(mktemp -d)
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  "$lab" down "$name"
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cp "$top/src/emulator/scenarios/$provider.json" "$work/scenario.json"
"$lab" up "$name" "$provider" "$work/scenario.json" "$bin"

cat >"$work/cloud-network.toml" <<TOML
[System]
Provider="$provider"
StateDir="$work/state"
TOML

ip netns exec "$vm" "$bin" daemon --config "$work/cloud-network.toml" >"$work/daemon.log" 2>&1 &
daemon_pid=$!

secondary=""
for _ in $(seq 100); do
  secondary=$(ip -n "$vm" -4 -o address show dev eth1 | awk '{ split($4, a, "/"); print a[1]; exit }')
  [ -n "$secondary" ] && ip netns exec "$vm" cnctl status network >/dev/null 2>&1 && break
  sleep 0.1
done
[ -n "$secondary" ] || { echo "the daemon did not configure eth1; its log:" >&2; cat "$work/daemon.log" >&2; exit 1; }

show() { printf '\n$ %s\n' "$*"; ip netns exec "$vm" "$@"; }
show cnctl status network
show cnctl status links
show ip rule show
show ip route show table 10001
printf '\n$ ping %s    # from the peer host, answered over eth1\n' "$secondary"
"$lab" ping "$name" "$secondary"
