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
status=0
npx jest --ci --json --outputFile="$results" "$@" || status=$?
jq -r '"jest: \(.numPassedTests) passed, \(.numFailedTests) failed"' "$results"
rm -f "$results"
exit "$status"
