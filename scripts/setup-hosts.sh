#!/usr/bin/env bash
# Prepares this machine for the simulated NixOS hosts of test/harness (run as root; idempotent).
# Every host shares the machine's /nix/store and Nix database, so the offline Nix settings are made once
# here; each host has its own /etc (accounts, sudoers, sshd) and starts in well under a second.
# Usage: setup-hosts.sh [--plan]   (--plan: print each change it would make, one a line, and change nothing)
set -euo pipefail
plan=
[ "${1:-}" = --plan ] && plan=1
# NIX_CONF_DIR is where Nix itself reads nix.conf from (default /etc/nix).
conf_dir=${NIX_CONF_DIR:-/etc/nix}
conf=$conf_dir/nix.conf
registry=$conf_dir/registry-empty.json

# Offline Nix: no binary cache (every build would first wait on the unreachable cache), no global
# flake registry download, no sandbox (Debian's Nix cannot sandbox here; the stub toplevel's builder
# uses the machine's /bin/sh).
settings=("sandbox=false" "experimental-features=nix-command flakes" "substituters=" "flake-registry=$registry" "warn-dirty=false")
# A setting's value in nix.conf, or "(unset)": an absent substituters is Nix's default cache, not "".
current() {
  grep -qE "^[[:space:]]*$1[[:space:]]*=" "$conf" 2>/dev/null || { echo "(unset)"; return; }
  sed -nE "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*(.*[^[:space:]])?[[:space:]]*$/\1/p" "$conf" | tail -n1
}
changed=()
for s in "${settings[@]}"; do
  [ "$(current "${s%%=*}")" = "${s#*=}" ] || changed+=("$s")
done
dirs=()
for d in /nix/var/nix/profiles /nix/var/nix/gcroots /nix/store /run/sshd /boot /home; do [ -d "$d" ] || dirs+=("$d"); done

if [ -n "$plan" ]; then
  [ ${#changed[@]} -eq 0 ] || echo "set in $conf (offline Nix for the simulated hosts): $(printf '%s; ' "${changed[@]}" | sed 's/; $//')"
  [ -f "$registry" ] || echo "write $registry (an empty flake registry)"
  [ ${#dirs[@]} -eq 0 ] || echo "make directories ${dirs[*]} (the store, and mount points of each host's private /boot, /home and sshd's /run/sshd)"
  exit 0
fi

mkdir -p "$conf_dir"
[ -f "$registry" ] || echo '{"flakes":[],"version":2}' > "$registry"
for s in "${changed[@]}"; do
  key=${s%%=*} value=${s#*=}
  if grep -qE "^[[:space:]]*${key}[[:space:]]*=" "$conf" 2>/dev/null; then
    sed -i -E "s|^[[:space:]]*${key}[[:space:]]*=.*|${key} = ${value}|" "$conf"
  else
    echo "${key} = ${value}" >> "$conf"
  fi
done
mkdir -p /nix/var/nix/profiles /nix/var/nix/gcroots /nix/store /boot /home
# sshd's privilege-separation directory (each host also makes one in its private /run).
mkdir -p /run/sshd && chmod 0755 /run/sshd
