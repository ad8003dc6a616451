# shellcheck shell=sh
# `pulumi destroy` of one host: under the lock, and only when the running system is this stack's
# deploy of this host. The flake and run logs go; the secrets stay while the running system was
# built to read them (they go once it runs a system that does not). With PNX_ROLLBACK_TO the host
# first goes back to that generation, and then the secrets go too.
need awk base64 cat find flock grep install nix-env readlink rm sed stat wc || { emit result outcome=missing-tool "tool=$missing"; exit 0; }
install -d -m 0711 "$ROOT"
install -d -m 0700 "$PRIVATE"
exec 9>>"$LOCK"
if ! flock -w "$PNX_LOCK_WAIT_SEC" 9; then
  emit result outcome=locked "holder=$(lock_holder | b64)" "waited=$PNX_LOCK_WAIT_SEC" "$(host_state)"
  exit 0
fi
ours() {
  grep -qF "\"host\":\"$PNX_HOST\"" "$MARKER" 2>/dev/null && grep -qF "\"stack\":\"$PNX_STACK\"" "$MARKER" 2>/dev/null
}
if [ -e "$MARKER" ] && ! ours; then
  emit result outcome=not-ours "$(host_state)"
  exit 0
fi
code=0
if [ -n "$PNX_ROLLBACK_TO" ]; then
  if nix-env -p "$PROFILE" --switch-generation "$PNX_ROLLBACK_TO"; then "$PROFILE/bin/switch-to-configuration" switch || code=$?; else code=$?; fi
fi
kept=
if [ "$code" = 0 ] && ours && [ -d "$SECRETS" ]; then
  kept=$(find "$SECRETS" -mindepth 1 -maxdepth 1 | wc -l)
  rm -rf "$SECRETS.old"
else
  rm -rf "$SECRETS" "$SECRETS.old"
fi
rm -rf "$FLAKE" "$FLAKE.old" "$RUNS" "$HOLDER"
emit result outcome=removed "rollbackCode=$code" "keptSecrets=$kept" "$(host_state)"
