#!/usr/bin/env bash
# Starts, stops and inspects the real services spark-release talks to, all on loopback:
# the Temporal dev server (with its Web UI), PostgreSQL, pgBouncer (in front of the demo
# target's database) and Prometheus.
#
#   bash scripts/services.sh up|down|status|reset [postgres|pgbouncer|prometheus|temporal ...]
#
# up      starts what is not running and returns once every service answers (idempotent)
# down    stops what `up` started (pid files and pg_ctl), nothing else
# status  one line per service; exits 0 only if every named service answers
# reset   down, then deletes the services' data
# With no service named, the command applies to all of them but temporal-pg (scripts/temporal-pg.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

export SPARK_FIXTURE_METRICS_PORT="${SPARK_FIXTURE_METRICS_PORT:-18095}"
# Seconds each service gets to answer before `up` gives up on it.
SPARK_SERVICES_TIMEOUT="${SPARK_SERVICES_TIMEOUT:-90}"

# PostgreSQL and pgBouncer first: their ports lie in the ephemeral range from which Temporal picks its internal ports.
ALL_SERVICES=(postgres pgbouncer prometheus temporal)
# Only when named: the PostgreSQL-backed Temporal server of scripts/temporal-pg.sh (builds it on first use).
OPTIONAL_SERVICES=(temporal-pg)
run="$SPARK_RUN_DIR"
logs="$run/logs"
bin="$SPARK_TOOLS_BIN"
temporal_port="${TEMPORAL_ADDRESS##*:}"
service_tag=services
source "$SPARK_ROOT/scripts/service-lib.sh"

# ---------------------------------------------------------------- PostgreSQL

# The server refuses to run as root: as root, everything runs as the postgres OS user.
# Fd 9 (the lock) is closed so a server started through pg_ctl does not keep holding it.
as_pg() {
  if ((EUID == 0)); then (cd / && runuser -u postgres -- "$@" 9>&-); else "$@" 9>&-; fi
}

# Where the data and socket dirs live: $run, unless the postgres user cannot reach it (a
# checkout under a private dir), then a per-checkout dir under /var/tmp. Decided once, recorded.
pg_home_record="$run/postgres.home"
pg_home() {
  if [[ -s "$pg_home_record" ]]; then cat "$pg_home_record"; return; fi
  local home="$run"
  if ((EUID == 0)) && ! runuser -u postgres -- test -x "$run"; then
    home="/var/tmp/spark-release-$(printf %s "$SPARK_ROOT" | sha256sum | cut -c1-12)"
  fi
  echo "$home" | tee "$pg_home_record"
}

pg_ready() { "$pg_bindir/pg_isready" -q -h 127.0.0.1 -p "$SPARK_PG_PORT"; }

# pg_ctl status: 0 running, 3 not running, 4 no data dir.
pg_running() {
  [[ -s "$pg_home_record" ]] || return 1
  as_pg "$pg_bindir/pg_ctl" status -D "$(pg_home)/pg" >/dev/null 2>&1
}

pg_admin_sql() {
  as_pg "$pg_bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$(pg_home)/pg-socket" -p "$SPARK_PG_PORT" -d postgres "$@"
}

postgres_up() {
  local log="$logs/postgres.log"
  if ! pg_running; then
    require_free_port "$SPARK_PG_PORT" postgres
    local home data socket archive
    home="$(pg_home)"; data="$home/pg"; socket="$home/pg-socket"; archive="$home/pg-wal-archive"
    mkdir -p "$home" "$data" "$socket" "$archive"
    if ((EUID == 0)); then chown postgres:postgres "$data" "$socket" "$archive"; fi
    chmod 700 "$data"
    if [[ ! -s "$data/PG_VERSION" ]]; then
      say "postgres: initdb $data"
      as_pg "$pg_bindir/initdb" -D "$data" --encoding=UTF8 --locale=C \
        --auth-local=peer --auth-host=scram-sha-256 >>"$log" 2>&1 \
        || die "postgres: initdb failed; see $log"
    fi
    say "postgres: starting on 127.0.0.1:$SPARK_PG_PORT"
    # The server's output goes to pg_ctl's stdout, opened here, so postgres needs no write access to $logs.
    as_pg "$pg_bindir/pg_ctl" start -D "$data" -w -t "$SPARK_SERVICES_TIMEOUT" \
      -o "-c listen_addresses=127.0.0.1 -p $SPARK_PG_PORT -c unix_socket_directories=$socket -c archive_mode=on -c archive_command='test ! -f $archive/%f && cp %p $archive/%f'" \
      >>"$log" 2>&1 || { tail -n 20 "$log" >&2; die "postgres did not start; see $log"; }
  fi
  wait_until_ready postgres "$log" "" pg_ready
  # Role and database the tests and the worker use (DATABASE_URL); superuser is fine on loopback.
  pg_admin_sql -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'spark') THEN
        CREATE ROLE spark LOGIN SUPERUSER PASSWORD 'spark';
      END IF; END \$\$;" >>"$log" 2>&1 || die "postgres: could not create role spark; see $log"
  # spark: the evidence ledger; spark_demo(_broken): the demo target's database and its broken variant.
  local db
  for db in spark spark_demo spark_demo_broken; do
    if [[ "$(pg_admin_sql -tA -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]]; then
      pg_admin_sql -c "CREATE DATABASE $db OWNER spark" >>"$log" 2>&1 \
        || die "postgres: could not create database $db; see $log"
    fi
  done
}

postgres_down() {
  pg_running || return 0
  say "postgres: stopping"
  as_pg "$pg_bindir/pg_ctl" stop -D "$(pg_home)/pg" -m fast -w >>"$logs/postgres.log" 2>&1
}

postgres_status() {
  local where="127.0.0.1:$SPARK_PG_PORT"
  if ! pg_running; then echo "postgres    stopped     $where"; return 1; fi
  local pid; pid="$(head -n1 "$(pg_home)/pg/postmaster.pid" 2>/dev/null || true)"
  if pg_ready; then
    echo "postgres    running     $where  pid $pid  data $(pg_home)/pg  url postgres://spark:spark@$where/spark"
  else
    echo "postgres    not-ready   $where  pid $pid  log $logs/postgres.log"; return 1
  fi
}

postgres_reset() {
  [[ -s "$pg_home_record" ]] || return 0
  local home; home="$(pg_home)"
  rm -rf "$home/pg" "$home/pg-socket" "$home/pg-wal-archive" "$pg_home_record"
  if [[ "$home" != "$run" ]]; then rmdir "$home" 2>/dev/null || true; fi
}

# ---------------------------------------------------------------- pgBouncer

# Transaction-mode pooler in front of the demo target's database (deploy/demo-postgres/pgbouncer.ini.tmpl).
pgbouncer_ready() { "$pg_bindir/pg_isready" -q -h 127.0.0.1 -p "$SPARK_PGBOUNCER_PORT" -U spark -d pgbouncer; }

pgbouncer_up() {
  local log="$logs/pgbouncer.log" pid dir
  # Its files live beside the database's, where the OS user it drops to (postgres, as root) can read them.
  dir="$(pg_home)/pgbouncer"
  mkdir -p "$dir"
  printf '"spark" "spark"\n' >"$dir/userlist.txt"
  PGBOUNCER_DIR="$dir" PGBOUNCER_OS_USER="$( ((EUID == 0)) && echo postgres)" SPARK_TEMPLATE_EMPTY_OK=PGBOUNCER_OS_USER \
    render_template "$SPARK_ROOT/deploy/demo-postgres/pgbouncer.ini.tmpl" >"$dir/pgbouncer.ini"
  if ((EUID == 0)); then chown -R postgres:postgres "$dir"; fi
  chmod 600 "$dir/userlist.txt"
  pid="$(live_pid pgbouncer)"
  if [[ -z "$pid" ]]; then
    require_free_port "$SPARK_PGBOUNCER_PORT" pgbouncer
    say "pgbouncer: starting on 127.0.0.1:$SPARK_PGBOUNCER_PORT"
    start_detached pgbouncer "$log" "$bin/pgbouncer" "$dir/pgbouncer.ini"
    pid="$(cat "$run/pgbouncer.pid")"
  else
    kill -HUP "$pid" # re-reads pgbouncer.ini and the userlist
  fi
  wait_until_ready pgbouncer "$log" "$pid" pgbouncer_ready
}

pgbouncer_down() {
  local pid; pid="$(live_pid pgbouncer)"
  if [[ -n "$pid" ]]; then say "pgbouncer: stopping pid $pid"; stop_pid "$pid" pgbouncer 10; fi
  rm -f "$run/pgbouncer.pid"
}

pgbouncer_status() {
  local where="127.0.0.1:$SPARK_PGBOUNCER_PORT" pid; pid="$(live_pid pgbouncer)"
  if [[ -z "$pid" ]]; then echo "pgbouncer   stopped     $where"; return 1; fi
  if pgbouncer_ready; then
    echo "pgbouncer   running     $where  pid $pid  url $SPARK_TARGET_DATABASE_URL  admin $SPARK_TARGET_PGBOUNCER_ADMIN_URL"
  else
    echo "pgbouncer   not-ready   $where  pid $pid  log $logs/pgbouncer.log"; return 1
  fi
}

pgbouncer_reset() { [[ -s "$pg_home_record" ]] && rm -rf "$(pg_home)/pgbouncer" || true; }

# ---------------------------------------------------------------- Prometheus

prom_dir="$run/prometheus"

prom_ready() { [[ "$(http_code GET "$SPARK_PROM_PORT" /-/ready)" == 200 ]]; }

rules_dir="$SPARK_ROOT/deploy/prometheus/rules"

# Renders deploy/prometheus/prometheus.yml.tmpl into $prom_dir/prometheus.yml.
# promtool validates it together with the rule files it names.
render_prometheus_config() {
  local template="$SPARK_ROOT/deploy/prometheus/prometheus.yml.tmpl" out="$prom_dir/prometheus.yml"
  render_template "$template" >"$out.new"
  "$bin/promtool" check config "$out.new" >"$logs/promtool.log" 2>&1 \
    || { cat "$logs/promtool.log" >&2; die "prometheus: config or rule files invalid (see above); nothing reloaded"; }
  mv "$out.new" "$out"
}

# Fingerprint of everything Prometheus loads, to reload only when something changed.
prometheus_fingerprint() {
  { cat "$prom_dir/prometheus.yml"; cat "$rules_dir"/*.yml 2>/dev/null || true; } | sha256sum
}

prometheus_up() {
  local log="$logs/prometheus.log" loaded="$prom_dir/loaded.sha256" pid
  mkdir -p "$prom_dir/data"
  render_prometheus_config
  pid="$(live_pid prometheus)"
  if [[ -z "$pid" ]]; then
    require_free_port "$SPARK_PROM_PORT" prometheus
    say "prometheus: starting on 127.0.0.1:$SPARK_PROM_PORT"
    start_detached prometheus "$log" "$bin/prometheus" \
      --config.file="$prom_dir/prometheus.yml" \
      --storage.tsdb.path="$prom_dir/data" \
      --web.listen-address="127.0.0.1:$SPARK_PROM_PORT" \
      --web.enable-lifecycle --web.enable-admin-api
    pid="$(cat "$run/prometheus.pid")"
  elif [[ "$(prometheus_fingerprint)" != "$(cat "$loaded" 2>/dev/null)" ]]; then
    # Running with an older config or rule set: reload instead of restarting.
    say "prometheus: config or rules changed, reloading"
    [[ "$(http_code POST "$SPARK_PROM_PORT" /-/reload)" == 200 ]] \
      || die "prometheus: reload of $prom_dir/prometheus.yml failed; see $log"
  fi
  prometheus_fingerprint >"$loaded"
  wait_until_ready prometheus "$log" "$pid" prom_ready
}

prometheus_down() {
  local pid; pid="$(live_pid prometheus)"
  if [[ -n "$pid" ]]; then say "prometheus: stopping pid $pid"; stop_pid "$pid" prometheus 30; fi
  rm -f "$run/prometheus.pid"
}

prometheus_status() {
  local where="127.0.0.1:$SPARK_PROM_PORT" pid; pid="$(live_pid prometheus)"
  if [[ -z "$pid" ]]; then echo "prometheus  stopped     $where"; return 1; fi
  if prom_ready; then
    echo "prometheus  running     $where  pid $pid  url $PROMETHEUS_URL  config $prom_dir/prometheus.yml"
  else
    echo "prometheus  not-ready   $where  pid $pid  log $logs/prometheus.log"; return 1
  fi
}

prometheus_reset() { rm -rf "$prom_dir"; }

# ---------------------------------------------------------------- Temporal

temporal_dir="$run/temporal"

temporal_cli() { temporal_cli_at "$TEMPORAL_ADDRESS" "$@"; }

temporal_ready() {
  temporal_cli operator cluster health 2>/dev/null | grep -q SERVING \
    && [[ "$(http_code GET "$TEMPORAL_UI_PORT" /)" == 200 ]]
}

temporal_up() {
  local log="$logs/temporal.log" pid
  pid="$(live_pid temporal)"
  if [[ -z "$pid" ]]; then
    require_free_port "$temporal_port" temporal
    require_free_port "$TEMPORAL_UI_PORT" "temporal UI"
    mkdir -p "$temporal_dir"
    local sa_flags=() sa
    for sa in "${SEARCH_ATTRIBUTES[@]}"; do sa_flags+=(--search-attribute "$sa"); done
    say "temporal: starting on $TEMPORAL_ADDRESS (UI :$TEMPORAL_UI_PORT)"
    # forceSearchAttributesCacheRefreshOnRead: attributes added while running are usable at once.
    start_detached temporal "$log" "$bin/temporal" server start-dev \
      --ip 127.0.0.1 --port "$temporal_port" --ui-port "$TEMPORAL_UI_PORT" \
      --db-filename "$temporal_dir/temporal.db" --namespace default --log-level warn \
      --dynamic-config-value system.forceSearchAttributesCacheRefreshOnRead=true \
      "${sa_flags[@]}"
    pid="$(cat "$run/temporal.pid")"
  fi
  wait_until_ready temporal "$log" "$pid" temporal_ready
  # A database made before an attribute was added keeps its old set: add what is missing.
  register_search_attributes "$TEMPORAL_ADDRESS" temporal "$log"
}

temporal_down() {
  local pid; pid="$(live_pid temporal)"
  if [[ -n "$pid" ]]; then say "temporal: stopping pid $pid"; stop_pid "$pid" temporal 30; fi
  rm -f "$run/temporal.pid"
}

temporal_status() {
  local pid; pid="$(live_pid temporal)"
  if [[ -z "$pid" ]]; then echo "temporal    stopped     $TEMPORAL_ADDRESS"; return 1; fi
  if temporal_ready; then
    echo "temporal    running     $TEMPORAL_ADDRESS  pid $pid  ui http://127.0.0.1:$TEMPORAL_UI_PORT  db $temporal_dir/temporal.db"
  else
    echo "temporal    not-ready   $TEMPORAL_ADDRESS  pid $pid  log $logs/temporal.log"; return 1
  fi
}

temporal_reset() { rm -rf "$temporal_dir"; }

# ---------------------------------------------------------------- Temporal on PostgreSQL

temporal-pg_up() { bash "$SPARK_ROOT/scripts/temporal-pg.sh" up; }
temporal-pg_down() { bash "$SPARK_ROOT/scripts/temporal-pg.sh" down; }
temporal-pg_status() { bash "$SPARK_ROOT/scripts/temporal-pg.sh" status; }
temporal-pg_reset() { bash "$SPARK_ROOT/scripts/temporal-pg.sh" reset; }

# ---------------------------------------------------------------- commands

usage() { local IFS='|'; die "usage: $0 up|down|status|reset [${ALL_SERVICES[*]}|${OPTIONAL_SERVICES[*]} ...]"; }

command="${1:-}"
[[ "$command" =~ ^(up|down|status|reset)$ ]] || usage
shift
services=("$@")
((${#services[@]})) || services=("${ALL_SERVICES[@]}")
for s in "${services[@]}"; do
  [[ " ${ALL_SERVICES[*]} ${OPTIONAL_SERVICES[*]} " == *" $s "* ]] || die "unknown service '$s'; known: ${ALL_SERVICES[*]} ${OPTIONAL_SERVICES[*]}"
done
mkdir -p "$logs"
if [[ "$command" != status ]]; then
  # One changer at a time: two test runs calling `up` together would both start a server.
  exec 9>"$run/services.lock"
  flock -w 300 9 || die "another services.sh has held $run/services.lock for 300s"
fi
if [[ "$command" == up ]]; then bash "$SPARK_ROOT/scripts/bootstrap.sh"; fi
# Real location of the PostgreSQL binaries: the postgres user may be unable to reach .tools/bin.
pg_bindir="$(dirname "$(readlink -f "$bin/initdb")")"

case "$command" in
  up)
    for s in "${services[@]}"; do "${s}_up"; done
    say "all up"
    echo "Temporal UI:     http://127.0.0.1:$TEMPORAL_UI_PORT"
    echo "TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS"
    echo "DATABASE_URL=$DATABASE_URL"
    echo "PROMETHEUS_URL=$PROMETHEUS_URL"
    echo "SPARK_TARGET_DATABASE_URL=$SPARK_TARGET_DATABASE_URL"
    ;;
  down)
    for s in "${services[@]}"; do "${s}_down"; done
    ;;
  status)
    failed=0
    for s in "${services[@]}"; do "${s}_status" || failed=1; done
    exit "$failed"
    ;;
  reset)
    for s in "${services[@]}"; do "${s}_down"; done
    for s in "${services[@]}"; do "${s}_reset"; done
    say "data deleted: ${services[*]}"
    ;;
esac
