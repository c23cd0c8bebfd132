#!/bin/sh
# Installs or uninstalls cloud-network: the binary and its cnctl symlink, the systemd unit,
# the default config, sysusers.d/tmpfiles.d files, the networkd drop-in, man pages and bash
# completion. Run from anywhere:
#
#   packaging/install.sh [install]      build the release binary (cargo) and install it
#   packaging/install.sh uninstall      remove everything installed but the config
#
# Environment:
#   DESTDIR             staging root (packages, tests); nothing outside it is touched and no
#                       systemd command runs
#   PREFIX              default /usr
#   SYSCONFDIR          default /etc
#   CLOUD_NETWORK_BIN   a binary built already (then cargo is not run)
#
# The config is installed only when there is none: an existing one is never overwritten, and
# uninstall leaves it (and the state directory, the user and the network configuration).
set -eu
umask 022

action=${1:-install}
top=$(cd "$(dirname "$0")/.." && pwd)
packaging="$top/packaging"
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr}
SYSCONFDIR=${SYSCONFDIR:-/etc}

root="$DESTDIR"
bindir="$root$PREFIX/bin"
libdir="$root$PREFIX/lib"
unit="$libdir/systemd/system/cloud-network.service"
networkd="$libdir/systemd/networkd.conf.d/cloud-network.conf"
sysusers="$libdir/sysusers.d/cloud-network.conf"
tmpfiles="$libdir/tmpfiles.d/cloud-network.conf"
mandir="$root$PREFIX/share/man"
completions="$root$PREFIX/share/bash-completion/completions"
config="$root$SYSCONFDIR/cloud-network/cloud-network.toml"

# Every path install creates, but the config.
installed_files() {
  printf '%s\n' "$bindir/cloud-network" "$bindir/cnctl" "$unit" "$networkd" "$sysusers" \
    "$tmpfiles" "$mandir/man8/cloud-network.8" "$mandir/man1/cnctl.1" \
    "$mandir/man5/cloud-network.toml.5" "$completions/cnctl" "$completions/cloud-network"
}

live_system() {
  [ -z "$DESTDIR" ] && [ "$(id -u)" -eq 0 ]
}

systemd_running() {
  live_system && [ -d /run/systemd/system ]
}

binary() {
  if [ -n "${CLOUD_NETWORK_BIN:-}" ]; then
    echo "$CLOUD_NETWORK_BIN"
    return
  fi
  cargo build --release --locked --manifest-path "$top/Cargo.toml" >&2
  echo "${CARGO_TARGET_DIR:-$top/target}/release/cloud-network"
}

do_install() {
  bin=$(binary)
  [ -x "$bin" ] || { echo "install.sh: $bin is not an executable file" >&2; exit 1; }
  install -D -m 0755 "$bin" "$bindir/cloud-network"
  ln -sfn cloud-network "$bindir/cnctl"
  mkdir -p "$(dirname "$unit")"
  sed "s|^ExecStart=/usr/bin/cloud-network\$|ExecStart=$PREFIX/bin/cloud-network|" \
    "$packaging/cloud-network.service" >"$unit"
  chmod 0644 "$unit"
  install -D -m 0644 "$packaging/networkd.conf" "$networkd"
  install -D -m 0644 "$packaging/sysusers.d/cloud-network.conf" "$sysusers"
  install -D -m 0644 "$packaging/tmpfiles.d/cloud-network.conf" "$tmpfiles"
  install -D -m 0644 "$packaging/man/cloud-network.8" "$mandir/man8/cloud-network.8"
  install -D -m 0644 "$packaging/man/cnctl.1" "$mandir/man1/cnctl.1"
  install -D -m 0644 "$packaging/man/cloud-network.toml.5" "$mandir/man5/cloud-network.toml.5"
  install -D -m 0644 "$packaging/completion/cnctl.bash" "$completions/cnctl"
  ln -sfn cnctl "$completions/cloud-network"
  if [ -e "$config" ] || [ -L "$config" ]; then
    echo "install.sh: keeping the existing $config"
  else
    install -D -m 0644 "$packaging/cloud-network.toml" "$config"
  fi
  activate
}

# On the running system: create the user and the state directory, tell systemd.
activate() {
  live_system || return 0
  if command -v systemd-sysusers >/dev/null; then systemd-sysusers "$sysusers"; fi
  if command -v systemd-tmpfiles >/dev/null; then systemd-tmpfiles --create "$tmpfiles"; fi
  if systemd_running; then systemctl daemon-reload; fi
  echo "installed; start it with: systemctl enable --now cloud-network.service"
  echo "the networkd drop-in takes effect when systemd-networkd restarts"
}

do_uninstall() {
  if systemd_running; then systemctl disable --now cloud-network.service || true; fi
  installed_files | while read -r path; do
    rm -f "$path"
  done
  if systemd_running; then systemctl daemon-reload; fi
  echo "uninstalled; kept $config"
}

case "$action" in
  install) do_install ;;
  uninstall) do_uninstall ;;
  *) echo "usage: $0 [install|uninstall]" >&2; exit 2 ;;
esac
