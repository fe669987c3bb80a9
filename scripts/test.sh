#!/usr/bin/env bash
# What `npm test` runs: start the loopback services, typecheck, run every jest project.
# Extra arguments go to jest (npm test -- test/unit). Services that were already running
# are left running; the ones started here are stopped on exit. Exits with jest's code.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$SPARK_ROOT"

services="$SPARK_ROOT/scripts/services.sh"
started_here=()
for s in postgres pgbouncer prometheus temporal; do
  bash "$services" status "$s" >/dev/null || started_here+=("$s")
done
stop_started() {
  if ((${#started_here[@]})); then bash "$services" down "${started_here[@]}" || true; fi
}
trap stop_started EXIT
trap 'exit 130' INT TERM

echo "[test] starting services (bootstrap included)"
bash "$services" up

echo "[test] typecheck"
npx tsc -p tsconfig.json --noEmit

echo "[test] jest"
results="$SPARK_RUN_DIR/jest-results.json"
rm -f "$results"
code=0
# --forceExit: a Temporal native runtime handle can outlive the last suite; without it jest may never exit.
npx jest --runInBand --ci --forceExit --json --outputFile="$results" "$@" || code=$?

# A plain closing line, so a reader of the log (or CI) sees how many tests ran.
if [[ -s "$results" ]]; then
  node -e '
    const r = require(process.argv[1]);
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
  ' "$results"
fi
exit "$code"
