# shellcheck shell=sh
# `pulumi destroy` of one host: under the lock, and only when the running system is this owner's
# deploy of this host. With PNX_ROLLBACK_TO the host first goes back to that generation. Whatever the
# rollback did, what the running system reads stays: while it is this deploy's, its secrets stay
# (they go once it runs a system that does not read them), and after a rollback that failed the flake
# stays too (the deploy is not undone). The run logs go. A destroy that leaves the machine running
# this deploy releases it: the marker says so, and another stack may deploy the machine.
need awk base64 cat chmod find flock grep install mv nix-env readlink rm sed stat wc || { emit result outcome=missing-tool "tool=$missing"; exit 0; }
install -d -m 0711 "$ROOT"
install -d -m 0700 "$PRIVATE"
exec 9>>"$LOCK"
if ! flock -w "$PNX_LOCK_WAIT_SEC" 9; then
  emit result outcome=locked "holder=$(lock_holder | b64)" "waited=$PNX_LOCK_WAIT_SEC" "$(host_state)"
  exit 0
fi
ours() {
  [ "$(marker_field host)" = "$PNX_HOST" ] && claimed
}
if [ -e "$MARKER" ] && ! ours; then
  emit result outcome=not-ours "$(host_state)"
  exit 0
fi
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
  if [ "$code" = 0 ]; then
    rm -rf "$FLAKE" "$FLAKE.old"
    # A file in place of the system's link, until a switch links a marker again.
    if ! grep -qF '"released":true' "$MARKER"; then
      sed 's/}[[:space:]]*$/,"released":true}/' "$MARKER" > "$MARKER.tmp" && chmod 0644 "$MARKER.tmp" && mv -f "$MARKER.tmp" "$MARKER" && released=1
    fi
  else
    keptflake=1
  fi
else
  rm -rf "$SECRETS" "$SECRETS.old" "$FLAKE" "$FLAKE.old"
fi
rm -rf "$RUNS" "$HOLDER"
emit result outcome=removed "rollbackCode=$code" "keptSecrets=$keptsecrets" "keptFlake=$keptflake" "released=$released" "$(host_state)"
