# Shared defaults for the shell scripts; src/config.ts holds the same ones.
SPARK_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SPARK_ROOT
export SPARK_TOOLS_BIN="${SPARK_TOOLS_BIN:-$SPARK_ROOT/.tools/bin}"
export SPARK_RUN_DIR="${SPARK_RUN_DIR:-$SPARK_ROOT/.run}"
export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-127.0.0.1:7233}"
export TEMPORAL_UI_PORT="${TEMPORAL_UI_PORT:-8233}"
export SPARK_PG_PORT="${SPARK_PG_PORT:-55432}"
export DATABASE_URL="${DATABASE_URL:-postgres://spark:spark@127.0.0.1:$SPARK_PG_PORT/spark}"
# The demo target's database through pgBouncer, and pgBouncer's admin console (the release plan names these variables).
export SPARK_PGBOUNCER_PORT="${SPARK_PGBOUNCER_PORT:-56432}"
export SPARK_TARGET_DATABASE_URL="${SPARK_TARGET_DATABASE_URL:-postgres://spark:spark@127.0.0.1:$SPARK_PGBOUNCER_PORT/spark_demo}"
export SPARK_TARGET_PGBOUNCER_ADMIN_URL="${SPARK_TARGET_PGBOUNCER_ADMIN_URL:-postgres://spark:spark@127.0.0.1:$SPARK_PGBOUNCER_PORT/pgbouncer}"
export SPARK_PROM_PORT="${SPARK_PROM_PORT:-9090}"
export PROMETHEUS_URL="${PROMETHEUS_URL:-http://127.0.0.1:$SPARK_PROM_PORT}"
export SPARK_DEMO_ROUTER_PORT="${SPARK_DEMO_ROUTER_PORT:-18080}"
export SPARK_DEMO_STABLE_PORT="${SPARK_DEMO_STABLE_PORT:-18081}"
export SPARK_DEMO_CANARY_PORT="${SPARK_DEMO_CANARY_PORT:-18082}"
export SPARK_DEMO_ROUTER_ADMIN_PORT="${SPARK_DEMO_ROUTER_ADMIN_PORT:-18089}"
export SPARK_WORKER_METRICS_PORT="${SPARK_WORKER_METRICS_PORT:-9464}"
# The PostgreSQL-backed Temporal server of scripts/temporal-pg.sh: its frontend port (the nine after it
# are its other services'), its databases (<db> and <db>_visibility) and the role it connects as.
export SPARK_TEMPORAL_PG_PORT="${SPARK_TEMPORAL_PG_PORT:-7243}"
export SPARK_TEMPORAL_PG_DB="${SPARK_TEMPORAL_PG_DB:-temporal}"
export SPARK_TEMPORAL_PG_USER="${SPARK_TEMPORAL_PG_USER:-spark}"
export SPARK_TEMPORAL_PG_PASSWORD="${SPARK_TEMPORAL_PG_PASSWORD:-spark}"
