# shellcheck shell=sh
# SSH command on the new connection after activation: proves the host is reachable, runs the
# health checks within their budget, and then makes the run's one decision (confirmed, or
# health-failed) unless the job already made another; then follows the log to the result.
need awk base64 cat date ln mv readlink sed sleep tail timeout touch || { emit follow-end reason=missing-tool "tool=$missing"; exit 0; }
run=$RUNS/$PNX_ID
if [ ! -e "$run/started" ]; then
  emit follow-end reason=not-started
  exit 3
fi
touch "$run/reached"
verdict=confirmed
if ! failed=$(run_checks "$run/decision" "$run/checking"); then
  printf '%s' "$failed" | b64 > "$run/health.out.tmp" && mv -f "$run/health.out.tmp" "$run/health.out"
  verdict=health-failed
fi
ln -s "$verdict" "$run/decision" 2>/dev/null
follow "$PNX_OFFSET" end
