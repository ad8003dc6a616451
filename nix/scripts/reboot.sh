# shellcheck shell=sh
# Reboots the host into a generation, under the host lock: PNX_MODE=new boots the boot default the
# deploy just made (refused if it is no longer PNX_SYSTEM: another deploy came between), and
# PNX_MODE=back first makes generation PNX_GENERATION the boot default again (a new system that did
# not come back healthy) and puts back the flake and secrets it was deployed with. A file in /run, which every boot empties, tells booted.sh whether the host
# has rebooted since.
if ! need cat flock install mv nix-env readlink rm stat systemctl; then
  emit result outcome=missing-tool "tool=$missing" changed=0 "$(host_state)"
  exit 0
fi
unsafe=$(root_problem)
if [ -n "$unsafe" ]; then
  emit result outcome=unsafe-root "problem=$(printf '%s' "$unsafe" | b64)" changed=0 "$(host_state)"
  exit 0
fi
install -d -m 0700 "$PRIVATE"
exec 9>>"$LOCK"
if ! flock -w "$PNX_LOCK_WAIT_SEC" 9; then
  emit result outcome=locked "holder=$(lock_holder | b64)" "waited=$PNX_LOCK_WAIT_SEC" changed=0 "$(host_state)"
  exit 0
fi
before=$(systemctl is-system-running 2>/dev/null)
if [ "$PNX_MODE" = back ]; then
  code=0
  nix-env -p "$PROFILE" --switch-generation "$PNX_GENERATION" || code=$?
  if [ "$code" = 0 ]; then "$(readlink -e "$PROFILE")/bin/switch-to-configuration" boot || code=$?; fi
  if [ "$code" != 0 ]; then
    emit result outcome=boot-default-failed "exit=$code" "$(host_state)"
    exit 0
  fi
  restore
elif [ "$(readlink -e "$PROFILE" 2>/dev/null)" != "$PNX_SYSTEM" ]; then
  emit result outcome=moved changed=0 "$(host_state)"
  exit 0
fi
install -d -m 0700 /run/pulumi-nixos
: > /run/pulumi-nixos/reboot-pending
emit result outcome=rebooting "systemState=$before" "$(host_state)"
systemctl reboot
