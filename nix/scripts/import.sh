# shellcheck shell=sh
# The host's end of a copy of a system built elsewhere (deploy.build), in two commands.
# PNX_MODE=lacks: stdin holds store paths, one a line (the closure, dependencies first); prints the
# host's Nix system and which of them its store lacks, asked of the store once. An empty list only
# asks the system (the deployer refuses a host of another system before building anything).
# PNX_MODE=import: stdin is a `nix-store --export` stream of the lacking paths, imported by root into
# the host's store. Each path becomes valid as it arrives, so an interrupted copy keeps what arrived
# and the next deploy sends only the rest; nothing of the running system, its profile or the deploy
# root changes here.
if ! need base64 cat nix nix-store sed uname; then
  emit result outcome=missing-tool "tool=$missing"
  exit 0
fi

case $PNX_MODE in
  lacks)
    system=$(nix --extra-experimental-features nix-command show-config 2>/dev/null | sed -n 's/^system = //p')
    [ -n "$system" ] || system=$(uname -m)-linux
    paths=$(cat)
    missing=
    if [ -n "$paths" ]; then
      # Store paths hold no spaces, but may hold '?': split the list, never glob it.
      set -f
      # shellcheck disable=SC2086
      if ! out=$(nix-store --check-validity --print-invalid $paths 2>&1); then
        emit result outcome=import-failed "error=$(printf '%s' "$out" | b64)"
        exit 0
      fi
      # Only the paths: Nix may print a warning among them.
      missing=$(printf '%s\n' "$out" | sed -n '/^\//p')
    fi
    emit result outcome=lacks "system=$system" "missing=$(printf '%s' "$missing" | b64)"
    ;;
  import)
    # Errors are kept in memory: on a full disk not even an error file can be written.
    if ! err=$(nix-store --import 2>&1 > /dev/null); then
      emit result outcome=import-failed "error=$(printf '%s' "$err" | b64)"
      exit 0
    fi
    emit result outcome=imported
    ;;
esac
