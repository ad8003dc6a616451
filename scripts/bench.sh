#!/usr/bin/env bash
# `npm run bench`: scale and overhead of pulumi-nixos against the same engine's floor, on simulated
# hosts. Prints a table and writes bench/results/<timestamp>.json. BENCH_TRANSPILE_ONLY=1 runs every
# program (floor and product alike) without ts-node's type check.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
source scripts/env.sh
# The stacks' program imports pulumi-nixos from dist/: measure this checkout, never an older build.
npm run --silent build
exec npx ts-node --transpile-only bench/main.ts "$@"
