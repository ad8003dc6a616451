#!/usr/bin/env bash
# Prepares this machine for the simulated NixOS hosts of test/harness (run as root; idempotent).
# Every host shares the machine's /etc/passwd, /nix/store and Nix database, so the deploy user, the
# sudo rule and the offline Nix settings are made once here; each host then starts in well under a second.
set -euo pipefail

deploy_user=deploy

need_pkgs=()
command -v sudo >/dev/null || need_pkgs+=(sudo)
command -v sshd >/dev/null || [ -x /usr/sbin/sshd ] || need_pkgs+=(openssh-server)
command -v nix >/dev/null || need_pkgs+=(nix-bin)
command -v jq >/dev/null || need_pkgs+=(jq)
command -v nsenter >/dev/null || need_pkgs+=(util-linux)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# Offline Nix: no binary cache (every build would first wait on the unreachable cache), no global
# flake registry download, no sandbox (Debian's Nix cannot sandbox here; the stub toplevel's builder
# uses the machine's /bin/sh).
mkdir -p /etc/nix
[ -f /etc/nix/registry-empty.json ] || echo '{"flakes":[],"version":2}' > /etc/nix/registry-empty.json
set_nix_option() {
  local key=$1 value=$2
  if grep -qE "^[[:space:]]*${key}[[:space:]]*=" /etc/nix/nix.conf 2>/dev/null; then
    sed -i -E "s|^[[:space:]]*${key}[[:space:]]*=.*|${key} = ${value}|" /etc/nix/nix.conf
  else
    echo "${key} = ${value}" >> /etc/nix/nix.conf
  fi
}
set_nix_option sandbox false
set_nix_option experimental-features "nix-command flakes"
set_nix_option substituters ""
set_nix_option flake-registry /etc/nix/registry-empty.json
set_nix_option warn-dirty false
mkdir -p /nix/var/nix/profiles /nix/var/nix/gcroots /nix/store

# sshd's privilege-separation directory (each host also makes one in its private /run).
mkdir -p /run/sshd && chmod 0755 /run/sshd

# Kept for older harness versions in other worktrees (this machine is shared): hosts now have their
# own /etc/passwd, /etc/sudoers and homes, made by their installed NixOS configuration, and do not
# read the machine's deploy account, sudoers.d rule or /usr/local/sbin. Older hosts shared one
# account from /etc/passwd and bound their stand-ins over /usr/local/sbin.
if ! id -u "$deploy_user" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash "$deploy_user"
fi
# '*' instead of '!': with UsePAM no, sshd refuses even key logins to a locked ('!') account.
usermod -p '*' "$deploy_user"
mkdir -p /etc/sudoers.d
echo "$deploy_user ALL=(ALL) NOPASSWD: ALL" > /etc/sudoers.d/pulumi-nixos-deploy
chmod 0440 /etc/sudoers.d/pulumi-nixos-deploy

mkdir -p /usr/local/sbin
# Mount points of each host's private /boot and /home.
mkdir -p /boot /home
echo "setup-hosts: ready (deploy user '$deploy_user', offline nix.conf)"
