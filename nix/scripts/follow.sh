# shellcheck shell=sh
# Follows a run's log from a byte offset, after a dropped connection or for the rest of a run.
need awk base64 cat sed sleep tail || { emit follow-end reason=missing-tool "tool=$missing"; exit 0; }
follow "$PNX_OFFSET" "$PNX_UNTIL"
