#!/usr/bin/env bash
# switch-to-configuration of a simulated NixOS system (copied into every toplevel as bin/). Compares
# the running units (/run/sim/units.json) with this configuration's (enabled services and
# systemd.services, identified by their configuration), prints the real tool's unit messages,
# links /etc entries and /run/current-system, and applies the host's injected fault.
# Exit codes as the real one: 0 ok, 1 usage/generic, 2 activation script failed, 4 a unit failed.
set -uo pipefail
action=${1:-}
case $action in
  switch|boot|test|dry-activate|check) ;;
  *) echo "Usage: $0 [switch|boot|test|dry-activate|check]" >&2; exit 1 ;;
esac
toplevel=$(readlink -f "$(dirname "$(readlink -f "$0")")/..")
sim=/run/sim
mkdir -p "$sim"
units_file=$sim/units.json
[ -s "$units_file" ] || echo '{}' > "$units_file"
fault=$(jq -r '.kind // empty' "$sim/fault.json" 2>/dev/null)

exec 8>"$sim/switch-to-configuration.lock"
flock 8

[ "$action" = check ] && exit 0
if [ "$action" = boot ]; then
  echo "updating the boot default to $toplevel" >&2
  exit 0
fi

# Units this configuration wants: { "<unit>": { "hash": <its configuration as JSON>, "reloadHash": <its
# reloadTriggers>, "reload": bool } }. A unit configured both by a module (services.caddy) and under
# systemd.services (its restart or reload triggers) is one unit, as on NixOS: a change to either part
# restarts it (or reloads it, for Caddy and reloadIfChanged), a change to its reloadTriggers alone reloads it.
desired=$(jq -c '
  def unitname($n): if $n == "openssh" then "sshd.service" elif $n == "xserver" then "display-manager.service" else "\($n).service" end;
  (((.services // {}) | to_entries | map(select((.value | type) == "object" and .value.enable == true))
     | map({ key: unitname(.key), hash: (.value | tojson), reloadHash: "", reload: (.key == "caddy" and (.value.enableReload // true)) }))
  + ((.systemd.services // {}) | to_entries | map(select(.value.enable != false))
     | map({ key: "\(.key).service", hash: (.value | del(.reloadTriggers) | tojson), reloadHash: ((.value.reloadTriggers // []) | tojson), reload: (.value.reloadIfChanged // false) })))
  | group_by(.key)
  | map({ key: .[0].key, value: { hash: (map(.hash) | join(" ")), reloadHash: (map(.reloadHash) | join("")), reload: any(.[]; .reload) } })
  | from_entries' "$toplevel/config.json")
plan=$(jq -n -c --argjson old "$(cat "$units_file")" --argjson new "$desired" '
  def changed: $old[.].hash != $new[.].hash;
  def triggered: ($old[.].reloadHash // "") != $new[.].reloadHash;
  { stop: [$old | keys[] | select($new[.] == null and $old[.].state != "inactive")],
    start: [$new | keys[] | select($old[.] == null or $old[.].state == "inactive")],
    restart: [$new | keys[] | select($old[.] != null and $old[.].state != "inactive" and (changed or $old[.].state == "failed") and ($new[.].reload | not))],
    reload: [$new | keys[] | select($old[.] != null and $old[.].state == "active" and ((changed and $new[.].reload) or ((changed | not) and triggered)))] }')
list() { jq -r --arg k "$1" '.[$k] | join(", ")' <<< "$plan"; }
say() { # verb key
  local l; l=$(list "$2")
  [ -n "$l" ] && echo "$1 the following units: $l" >&2
  return 0
}

if [ "$action" = dry-activate ]; then
  say "would stop" stop
  echo "would activate the configuration..." >&2
  say "would reload" reload
  say "would restart" restart
  say "would start" start
  exit 0
fi

# A fault that breaks activation breaks the configuration it was set for: the first generation switched
# to after it was set. Switching back to the previous one (a rollback) runs clean, as on a real host
# whose old configuration worked.
case $fault in
  activation-failure|unit-failure|hang)
    [ -s "$sim/faulty-generation" ] || echo "$toplevel" > "$sim/faulty-generation"
    [ "$(cat "$sim/faulty-generation")" = "$toplevel" ] || fault= ;;
esac

say stopping stop
echo "activating the configuration..." >&2
rc=0
case $fault in
  activation-failure)
    echo "Activation script snippet 'simulatedFault' failed (1)" >&2
    rc=2 ;;
  sshd-restart-mid-activation)
    echo sshd-restart > "$sim/ctl.fifo"; sleep 1 ;;
  network-drop-mid-activation)
    echo "network-drop $(jq -r '.seconds // 3' "$sim/fault.json")" > "$sim/ctl.fifo"; sleep 1 ;;
  hang)
    exec sleep infinity ;;
esac

echo "setting up /etc..." >&2
ln -sfn "$toplevel/etc" /etc/static
touch "$sim/etc-managed"
(cd "$toplevel/etc" && find . -mindepth 1 \( -type f -o -type l \) | sed 's|^\./||') | sort > "$sim/etc-managed.new"
comm -23 <(sort "$sim/etc-managed") "$sim/etc-managed.new" | while read -r rel; do
  [ -L "/etc/$rel" ] && rm -f "/etc/$rel"
done
while read -r rel; do
  mkdir -p "/etc/$(dirname "$rel")"
  ln -sfn "/etc/static/$rel" "/etc/$rel"
done < "$sim/etc-managed.new"
mv "$sim/etc-managed.new" "$sim/etc-managed"
ln -sfn "$toplevel" /run/current-system

say reloading reload
say restarting restart
say starting start

failed=
if [ "$fault" = unit-failure ]; then
  failed=$(jq -r '.unit // empty' "$sim/fault.json")
  [ -n "$failed" ] || failed=$(jq -r '(.start + .restart + .reload)[0] // empty' <<< "$plan")
  [ -n "$failed" ] || failed=$(jq -r 'keys[0] // "simulated.service"' <<< "$desired")
  case $failed in *.*) ;; *) failed=$failed.service ;; esac
fi
# The running units after the switch: the desired ones, one of them failed under the fault.
jq -n --argjson new "$desired" --arg failed "$failed" \
  '$new | with_entries(.value = { hash: .value.hash, reloadHash: .value.reloadHash, state: (if .key == $failed then "failed" else "active" end) })
   + (if $failed != "" and $new[$failed] == null then { ($failed): { hash: "", state: "failed" } } else {} end)' \
  > "$units_file.tmp" && mv "$units_file.tmp" "$units_file"
if [ -n "$failed" ]; then
  echo "warning: the following units failed: $failed" >&2
  echo "" >&2
  echo "× $failed" >&2
  echo "     Active: failed (Result: exit-code)" >&2
  rc=4
fi

if [ "$rc" = 0 ] && [ "$fault" = unreachable-after-switch ] && [ ! -e "$sim/unreachable-generation" ]; then
  # sshd refuses connections until this generation is no longer the running one. Only the first
  # switch after the fault was set is faulty: switching back (the rollback) must not be.
  echo "$toplevel" > "$sim/unreachable-generation"
  echo "unreachable $toplevel" > "$sim/ctl.fifo"
fi
exit "$rc"
