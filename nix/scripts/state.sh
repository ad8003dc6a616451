# shellcheck shell=sh
# What the host runs and boots, its marker, and whether a deploy job is at work.
need awk base64 cat readlink sed || { echo "missing=$missing"; exit 0; }
busy=
for job in "$RUNS"/*/job.pid; do
  [ -e "$job" ] || continue
  if alive "$(cat "$job")" && [ ! -e "${job%/job.pid}/outcome" ]; then busy=${job%/job.pid}; busy=${busy##*/}; fi
done
# One key=value a line. No value holds a space or a glob character (numbers, store paths, base64).
set -f
# shellcheck disable=SC2046 # split into its words on purpose
printf '%s\n' $(host_state) "busy=$busy"
