# shellcheck shell=sh
# What the host runs and boots, its marker, and whether a deploy job is at work.
need awk base64 cat readlink sed tr || { echo "missing=$missing"; exit 0; }
busy=
for job in "$RUNS"/*/job.pid; do
  [ -e "$job" ] || continue
  if alive "$(cat "$job")" && [ ! -e "${job%/job.pid}/outcome" ]; then busy=${job%/job.pid}; busy=${busy##*/}; fi
done
echo "$(host_state) busy=$busy" | tr ' ' '\n'
