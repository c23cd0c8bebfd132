#!/usr/bin/env bash
# One-command demo: builds cloud-network, creates a throwaway network namespace whose NICs carry
# the MACs of the emulator's built-in scenario, serves that scenario on 127.0.0.1 inside the
# namespace, runs the daemon once and shows what it configured. Everything is removed on exit.
# Usage: sudo tests/lab/demo.sh [azure|aws|gcp]      (default azure)
set -euo pipefail

provider=${1:-azure}
case "$provider" in
  azure) macs=(00:0d:3a:4f:6b:10 00:0d:3a:4f:6b:11) ;;
  aws)   macs=(0a:3f:5c:1e:7d:01 0a:3f:5c:1e:7d:02) ;;
  gcp)   macs=(42:01:0a:80:00:0c 42:01:c0:a8:01:05) ;;
  *) echo "usage: $0 [azure|aws|gcp]" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "$0: run as root (it creates a network namespace)" >&2; exit 1; }

top=$(cd "$(dirname "$0")/../.." && pwd)
cargo build --release --quiet --manifest-path "$top/Cargo.toml"
bin="$top/target/release/cloud-network"

ns="cn-demo-$$"
work=$(mktemp -d)
emulator_pid=""
cleanup() {
  [ -n "$emulator_pid" ] && kill "$emulator_pid" 2>/dev/null && wait "$emulator_pid" 2>/dev/null
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_ns() { ip netns exec "$ns" "$@"; }
ip netns add "$ns"
in_ns ip link set lo up
for i in 0 1; do
  in_ns ip link add name "eth$i" address "${macs[$i]}" type veth peer name "peer$i"
  in_ns ip link set "peer$i" up
done
in_ns ip link set eth0 up

port=1338
ip netns exec "$ns" "$bin" emulate --provider "$provider" --listen "127.0.0.1:$port" \
  >"$work/emulator.log" 2>&1 &
emulator_pid=$!
for _ in $(seq 50); do in_ns bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null && break; sleep 0.1; done

cat >"$work/cloud-network.toml" <<TOML
[System]
Provider="$provider"
MetadataEndpoint="http://127.0.0.1:$port"
StateDir="$work/state"
TOML

show() { printf '\n$ %s\n' "$*"; in_ns "$@"; }
show "$bin" daemon --config "$work/cloud-network.toml" --dry-run
show "$bin" daemon --config "$work/cloud-network.toml" --oneshot
show "$bin" daemon --config "$work/cloud-network.toml" --oneshot
show ip -br address show
show ip rule show
show ip route show table 10001
