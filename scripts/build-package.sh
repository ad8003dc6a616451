#!/usr/bin/env bash
# Builds the package into dist/ (npm run build; npm's prepare runs it for `npm pack` and Git installs):
# the library and the policy pack compiled with declarations, the command made executable, and the files
# they read at run time beside them: the host scripts (nix/scripts) and the policy pack's manifest and
# per-stack configs. The compiled code finds them at the same relative paths as the sources do.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf dist
npx tsc -p tsconfig.build.json
chmod +x dist/provider/cli/main.js
mkdir -p dist/nix
cp -R nix/scripts dist/nix/scripts
cp -R policy/PulumiPolicy.yaml policy/config dist/policy/
node -e 'const p = require("./policy/package.json"); require("fs").writeFileSync("dist/policy/package.json", JSON.stringify({ ...p, main: "index.js" }, null, 2) + "\n")'
