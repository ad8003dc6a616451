# shellcheck shell=sh
# SSH command on the first connection after a reboot: whether the host has rebooted yet (booted is
# empty while reboot.sh's file in /run is still there), which system it booted and runs, how systemd
# says the boot went, and the health checks.
if ! need cat date readlink sleep systemctl timeout; then
  emit result outcome=missing-tool "tool=$missing" "$(host_state)"
  exit 0
fi
if [ -e /run/pulumi-nixos/reboot-pending ]; then
  emit result outcome=not-yet "$(host_state)"
  exit 0
fi
# Until the boot has finished (or failed): is-system-running says "starting" until then.
n=0
while state=$(systemctl is-system-running 2>/dev/null); [ "$state" = starting ] || [ "$state" = initializing ]; do
  [ "$n" -ge "$PNX_HEALTH_SEC" ] && break
  sleep 1
  n=$((n + 1))
done
healthy=1
failed=$(run_checks "") || healthy=0
emit result outcome=booted "booted=$(readlink -e "$BOOTED" 2>/dev/null)" "systemState=$state" "healthy=$healthy" \
  "check=$(printf '%s' "$failed" | b64)" "$(host_state)"
