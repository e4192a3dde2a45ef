#!/usr/bin/env bash
# Runs every SocialDevs test: the Rust workspace (unit, property, store conformance on SQLite
# and PostgreSQL, black-box API tests, the PostgreSQL restart test), the same API suite again
# against the distributed topology (a process per service on PostgreSQL behind the nginx
# edge), property-based fuzzing of every API operation (Schemathesis), coverage-guided
# fuzzing of the parsers and request bodies (cargo fuzz), the load generator's
# smoke run, the local distributed run script, the web app (type check, Vitest, Playwright in
# Chromium against the real binary), the observability checks (promtool, dashboards) and the
# offline deploy validation.
# Each step installs what it needs (idempotently) and prints how long it took.
#
# PostgreSQL: the tests start throwaway clusters from the installed server binaries (the
# postgresql package, installed here when missing), or use SOCIALDEVS_TEST_DATABASE_URL.
# Kafka: the tests start throwaway tansu brokers (installed here when missing, see
# scripts/install-tansu.sh), or use SOCIALDEVS_TEST_KAFKA_BROKERS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/lib/apt.sh
source "$root/scripts/lib/apt.sh"

timings=()
failed=()
step() {
  local name="$1"
  shift
  local start=$SECONDS
  echo
  echo "=== $name"
  if "$@"; then
    timings+=("$(printf '%-16s %5ds  ok' "$name" $((SECONDS - start)))")
  else
    timings+=("$(printf '%-16s %5ds  FAILED' "$name" $((SECONDS - start)))")
    failed+=("$name")
  fi
}

prerequisites() {
  command -v python3 >/dev/null || { echo "python3 is required (apt-get install python3)" >&2; return 1; }
  if [[ -z "${SOCIALDEVS_TEST_DATABASE_URL:-}" ]] && ! postgres_bindir >/dev/null; then
    echo "installing the PostgreSQL server binaries for the throwaway test clusters"
    apt_install postgresql
  fi
  echo "PostgreSQL binaries: $(postgres_bindir || echo "none (using $SOCIALDEVS_TEST_DATABASE_URL)")"
  ensure_build_packages
  ensure_command nginx nginx-light
  ensure_command envsubst gettext-base
  ensure_command curl curl
  ensure_command psql postgresql-client
  ensure_command redis-server redis-server
  # The MQTT broker of the notifications bridge tests (Debian puts it in /usr/sbin).
  PATH="$PATH:/usr/sbin" ensure_command mosquitto mosquitto
  # The Kafka-protocol broker of the event transport tests and the distributed suite.
  if [[ -z "${SOCIALDEVS_TEST_KAFKA_BROKERS:-}" ]]; then
    bash "$root/scripts/install-tansu.sh"
  fi
}

rust_tests() {
  cargo test --workspace --locked
}

distributed_api() {
  SOCIALDEVS_TEST_TOPOLOGY=distributed cargo test --locked -p socialdevs --test api
}

# The one command of the README's "Run it distributed on one machine", end to end: up,
# a request through the edge, /metrics on the internal listeners only (status scrapes each
# one; a public port answers 404), down. Uses the test build and its own ports and database.
local_distributed() {
  local state
  state="$(mktemp -d "${TMPDIR:-/tmp}/socialdevs-local.XXXXXX")"
  export SOCIALDEVS_BIN="$root/target/debug/socialdevs" SOCIALDEVS_LOCAL_STATE="$state"
  export SOCIALDEVS_EDGE_PORT=28080 SOCIALDEVS_USERS_PORT=28081 SOCIALDEVS_POSTS_PORT=28082
  export SOCIALDEVS_TIMELINE_PORT=28083 SOCIALDEVS_NOTIFICATIONS_PORT=28084
  export SOCIALDEVS_PRIVATE_PG_PORT=28432
  export SOCIALDEVS_KAFKA_PORT=28092 SOCIALDEVS_REDIS_PORT=28379
  local ok=0
  if bash deploy/local/distributed.sh up; then
    local base="http://127.0.0.1:$SOCIALDEVS_EDGE_PORT" name
    name="smoke_$(date +%s)_$RANDOM"
    if curl -fsS "$base/api/v1/auth/register" -H 'content-type: application/json' \
      -d "{\"username\":\"$name\",\"email\":\"$name@example.com\",\"password\":\"correct horse battery\"}" >/dev/null &&
      curl -fsS "$base/api/v1/users/$name" | grep -q "\"username\":\"$name\"" &&
      curl -fsS "$base/" | grep -qi '<!doctype html>' &&
      [[ "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SOCIALDEVS_USERS_PORT/metrics")" == 404 ]] &&
      bash deploy/local/distributed.sh status; then
      echo "local distributed run: register and profile through the edge, web app served, /metrics on the internal ports only"
    else
      ok=1
    fi
  else
    ok=1
  fi
  bash deploy/local/distributed.sh down || ok=1
  rm -rf "$state"
  return "$ok"
}

step "prerequisites" prerequisites
step "rust tests" rust_tests
step "distributed api" distributed_api
# Schemathesis against the OpenAPI document: generated good and bad input, no 5xx allowed.
step "api fuzz" bash scripts/test-api-fuzz.sh
# cargo fuzz (libFuzzer) of the domain parsers, cursors and request bodies, in process: a
# bounded time per target (FUZZ_SECONDS); fails on any crash or broken invariant.
step "fuzz" bash scripts/fuzz.sh
# A few seconds of the load generator's open-loop mix against a throwaway all-in-one server:
# fails on any error (the sweep itself is `make bench`, not a test).
step "loadgen smoke" bash bench/smoke.sh
step "web tests" bash scripts/test-web.sh
step "local distributed" local_distributed
step "observability" bash deploy/observability/check.sh
step "deploy checks" bash deploy/validate.sh

echo
echo "=== test.sh summary"
for t in "${timings[@]}"; do echo "  $t"; done
if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all test suites passed"
