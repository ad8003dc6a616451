#!/bin/bash
# The activation script of a simulated NixOS system (copied into every toplevel as `activate`; run
# by switch-to-configuration and at boot, as root): what NixOS's activation snippets do that a
# simulated host can show. Users and groups (update-users-groups.pl's semantics), /etc
# (setup-etc.pl's: /etc/static is the toplevel's etc, entries are symlinks into it, entries with a
# mode are copies with their owner, entries gone from the configuration are removed), the setuid
# wrappers in /run/wrappers/bin, the host name, and /run/current-system.
set -uo pipefail
PATH=/usr/bin:/bin:/usr/sbin:/sbin
systemConfig=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
facts=$systemConfig/host.json

echo "setting up /etc..." >&2
ln -sfn "$systemConfig/etc" /etc/.static.tmp && mv -T /etc/.static.tmp /etc/static
managed=/etc/.sim-managed # what the previous activation put in /etc (symlinks and copies)
touch "$managed" /etc/.clean
(cd /etc/static && find . -mindepth 1 \( -type f -o -type l \) ! -name '*.mode' ! -name '*.uid' ! -name '*.gid' | sed 's|^\./||' | sort) > "$managed.new"
comm -23 <(sort "$managed") "$managed.new" | while read -r rel; do
  if [ -L "/etc/$rel" ] || grep -qxF "$rel" /etc/.clean; then rm -f "/etc/$rel"; fi
done
: > /etc/.clean.new
while read -r rel; do
  mkdir -p "/etc/$(dirname "$rel")"
  if [ -e "/etc/static/$rel.mode" ]; then
    uid=$(cat "/etc/static/$rel.uid") gid=$(cat "/etc/static/$rel.gid")
    cp --remove-destination "/etc/static/$rel" "/etc/$rel.tmp"
    chown "${uid#+}:${gid#+}" "/etc/$rel.tmp" && chmod "$(cat "/etc/static/$rel.mode")" "/etc/$rel.tmp"
    mv -f "/etc/$rel.tmp" "/etc/$rel"
    echo "$rel" >> /etc/.clean.new
  else
    ln -sfn "/etc/static/$rel" "/etc/$rel"
  fi
done < "$managed.new"
mv "$managed.new" "$managed"
mv /etc/.clean.new /etc/.clean

"$systemConfig/update-users-groups.pl" "$systemConfig/users-groups.json"

# Setuid wrappers: sudo only while security.sudo.enable; the host's sudo is the machine's.
rm -rf /run/wrappers/bin.new && mkdir -p /run/wrappers/bin.new
for w in su passwd mount umount $(jq -r 'if .sudo then "sudo sudoedit" else empty end' "$facts"); do
  for d in /usr/bin /bin /usr/sbin /sbin; do [ -x "$d/$w" ] && { ln -s "$d/$w" "/run/wrappers/bin.new/$w"; break; }; done
done
rm -rf /run/wrappers/bin && mv /run/wrappers/bin.new /run/wrappers/bin

hostname "$(jq -r .hostName "$facts")"
ln -sfn "$systemConfig" /run/current-system
