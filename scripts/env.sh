# Sourced by the project's scripts: puts the Pulumi engine on PATH and keeps it offline.
# A `pulumi` already on PATH (a laptop install, a Nix devShell) is used as is; otherwise the one
# engine/build.sh built into the cache.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PULUMI_NIXOS_CACHE=${PULUMI_NIXOS_CACHE:-$HOME/.cache/pulumi-nixos}
pulumi_version=$(node -p "require('$repo/package.json').devDependencies['@pulumi/pulumi']")
export PULUMI_NIXOS_ENGINE_BIN="$PULUMI_NIXOS_CACHE/engine/v$pulumi_version/bin"
if ! command -v pulumi >/dev/null 2>&1 || [ "$(command -v pulumi)" = "$PULUMI_NIXOS_ENGINE_BIN/pulumi" ]; then
  export PATH="$PULUMI_NIXOS_ENGINE_BIN:$PATH"
fi
# actionlint checks the example CI workflow (examples/ci); scripts/setup.sh installs it from the Go module proxy.
export PULUMI_NIXOS_ACTIONLINT_VERSION=v1.7.12
export PULUMI_NIXOS_ACTIONLINT="$PULUMI_NIXOS_CACHE/tools/actionlint-$PULUMI_NIXOS_ACTIONLINT_VERSION/actionlint"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK=true
