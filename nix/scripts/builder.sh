# shellcheck shell=sh
# A build machine's side of deploy.build.builder, one command per step (PNX_MODE), run as the login
# user: root uses the store itself, another user builds through the machine's nix-daemon (as a
# remote builder's user does), so no sudo is needed.
# PNX_MODE=system: prints the system the builder's Nix builds for.
# PNX_MODE=build: stdin is a tar of flake/ (the host's rendered flake); builds PNX_FLAKE_ATTR's system
#   in a private directory of its own (0700, removed afterwards), and keeps the result alive with a GC
#   root named after PNX_ID (a link in the user's cache directory, an indirect root as `nix build`
#   registers it) until the release. Prints the system's store path, or the build's log.
# PNX_MODE=closure: prints PNX_SYSTEM's closure, dependencies first, with each path's NAR size.
# PNX_MODE=export: stdin holds store paths, one a line; stdout is their `nix-store --export` stream.
# PNX_MODE=release: removes PNX_ID's GC root; the built system may then be collected.
# Nix on a machine that is not NixOS lives in the default profile (a multi-user install) or the user's.
PATH=$PATH:/nix/var/nix/profiles/default/bin:$HOME/.nix-profile/bin
if ! need base64 cat mkdir mktemp nix nix-store readlink rm tar uname; then
  emit result outcome=missing-tool "tool=$missing"
  exit 0
fi
ROOTS=${XDG_CACHE_HOME:-$HOME/.cache}/pulumi-nixos/builds
FEATURES='nix-command flakes'

case $PNX_MODE in
  system)
    system=$(nix --extra-experimental-features "$FEATURES" eval --impure --raw --expr builtins.currentSystem 2>/dev/null) || system=
    [ -n "$system" ] || system=$(uname -m)-linux
    emit result outcome=system "system=$system"
    ;;
  build)
    dir=$(mktemp -d "${TMPDIR:-/tmp}/pulumi-nixos-build.XXXXXX")
    trap 'rm -rf "$dir"' EXIT
    if ! err=$(tar -x -f - -C "$dir" --no-same-owner --no-same-permissions 2>&1) || [ ! -f "$dir/flake/flake.nix" ]; then
      emit result outcome=staging-failed "error=$(printf '%s' "${err:-the archive holds no flake.nix}" | b64)"
      exit 0
    fi
    mkdir -p "$ROOTS"
    # Errors and progress stay in memory: the log goes back to the deployer only when the build fails.
    if ! log=$(nix --extra-experimental-features "$FEATURES" build --out-link "$ROOTS/$PNX_ID" \
      "path:$dir/flake#nixosConfigurations.\"$PNX_FLAKE_ATTR\".config.system.build.toplevel" 2>&1); then
      emit result outcome=build-failed "log=$(printf '%s' "$log" | b64)"
      exit 0
    fi
    emit result outcome=built "system=$(readlink "$ROOTS/$PNX_ID")"
    ;;
  closure)
    if ! paths=$(nix-store -qR "$PNX_SYSTEM" 2>&1); then
      emit result outcome=closure-failed "error=$(printf '%s' "$paths" | b64)"
      exit 0
    fi
    # Store paths hold no spaces: split the list, never glob it.
    set -f
    # shellcheck disable=SC2086
    sizes=$(nix-store -q --size $paths)
    emit result outcome=closure "paths=$(printf '%s' "$paths" | b64)" "sizes=$(printf '%s' "$sizes" | b64)"
    ;;
  export)
    set -f
    # shellcheck disable=SC2046 # one word per path
    exec nix-store --export $(cat)
    ;;
  release)
    rm -f "$ROOTS/$PNX_ID"
    emit result outcome=released
    ;;
esac
