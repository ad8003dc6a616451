#!/usr/bin/env bash
# Idempotent set-up for a fresh machine, used by the README's two commands and by .ci/run: installs what
# is missing and nothing more (Debian packages when root, npm packages, the Pulumi engine).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

debian_packages=(nix-bin openssh-server caddy iproute2 jq xcvt edid-decode util-linux procps sudo ca-certificates shellcheck)
missing=()
for p in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v node >/dev/null || { echo "setup: Node.js 20+ is required" >&2; exit 1; }
lock_sum=$(sha256sum package-lock.json | cut -c1-64)
if [ "$(cat node_modules/.lock.sha256 2>/dev/null)" != "$lock_sum" ]; then
  echo "setup: npm ci" >&2
  # Without dependencies' install scripts (.npmrc says which and why); the build runs below.
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
  echo "$lock_sum" >node_modules/.lock.sha256
fi
# The checkout is installed as its own package, so programs in it (stacks/, test fixtures) and the
# Generation provider's `require("pulumi-nixos/...")` resolve it as a user's project resolves the
# installed one: the compiled dist/ (npm run build; test/e2e rebuilds it before each run).
ln -sfn .. node_modules/pulumi-nixos
ln -sfn ../pulumi-nixos/dist/provider/cli/main.js node_modules/.bin/pulumi-nixos
[ -f dist/provider/index.js ] || npm run --silent build >/dev/null

source scripts/env.sh
if [ "$(command -v pulumi)" = "$PULUMI_NIXOS_ENGINE_BIN/pulumi" ] || ! command -v pulumi >/dev/null; then
  bash engine/build.sh >/dev/null
fi
if [ ! -x "$PULUMI_NIXOS_ACTIONLINT" ]; then
  command -v go >/dev/null || { echo "setup: Go is needed once to install actionlint (the example CI workflow's check)" >&2; exit 1; }
  echo "setup: go install actionlint $PULUMI_NIXOS_ACTIONLINT_VERSION" >&2
  GOBIN=$(dirname "$PULUMI_NIXOS_ACTIONLINT") go install "github.com/rhysd/actionlint/cmd/actionlint@$PULUMI_NIXOS_ACTIONLINT_VERSION" >/dev/null 2>&1 ||
    { echo "setup: go install github.com/rhysd/actionlint/cmd/actionlint@$PULUMI_NIXOS_ACTIONLINT_VERSION failed" >&2; exit 1; }
fi
echo "setup: $(pulumi version) ($(command -v pulumi)), @pulumi/pulumi $(node -p "require('@pulumi/pulumi/package.json').version")" >&2

if [ -f scripts/setup-hosts.sh ] && [ "$(id -u)" -eq 0 ]; then
  bash scripts/setup-hosts.sh
fi
