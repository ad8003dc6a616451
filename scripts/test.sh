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
passed=0 failed=0
# One jest run; a run that dies before writing its results counts nothing but still fails the suite.
run_jest() {
  : >"$results"
  npx jest --ci --json --outputFile="$results" "$@" || status=$?
  passed=$((passed + $(jq -s '.[0].numPassedTests // 0' "$results")))
  failed=$((failed + $(jq -s '.[0].numFailedTests // 0' "$results")))
}
if [ $# -gt 0 ]; then
  run_jest "$@"
else
  # Unit tests mostly wait (timers, child processes), so two workers halve their time; the host and
  # e2e layers start simulated hosts and pulumi runs whose timing windows want the cores to themselves.
  run_jest test/unit --maxWorkers=2
  run_jest test/host test/e2e --maxWorkers=1
fi
echo "jest: $passed passed, $failed failed"
rm -f "$results"
rm -rf "$PULUMI_NIXOS_TEST_TMPDIR"
exit "$status"
