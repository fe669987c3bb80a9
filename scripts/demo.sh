#!/usr/bin/env bash
# `npm run demo [-- --fault <kind>]`: starts the local services (Temporal dev
# server, PostgreSQL, Prometheus), then runs one release of the demo service.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$root/scripts/env.sh"   # the target database and pgBouncer URLs the worker's checks read
bash "$root/scripts/services.sh" up
# The demo's worker signs provenance and the GO/NO-GO record with a demo key of its own
# (a production worker is given its key: docs/ritual.md). Made once, kept under .run/.
if [[ -z "${SPARK_SIGNING_KEY:-}" ]]; then
  export SPARK_SIGNING_KEY="$SPARK_RUN_DIR/demo-signing-key.pem"
  [[ -f "$SPARK_SIGNING_KEY" ]] || openssl genpkey -algorithm ed25519 -out "$SPARK_SIGNING_KEY" 2>/dev/null
fi
exec "$root/node_modules/.bin/tsx" "$root/demo/run.ts" "$@"
