# shellcheck shell=sh
# SSH command on the new connection after activation: proves the host is reachable, runs the
# health checks within their budget, and then makes the run's one decision (confirmed, or
# health-failed) unless the job already made another; then follows the log to the result.
need awk base64 cat date ln readlink sed sleep tail timeout touch || { emit follow-end reason=missing-tool "tool=$missing"; exit 0; }
run=$RUNS/$PNX_ID
if [ ! -e "$run/started" ]; then
  emit follow-end reason=not-started
  exit 3
fi
touch "$run/reached"
end=$(($(date +%s) + PNX_HEALTH_SEC))
verdict=confirmed
i=1
while [ "$i" -le "$PNX_CHECKS" ] && [ ! -L "$run/decision" ]; do
  name=$(param "PNX_CHECK_${i}_NAME")
  command=$(param "PNX_CHECK_${i}_COMMAND")
  left=$((end - $(date +%s)))
  [ "$left" -gt 0 ] || left=1
  if ! out=$(timeout "$left" sh -c "$command" 2>&1); then
    [ "$(($(date +%s)))" -ge "$end" ] && out="did not finish within the health checks' $PNX_HEALTH_SEC s"
    printf '%s\n%s' "$name" "$out" | b64 > "$run/health.out"
    verdict=health-failed
    break
  fi
  i=$((i + 1))
done
ln -s "$verdict" "$run/decision" 2>/dev/null
follow "$PNX_OFFSET" end
