#!/usr/bin/env bash
# Load test of both topologies on this machine, with wrk: the same seeded data and the same
# requests against (1) all-in-one on SQLite and (2) the distributed topology — a process per
# service on PostgreSQL, with Redis for the home timelines and a Kafka-protocol broker for the
# events, behind the nginx edge (deploy/local/distributed.sh). Writes the
# numbers to bench/results/topologies.md.
#
#   bench/topologies.sh                 # release build, 15 s per scenario
#   DURATION=30s CONNECTIONS=32 bench/topologies.sh
#
# Scenarios: GET /api/v1/timeline/home (a reader following 20 authors, 400 posts),
# GET /api/v1/posts/{id}, POST /api/v1/posts. Memory: resident set of each process after the run.
# PostgreSQL: BENCH_DATABASE_URL, else a fresh database on 127.0.0.1:5432, dropped afterwards.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/apt.sh
source "$root/scripts/lib/apt.sh"
ensure_command wrk wrk
ensure_command curl curl
ensure_command jq jq

duration="${DURATION:-15s}"
connections="${CONNECTIONS:-16}"
threads="${THREADS:-2}"
bin="${SOCIALDEVS_BIN:-}"
if [[ -z "$bin" ]]; then
  (cd "$root" && cargo build --release --locked --bin socialdevs)
  bin="$root/target/release/socialdevs"
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/socialdevs-bench.XXXXXX")"
results="$root/bench/results/topologies.md"
mkdir -p "$(dirname "$results")"

cleanup() {
  if [[ -n "${aio_pid:-}" ]]; then kill "$aio_pid" 2>/dev/null || true; fi
  SOCIALDEVS_LOCAL_STATE="$work/distributed" SOCIALDEVS_EDGE_PORT=29080 \
    bash "$root/deploy/local/distributed.sh" down >/dev/null 2>&1 || true
  if [[ -n "${bench_db:-}" ]]; then
    psql "${bench_db%/*}/postgres" -qc "DROP DATABASE IF EXISTS ${bench_db##*/} WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

register() { # base name -> access token
  curl -fsS "$1/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"username\":\"$2\",\"email\":\"$2@example.com\",\"password\":\"correct horse battery\"}" |
    jq -r .access_token
}

# Seeds 20 authors with 20 posts each and a reader following all of them.
seed() {
  local base="$1" tag="$2" reader token i j
  reader="$(register "$base" "reader_$tag")"
  for i in $(seq 1 20); do
    token="$(register "$base" "author${i}_$tag")"
    for j in $(seq 1 20); do
      curl -fsS -o /dev/null "$base/api/v1/posts" -H "authorization: Bearer $token" \
        -H 'content-type: application/json' -d "{\"text\":\"post $j by author $i #bench\"}"
    done
    curl -fsS -o /dev/null -X PUT "$base/api/v1/users/author${i}_$tag/follow" -H "authorization: Bearer $reader"
  done
  echo "$reader"
}

# wrk with a bearer token; prints "requests/s p50 p99 errors".
load() {
  local url="$1" token="$2" method="${3:-GET}"
  cat >"$work/req.lua" <<LUA
wrk.method = "$method"
wrk.headers["authorization"] = "Bearer $token"
wrk.headers["content-type"] = "application/json"
if wrk.method == "POST" then wrk.body = '{"text":"load test post #bench"}' end
done = function(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.0f %.1f %.1f %d %d\\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errors, summary.requests))
end
LUA
  wrk -t"$threads" -c"$connections" -d"$duration" -s "$work/req.lua" "$url" | awk '/^RESULT/ {print $2, $3, $4, $5, $6}'
}

rss_mb() { # pids... -> total resident MiB
  local total=0 pid kb
  for pid in "$@"; do
    kb="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)"
    total=$((total + kb))
  done
  echo "$((total / 1024))"
}

declare -A row
scenario() { # label base token post_id
  local label="$1" base="$2" token="$3" post="$4"
  row["$label home"]="$(load "$base/api/v1/timeline/home?limit=20" "$token")"
  row["$label get"]="$(load "$base/api/v1/posts/$post" "$token")"
  row["$label post"]="$(load "$base/api/v1/posts" "$token" POST)"
}

echo "== all-in-one (SQLite)"
SOCIALDEVS_LISTEN=127.0.0.1:29180 SOCIALDEVS_DATA_DIR="$work/aio" SOCIALDEVS_LOG_FORMAT=json \
  RUST_LOG=warn SOCIALDEVS_RATE_LIMITS="${SOCIALDEVS_RATE_LIMITS:-*=1000000/1s}" "$bin" serve >"$work/aio.log" 2>&1 &
aio_pid=$!
until curl -fsS -o /dev/null http://127.0.0.1:29180/readyz 2>/dev/null; do sleep 0.1; done
token="$(seed http://127.0.0.1:29180 aio)"
post="$(curl -fsS "http://127.0.0.1:29180/api/v1/timeline/home?limit=1" -H "authorization: Bearer $token" | jq -r '.items[0].id')"
scenario "all-in-one" http://127.0.0.1:29180 "$token" "$post"
aio_rss="$(rss_mb "$aio_pid")"
kill "$aio_pid"; wait "$aio_pid" 2>/dev/null || true; aio_pid=

echo "== distributed (PostgreSQL, Redis, Kafka, nginx edge)"
export SOCIALDEVS_BIN="$bin" SOCIALDEVS_LOCAL_STATE="$work/distributed"
export SOCIALDEVS_EDGE_PORT=29080 SOCIALDEVS_USERS_PORT=29081 SOCIALDEVS_POSTS_PORT=29082
export SOCIALDEVS_TIMELINE_PORT=29083 SOCIALDEVS_PRIVATE_PG_PORT=29432 RUST_LOG=warn
export SOCIALDEVS_KAFKA_PORT=29092 SOCIALDEVS_REDIS_PORT=29379
export SOCIALDEVS_RATE_LIMITS="${SOCIALDEVS_RATE_LIMITS:-*=1000000/1s}"
if [[ -n "${BENCH_DATABASE_URL:-}" ]]; then
  export SOCIALDEVS_DATABASE_URL="$BENCH_DATABASE_URL"
else
  # A database of its own on the local server, dropped afterwards.
  bench_db="postgres://postgres@127.0.0.1:5432/socialdevs_bench_$(date +%s)"
  export SOCIALDEVS_DATABASE_URL="$bench_db"
fi
bash "$root/deploy/local/distributed.sh" up
token="$(seed http://127.0.0.1:29080 dist)"
post="$(curl -fsS "http://127.0.0.1:29080/api/v1/timeline/home?limit=1" -H "authorization: Bearer $token" | jq -r '.items[0].id')"
scenario "distributed" http://127.0.0.1:29080 "$token" "$post"
dist_rss="$(rss_mb "$(cat "$work/distributed/pids/users.pid")" "$(cat "$work/distributed/pids/posts.pid")" "$(cat "$work/distributed/pids/timeline.pid")")"
bash "$root/deploy/local/distributed.sh" down >/dev/null

{
  echo "# Topologies under load"
  echo
  echo "Measured by \`bench/topologies.sh\` on $(date -u +%Y-%m-%d), $(nproc) CPU cores, wrk -t$threads -c$connections -d$duration;"
  echo "load generator, services, PostgreSQL, Redis, the broker and nginx all on the same machine."
  echo "Latencies in ms. Home timelines are fanned out on write (memory store all-in-one, Redis"
  echo "distributed); the reader's timeline is built before the load starts."
  echo
  echo "| scenario | topology | requests/s | p50 | p99 | errors | requests |"
  echo "| --- | --- | ---: | ---: | ---: | ---: | ---: |"
  for s in home get post; do
    case "$s" in
      home) what='GET /api/v1/timeline/home (20 followed authors)' ;;
      get) what='GET /api/v1/posts/{id}' ;;
      post) what='POST /api/v1/posts' ;;
    esac
    for t in all-in-one distributed; do
      read -r rps p50 p99 errors total <<<"${row["$t $s"]}"
      echo "| $what | $t | $rps | $p50 | $p99 | $errors | $total |"
    done
  done
  echo
  echo "Resident memory after the run: all-in-one ${aio_rss} MiB (one process); distributed ${dist_rss} MiB (users + posts + timeline, without PostgreSQL and nginx)."
} >"$results"
cat "$results"
