# shellcheck shell=sh
# The deploy job, started detached by start.sh (systemd-run), so that a dropped SSH session or an
# sshd restart cannot stop it. "job.sh run" deploys; "job.sh watchdog" (armed by the job before it
# builds) stops a job that hangs or dies and puts the host back; "job.sh rebooted" (run at boot) puts
# back what a reboot interrupted.
#
# Every outcome is decided in one place: $run/decision, a symlink made with `ln -s`, which is
# atomic and fails when it exists. The confirmation (confirm.sh), the job's own confirmation
# timeout and the watchdog each try to make it; the first wins and the others follow it. Only the
# lock holder acts on it (rolls back or makes the new system the boot default), and the boot
# default changes only after a confirmation, so a reboot in the window boots the previous system,
# and then its own flake and secrets (rebooted).
run=$RUNS/$PNX_ID
cd "$run" || exit 1
exec >>"$run/log" 2>&1

phase() {
  echo "$1 $(date +%s)" > "$run/phase"
  shift
  emit "$@"
}

# Ends the run: the result line (what happened, and what the host runs now), then the result file
# that tells followers to stop. Usage: finish OUTCOME [key=value ...]
finish() {
  outcome=$1
  shift
  changed=0
  if [ -n "${prevsys+set}" ]; then
    [ "$(readlink -e "$CURRENT" 2>/dev/null)" = "$prevsys" ] || changed=1
    [ "$(readlink -e "$PROFILE" 2>/dev/null)" = "$prevprofile" ] || changed=1
  fi
  rm -rf "$run/in"
  emit result "outcome=$outcome" "changed=$changed" "$@" "$(host_state)"
  echo "$outcome" > "$run/outcome"
  if [ -r "$HOLDER" ] && [ "$(cut -d' ' -f1 "$HOLDER")" = "$$" ]; then rm -f "$HOLDER"; fi
  exit 0
}

# decide WORD: makes WORD the run's decision unless one exists; then prints the decision.
decide() {
  ln -s "$1" "$run/decision" 2>/dev/null
  readlink "$run/decision"
}

# The decision when the window (extended for the health checks of a confirmation that reached the
# host) ends without one: a confirmation whose checks still run has its check named as the one that
# did not finish in time, whatever deadline fires first; without one, the switch is unconfirmed.
window_over() {
  if [ -e "$run/checking" ]; then
    if [ ! -e "$run/health.out" ]; then
      printf '%s\n%s' "$(cat "$run/checking")" "did not finish within the health checks' $PNX_HEALTH_SEC s" | b64 > "$run/health.out.job" &&
        mv -f "$run/health.out.job" "$run/health.out"
    fi
    echo health-failed
  else
    echo unconfirmed
  fi
}

# Gives each secret file its owner, group and mode. Before activation a service's user may not
# exist yet, so a failure then is quiet; after it, it is reported.
own_secrets() {
  i=1
  while [ "$i" -le "$PNX_SECRETS" ]; do
    key=$(param "PNX_SECRET_${i}_KEY")
    owner=$(param "PNX_SECRET_${i}_OWNER")
    group=$(param "PNX_SECRET_${i}_GROUP")
    mode=$(param "PNX_SECRET_${i}_MODE")
    chmod "$mode" "$SECRETS/$key"
    if ! chown "$owner:$group" "$SECRETS/$key" 2>/dev/null && [ "$1" = strict ]; then
      emit warning "secret=$key" "owner=$owner:$group"
    fi
    i=$((i + 1))
  done
}

# Places a link at each secret file's own path (PNX_SECRET_<i>_LINK) to its file in $SECRETS, as agenix
# links its secrets: the file itself stays in $SECRETS, so it is replaced, put back and kept exactly as
# the other secrets are. Before activation, so what activation runs (sops-nix's key) finds it. Root
# writes there, so no part of the way is a link, and all but the last directory are root's. On failure
# $key and $link name the secret and $why says what stood in the way.
link_secrets() {
  i=1
  while [ "$i" -le "$PNX_SECRETS" ]; do
    key=$(param "PNX_SECRET_${i}_KEY")
    link=$(param "PNX_SECRET_${i}_LINK")
    i=$((i + 1))
    [ -n "$link" ] || continue
    dir=${link%/*}
    walked=
    for part in $(printf '%s' "${dir#/}" | tr '/' ' '); do
      walked="$walked/$part"
      if [ -L "$walked" ]; then why="link:$walked"; return 1; fi
      if [ ! -e "$walked" ]; then mkdir -m 0755 "$walked" || { why="mkdir:$walked"; return 1; }; fi
      if [ ! -d "$walked" ]; then why="not-a-directory:$walked"; return 1; fi
      if [ "$walked" != "$dir" ] && [ "$(stat -c %u "$walked")" != 0 ]; then why="not-root-owned:$walked"; return 1; fi
    done
    if [ -d "$link" ] && [ ! -L "$link" ]; then why="a-directory-is-there"; return 1; fi
    if ! { ln -sfn "$SECRETS/$key" "$link.pnx-new" && mv -fT "$link.pnx-new" "$link"; }; then why="ln-failed"; return 1; fi
  done
}

# Activates the system $1 without touching the boot default; its exit code goes to activate.rc.
activate() {
  ( "$1/bin/switch-to-configuration" test; echo "$?" > "$run/activate.rc" ) 2>&1 | tee "$run/activate.out"
}

# Returns the host to the previous system and boot default. Usage: rollback REASON
rollback() {
  phase rolling-back rolling-back "to=$prevgen" "reason=$1"
  rbrc=0
  if [ "$(readlink -e "$PROFILE" 2>/dev/null)" != "$prevprofile" ] && [ -n "$prevprofilegen" ]; then
    nix-env -p "$PROFILE" --switch-generation "$prevprofilegen" || rbrc=$?
    "$prevprofile/bin/switch-to-configuration" boot || rbrc=$?
  fi
  if [ -n "$prevsys" ] && [ "$(readlink -e "$CURRENT" 2>/dev/null)" != "$prevsys" ]; then
    ( "$prevsys/bin/switch-to-configuration" test; echo "$?" > "$run/rollback.rc" ) 2>&1
    [ "$(cat "$run/rollback.rc")" = 0 ] || rbrc=$(cat "$run/rollback.rc")
  fi
  restore
  emit rolled-back "code=$rbrc"
}

succeed() {
  reasons=$(reboot_reasons "$BOOTED" "$out")
  [ -z "$inhibitors" ] || reasons=${reasons:+$reasons,}$inhibitors
  # A reboot follows (deploy.reboot): the previous flake and secrets stay until the next deploy, so
  # that booting the previous generation again (reboot.sh back) finds what it reads.
  if [ "$PNX_REBOOT" != always ] && { [ "$PNX_REBOOT" != ifNeeded ] || [ -z "$reasons" ]; }; then
    rm -rf "$FLAKE.old" "$SECRETS.old" "$PENDING"
  fi
  own_secrets strict
  finish "done" "diff=$(nix --extra-experimental-features nix-command store diff-closures "$prevsys" "$out" 2>/dev/null | b64)" \
    "reboot=$reasons"
}

# Makes /etc/nixos a link to the deployed flake, so that the host's own `nixos-rebuild switch` (no
# arguments: /etc/nixos/flake.nix, attribute nixosConfigurations.<hostname>) rebuilds the deployed
# system instead of reverting it. Through the link it follows $FLAKE, which a rollback (restore) and
# a later deploy replace in place. What /etc/nixos held before is moved whole, never merged or
# deleted, to a name that says it is no longer used (one per takeover if the first is taken).
link_etc_nixos() {
  [ -L "$ETC_NIXOS" ] && [ "$(readlink "$ETC_NIXOS")" = "$FLAKE" ] && return 0
  if [ -e "$ETC_NIXOS" ] || [ -L "$ETC_NIXOS" ]; then
    kept=$ETC_NIXOS_BEFORE
    [ -e "$kept" ] || [ -L "$kept" ] && kept=$ETC_NIXOS_BEFORE-$(date +%s)
    if ! mv "$ETC_NIXOS" "$kept"; then
      emit etc-nixos-failed "path=$ETC_NIXOS"
      return 0
    fi
    emit etc-nixos "kept=$kept"
  fi
  ln -s "$FLAKE" "$ETC_NIXOS" || emit etc-nixos-failed "path=$ETC_NIXOS"
}

# Makes $out the boot default (the new generation of the system profile).
commit() {
  phase committing committing
  code=0
  nix-env -p "$PROFILE" --set "$out" || code=$?
  if [ "$code" = 0 ]; then "$out/bin/switch-to-configuration" boot || code=$?; fi
  [ "$code" = 0 ] && rm -f "$PENDING"
  [ "$code" = 0 ] && link_etc_nixos
  [ "$code" = 0 ] && succeed
  rollback "boot-default"
  finish commit-failed "exit=$code" "rolledBackTo=$prevgen" "rollbackCode=$rbrc"
}

# NixOS refuses to switch (or test) a running system into one whose system.switch.inhibitors differ
# (26.05's dbus -> dbus-broker is one), before it changes anything: only a boot gets there
# (nixos-rebuild boot, then a reboot). Prints the refusal's "name : old -> new" lines, or fails when
# activation failed for another reason.
switch_inhibited() {
  grep -qxF "Pre-switch check 'switchInhibitors' failed" "$run/activate.out" && inhibitor_changes < "$run/activate.out"
}

# An inhibited switch: the new system becomes the boot default without running, as nixos-rebuild
# boot does. The previous system keeps running and nothing was activated, so there is nothing to
# confirm or roll back now; the changed inhibitors join the reboot reasons, and the deployer reboots
# into the new system when deploy.reboot allows (booting the previous generation again if it does
# not come back healthy). Usage: boot_instead CHANGES
boot_instead() {
  emit switch-inhibited "changes=$(printf '%s' "$1" | b64)"
  inhibitors=$(printf '%s\n' "$1" | inhibitor_names)
  commit
}

stop_job() {
  systemctl stop "pulumi-nixos-job-$PNX_ID.service" 2>/dev/null
  jobpid=$(cat "$run/job.pid" 2>/dev/null)
  n=0
  while alive "$jobpid" && [ "$n" -lt 20 ]; do
    [ "$n" = 10 ] && kill -KILL "$jobpid" 2>/dev/null
    sleep 0.5
    n=$((n + 1))
  done
}

watchdog() {
  write_pid "$run/watchdog.pid"
  # What to roll back to, read at once: the job wrote it before arming the watchdog.
  # shellcheck source=/dev/null
  . "$run/prev"
  why=
  while [ ! -e "$run/outcome" ]; do
    jobpid=$(cat "$run/job.pid" 2>/dev/null)
    read -r name since < "$run/phase"
    if ! alive "$jobpid"; then
      [ -e "$run/outcome" ] && exit 0
      why=job-died
      break
    fi
    case $name in
      building | activating | committing)
        if [ "$(date +%s)" -ge $((since + PNX_ACTIVATION_SEC)) ]; then
          why=timeout
          break
        fi
        ;;
    esac
    sleep 1
  done
  [ -n "$why" ] || exit 0
  emit watchdog "reason=$why" "phase=$name"
  stop_job
  exec 9>>"$LOCK"
  flock -w 60 9 || finish lost "reason=$why" "phase=$name"
  # Decided again under the lock: a job that ended just as this one looked, and a destroy that then
  # removed its run (cleanup.sh waits for unfinished runs, so it removes only finished ones), leave
  # nothing to put back. Acting then would undo the destroy, or another stack's deploy after it.
  if [ ! -d "$run" ] || [ -e "$run/outcome" ]; then exit 0; fi
  echo "$$ watchdog of run $PNX_ID" > "$HOLDER"
  out=$(readlink -e "$run/result-link" 2>/dev/null)
  if [ "$(decide "$why")" = confirmed ]; then
    commit
  fi
  rollback "$why"
  if [ "$why" = timeout ]; then
    finish timed-out "phase=$name" "rolledBackTo=$prevgen" "rollbackCode=$rbrc"
  fi
  finish job-died "phase=$name" "rolledBackTo=$prevgen" "rollbackCode=$rbrc"
}

# The zone a localtime link names: the path after "zoneinfo/", following links until one says it
# (/etc/localtime -> /etc/zoneinfo/<zone> as NixOS links it, or through /etc/static).
rm_zone_of() {
  rm_l=$1
  rm_n=0
  while [ -L "$rm_l" ] && [ "$rm_n" -lt 8 ]; do
    rm_t=$(readlink "$rm_l")
    case $rm_t in
      *zoneinfo/*)
        printf '%s' "${rm_t##*zoneinfo/}"
        return 0
        ;;
      /*) rm_l=$rm_t ;;
      *) rm_l=${rm_l%/*}/$rm_t ;;
    esac
    rm_n=$((rm_n + 1))
  done
}

# What the new system $out would take from the host that the stack neither declares nor allows
# (PNX_ALLOW_REMOVAL: "user:NAME", "keys:USER", "timeZone"), one tab-separated line each:
# "user NAME HOME WHAT" (WHAT: home,password), "key USER KEYLINE", "timeZone ZONE". NixOS's
# activation removes the users that were declared before (/var/lib/nixos/declarative-users; every
# undeclared one with users.mutableUsers false) and are not in the users-groups.json its activation
# script names; sshd reads /etc/ssh/authorized_keys.d/USER from the new etc; time.timeZone null is UTC.
removals() {
  rm_spec=$(grep -oE "/[^[:space:]'\"]*-users-groups\.json" "$out/activate" 2>/dev/null | sed -n 1p)
  if [ -n "$rm_spec" ]; then
    # Line 1: mutableUsers; 2: the users the new system declares; 3: the current system's normal users.
    # shellcheck disable=SC2016 # Nix's own ${...}
    rm_users=$(RM_NEW=$rm_spec RM_CUR=$(grep -oE "/[^[:space:]'\"]*-users-groups\.json" "$CURRENT/activate" 2>/dev/null | sed -n 1p) \
      nix --extra-experimental-features nix-command eval --impure --raw --expr '
        let
          read = v: let f = builtins.getEnv v; in if f == "" then { users = [ ]; } else builtins.fromJSON (builtins.readFile f);
          new = read "RM_NEW";
          names = us: builtins.concatStringsSep " " (map (u: u.name) us);
          normal = builtins.filter (u: !(u.isSystemUser or false) && u.name != "root") (read "RM_CUR").users;
        in "${if new.mutableUsers or true then "1" else "0"}\n ${names new.users} \n ${names normal} \n"') || {
      printf 'unreadable\t%s\n' "$rm_spec"
      return 0
    }
    rm_mutable=$(printf '%s\n' "$rm_users" | sed -n 1p)
    rm_declared=$(printf '%s\n' "$rm_users" | sed -n 2p)
    rm_normal=$(printf '%s\n' "$rm_users" | sed -n 3p)
    rm_before=" $(cat /var/lib/nixos/declarative-users 2>/dev/null) "
    while IFS=: read -r rm_name _ rm_uid _ _ rm_home _; do
      case $rm_declared in *" $rm_name "*) continue ;; esac
      if [ "$rm_mutable" = 1 ]; then case $rm_before in *" $rm_name "*) ;; *) continue ;; esac; fi
      case $rm_normal in *" $rm_name "*) ;; *) { [ "$rm_uid" -ge 1000 ] && [ "$rm_uid" != 65534 ]; } || continue ;; esac
      case " $PNX_ALLOW_REMOVAL " in *" user:$rm_name "*) continue ;; esac
      rm_what=
      for rm_f in "$rm_home"/* "$rm_home"/.[!.]* "$rm_home"/..?*; do
        if [ -e "$rm_f" ] || [ -L "$rm_f" ]; then rm_what=,home; break; fi
      done
      case $(awk -F: -v u="$rm_name" '$1 == u { print $2 }' /etc/shadow) in '' | '!' | '*' | '!!' | '!*') ;; *) rm_what=$rm_what,password ;; esac
      [ -z "$rm_what" ] || printf 'user\t%s\t%s\t%s\n' "$rm_name" "$rm_home" "${rm_what#,}"
    done < /etc/passwd
  fi
  # A key is its type and base64 blob, whatever options or comment its line has. The deploy key's
  # removal is the lockout guard's matter (keepDeployAccess), and a system without sshd reads no keys.
  # shellcheck disable=SC2016 # awk's own $i
  rm_keys='{ for (i = 1; i < NF; i++) if ($i ~ /^(ssh-|ecdsa-|sk-)/) { print $i " " $(i + 1); next } }'
  rm_seen=$PNX_DEPLOY_KEY
  for rm_user in root $([ "$PNX_USER" = root ] || printf '%s' "$PNX_USER"); do
    case " $PNX_ALLOW_REMOVAL " in *" keys:$rm_user "*) continue ;; esac
    if [ ! -r "/etc/ssh/authorized_keys.d/$rm_user" ] || [ ! -e "$out/etc/ssh/sshd_config" ]; then continue; fi
    rm_keep=$(awk "$rm_keys" "$out/etc/ssh/authorized_keys.d/$rm_user" 2>/dev/null)
    while IFS= read -r rm_line; do
      rm_key=$(printf '%s\n' "$rm_line" | awk "$rm_keys")
      [ -n "$rm_key" ] || continue
      printf '%s\n' "$rm_keep" "$rm_seen" | grep -qxF "$rm_key" && continue
      rm_seen=$(printf '%s\n%s' "$rm_seen" "$rm_key")
      printf 'key\t%s\t%s\n' "$rm_user" "$rm_line"
    done < "/etc/ssh/authorized_keys.d/$rm_user"
  done
  # A new zone the stack declares replaces the host's; UTC (time.timeZone null, or the stack's default) takes it away.
  rm_zone=$(rm_zone_of /etc/localtime)
  rm_next=$(rm_zone_of "$out/etc/localtime")
  rm_utc() { case $1 in '' | UTC | Etc/UTC | Universal | Etc/Universal | Zulu | Etc/Zulu) return 0 ;; esac; return 1; }
  if ! rm_utc "$rm_zone" && rm_utc "$rm_next"; then
    case " $PNX_ALLOW_REMOVAL " in *" timeZone "*) ;; *) printf 'timeZone\t%s\n' "$rm_zone" ;; esac
  fi
}

# Whether the host already runs, as its boot default too, what this run deploys: its marker is this
# host's, of this owner and identity exactly, with this content, and the deployed flake and secrets are
# the uploaded ones byte for byte (the program's commit and the marker's fields ride in the flake). A
# run whose state was lost (PULUMI_SKIP_CHECKPOINTS, a killed `pulumi up`) then records the host
# instead of deploying it twice.
already_deployed() {
  [ -n "$PNX_CONTENT_HASH" ] && [ "$PNX_ACTIVATES" = 1 ] && [ "$PNX_SETS_BOOT_DEFAULT" = 1 ] || return 1
  marker_claims || return 1
  [ "$(marker_field host)" = "$PNX_HOST" ] && [ "$(marker_field contentHash)" = "$PNX_CONTENT_HASH" ] || return 1
  [ "$(marker_field owner)" = "$PNX_CLAIM_OWNER" ] && [ "$(marker_field identity)" = "$PNX_CLAIM_IDENTITY" ] || return 1
  [ -n "$prevsys" ] && [ "$prevsys" = "$prevprofile" ] || return 1
  mkdir -p "$run/in/secrets"
  diff -r -q "$run/in/flake" "$FLAKE" > /dev/null 2>&1 && diff -r -q "$run/in/secrets" "$SECRETS" > /dev/null 2>&1
}

deploy() {
  write_pid "$run/job.pid"
  phase starting starting
  if ! need awk base64 cat chmod chown cut date diff flock grep ln mkdir mv nix nix-env nixos-rebuild readlink rm sed sleep stat systemctl systemd-run tail tee touch tr; then
    finish missing-tool "tool=$missing"
  fi
  exec 9>>"$LOCK"
  if ! flock -n 9; then
    phase waiting-for-lock waiting-for-lock "holder=$(lock_holder | b64)"
    flock -w "$PNX_LOCK_WAIT_SEC" 9 || finish locked "holder=$(lock_holder | b64)" "waited=$PNX_LOCK_WAIT_SEC"
  fi
  echo "$$ $PNX_OWNER" > "$HOLDER"

  # The machine must be new, released by a destroy, this host's, or (PNX_TAKEOVER: a renamed host)
  # another host's of this owner; a machine another owner deploys is refused before anything changes.
  if marker_claims; then
    mhost=$(marker_field host)
    owned=1
    claimed || owned=0
    if [ "$owned" = 0 ] || { [ "$mhost" != "$PNX_HOST" ] && [ "$PNX_TAKEOVER" != 1 ]; }; then
      # Refused although the project/stack names match: another identity, a stack of another backend.
      otherIdentity=0
      if [ "$owned" = 0 ] && [ "$mowner" = "$PNX_CLAIM_OWNER" ]; then otherIdentity=1; fi
      finish not-ours "markerOwner=$mowner" "markerStack=$(marker_field stack)" "markerHost=$mhost" "otherIdentity=$otherIdentity"
    fi
  fi

  prevsys=$(readlink -e "$CURRENT" 2>/dev/null)
  prevprofile=$(readlink -e "$PROFILE" 2>/dev/null)
  prevprofilegen=$(link_generation "$PROFILE")
  prevgen=$(running_of "$prevsys" "$prevprofilegen" "$prevprofile")
  # Written whole before the watchdog is armed, which reads it first.
  printf 'prevsys=%s\nprevgen=%s\nprevprofile=%s\nprevprofilegen=%s\n' "$prevsys" "$prevgen" "$prevprofile" "$prevprofilegen" > "$run/prev.tmp"
  mv -f "$run/prev.tmp" "$run/prev"
  # What the machine ran before this owner first deployed it stays on the host, so that state lost with
  # a killed run is read back from it (destroy with rollbackOnDelete returns there).
  if ! marker_claims; then
    printf '%s\n' "$prevgen" > "$PRIVATE/first-previous.tmp" && mv -f "$PRIVATE/first-previous.tmp" "$PRIVATE/first-previous"
  fi
  emit lock-acquired "previousGeneration=$prevgen" "previousSystem=$prevsys" "firstPreviousGeneration=$(cat "$PRIVATE/first-previous" 2>/dev/null)"
  if already_deployed; then
    finish "done" "diff=" "reboot="
  fi

  # A deploy a reboot interrupted, on a booted generation without the boot unit (the host's own before
  # its first deploy, or an older pulumi-nixos's): what that unit would have done, before this deploy
  # keeps the previous files as its own.
  if [ -e "$PENDING" ] && [ ! -e "$PENDING_BOOT" ]; then /bin/sh "$PENDING" rebooted; fi
  # Until the new system is the boot default (commit) or the previous files are back (restore), a
  # boot puts them back before any service starts: the unit render/base.ts renders runs `job.sh
  # rebooted` when this record survived a boot that emptied /run.
  mkdir -p "${PENDING_BOOT%/*}" && : > "$PENDING_BOOT"
  ln -sfn "$run/job.sh" "$PENDING"
  # The uploaded flake and secrets replace the previous ones, which are kept until the end so that
  # a failed run puts them back; secrets no longer declared disappear with the old directory.
  rm -rf "$FLAKE.old" "$SECRETS.old"
  if [ -d "$FLAKE" ]; then mv "$FLAKE" "$FLAKE.old"; fi
  if [ -d "$SECRETS" ]; then mv "$SECRETS" "$SECRETS.old"; fi
  mkdir -p "$run/in/flake" "$run/in/secrets"
  chmod 0755 "$run/in/flake"
  chmod 0711 "$run/in/secrets"
  mv "$run/in/flake" "$FLAKE"
  mv "$run/in/secrets" "$SECRETS"
  rm -rf "$run/in"
  own_secrets quiet
  if ! link_secrets; then
    restore
    finish secret-unplaced "secret=$key" "path=$link" "reason=$why"
  fi

  phase building arming-watchdog
  # 9>&-: the watchdog must not inherit the lock, or it would wait on itself.
  if ! systemd-run --unit="pulumi-nixos-watchdog-$PNX_ID" --collect --quiet -E PATH="$PATH" /bin/sh "$run/job.sh" watchdog 9>&-; then
    restore
    finish watchdog-failed
  fi
  if [ -n "$PNX_SYSTEM" ]; then
    # Built elsewhere and copied here (deploy.build): the host only checks that the whole system is in
    # its store and roots it as nixos-rebuild's result would be, without evaluating anything.
    need nix-store || { restore; finish missing-tool "tool=$missing"; }
    if ! nix-store --check-validity "$PNX_SYSTEM" 2>/dev/null || ! nix-store --add-root "$run/result" --indirect --realise "$PNX_SYSTEM" > /dev/null; then
      restore
      finish system-missing "system=$PNX_SYSTEM"
    fi
    code=0
  else
    emit building "flake=$FLAKE#$PNX_FLAKE_ATTR"
    nixos-rebuild build --flake "$FLAKE#$PNX_FLAKE_ATTR"
    code=$?
  fi
  out=$(readlink -e "$run/result" 2>/dev/null)
  if [ "$code" != 0 ] || [ -z "$out" ]; then
    restore
    finish build-failed "exit=$code"
  fi
  ln -s "$out" "$run/result-link"
  emit built "system=$out"
  # Nothing the host has disappears unasked: refused before anything is set or activated.
  if ! removed=$(removals) || [ -n "$removed" ]; then
    restore
    finish would-remove "removals=$(printf '%s' "$removed" | b64)"
  fi

  if [ "$PNX_ACTIVATES" = 1 ]; then
    phase activating activating
    activate "$out"
    code=$(cat "$run/activate.rc")
    if [ "$code" != 0 ]; then
      if [ "$PNX_SETS_BOOT_DEFAULT" = 1 ] && changes=$(switch_inhibited); then boot_instead "$changes"; fi
      units=$(sed -n 's/.*the following units failed: //p' "$run/activate.out" | tr -d ' ' | tr '\n' ',')
      decide activation-failed > /dev/null
      rollback activation-failed
      finish activation-failed "exit=$code" "failedUnits=${units%,}" "rolledBackTo=$prevgen" "rollbackCode=$rbrc" "inhibited=$(switch_inhibited | b64)"
    fi
    emit activated
  fi

  if [ "$PNX_CONFIRM" = 1 ]; then
    deadline=$(($(date +%s) + PNX_CONFIRM_SEC))
    phase awaiting awaiting-confirmation "seconds=$PNX_CONFIRM_SEC"
    touch "$run/awaiting"
    while [ ! -L "$run/decision" ]; do
      now=$(date +%s)
      # A confirmation that has reached the host gets the health checks' own budget.
      if [ -e "$run/reached" ] && [ ! -e "$run/extended" ]; then
        deadline=$((now + PNX_HEALTH_SEC + 5))
        touch "$run/extended"
      fi
      [ "$now" -ge "$deadline" ] && decide "$(window_over)" > /dev/null
      sleep 0.5
    done
    decision=$(readlink "$run/decision")
    emit decided "decision=$decision"
    # confirm.sh decides confirmed or health-failed, the wait above unconfirmed.
    case $decision in
      confirmed) ;;
      health-failed)
        rollback health-failed
        finish health-failed "rolledBackTo=$prevgen" "rollbackCode=$rbrc" "check=$(cat "$run/health.out" 2>/dev/null)"
        ;;
      *)
        rollback unconfirmed
        finish unconfirmed "rolledBackTo=$prevgen" "rollbackCode=$rbrc"
        ;;
    esac
  fi

  if [ "$PNX_SETS_BOOT_DEFAULT" = 1 ]; then
    commit
  fi
  succeed
}

# Run at boot (the unit render/base.ts renders) when this run's flake and secrets were in place and
# the host rebooted before its system became the boot default: the job and its watchdog died with
# the boot, and the previous generation boots, so its own flake and secrets go back before any of its
# services starts, and the run ends saying so. A boot of the new system (its commit was under way)
# keeps them.
rebooted() {
  rm -f "$PENDING"
  # shellcheck source=/dev/null
  [ -r "$run/prev" ] && . "$run/prev"
  new=$(readlink -e "$run/result-link" 2>/dev/null)
  if [ -n "$new" ] && [ "$(readlink -e "$BOOTED" 2>/dev/null)" = "$new" ]; then exit 0; fi
  restore
  [ -e "$run/outcome" ] && exit 0
  decide rebooted > /dev/null
  finish rebooted "rolledBackTo=$(running_generation)"
}

case $1 in
  run) deploy ;;
  watchdog) watchdog ;;
  rebooted) rebooted ;;
esac
