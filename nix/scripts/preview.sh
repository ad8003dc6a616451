# shellcheck shell=sh
# The one SSH command of a preview that builds: unpacks the uploaded flake (the first
# PNX_ARCHIVE_BYTES of stdin: a tar of flake/) into a root-only scratch directory, never the deployed
# one, builds the host's system there (or takes PNX_SYSTEM, built on the deployer and copied here)
# without activating it or touching a profile, and reports what a
# switch to it would do: the units (switch-to-configuration dry-activate), the users and groups
# created and removed, the package versions (nix store diff-closures against the running system), the
# closure sizes, and what only a reboot would load. The host needs no marker: a machine never deployed
# is previewed the same way.
#
# The deployer keeps stdin open while it waits: its end (a closed connection, a killed deployer) ends
# the build, frees the lock and removes the scratch directory at once. A session killed outright runs
# no cleanup at all, so each preview first removes the scratch directories whose owner is gone.
if ! need awk base64 cat cut find flock grep head install nix nixos-rebuild readlink rm sed sleep stat tar tr; then
  emit result outcome=missing-tool "tool=$missing" changed=0 "$(host_state)"
  exit 0
fi
unsafe=$(root_problem)
if [ -n "$unsafe" ]; then
  emit result outcome=unsafe-root "problem=$(printf '%s' "$unsafe" | b64)" changed=0 "$(host_state)"
  exit 0
fi
install -d -m 0711 "$ROOT"
install -d -m 0700 "$PRIVATE" "$PRIVATE/preview"

# A process as "pid starttime" (/proc/PID/stat's field 22), so that a reused pid is not taken for it.
proc_id() {
  printf '%s %s\n' "$1" "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20)"
}

# Whether the process recorded as "pid starttime" still lives (a zombie does not).
proc_lives() {
  [ -n "$2" ] && alive "$1" && [ "$(proc_id "$1")" = "$1 $2" ]
}

# Scratch directories of previews whose command is gone (the first line of owner) without removing
# theirs: their process groups (the other lines) are ended, the directories removed. One without an
# owner file is a minute old before it counts as abandoned (its preview may be writing the file).
reap_previews() {
  for d in "$PRIVATE/preview"/*; do
    [ -d "$d" ] || continue
    if [ -f "$d/owner" ]; then
      # shellcheck disable=SC2046 # pid and starttime, two words
      ! proc_lives $(sed -n 1p "$d/owner") || continue
      sed 1d "$d/owner" | while read -r pid start; do
        if proc_lives "$pid" "$start"; then kill -KILL -- "-$pid" 2>/dev/null; fi
      done
    elif [ -z "$(find "$d" -maxdepth 0 -mmin +1)" ]; then
      continue
    fi
    rm -rf "$d"
  done
}

# Users and groups a switch to system $1 would create and remove, as NixOS's update-users-groups.pl
# decides: declared ones missing from /etc/passwd and /etc/group are created; ones there that the new
# system does not declare are removed if they were declared before (/var/lib/nixos/declarative-users,
# -groups) or if users.mutableUsers is false. Four lines: users created, users removed, groups created,
# groups removed (names space-separated); nothing when the system's activation names no
# users-groups.json (userborn and systemd-sysusers systems).
accounts() {
  spec=$(grep -oE "/[^[:space:]'\"]*-users-groups\.json" "$1/activate" 2>/dev/null | sed -n 1p)
  [ -n "$spec" ] || return 0
  # shellcheck disable=SC2016 # Nix's own ${...}
  decl=$(SPEC=$spec nix --extra-experimental-features nix-command eval --impure --raw --expr '
    let
      s = builtins.fromJSON (builtins.readFile (builtins.getEnv "SPEC"));
      names = xs: builtins.concatStringsSep " " (map (x: x.name) xs);
    in "${if s.mutableUsers or true then "1" else "0"}\n${names s.users}\n${names s.groups}\n"') || return 1
  mutable=$(printf '%s\n' "$decl" | sed -n 1p)
  for kind in users groups; do
    if [ "$kind" = users ]; then db=/etc/passwd; declared=$(printf '%s\n' "$decl" | sed -n 2p); else db=/etc/group; declared=$(printf '%s\n' "$decl" | sed -n 3p); fi
    have=" $(cut -d: -f1 "$db" 2>/dev/null | tr '\n' ' ') "
    before=" $(cat "/var/lib/nixos/declarative-$kind" 2>/dev/null) "
    created=
    for n in $declared; do
      case $have in *" $n "*) ;; *) created="$created $n" ;; esac
    done
    removed=
    for n in $have; do
      case " $declared " in *" $n "*) continue ;; esac
      if [ "$mutable" = 0 ]; then removed="$removed $n"; else case $before in *" $n "*) removed="$removed $n" ;; esac; fi
    done
    printf '%s\n%s\n' "${created# }" "${removed# }"
  done
}

# The build and its report, in a process group of its own (the deployer's end stops all of it).
# Its stdin is not the deployer's: only the watcher reads that.
build() {
  # A deploy takes the host lock alone; previews share it, so none reads a host in the middle of a switch.
  exec 9>>"$LOCK"
  if ! flock -s -n 9; then
    flock -s -w "$PNX_LOCK_WAIT_SEC" 9 || {
      emit result outcome=locked "holder=$(lock_holder | b64)" "waited=$PNX_LOCK_WAIT_SEC" changed=0 "$(host_state)"
      exit 0
    }
  fi
  cd "$scratch" || exit 1
  if [ -n "$PNX_SYSTEM" ]; then
    # Built on the deployer and copied here (deploy.build "local"): nothing is evaluated on the host.
    nix-store --add-root "$scratch/result" --indirect --realise "$PNX_SYSTEM" > "$scratch/build.log" 2>&1
    code=$?
  else
    nixos-rebuild build --flake "$scratch/in/flake#$PNX_FLAKE_ATTR" > "$scratch/build.log" 2>&1
    code=$?
  fi
  out=$(readlink -e "$scratch/result" 2>/dev/null)
  if [ "$code" != 0 ] || [ -z "$out" ]; then
    emit result outcome=build-failed "exit=$code" "log=$(b64 < "$scratch/build.log")" changed=0 "$(host_state)"
    exit 0
  fi
  dry=$("$out/bin/switch-to-configuration" dry-activate 2>&1)
  dryexit=$?
  if [ "$dryexit" != 0 ]; then
    emit result outcome=dry-activate-failed "exit=$dryexit" "output=$(printf '%s' "$dry" | b64)" changed=0 "$(host_state)"
    exit 0
  fi
  # Nix's warnings go to stderr, never among the names.
  if ! acc=$(accounts "$out" 2> "$scratch/accounts.log"); then
    emit result outcome=dry-activate-failed exit=1 "output=$(printf 'reading the users-groups.json of %s: %s' "$out" "$(cat "$scratch/accounts.log")" | b64)" changed=0 "$(host_state)"
    exit 0
  fi
  line() { printf '%s\n' "$acc" | sed -n "$1p" | tr ' ' ','; }
  # NixOS's pre-switch checks (switch-to-configuration check): changed system.switch.inhibitors refuse
  # the switch, so up would make the new system the boot default instead; they join the reboot reasons.
  inhibited=$("$out/bin/switch-to-configuration" check 2>&1 | inhibitor_changes)
  reasons=$(reboot_reasons "$BOOTED" "$out")
  [ -z "$inhibited" ] || reasons=${reasons:+$reasons,}$(printf '%s\n' "$inhibited" | inhibitor_names)
  diff=$(nix --extra-experimental-features nix-command store diff-closures "$CURRENT" "$out" 2>&1)
  sizes=$(nix --extra-experimental-features nix-command path-info -S "$CURRENT" "$out" 2>/dev/null | awk '{ print $2 }' | tr '\n' ',')
  emit result outcome=built "system=$out" "dry=$(printf '%s' "$dry" | b64)" "diff=$(printf '%s' "$diff" | b64)" \
    "closure=${sizes%,}" "reboot=$reasons" "usersCreated=$(line 1)" "usersRemoved=$(line 2)" \
    "groupsCreated=$(line 3)" "groupsRemoved=$(line 4)" "inhibited=$(printf '%s' "$inhibited" | b64)" changed=0 "$(host_state)"
}

reap_previews
scratch=$PRIVATE/preview/$PNX_ID
rm -rf "$scratch"
install -d -m 0700 "$scratch" "$scratch/in"
proc_id "$$" > "$scratch/owner"
trap 'rm -rf "$scratch"' EXIT
if ! err=$(head -c "$PNX_ARCHIVE_BYTES" | tar -x -f - -C "$scratch/in" --no-same-owner --no-same-permissions 2>&1) || [ ! -f "$scratch/in/flake/flake.nix" ]; then
  emit result outcome=staging-failed "error=$(printf '%s' "${err:-the archive holds no flake.nix}" | b64)" changed=0 "$(host_state)"
  exit 0
fi
# Job control gives the build and the watcher a process group each; the watcher reads the deployer's
# stdin through fd 3 (a shell without job control gives background commands /dev/null on fd 0).
exec 3<&0
set -m
build < /dev/null 3<&- &
worker=$!
(
  # The end of stdin is the end of the deployer: stop the build (Nix ends its builders on TERM), then
  # whatever ignores TERM, and remove the scratch directory (its `result` link pins the build).
  cat <&3 > /dev/null
  : > "$scratch/interrupted"
  kill -TERM -- "-$worker" 2>/dev/null
  n=0
  while kill -0 -- "-$worker" 2>/dev/null && [ "$n" -lt 50 ]; do
    sleep 0.1
    n=$((n + 1))
  done
  kill -KILL -- "-$worker" 2>/dev/null
  rm -rf "$scratch"
) > /dev/null 2>&1 &
watcher=$!
set +m
exec 3<&-
{ proc_id "$worker"; proc_id "$watcher"; } >> "$scratch/owner"
wait "$worker"
# Interrupted, the watcher finishes its cleanup; otherwise it has nothing left to watch.
if [ -e "$scratch/interrupted" ]; then wait "$watcher"; else kill -KILL -- "-$watcher" 2>/dev/null; fi
