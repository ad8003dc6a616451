#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up, type check, then every layer (unit, host, e2e).
# Extra arguments go to jest, e.g. `bash scripts/test.sh test/unit`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
bash scripts/setup.sh --tests
source scripts/env.sh
echo "test: type check" >&2
npx tsc --noEmit -p .
echo "test: jest" >&2
results=$(mktemp)
# The run's own temporary directory: whatever the tests and the programs they start leave in it is
# reported by test/teardown.ts, which fails the run.
PULUMI_NIXOS_TEST_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/pulumi-nixos-test.XXXXXX")
chmod 1777 "$PULUMI_NIXOS_TEST_TMPDIR"
export PULUMI_NIXOS_TEST_TMPDIR TMPDIR=$PULUMI_NIXOS_TEST_TMPDIR
# Caches that programs keep under the temporary directory belong to the machine's cache instead (ts-node's).
export V8_COMPILE_CACHE_CACHE_DIR="$PULUMI_NIXOS_CACHE/v8-compile-cache"
status=0
npx jest --ci --json --outputFile="$results" "$@" || status=$?
jq -r '"jest: \(.numPassedTests) passed, \(.numFailedTests) failed"' "$results"
rm -f "$results"
rm -rf "$PULUMI_NIXOS_TEST_TMPDIR"
exit "$status"
