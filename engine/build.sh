#!/usr/bin/env bash
# Builds the Pulumi engine pieces that cannot be downloaded here from Pulumi's published Go modules:
# the `pulumi` CLI (same version as the @pulumi/pulumi npm package), our Node language host, and the
# two helper scripts. Everything lands in a cache outside the repo and is reused on the next run.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
version=$(node -p "require('$repo/node_modules/@pulumi/pulumi/package.json').version" 2>/dev/null ||
  node -p "require('$repo/package.json').devDependencies['@pulumi/pulumi']")
cache=${PULUMI_NIXOS_CACHE:-$HOME/.cache/pulumi-nixos}
bin="$cache/engine/v$version/bin"
mkdir -p "$bin"

need() { command -v "$1" >/dev/null || { echo "engine/build.sh: $1 is missing: $2" >&2; exit 1; }; }
need go "install Go 1.22+ (https://go.dev/dl) or put a pulumi CLI on PATH"

export GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local} CGO_ENABLED=0
ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version"

if [ ! -x "$bin/pulumi" ] || [ "$("$bin/pulumi" version 2>/dev/null)" != "v$version" ]; then
  work="$cache/engine/v$version/cli-module"
  rm -rf "$work" && mkdir -p "$work"
  echo "engine/build.sh: building pulumi v$version from Go modules (minutes on a cold cache; log: $work.log)" >&2
  pkgmod=$(cd "$work" && go mod download -json "github.com/pulumi/pulumi/pkg/v3@v$version" | jq -r .GoMod)
  [ -f "$pkgmod" ] || { echo "engine/build.sh: Go module github.com/pulumi/pulumi/pkg/v3@v$version is not served by the Go proxy" >&2; exit 1; }
  (
    cd "$work"
    go mod init pulumi-nixos/engine-cli >/dev/null 2>&1
    # pkg's own go.mod carries replace lines a consumer does not inherit; copy the non-local ones.
    go mod edit -json "$pkgmod" | jq -r '.Replace[]? | select(.New.Version != null) | "\(.Old.Path)=\(.New.Path)@\(.New.Version)"' |
      while read -r r; do go mod edit -replace "$r"; done
    go mod edit -require "github.com/pulumi/pulumi/pkg/v3@v$version" -require "github.com/pulumi/pulumi/sdk/v3@v$version"
    go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$version" &&
      go build -trimpath -tags osusergo,grpcnotrace -ldflags "$ldflags" -o "$bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  ) >"$work.log" 2>&1 || { tail -n 20 "$work.log" >&2; echo "engine/build.sh: building the pulumi CLI failed (log: $work.log)" >&2; exit 1; }
fi

host_src="$repo/engine/pulumi-language-nodejs"
stamp="$bin/.language-host.sha"
sum=$(cat "$host_src"/go.mod "$host_src"/*.go | sha256sum | cut -c1-16)
if [ ! -x "$bin/pulumi-language-nodejs" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
  echo "engine/build.sh: building pulumi-language-nodejs (engine/pulumi-language-nodejs)" >&2
  (cd "$host_src" && go build -trimpath -ldflags "$ldflags" -o "$bin/pulumi-language-nodejs" .)
  echo "$sum" >"$stamp"
fi

# @pulumi/command's provider, at the version of the npm SDK. Its Go module is refused by the module proxy
# on some networks (this sandbox's answers 403 for every version); that is reported, not fatal: only the
# smoke test's local.Command needs it, and it says so.
command_version=$(node -p "require('$repo/node_modules/@pulumi/command/package.json').version")
if [ ! -x "$bin/pulumi-resource-command" ] && [ ! -f "$bin/.command-unavailable" ]; then
  work="$cache/engine/command-v$command_version"
  rm -rf "$work" && mkdir -p "$work"
  module=github.com/pulumi/pulumi-command/provider
  fetch_error=$(cd "$work" && GOPROXY=$(go env GOPROXY | sed 's/,direct$//') go mod download -json "$module@v$command_version" | jq -r '.Error // empty' || true)
  if [ -z "$fetch_error" ] && (cd "$work" && go mod init pulumi-nixos/engine-command >/dev/null 2>&1 &&
      go get "$module@v$command_version" >/dev/null 2>&1 &&
      go build -trimpath -ldflags "-s -w -X $module/pkg/version.Version=v$command_version" \
        -o "$bin/pulumi-resource-command" "$module/cmd/pulumi-resource-command"); then
    echo "engine/build.sh: built pulumi-resource-command v$command_version" >&2
  else
    echo "$module@v$command_version could not be fetched or built: ${fetch_error:-see go build output}" | head -n1 >"$bin/.command-unavailable"
    echo "engine/build.sh: $(cat "$bin/.command-unavailable")" >&2
  fi
fi

# The CLI tarball ships these two as tiny sh scripts; they run the SDK's entry points from the
# project's (or policy pack's) own node_modules.
for pair in "pulumi-resource-pulumi-nodejs dynamic-provider" "pulumi-analyzer-policy run-policy-pack"; do
  set -- $pair
  cat >"$bin/$1" <<SH
#!/bin/sh
exec node "\$(node -p "require.resolve('@pulumi/pulumi/cmd/$2')")" "\$@"
SH
  chmod +x "$bin/$1"
done
echo "$bin"
