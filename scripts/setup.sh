#!/usr/bin/env bash
# Idempotent set-up for a fresh machine, used by the README's two commands and by .ci/run. It first says
# every change it will make to this machine, then makes them, and does nothing that is already done.
# Usage: setup.sh [--tests]   (--tests: also what only the test suite needs, actionlint)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
for_tests=""
[ "${1:-}" = --tests ] && for_tests=1
command -v node >/dev/null || { echo "setup: Node.js 20+ is required" >&2; exit 1; }
source scripts/env.sh

# The tools the simulated hosts and the tests use, and the Debian package of each.
tools=(nix:nix-bin sshd:openssh-server caddy:caddy ip:iproute2 jq:jq cvt:xcvt edid-decode:edid-decode
  unshare:util-linux nsenter:util-linux pkill:procps sudo:sudo shellcheck:shellcheck)
found() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ]; }
missing_tools=() missing_pkgs=()
for t in "${tools[@]}"; do
  found "${t%%:*}" && continue
  missing_tools+=("${t%%:*}")
  [[ " ${missing_pkgs[*]} " == *" ${t#*:} "* ]] || missing_pkgs+=("${t#*:}")
done
if [ ! -f /etc/ssl/certs/ca-certificates.crt ] && command -v dpkg >/dev/null; then missing_pkgs+=(ca-certificates); fi
if [ ${#missing_pkgs[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "setup: missing tools: ${missing_tools[*]} (on NixOS: \`nix develop\` in this checkout gives them all)" >&2
    exit 1
  elif [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing_pkgs[*]} (run as root, or: sudo apt-get install ${missing_pkgs[*]})" >&2
    exit 1
  fi
fi

# What will change, said before anything changes.
lock_sum=$(sha256sum package-lock.json | cut -c1-64)
need_npm='' need_engine='' need_actionlint=''
[ "$(cat node_modules/.lock.sha256 2>/dev/null)" = "$lock_sum" ] || need_npm=1
# A pulumi CLI already on PATH (a laptop install, a Nix devShell) is used as is; otherwise ours, built once.
own_engine=
if ! command -v pulumi >/dev/null || [ "$(command -v pulumi)" = "$PULUMI_NIXOS_ENGINE_BIN/pulumi" ]; then own_engine=1; fi
[ -n "$own_engine" ] && [ ! -x "$PULUMI_NIXOS_ENGINE_BIN/pulumi" ] && need_engine=1
if [ -n "$for_tests" ] && ! command -v actionlint >/dev/null && [ ! -x "$PULUMI_NIXOS_ACTIONLINT" ]; then need_actionlint=1; fi
changes=()
[ ${#missing_pkgs[@]} -eq 0 ] || changes+=("install Debian packages with apt-get: ${missing_pkgs[*]}")
[ -z "$need_npm" ] || changes+=("npm ci in $repo/node_modules")
[ -z "$need_engine" ] || changes+=("build the Pulumi engine v${PULUMI_NIXOS_ENGINE_BIN##*/v} from Go modules into $PULUMI_NIXOS_ENGINE_BIN (no pulumi CLI on PATH)")
[ -z "$need_actionlint" ] || changes+=("install actionlint $PULUMI_NIXOS_ACTIONLINT_VERSION from Go modules into ${PULUMI_NIXOS_ACTIONLINT%/*} (checks the example CI workflow)")
if [ "$(id -u)" -eq 0 ]; then
  while IFS= read -r line; do changes+=("$line"); done < <(bash scripts/setup-hosts.sh --plan)
fi
if [ ${#changes[@]} -gt 0 ]; then
  echo "setup: this will change the machine:" >&2
  printf 'setup:   - %s\n' "${changes[@]}" >&2
fi

if [ ${#missing_pkgs[@]} -gt 0 ]; then
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_pkgs[@]}" >/dev/null
fi
if [ -n "$need_npm" ]; then
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
if [ -n "$own_engine" ]; then
  command -v go >/dev/null || { echo "setup: no pulumi CLI on PATH: install one (https://www.pulumi.com/docs/install/) or Go 1.22+ to build it" >&2; exit 1; }
  bash engine/build.sh >/dev/null
fi
if [ -n "$need_actionlint" ]; then
  command -v go >/dev/null || { echo "setup: the tests check the example CI workflow with actionlint: put actionlint on PATH (nix develop has it) or install Go 1.22+" >&2; exit 1; }
  GOBIN=$(dirname "$PULUMI_NIXOS_ACTIONLINT") go install "github.com/rhysd/actionlint/cmd/actionlint@$PULUMI_NIXOS_ACTIONLINT_VERSION" >/dev/null 2>&1 ||
    { echo "setup: go install github.com/rhysd/actionlint/cmd/actionlint@$PULUMI_NIXOS_ACTIONLINT_VERSION failed" >&2; exit 1; }
fi
echo "setup: $(pulumi version) ($(command -v pulumi)), @pulumi/pulumi $(node -p "require('@pulumi/pulumi/package.json').version")" >&2

if [ "$(id -u)" -eq 0 ]; then
  bash scripts/setup-hosts.sh
else
  echo "setup: not root: the simulated hosts (the demo, test/host, test/e2e) need root for their namespaces" >&2
fi
