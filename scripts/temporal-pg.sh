#!/usr/bin/env bash
# A production-shaped Temporal beside the dev server: the Temporal server with PostgreSQL
# persistence and SQL visibility, in the PostgreSQL of scripts/services.sh, on loopback.
#
#   bash scripts/temporal-pg.sh up|down|status|reset
#
# up      builds the server and its SQL tool when missing (go install, same version as the
#         CLI's dev server), creates and migrates the two databases, starts the server, and
#         registers the namespace `default` with the Spark* search attributes (idempotent)
# down    stops the server `up` started (pid file)
# status  one line; exits 0 only if the server answers
# reset   down, then drops its two databases
#
# Ports: SPARK_TEMPORAL_PG_PORT (frontend, default 7243) and the nine after it.
# Databases: SPARK_TEMPORAL_PG_DB and SPARK_TEMPORAL_PG_DB_visibility (default temporal).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

SPARK_SERVICES_TIMEOUT="${SPARK_SERVICES_TIMEOUT:-90}"
run="$SPARK_RUN_DIR"
logs="$run/logs"
bin="$SPARK_TOOLS_BIN"
service_tag=temporal-pg
source "$SPARK_ROOT/scripts/service-lib.sh"

# The server version of the pinned CLI's dev server, unless set.
cli_server_version() { "$bin/temporal" --version | sed -n 's/.*(Server \([0-9][0-9.]*\),.*/\1/p'; }
TEMPORAL_SERVER_VERSION="${TEMPORAL_SERVER_VERSION:-$(cli_server_version)}"
[[ -n "$TEMPORAL_SERVER_VERSION" ]] || die "cannot read the server version from '$bin/temporal --version'; set TEMPORAL_SERVER_VERSION"
server_dir="$SPARK_ROOT/.tools/temporal-server"
server_bin="$server_dir/bin/temporal-server"
sql_tool="$server_dir/bin/temporal-sql-tool"
# Real location of the PostgreSQL client binaries, as in scripts/services.sh.
pg_bindir="$(dirname "$(readlink -f "$bin/initdb")")"

dir="$run/temporal-pg"
log="$logs/temporal-pg.log"
port="$SPARK_TEMPORAL_PG_PORT"
address="127.0.0.1:$port"
# Template values (deploy/temporal/server.yaml.tmpl).
export TEMPORAL_PG_DB="$SPARK_TEMPORAL_PG_DB" TEMPORAL_PG_VISIBILITY_DB="${SPARK_TEMPORAL_PG_DB}_visibility"
export TEMPORAL_PG_USER="$SPARK_TEMPORAL_PG_USER" TEMPORAL_PG_PASSWORD="$SPARK_TEMPORAL_PG_PASSWORD"
export TEMPORAL_PG_FRONTEND_PORT="$port" TEMPORAL_PG_FRONTEND_MEMBERSHIP_PORT=$((port + 1))
export TEMPORAL_PG_HISTORY_PORT=$((port + 2)) TEMPORAL_PG_HISTORY_MEMBERSHIP_PORT=$((port + 3))
export TEMPORAL_PG_MATCHING_PORT=$((port + 4)) TEMPORAL_PG_MATCHING_MEMBERSHIP_PORT=$((port + 5))
export TEMPORAL_PG_WORKER_PORT=$((port + 6)) TEMPORAL_PG_WORKER_MEMBERSHIP_PORT=$((port + 7))
export TEMPORAL_PG_HTTP_PORT=$((port + 8)) TEMPORAL_PG_METRICS_PORT=$((port + 9))
export TEMPORAL_PG_DYNAMIC_CONFIG="$SPARK_ROOT/deploy/temporal/dynamicconfig.yaml"

# ---------------------------------------------------------------- build

# Both binaries from the server's Go module; a version stamp says which version they are.
build_if_missing() {
  local stamp="$server_dir/version"
  if [[ -x "$server_bin" && -x "$sql_tool" && "$(cat "$stamp" 2>/dev/null)" == "$TEMPORAL_SERVER_VERSION" ]]; then return 0; fi
  command -v go >/dev/null || die "building the Temporal server needs a Go toolchain (go install); none on PATH"
  local gobin build_log="$server_dir/build.log" started=$SECONDS
  mkdir -p "$server_dir/bin"
  gobin="$(mktemp -d)"
  say "building temporal-server and temporal-sql-tool $TEMPORAL_SERVER_VERSION with go install (about 3 minutes on 2 cores)"
  GOBIN="$gobin" go install "go.temporal.io/server/cmd/server@v$TEMPORAL_SERVER_VERSION" \
    "go.temporal.io/server/cmd/tools/sql@v$TEMPORAL_SERVER_VERSION" >"$build_log" 2>&1 \
    || { rm -rf "$gobin"; die "go install of the Temporal server $TEMPORAL_SERVER_VERSION failed; see $build_log"; }
  mv "$gobin/server" "$server_bin" && mv "$gobin/sql" "$sql_tool" && rm -rf "$gobin"
  echo "$TEMPORAL_SERVER_VERSION" >"$stamp"
  say "built in $((SECONDS - started)) s"
}

# ---------------------------------------------------------------- databases

sql() {
  "$sql_tool" --plugin postgres12 --endpoint 127.0.0.1 --port "$SPARK_PG_PORT" \
    --user "$SPARK_TEMPORAL_PG_USER" --password "$SPARK_TEMPORAL_PG_PASSWORD" "$@"
}

# True when database NAME exists in the cluster.
database_exists() {
  [[ "$(PGPASSWORD="$SPARK_TEMPORAL_PG_PASSWORD" "$pg_bindir/psql" -X -tA -h 127.0.0.1 -p "$SPARK_PG_PORT" \
    -U "$SPARK_TEMPORAL_PG_USER" -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$1'" 2>>"$log")" == 1 ]]
}

# Creates database NAME when missing, with the versioning tables, then migrates it to the
# newest SCHEMA (postgresql/v12/temporal or .../visibility) embedded in the SQL tool.
migrate_database() {
  local name="$1" schema="$2"
  if ! database_exists "$name"; then
    say "creating database $name"
    sql --database "$name" create-database >>"$log" 2>&1 || die "could not create database $name; see $log"
    sql --database "$name" setup-schema --version 0.0 >>"$log" 2>&1 || die "could not set up schema versioning in $name; see $log"
  fi
  sql --database "$name" update-schema --schema-name "$schema" >>"$log" 2>&1 \
    || die "could not migrate $name to the $schema schema of $TEMPORAL_SERVER_VERSION; see $log"
}

# ---------------------------------------------------------------- server

pg_isready_or_die() {
  "$pg_bindir/pg_isready" -q -h 127.0.0.1 -p "$SPARK_PG_PORT" \
    || die "PostgreSQL does not answer on 127.0.0.1:$SPARK_PG_PORT; start it first: bash scripts/services.sh up postgres"
}


server_ready() { temporal_cli_at "$address" operator cluster health 2>/dev/null | grep -q SERVING; }
# Search attributes become listable some seconds after the namespace is described (caches refresh).
namespace_ready() { missing_search_attributes "$address" >/dev/null; }

up() {
  pg_isready_or_die
  build_if_missing
  migrate_database "$TEMPORAL_PG_DB" postgresql/v12/temporal
  migrate_database "$TEMPORAL_PG_VISIBILITY_DB" postgresql/v12/visibility
  local pid; pid="$(live_pid temporal-server)"
  if [[ -z "$pid" ]]; then
    local p
    for p in $(seq "$port" $((port + 9))); do require_free_port "$p" temporal-pg; done
    mkdir -p "$dir/config"
    render_template "$SPARK_ROOT/deploy/temporal/server.yaml.tmpl" >"$dir/config/development.yaml"
    say "starting Temporal server $TEMPORAL_SERVER_VERSION on $address (ports $port-$((port + 9)))"
    start_detached temporal-server "$log" "$server_bin" --root "$dir" --config config --env development \
      --allow-no-auth start
    pid="$(cat "$run/temporal-server.pid")"
  fi
  wait_until_ready temporal-pg "$log" "$pid" server_ready
  if ! namespace_ready; then
    say "registering namespace default"
    temporal_cli_at "$address" operator namespace create --namespace default >>"$log" 2>&1 \
      || die "could not register namespace default; see $log"
    wait_until_ready "temporal-pg namespace default" "$log" "$pid" namespace_ready
  fi
  register_search_attributes "$address" "namespace default" "$log"
  say "up: TEMPORAL_ADDRESS=$address"
}

down() {
  local pid; pid="$(live_pid temporal-server)"
  if [[ -n "$pid" ]]; then say "stopping pid $pid"; stop_pid "$pid" temporal-pg 30; fi
  rm -f "$run/temporal-server.pid"
}

status() {
  local pid where="$address  databases $TEMPORAL_PG_DB, $TEMPORAL_PG_VISIBILITY_DB on 127.0.0.1:$SPARK_PG_PORT"
  pid="$(live_pid temporal-server)"
  if [[ -z "$pid" ]]; then echo "temporal-pg stopped     $address"; return 1; fi
  if server_ready; then
    echo "temporal-pg running     $where  pid $pid  log $log"
  else
    echo "temporal-pg not-ready   $address  pid $pid  log $log"; return 1
  fi
}

reset() {
  down
  pg_isready_or_die
  local name
  for name in "$TEMPORAL_PG_DB" "$TEMPORAL_PG_VISIBILITY_DB"; do
    if database_exists "$name"; then
      say "dropping database $name"
      sql --database "$name" drop-database --force >>"$log" 2>&1 || die "could not drop database $name; see $log"
    fi
  done
  rm -rf "$dir"
}

# ---------------------------------------------------------------- commands

command="${1:-}"
[[ $# -eq 1 && "$command" =~ ^(up|down|status|reset)$ ]] || die "usage: $0 up|down|status|reset"
mkdir -p "$logs"
if [[ "$command" != status ]]; then
  # One changer at a time, as in scripts/services.sh.
  exec 9>"$run/temporal-pg.lock"
  flock -w 300 9 || die "another temporal-pg.sh has held $run/temporal-pg.lock for 300s"
fi
"$command"
