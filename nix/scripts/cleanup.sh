# shellcheck shell=sh
# `pulumi destroy` of one host: under the lock, and only when the running system is this owner's
# deploy of this host. With PNX_ROLLBACK_TO the host first goes back to that generation. Whatever the
# rollback did, what the running system reads stays: while it is this deploy's, its secrets stay
# (they go once it runs a system that does not read them), and after a rollback that failed the flake
# stays too (the deploy is not undone). The run logs go. A destroy that leaves the machine running
# this deploy releases it: the marker says so, and another stack may deploy the machine.
# /etc/nixos, which a deploy links to its flake, is never left dangling (see unlink_etc_nixos).
need awk base64 cat chmod cp date find flock grep install mv nix-env readlink rm sed sleep stat wc || { emit result outcome=missing-tool "tool=$missing"; exit 0; }
unsafe=$(root_problem)
if [ -n "$unsafe" ]; then
  emit result outcome=unsafe-root "problem=$(printf '%s' "$unsafe" | b64)" changed=0 "$(host_state)"
  exit 0
fi
install -d -m 0711 "$ROOT"
install -d -m 0700 "$PRIVATE"
exec 9>>"$LOCK"
# A run without an outcome that a live job or watchdog owns is a deploy not finished: a killed
# `pulumi up` left its job running, or its watchdog is about to put the host back. The destroy waits
# for it outside the lock it needs, then removes what it leaves; removing its run under it would leave
# the host to a watchdog that cannot tell a destroy from a dead job.
deadline=$(($(date +%s) + PNX_LOCK_WAIT_SEC))
while :; do
  left=$((deadline - $(date +%s)))
  if ! flock -w "$((left > 0 ? left : 0))" 9; then
    emit result outcome=locked "holder=$(lock_holder | b64)" "waited=$PNX_LOCK_WAIT_SEC" "$(host_state)"
    exit 0
  fi
  unfinished=$(unfinished_run)
  [ -n "$unfinished" ] || break
  flock -u 9
  if [ "$(date +%s)" -ge "$deadline" ]; then
    emit result outcome=locked "holder=$(printf 'the deploy of run %s, not finished: its job or watchdog still runs' "$unfinished" | b64)" "waited=$PNX_LOCK_WAIT_SEC" "$(host_state)"
    exit 0
  fi
  sleep 1
done
ours() {
  [ "$(marker_field host)" = "$PNX_HOST" ] && claimed
}
if [ -e "$MARKER" ] && ! ours; then
  emit result outcome=not-ours "$(host_state)"
  exit 0
fi
# Before the flake goes: /etc/nixos, a link to it, becomes what the host's own `nixos-rebuild switch`
# should build from now on. With $1 = kept, the host keeps running this deploy: a copy of its flake,
# the host's own from now on. Else the host went back to what it ran before the first deploy (or is
# not this stack's): what /etc/nixos held then, or nothing. Fails, leaving the link, if the copy fails.
unlink_etc_nixos() {
  [ -L "$ETC_NIXOS" ] && [ "$(readlink "$ETC_NIXOS")" = "$FLAKE" ] || return 0
  if [ "$1" = kept ] && [ -d "$FLAKE" ]; then
    rm -rf "$ETC_NIXOS.tmp"
    cp -a "$FLAKE" "$ETC_NIXOS.tmp" && rm -f "$ETC_NIXOS" && mv "$ETC_NIXOS.tmp" "$ETC_NIXOS"
    return
  fi
  rm -f "$ETC_NIXOS"
  if [ -e "$ETC_NIXOS_BEFORE" ]; then mv "$ETC_NIXOS_BEFORE" "$ETC_NIXOS"; fi
}
code=0
if [ -n "$PNX_ROLLBACK_TO" ]; then
  if nix-env -p "$PROFILE" --switch-generation "$PNX_ROLLBACK_TO"; then "$PROFILE/bin/switch-to-configuration" switch || code=$?; else code=$?; fi
fi
keptsecrets=
keptflake=0
released=0
if ours; then
  if [ -d "$SECRETS" ]; then keptsecrets=$(find "$SECRETS" -mindepth 1 -maxdepth 1 | wc -l); fi
  rm -rf "$SECRETS.old"
  if [ "$code" = 0 ] && unlink_etc_nixos "$(if [ -n "$PNX_ROLLBACK_TO" ]; then echo back; else echo kept; fi)"; then
    rm -rf "$FLAKE" "$FLAKE.old" "$PRIVATE/first-previous"
    # A file in place of the system's link, until a switch links a marker again.
    if marker_claims; then
      sed 's/}[[:space:]]*$/,"released":true}/' "$MARKER" > "$MARKER.tmp" && chmod 0644 "$MARKER.tmp" && mv -f "$MARKER.tmp" "$MARKER" && released=1
    fi
  else
    keptflake=1
  fi
else
  unlink_etc_nixos back
  rm -rf "$SECRETS" "$SECRETS.old" "$FLAKE" "$FLAKE.old" "$PRIVATE/first-previous"
fi
rm -rf "$RUNS" "$HOLDER" "$PENDING"
emit result outcome=removed "rollbackCode=$code" "keptSecrets=$keptsecrets" "keptFlake=$keptflake" "released=$released" "$(host_state)"
