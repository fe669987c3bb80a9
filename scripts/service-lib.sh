# Helpers shared by scripts/services.sh and scripts/temporal-pg.sh; sourced after scripts/env.sh.
# The sourcing script sets: service_tag (prefix of its messages), run (pid files), and
# SPARK_SERVICES_TIMEOUT (seconds a service gets to answer).

say() { printf '[%s] %s\n' "$service_tag" "$*"; }
die() { printf '[%s] ERROR: %s\n' "$service_tag" "$*" >&2; exit 1; }

# True when something accepts TCP connections on 127.0.0.1:PORT.
port_busy() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# Refuses to start SERVICE when a stranger already holds its PORT: we would talk to it by mistake.
require_free_port() {
  local port="$1" service="$2" holder=""
  port_busy "$port" || return 0
  command -v ss >/dev/null && holder="$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:.*' | head -n1)"
  die "$service: port 127.0.0.1:$port is already in use${holder:+ by $holder}, not by a service this script started; stop it or choose another port (see scripts/env.sh)"
}

# Status code of an HTTP request to 127.0.0.1:PORT, or 000 when nothing answers. Plain bash
# so a fresh machine needs no curl.
http_code() {
  local method="$1" port="$2" path="$3"
  timeout 5 bash -c '
    exec 3<>"/dev/tcp/127.0.0.1/$2" || exit 1
    printf "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n" "$1" "$3" >&3
    read -r _ code _ <&3 && printf "%s" "$code"' _ "$method" "$port" "$path" 2>/dev/null || printf 000
}

# Pid from $run/NAME.pid if that process is alive and is still NAME (pids get reused).
live_pid() {
  local name="$1" pid argv0
  pid="$(cat "$run/$name.pid" 2>/dev/null)" || return 0
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  argv0="$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | head -n1)" || return 0
  if [[ "${argv0##*/}" == "$name" ]]; then echo "$pid"; fi
}

# Starts BINARY ARGS... detached (own session, so a Ctrl-C in the caller's terminal does not
# reach it), output to LOG, pid into $run/NAME.pid. Fd 9 (the lock) is not passed on.
start_detached() {
  local name="$1" log="$2"; shift 2
  setsid "$@" </dev/null >>"$log" 2>&1 9>&- &
  echo $! >"$run/$name.pid"
}

# Polls CHECK... until it succeeds; fails naming SERVICE and its LOG after the timeout or
# as soon as PID (when given) has died.
wait_until_ready() {
  local service="$1" log="$2" pid="$3"; shift 3
  local deadline=$((SECONDS + SPARK_SERVICES_TIMEOUT))
  until "$@"; do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$log" >&2 || true
      die "$service exited during start-up; see $log"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 20 "$log" >&2 || true
      die "$service did not answer within ${SPARK_SERVICES_TIMEOUT}s; see $log"
    fi
    sleep 0.3
  done
}

# SIGTERM, then SIGKILL if PID is still there after GRACE seconds.
stop_pid() {
  local pid="$1" service="$2" grace="$3"
  kill -TERM "$pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + grace))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      say "$service did not stop within ${grace}s; killing pid $pid"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
}

# Prints TEMPLATE with every ${NAME} replaced by that variable, which must be set (or listed in
# SPARK_TEMPLATE_EMPTY_OK, which may be empty).
render_template() {
  local template="$1" text name
  text="$(cat "$template")"
  for name in $(grep -o '\${[A-Z_][A-Z0-9_]*}' "$template" | sort -u | tr -d '${}'); do
    [[ -n "${!name:-}" || " ${SPARK_TEMPLATE_EMPTY_OK:-} " == *" $name "* ]] || die "$template uses \${$name}, which is not set"
    text="${text//"\${$name}"/${!name:-}}"
  done
  printf '%s\n' "$text"
}

# ---------------------------------------------------------------- Temporal search attributes

# Search attributes the release workflow sets (src/workflows/visibility.ts); registered in "default".
SEARCH_ATTRIBUTES=(SparkService=Keyword SparkVersion=Keyword SparkPhase=Keyword
  SparkStage=Int SparkCanaryWeight=Int SparkVerdict=Keyword)

# The pinned CLI against the server at ADDRESS.
temporal_cli_at() {
  local address="$1"; shift
  "$SPARK_TOOLS_BIN/temporal" --address "$address" --command-timeout 5s "$@"
}

# Search attributes missing from the default namespace at ADDRESS (one a line); empty when all are registered.
missing_search_attributes() {
  local address="$1" listed sa
  listed="$(temporal_cli_at "$address" operator search-attribute list --namespace default 2>/dev/null)" || return 1
  for sa in "${SEARCH_ATTRIBUTES[@]}"; do
    grep -qE "^ *${sa%%=*} +${sa#*=} *$" <<<"$listed" || echo "$sa"
  done
}

# Adds to the default namespace at ADDRESS the search attributes it lacks; SERVICE and LOG name the failure.
register_search_attributes() {
  local address="$1" service="$2" log="$3" missing sa
  missing="$(missing_search_attributes "$address")" || die "$service: cannot list search attributes; see $log"
  for sa in $missing; do
    say "$service: registering search attribute $sa"
    temporal_cli_at "$address" operator search-attribute create --namespace default \
      --name "${sa%%=*}" --type "${sa#*=}" >>"$log" 2>&1 \
      || die "$service: could not register search attribute $sa; see $log"
  done
}
