# shellcheck shell=sh
# What the host runs and boots, its marker, and whether a deploy is at work (its job, or the watchdog
# putting the host back after the job died): what it reads may be about to change.
need awk base64 cat find readlink sed || { echo "missing=$missing"; exit 0; }
busy=$(unfinished_run)
# One key=value a line. No value holds a space or a glob character (numbers, store paths, base64).
set -f
# shellcheck disable=SC2046 # split into its words on purpose
printf '%s\n' $(host_state) "busy=$busy"
