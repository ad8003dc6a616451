#!/bin/bash
# The activation script of a simulated NixOS system (copied into every toplevel as `activate`; run
# by switch-to-configuration and at boot, as root): what NixOS's activation snippets do that a
# simulated host can show. Users and groups (update-users-groups.pl's semantics), /etc
# (setup-etc.pl's), the setuid wrappers in /run/wrappers/bin (the toplevel's wrappers: sudo only
# while security.sudo.enable), the host name, the configuration's system.activationScripts (as
# NixOS runs them: a failing one fails the activation, exit 1, after every other has run), and
# /run/current-system.
set -uo pipefail
PATH=/usr/bin:/bin:/usr/sbin:/sbin
systemConfig=$(cd "${0%/*}" && pwd -P)
hostName=
# shellcheck source=/dev/null
. "$systemConfig/activation.env"

# Users first: /etc entries may be owned by them (NixOS orders its etc snippet after users).
# The build writes users-groups.json's store path in, as users-groups.nix writes its spec's.
"$systemConfig/update-users-groups.pl" @usersGroups@
echo "setting up /etc..." >&2
"$systemConfig/setup-etc.pl" "$systemConfig/etc"

mkdir -p /run/wrappers
ln -sfn "$systemConfig/wrappers" /run/wrappers/bin.tmp && mv -T /run/wrappers/bin.tmp /run/wrappers/bin
echo "$hostName" > /proc/sys/kernel/hostname

# As NixOS's activation script: an error in a snippet sets its status and the script's, and goes on.
_status=0
# Snippets are the configuration's own shell, written for NixOS's activation script: no `set -u`.
set +u
trap "_status=1 _localstatus=\$?" ERR
# shellcheck source=/dev/null
. "$systemConfig/activation-snippets"
trap - ERR
set -u

ln -sfn "$systemConfig" /run/current-system
exit "$_status"
