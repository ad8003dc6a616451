# shellcheck shell=sh
# SSH command 1 of a deploy: stages the uploaded archive (stdin: a tar of flake/, secrets/ and
# job.sh) in a root-only run directory, starts the deploy job detached, and follows its log.
# Run again with the same id (after a dropped connection) it only follows.
if ! need awk base64 cat install mkdir mv rm sed sleep stat systemd-run tail tar wc; then
  emit result outcome=missing-tool "tool=$missing" changed=0 "$(host_state)"
  exit 0
fi
install -d -m 0711 "$ROOT"
install -d -m 0700 "$PRIVATE" "$RUNS"
run=$RUNS/$PNX_ID

# Runs that no job or watchdog owns any more (a killed deploy) lose their staged files now; the
# logs of the newest twenty runs are kept.
for old in "$RUNS"/*/; do
  old=${old%/}
  if [ ! -d "$old" ] || [ "$old" = "$run" ]; then continue; fi
  alive "$(cat "$old/job.pid" 2>/dev/null)" || alive "$(cat "$old/watchdog.pid" 2>/dev/null)" || rm -rf "$old/in" "$old/in.tar"
done
# shellcheck disable=SC2012 # run ids have no spaces or newlines
ls -1t "$RUNS" | tail -n +21 | while read -r old; do
  alive "$(cat "$RUNS/$old/job.pid" 2>/dev/null)" || rm -rf "${RUNS:?}/$old"
done

if [ ! -e "$run/started" ]; then
  rm -rf "$run"
  install -d -m 0700 "$run" "$run/in"
  # Errors are kept in memory: on a full disk not even an error file can be written.
  if ! err=$(cat 2>&1 > "$run/in.tar") || ! err=$(tar -x -f "$run/in.tar" -C "$run/in" --no-same-owner --no-same-permissions 2>&1) || [ ! -f "$run/in/job.sh" ]; then
    rm -rf "$run"
    emit result outcome=staging-failed "error=$(printf '%s' "${err:-the archive holds no job.sh}" | b64)" changed=0 "$(host_state)"
    exit 0
  fi
  bytes=$(wc -c < "$run/in.tar")
  rm -f "$run/in.tar"
  mv "$run/in/job.sh" "$run/job.sh"
  : > "$run/log"
  emit staged "bytes=$bytes" >> "$run/log"
  if ! err=$(systemd-run --unit="pulumi-nixos-job-$PNX_ID" --collect --quiet -E PATH="$PATH" /bin/sh "$run/job.sh" run 2>&1); then
    rm -rf "$run"
    emit result outcome=start-failed "error=$(printf '%s' "$err" | b64)" changed=0 "$(host_state)"
    exit 0
  fi
  touch "$run/started"
fi
follow "$PNX_OFFSET" "$PNX_UNTIL"
