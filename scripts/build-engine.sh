#!/usr/bin/env bash
# Builds the Pulumi engine pieces that cannot be downloaded here from Pulumi's published Go modules:
# the `pulumi` CLI (same version as the @pulumi/pulumi npm package), our Node language host, and the
# two helper scripts. Everything lands in a cache outside the repo and is reused on the next run.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
version=$(node -p "require('$repo/node_modules/@pulumi/pulumi/package.json').version" 2>/dev/null ||
  node -p "require('$repo/package.json').dependencies['@pulumi/pulumi']")
cache=${PULUMI_NIXOS_CACHE:-$HOME/.cache/pulumi-nixos}
bin="$cache/engine/v$version/bin"
mkdir -p "$bin"

need() { command -v "$1" >/dev/null || { echo "build-engine: $1 is missing: $2" >&2; exit 1; }; }
need go "install Go 1.22+ (https://go.dev/dl) or put a pulumi CLI on PATH"

export GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local} CGO_ENABLED=0
ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$version"

if [ ! -x "$bin/pulumi" ] || [ "$("$bin/pulumi" version 2>/dev/null)" != "v$version" ]; then
  echo "build-engine: building pulumi v$version from Go modules (minutes on a cold cache)" >&2
  work="$cache/engine/v$version/cli-module"
  rm -rf "$work" && mkdir -p "$work"
  pkgmod=$(cd "$work" && go mod download -json "github.com/pulumi/pulumi/pkg/v3@v$version" | jq -r .GoMod)
  [ -f "$pkgmod" ] || { echo "build-engine: Go module github.com/pulumi/pulumi/pkg/v3@v$version is not served by the Go proxy" >&2; exit 1; }
  (
    cd "$work"
    go mod init pulumi-nixos/engine-cli >/dev/null 2>&1
    # pkg's own go.mod carries replace lines a consumer does not inherit; copy the non-local ones.
    go mod edit -json "$pkgmod" | jq -r '.Replace[]? | select(.New.Version != null) | "\(.Old.Path)=\(.New.Path)@\(.New.Version)"' |
      while read -r r; do go mod edit -replace "$r"; done
    go mod edit -require "github.com/pulumi/pulumi/pkg/v3@v$version" -require "github.com/pulumi/pulumi/sdk/v3@v$version"
    go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v$version" >/dev/null
    go build -trimpath -tags osusergo,grpcnotrace -ldflags "$ldflags" -o "$bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  )
fi

host_src="$repo/scripts/language-host"
stamp="$bin/.language-host.sha"
sum=$(cat "$host_src"/go.mod "$host_src"/*.go | sha256sum | cut -c1-16)
if [ ! -x "$bin/pulumi-language-nodejs" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
  echo "build-engine: building pulumi-language-nodejs (scripts/language-host)" >&2
  (cd "$host_src" && go mod edit -require "github.com/pulumi/pulumi/sdk/v3@v$version" && go mod tidy >/dev/null 2>&1 &&
    go build -trimpath -ldflags "$ldflags" -o "$bin/pulumi-language-nodejs" .)
  echo "$sum" >"$stamp"
fi

# The CLI tarball ships these two as tiny sh scripts; the engine finds them beside `pulumi`.
cat >"$bin/pulumi-resource-pulumi-nodejs" <<'SH'
#!/bin/sh
exec node ./node_modules/@pulumi/pulumi/cmd/dynamic-provider "$@"
SH
cat >"$bin/pulumi-analyzer-policy" <<'SH'
#!/bin/sh
exec node ./node_modules/@pulumi/pulumi/cmd/run-policy-pack "$@"
SH
chmod +x "$bin"/pulumi-resource-pulumi-nodejs "$bin"/pulumi-analyzer-policy
echo "$bin"
