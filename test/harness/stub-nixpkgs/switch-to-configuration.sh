#!/bin/bash
# switch-to-configuration of a simulated NixOS system (copied into every toplevel as bin/). For
# switch and boot it first installs the boot loader (systemd-boot entries in /boot/loader, or
# /boot/grub/grub.cfg; systemd-boot needs EFI firmware), as the real one does; boot stops there.
# For switch and test it compares the running units (/run/sim/units.json) with this configuration's
# (units.jq), prints the real tool's unit messages, runs the toplevel's activate (users, /etc,
# wrappers, /run/current-system), has the host's init reconcile sshd with the new configuration
# (its port, keys, firewall and addresses), and applies the host's injected fault.
# Before any of it, the pre-switch check of system.switch.inhibitors.
# Exit codes as the real one: 0 ok, 1 usage/generic/boot loader, 2 activation script failed, 4 a unit failed.
set -uo pipefail
# A wrapped program: its own tools by absolute PATH (a transient unit has only systemd's bin).
PATH=/usr/bin:/bin:/usr/sbin:/sbin
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

# The pre-switch check of system.switch.inhibitors (switchable-system.nix), skipped as the real one
# skips every pre-switch check when NIXOS_NO_CHECK=1: for switch, test and check, an inhibitor that
# both the running system (/run/current-system) and this one declare, with another value, refuses
# the action before anything changes, with NixOS's text and switch-to-configuration's exit code 1.
# boot and dry-activate are not checked.
check_inhibitors() {
  local diff
  case $action in
    boot|dry-activate) echo "Not checking switch inhibitors (action = $action)"; return 0 ;;
  esac
  echo -n "Checking switch inhibitors..."
  diff=$(jq -r -n --rawfile current "$(readlink -e /run/current-system/switch-inhibitors || echo /dev/null)" \
    --rawfile newgen "$(readlink -e "$toplevel/switch-inhibitors" || echo /dev/null)" '
    ($current | if . == "" then {} else fromjson end) as $old
    | ($newgen | if . == "" then {} else fromjson end) as $new
    | $old | to_entries
    | map(select(.key | in($new)) | select(.value != $new[.key]) | [.key, ":", .value, "->", $new[.key]] | join(" "))
    | join("\n")')
  if [ -z "$diff" ]; then echo " done"; return 0; fi
  echo
  echo "There are changes to critical components of the system:"
  echo
  echo "$diff"
  echo
  echo "Switching into this system is not recommended."
  echo "You probably want to run 'nixos-rebuild boot' and reboot your system instead."
  echo
  echo "If you really want to switch into this configuration directly, then"
  echo "you can set NIXOS_NO_CHECK=1 to ignore pre-switch checks."
  echo
  echo "WARNING: doing so might cause the switch to fail or your system to become unstable."
  echo
  return 1
}
if [ "${NIXOS_NO_CHECK:-}" != 1 ] && ! check_inhibitors >&2; then
  echo "Pre-switch check 'switchInhibitors' failed" >&2
  echo "Pre-switch checks failed" >&2
  exit 1
fi

[ "$action" = check ] && exit 0

# --- the boot loader: entries for every generation of the system profile, the profile's the default
install_bootloader() {
  local profile=/nix/var/nix/profiles/system kind default link n
  kind=$(jq -r .bootLoader.kind "$toplevel/host.json")
  default=$(readlink "$profile"); default=${default%-link}; default=${default##*-}
  case $kind in
    systemd-boot)
      if [ ! -d /sys/firmware/efi ]; then
        echo "Couldn't find EFI system partition. It is recommended to mount it to /boot or /efi." >&2
        return 1
      fi
      mkdir -p /boot/loader/entries /boot/EFI/systemd /boot/EFI/BOOT
      rm -f /boot/loader/entries/nixos-generation-*.conf
      for link in "$profile"-*-link; do
        [ -L "$link" ] || continue
        n=${link%-link}; n=${n##*-}
        printf 'title NixOS\nversion Generation %s NixOS %s\nlinux %s\noptions init=%s/init %s\n' \
          "$n" "$(cat "$link/nixos-version")" "$(readlink -f "$link/kernel")" "$(readlink -f "$link")" "$(cat "$link/kernel-params")" \
          > "/boot/loader/entries/nixos-generation-$n.conf"
      done
      printf 'timeout 5\ndefault nixos-generation-%s.conf\nconsole-mode keep\n' "$default" > /boot/loader/loader.conf ;;
    grub)
      echo "updating GRUB 2 menu..." >&2
      if [ "${NIXOS_INSTALL_BOOTLOADER:-}" = 1 ] || [ ! -e /boot/grub/grub.cfg ]; then
        jq -r '.bootLoader.devices[]' "$toplevel/host.json" | while read -r dev; do
          echo "installing the GRUB 2 boot loader on $dev..." >&2
        done
      fi
      mkdir -p /boot/grub
      {
        echo "set default=0"
        echo "set timeout=5"
        for link in $(ls -d "$profile"-*-link | sort -t- -k2 -n -r); do
          n=${link%-link}; n=${n##*-}
          printf 'menuentry "NixOS - Generation %s" {\n  linux %s init=%s/init %s\n}\n' \
            "$n" "$(readlink -f "$link/kernel")" "$(readlink -f "$link")" "$(cat "$link/kernel-params")"
        done
      } > /boot/grub/grub.cfg.tmp && mv /boot/grub/grub.cfg.tmp /boot/grub/grub.cfg ;;
    *)
      echo "Warning: do not know how to make this configuration bootable; please enable a boot loader." >&2 ;;
  esac
}
if [ "$action" = switch ] || [ "$action" = boot ]; then
  install_bootloader || { echo "Failed to install bootloader" >&2; exit 1; }
  # unhealthy-boot breaks the first generation made boot default after it was set (the host's init
  # fails its unit when it boots it).
  if [ "$fault" = unhealthy-boot ] && [ ! -s "$sim/faulty-generation" ]; then echo "$toplevel" > "$sim/faulty-generation"; fi
fi
[ "$action" = boot ] && exit 0

desired=$(jq -c --argjson packages "$(cat "$toplevel/unit-packages.json")" -f "$toplevel/units.jq" "$toplevel/config.json")
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

# systemd re-executes itself when the new system's differs from the running one (recorded at boot
# and by the last switch), as the real one compares /proc/1/exe with the new systemd.
new_systemd=$(readlink -f "$toplevel/systemd")
restart_systemd=
[ "$new_systemd" = "$(cat "$sim/systemd" 2>/dev/null)" ] || restart_systemd=1

if [ "$action" = dry-activate ]; then
  say "would stop" stop
  echo "would activate the configuration..." >&2
  [ -z "$restart_systemd" ] || echo "would restart systemd" >&2
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

"$toplevel/activate" || rc=2
if [ -n "$restart_systemd" ]; then
  echo "restarting systemd..." >&2
  echo "$new_systemd" > "$sim/systemd"
fi
# sshd follows the new configuration (its port, keys, firewall and the host's addresses); the
# switch ends once the host's init has done it, as systemd's restart of sshd.service would.
ack=$$.$EPOCHREALTIME
echo "reconcile $ack" > "$sim/ctl.fifo"
for _ in $(seq 500); do [ "$(cat "$sim/ack" 2>/dev/null)" = "$ack" ] && break; sleep 0.02; done

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
