#!/usr/bin/env bash
# Builds the package into dist/ (npm run build; npm's prepare runs it for `npm pack`, Git installs and
# `npm install --install-links <checkout>`): the library and the policy pack compiled with declarations,
# the command made executable, and the files they read at run time beside them: the host scripts
# (nix/scripts) and the policy pack's manifest and per-stack configs. The compiled code finds them at the
# same relative paths as the sources do. A fresh checkout gets its build tools first (the locked ones,
# without dependencies' install scripts), so it packs and installs without a set-up of its own.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/tsc ]; then
  echo "build: installing the build tools (npm ci --ignore-scripts)" >&2
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2
fi
rm -rf dist
node_modules/.bin/tsc -p tsconfig.build.json
chmod +x dist/provider/cli/main.js
mkdir -p dist/nix
cp -R nix/scripts dist/nix/scripts
cp -R policy/PulumiPolicy.yaml policy/config dist/policy/
node -e 'const p = require("./policy/package.json"); require("fs").writeFileSync("dist/policy/package.json", JSON.stringify({ ...p, main: "index.js" }, null, 2) + "\n")'
