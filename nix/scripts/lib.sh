# shellcheck shell=sh
# Shared by every pulumi-nixos host script. A rendered script is the parameter header
# (provider/deploy/scripts.ts), then this file, then one entry script.

# NixOS's system paths and nothing else: a systemd-run unit has only systemd's own bin directory on
# PATH, and an SSH session's PATH is whatever the login set up.
PATH=/run/wrappers/bin:/run/current-system/sw/bin:/nix/var/nix/profiles/system/sw/bin
export PATH
umask 077

# shellcheck disable=SC2034 # each entry script uses some of these
{
  ROOT=/var/lib/pulumi-nixos
  FLAKE=$ROOT/flake
  SECRETS=$ROOT/secrets
  PRIVATE=$ROOT/private
  LOCK=$PRIVATE/lock
  HOLDER=$PRIVATE/holder
  # A deploy whose flake and secrets are in place while its system is not the boot default: a link to
  # its job.sh, and a file in /run (which every boot empties) while the boot it began in lasts.
  PENDING=$PRIVATE/pending
  PENDING_BOOT=/run/pulumi-nixos/pending
  RUNS=$PRIVATE/runs
  PROFILE=/nix/var/nix/profiles/system
  CURRENT=/run/current-system
  BOOTED=/run/booted-system
  MARKER=/etc/pulumi-nixos/generation.json
  # What the host's own `nixos-rebuild` builds, and what it held before the first deploy.
  ETC_NIXOS=/etc/nixos
  ETC_NIXOS_BEFORE=/etc/nixos.before-pulumi-nixos
}

# The value of the header parameter named $1 (for numbered lists: PNX_CHECK_2_NAME).
param() {
  eval "printf '%s' \"\${$1}\""
}

# One line the deployer reads as an event: "@@pulumi-nixos NAME key=value ...". Values never hold
# spaces: free text travels base64-encoded.
emit() {
  printf '@@pulumi-nixos %s\n' "$*"
}

b64() {
  base64 -w0
}

# Why the deploy root or its private directory cannot be trusted, or nothing. Root writes there what
# the running system reads (flake, secrets, links to them), so each must be a real directory of root's
# that no one else can write: a link, or a directory a service owns, would let it steer root's writes.
root_problem() {
  for d in "$ROOT" "$PRIVATE"; do
    if [ -L "$d" ]; then printf '%s is a symbolic link' "$d"; return; fi
    [ -e "$d" ] || continue
    if [ ! -d "$d" ]; then printf '%s is not a directory' "$d"; return; fi
    if [ "$(stat -c %u "$d")" != 0 ]; then printf '%s is owned by %s, not root' "$d" "$(stat -c %U "$d")"; return; fi
    case $(stat -c %a "$d") in
      *[2367]? | *[2367]) printf '%s is writable by others than root (mode %s)' "$d" "$(stat -c %a "$d")"; return ;;
    esac
  done
}

# Whether the running system's marker claims the machine: there is one, and no destroy released it.
marker_claims() {
  [ -e "$MARKER" ] && ! grep -qF '"released":true' "$MARKER"
}

# Fails at once, naming the first tool that is not on PATH.
need() {
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      missing=$tool
      return 1
    fi
  done
}

# The number N of the system-N-link a profile link points at, or nothing.
link_generation() {
  lg=$(readlink "$1" 2>/dev/null)
  lg_n=${lg#system-}
  lg_n=${lg_n%-link}
  case $lg in system-*-link) ;; *) return 0 ;; esac
  case $lg_n in '' | *[!0-9]*) ;; *) echo "$lg_n" ;; esac
}

# The generation whose system is running: the profile's own if it runs, else the newest link to it.
running_generation() {
  running_of "$(readlink -e "$CURRENT" 2>/dev/null)" "$(link_generation "$PROFILE")" "$(readlink -e "$PROFILE" 2>/dev/null)"
}

# running_generation, given the running system, the profile's generation and the profile's system.
running_of() {
  [ -n "$1" ] || return 0
  if [ -n "$2" ] && [ "$3" = "$1" ]; then
    echo "$2"
    return 0
  fi
  best=
  for l in "$PROFILE"-*-link; do
    [ -e "$l" ] || continue
    [ "$(readlink -e "$l")" = "$1" ] || continue
    n=${l##*/system-}
    n=${n%-link}
    if [ -z "$best" ] || [ "$n" -gt "$best" ]; then best=$n; fi
  done
  echo "$best"
}

# What the host runs and boots, as key=value words (the marker base64-encoded). Each fact is read
# once: every script reports it, and a read of the host is little else.
host_state() {
  hs_current=$(readlink -e "$CURRENT" 2>/dev/null)
  hs_profile=$(readlink -e "$PROFILE" 2>/dev/null)
  hs_gen=$(link_generation "$PROFILE")
  printf 'runningGeneration=%s currentSystem=%s profileGeneration=%s profileSystem=%s marker=%s' \
    "$(running_of "$hs_current" "$hs_gen" "$hs_profile")" "$hs_current" "$hs_gen" "$hs_profile" \
    "$(if [ -e "$MARKER" ]; then b64 < "$MARKER"; fi)"
}

# Puts the flake and secrets of the previous deploy back (or none, if there were none).
restore() {
  rm -rf "$FLAKE" "$SECRETS"
  if [ -d "$FLAKE.old" ]; then mv "$FLAKE.old" "$FLAKE"; fi
  if [ -d "$SECRETS.old" ]; then mv "$SECRETS.old" "$SECRETS"; fi
  rm -f "$PENDING"
}

# The changed system.switch.inhibitors a refusal of switch-to-configuration names (stdin: its output,
# NixOS's text), one "name : old -> new" a line; nothing when it names none.
inhibitor_changes() {
  sed -n '/^There are changes to critical components of the system:$/,/^Switching into this system is not recommended\.$/p' |
    grep -E '^[^ ]+ : .* -> '
}

# The names of inhibitor_changes' lines (stdin), as a comma list of reboot reasons.
inhibitor_names() {
  sed 's/ : .*//' | tr '\n' ',' | sed 's/,$//'
}

# Why booting system $2 needs a reboot when system $1 was booted, as a comma list (nothing when it
# does not): what only a boot loads, as top-level.nix links it.
reboot_reasons() {
  reasons=
  for part in kernel initrd kernel-modules systemd; do
    [ "$(readlink -e "$1/$part" 2>/dev/null)" = "$(readlink -e "$2/$part" 2>/dev/null)" ] || reasons=$reasons,$part
  done
  [ "$(cat "$1/kernel-params" 2>/dev/null)" = "$(cat "$2/kernel-params" 2>/dev/null)" ] || reasons=$reasons,kernel-params
  printf '%s' "${reasons#,}"
}

# Runs the header's health checks (PNX_CHECKS, PNX_CHECK_<i>_NAME/_COMMAND) as root within
# PNX_HEALTH_SEC, stopping early once the path $1 exists (when given), and writing the name of the
# check at work to the file $2 (when given), for a decision made while it still runs. Returns 1 at
# the first that fails, printing its name and output. A check that ignores SIGTERM is killed 2 s later.
run_checks() {
  end=$(($(date +%s) + PNX_HEALTH_SEC))
  i=1
  while [ "$i" -le "$PNX_CHECKS" ]; do
    if [ -n "$1" ] && [ -L "$1" ]; then return 0; fi
    name=$(param "PNX_CHECK_${i}_NAME")
    command=$(param "PNX_CHECK_${i}_COMMAND")
    if [ -n "$2" ]; then printf '%s' "$name" > "$2.tmp" && mv -f "$2.tmp" "$2"; fi
    left=$((end - $(date +%s)))
    [ "$left" -gt 0 ] || left=1
    if ! out=$(timeout -k 2 "$left" sh -c "$command" 2>&1); then
      [ "$(date +%s)" -ge "$end" ] && out="did not finish within the health checks' $PNX_HEALTH_SEC s"
      printf '%s\n%s' "$name" "$out"
      return 1
    fi
    i=$((i + 1))
  done
}

# Writes this shell's pid to the file $1 whole: readers never see it empty (write, then rename).
write_pid() {
  echo "$$" > "$1.tmp" && mv -f "$1.tmp" "$1"
}

# Whether process $1 is alive (a zombie counts as gone).
alive() {
  [ -n "$1" ] || return 1
  state=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
  [ -n "$state" ] && [ "$state" != Z ]
}

# Whether no job or watchdog owns run directory $1 any more; a job just started may not have written
# its pid yet.
unowned() {
  if [ ! -s "$1/job.pid" ] && [ -n "$(find "$1/started" -mmin -1 2>/dev/null)" ]; then return 1; fi
  ! alive "$(cat "$1/job.pid" 2>/dev/null)" && ! alive "$(cat "$1/watchdog.pid" 2>/dev/null)"
}

# The id of a run not finished: no outcome yet, and its job or watchdog still runs (the watchdog of a
# job that died is putting the host back). Nothing when every run has ended.
unfinished_run() {
  for r in "$RUNS"/*/; do
    r=${r%/}
    if [ -d "$r" ] && [ ! -e "$r/outcome" ] && ! unowned "$r"; then
      printf '%s\n' "${r##*/}"
      return 0
    fi
  done
}

# marker_field NAME: a string field of the machine's marker (builtins.toJSON writes no spaces).
marker_field() {
  sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$MARKER" 2>/dev/null
}

# Whether the marker's owner is this deployer's: PNX_CLAIM_OWNER (project/stack), and
# PNX_CLAIM_IDENTITY when the marker records an identity. A marker from before owners were recorded
# names the bare stack only, which PNX_STACK must match; the deploy then records the full owner.
# The same rule as `claims` in provider/model/owner.ts.
claimed() {
  mowner=$(marker_field owner)
  if [ -z "$mowner" ]; then
    [ "$(marker_field stack)" = "$PNX_STACK" ]
    return
  fi
  midentity=$(marker_field identity)
  [ "$mowner" = "$PNX_CLAIM_OWNER" ] && { [ -z "$midentity" ] || [ "$midentity" = "$PNX_CLAIM_IDENTITY" ]; }
}

# Who holds the host lock now, described for a message: the deploy that recorded itself in
# $HOLDER if that process is alive and has the lock open, else any other live process that has it
# open (the lock file is root-only, so only root can). Never a stale record.
lock_holder() {
  found=
  hpid=$(cut -d' ' -f1 "$HOLDER" 2>/dev/null)
  for fd in /proc/[0-9]*/fd/*; do
    [ "$(readlink "$fd" 2>/dev/null)" = "$LOCK" ] || continue
    pid=${fd#/proc/}
    pid=${pid%%/*}
    [ "$pid" != "$$" ] || continue
    [ "$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" != "$$" ] || continue
    what=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null)
    if [ "$pid" = "$hpid" ]; then
      printf 'pid %s, %s' "$pid" "$(cut -d' ' -f2- "$HOLDER")"
      return 0
    fi
    [ -n "$found" ] || found="pid $pid (${what% })"
  done
  printf '%s' "$found"
}

# Streams the run's log from byte $1 until the run has a result (or, with $2 = awaiting, until it
# waits for confirmation), then says why it stopped. The log is followed by the kernel's file
# notifications (tail -f), not by polling; a watcher ends tail once the condition holds.
follow() {
  run=$RUNS/$PNX_ID
  if [ ! -e "$run/started" ]; then
    emit follow-end reason=not-started
    return 3
  fi
  (
    waited=0
    while :; do
      [ -e "$run/outcome" ] && break
      # Removed by a destroy, which waits for unfinished runs: this one ended.
      [ -d "$run" ] || break
      [ "$2" = awaiting ] && [ -e "$run/awaiting" ] && break
      # A job just started by systemd-run may not have written its pid yet (no file, or an empty one).
      if [ -s "$run/job.pid" ] || [ "$waited" -ge 60 ]; then
        alive "$(cat "$run/job.pid" 2>/dev/null)" || alive "$(cat "$run/watchdog.pid" 2>/dev/null)" || break
      fi
      waited=$((waited + 1))
      sleep 0.5
    done
  ) &
  watcher=$!
  tail -c "+$(($1 + 1))" -s 0.5 -f --pid="$watcher" "$run/log"
  wait "$watcher"
  if [ -e "$run/outcome" ]; then
    emit follow-end reason=result "$(host_state)"
  elif [ "$2" = awaiting ] && [ -e "$run/awaiting" ]; then
    emit follow-end reason=awaiting
  else
    emit follow-end reason=orphaned "$(host_state)"
  fi
}
