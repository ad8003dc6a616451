# shellcheck shell=sh
# SSH command 1 of a deploy: stages the uploaded archive (stdin: a tar of flake/, secrets/ and
# job.sh) in a root-only run directory, starts the deploy job detached, and follows its log.
# Run again with the same id (after a dropped connection) it only follows; two with the same id never
# both start a job, and neither removes the run the other started.
if ! need awk base64 cat find flock install mkdir mv rm sed sleep stat systemd-run tail tar wc; then
  emit result outcome=missing-tool "tool=$missing" changed=0 "$(host_state)"
  exit 0
fi
unsafe=$(root_problem)
if [ -n "$unsafe" ]; then
  emit result outcome=unsafe-root "problem=$(printf '%s' "$unsafe" | b64)" changed=0 "$(host_state)"
  exit 0
fi
install -d -m 0711 "$ROOT"
install -d -m 0700 "$PRIVATE" "$RUNS"
run=$RUNS/$PNX_ID

if [ ! -e "$run/started" ]; then
  # Each start stages in a directory of its own: the same start sent again after a dropped connection
  # may still be staging, and whichever ends later never touches the other's files.
  stage=$RUNS/.stage-$PNX_ID-$$
  rm -rf "$stage"
  install -d -m 0700 "$stage" "$stage/in"
  # Errors are kept in memory: on a full disk not even an error file can be written.
  if ! err=$(cat 2>&1 > "$stage/in.tar") || ! err=$(tar -x -f "$stage/in.tar" -C "$stage/in" --no-same-owner --no-same-permissions 2>&1) || [ ! -f "$stage/in/job.sh" ]; then
    rm -rf "$stage"
    emit result outcome=staging-failed "error=$(printf '%s' "${err:-the archive holds no job.sh}" | b64)" changed=0 "$(host_state)"
    exit 0
  fi
  bytes=$(wc -c < "$stage/in.tar")
  rm -f "$stage/in.tar"
  mv "$stage/in/job.sh" "$stage/job.sh"
  : > "$stage/log"
  emit staged "bytes=$bytes" >> "$stage/log"

  # One start at a time claims runs and starts jobs (a short lock, not the host lock the job takes).
  exec 8>>"$RUNS/.start-lock"
  flock 8
  # Runs that no job or watchdog owns any more (a killed deploy) lose their staged files now, stagings
  # of starts that are gone go, and the logs of the newest twenty runs are kept.
  for old in "$RUNS"/*/; do
    old=${old%/}
    if [ ! -d "$old" ] || [ "$old" = "$run" ]; then continue; fi
    unowned "$old" && rm -rf "$old/in" "$old/in.tar"
  done
  for old in "$RUNS"/.stage-*; do
    if [ -d "$old" ] && ! alive "${old##*-}"; then rm -rf "$old"; fi
  done
  # shellcheck disable=SC2012 # run ids have no spaces or newlines
  ls -1t "$RUNS" | tail -n +21 | while read -r old; do
    if [ "$RUNS/$old" != "$run" ] && unowned "$RUNS/$old"; then rm -rf "${RUNS:?}/$old"; fi
  done
  if [ -e "$run/started" ]; then
    rm -rf "$stage"
  else
    # A run without `started` is a claim whose start died before launching its job.
    rm -rf "$run"
    mv "$stage" "$run"
    touch "$run/started"
    # 8>&-: the job must not hold the start lock (a systemd-run that keeps descriptors would pass it on).
    if ! err=$(systemd-run --unit="pulumi-nixos-job-$PNX_ID" --collect --quiet -E PATH="$PATH" /bin/sh "$run/job.sh" run 2>&1 8>&-); then
      rm -rf "$run"
      emit result outcome=start-failed "error=$(printf '%s' "$err" | b64)" changed=0 "$(host_state)"
      exit 0
    fi
  fi
  exec 8>&-
fi
follow "$PNX_OFFSET" "$PNX_UNTIL"
