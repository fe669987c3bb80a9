#!/usr/bin/env bash
# `npm run demo [-- --fault <kind>]`: starts the local services (Temporal dev
# server, PostgreSQL, Prometheus), then runs one release of the demo service.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/services.sh" up
exec "$root/node_modules/.bin/tsx" "$root/demo/run.ts" "$@"
