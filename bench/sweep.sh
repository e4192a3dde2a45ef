#!/usr/bin/env bash
# The benchmark of record (make bench): the load generator's open-loop rate sweep of the
# social-network mix (60 % home timeline, 30 % one author's posts, 10 % compose) and its
# post → follower latency, on both topologies of this machine:
#   1. all-in-one on SQLite (one process);
#   2. distributed: a process per service on PostgreSQL, Redis for the home timelines, a
#      Kafka-protocol broker (tansu) for the events, behind the nginx edge
#      (deploy/local/distributed.sh).
# Each topology is seeded through the public API, restarted (so the seed's password hashing
# does not count in its memory), timed to ready, then swept. The results go to
# bench/results/sweep-*.{md,json,png} and follow-*.{md,json}, and the section between the
# markers of docs/benchmarks.md is rewritten with them; the rest of that page (the targets,
# where the time goes) is written by hand.
#
#   bench/sweep.sh                       # both topologies
#   TOPOLOGIES=all-in-one bench/sweep.sh # one
#   SWEEP_ARGS="--start-rate 500 --factor 1.3" bench/sweep.sh
#
# PostgreSQL: BENCH_DATABASE_URL, else a fresh database on 127.0.0.1:5432, dropped afterwards.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/lib/apt.sh
source "$root/scripts/lib/apt.sh"
ensure_command curl curl

topologies="${TOPOLOGIES:-all-in-one distributed}"
read -r -a sweep_args <<<"${SWEEP_ARGS:---start-rate 200 --factor 1.4 --duration 10s --warmup 2s}"
read -r -a follow_args <<<"${FOLLOW_ARGS:---rate 200 --duration 10s}"
# Seconds between the sweep and the post -> follower run, so the sweep's last (overloaded)
# step has drained from the event pipeline and does not count as delivery latency.
follow_pause="${FOLLOW_PAUSE:-20}"
results="$root/bench/results"
doc="$root/docs/benchmarks.md"
mkdir -p "$results"

bin="${SOCIALDEVS_BIN:-}"
loadgen="${LOADGEN_BIN:-}"
if [[ -z "$bin" || -z "$loadgen" ]]; then
  cargo build --release --locked -p socialdevs -p socialdevs-loadgen --bins
  bin="${bin:-$root/target/release/socialdevs}"
  loadgen="${loadgen:-$root/target/release/socialdevs-loadgen}"
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/socialdevs-sweep.XXXXXX")"
aio_pid=

# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  if [[ -n "$aio_pid" ]]; then kill "$aio_pid" 2>/dev/null || true; fi
  SOCIALDEVS_LOCAL_STATE="$work/distributed" bash "$root/deploy/local/distributed.sh" down >/dev/null 2>&1 || true
  if [[ -n "${bench_db:-}" ]]; then
    psql "${bench_db%/*}/postgres" -qc "DROP DATABASE IF EXISTS ${bench_db##*/} WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# wait_ready URL [PID]: polls until it answers 200; prints how long that took, in ms. Fails
# when PID exits first or after a minute (a server that cannot start must not hang the run).
wait_ready() {
  local start
  start="$(now_ms)"
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    if [[ -n "${2:-}" ]] && ! kill -0 "$2" 2>/dev/null; then
      echo "the server (pid $2) exited before $1 answered:" >&2
      tail -n 5 "$work/aio.log" >&2
      return 1
    fi
    if (($(now_ms) - start > 60000)); then
      echo "$1 did not answer within a minute" >&2
      return 1
    fi
    sleep 0.01
  done
  echo $(($(now_ms) - start))
}

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

declare -A ready_ms idle_rss
# Every port below 32768, Linux's first ephemeral port: a listener in that range can find
# its port taken by some client's outgoing connection (seen: 40084, a service's internal port).
aio_port=29180
start_aio() {
  # MALLOC_ARENA_MAX as the image, make run and deploy/local/distributed.sh set it.
  MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" \
  SOCIALDEVS_LISTEN="127.0.0.1:$aio_port" SOCIALDEVS_DATA_DIR="$work/aio" SOCIALDEVS_LOG_FORMAT=json \
    RUST_LOG=warn SOCIALDEVS_RATE_LIMITS="${SOCIALDEVS_RATE_LIMITS:-*=1000000/1s}" "$bin" serve >>"$work/aio.log" 2>&1 &
  aio_pid=$!
}

all_in_one() {
  local base="http://127.0.0.1:$aio_port"
  echo "== all-in-one (SQLite)"
  start_aio
  wait_ready "$base/readyz" "$aio_pid" >/dev/null
  "$loadgen" -q seed --base-url "$base" --state "$work/aio-state.json" --fresh
  kill "$aio_pid"; wait "$aio_pid" 2>/dev/null || true
  # Restarted on the seeded database: ready time and idle memory as in production.
  start_aio
  ready_ms[all-in-one]="$(wait_ready "$base/readyz" "$aio_pid")"
  sleep 2
  idle_rss[all-in-one]="all-in-one $(($(rss_kib "$aio_pid") / 1024)) MiB"
  "$loadgen" sweep --base-url "$base" --state "$work/aio-state.json" --pid "$aio_pid" \
    --out "$results/sweep-all-in-one" "${sweep_args[@]}"
  sleep "$follow_pause"
  "$loadgen" follow-latency --base-url "$base" --out "$results/follow-all-in-one" "${follow_args[@]}"
  kill "$aio_pid"; wait "$aio_pid" 2>/dev/null || true
  aio_pid=
}

distributed() {
  echo "== distributed (PostgreSQL, Redis, Kafka, nginx edge)"
  export SOCIALDEVS_BIN="$bin" SOCIALDEVS_LOCAL_STATE="$work/distributed"
  export SOCIALDEVS_EDGE_PORT=29080 SOCIALDEVS_USERS_PORT=29081 SOCIALDEVS_POSTS_PORT=29082
  export SOCIALDEVS_TIMELINE_PORT=29083 SOCIALDEVS_NOTIFICATIONS_PORT=29084
  export SOCIALDEVS_PRIVATE_PG_PORT=29432 SOCIALDEVS_KAFKA_PORT=29092 SOCIALDEVS_REDIS_PORT=29379
  export RUST_LOG=warn SOCIALDEVS_RATE_LIMITS="${SOCIALDEVS_RATE_LIMITS:-*=1000000/1s}"
  if [[ -n "${BENCH_DATABASE_URL:-}" ]]; then
    export SOCIALDEVS_DATABASE_URL="$BENCH_DATABASE_URL"
  else
    bench_db="postgres://postgres@127.0.0.1:5432/socialdevs_bench_$(date +%s)"
    export SOCIALDEVS_DATABASE_URL="$bench_db"
  fi
  local base="http://127.0.0.1:$SOCIALDEVS_EDGE_PORT" pids=() service rss=()
  bash deploy/local/distributed.sh up
  "$loadgen" -q seed --base-url "$base" --state "$work/dist-state.json" --fresh
  bash deploy/local/distributed.sh down >/dev/null
  local start
  start="$(now_ms)"
  bash deploy/local/distributed.sh up >/dev/null
  ready_ms[distributed]=$(($(now_ms) - start))
  sleep 2
  for service in users posts timeline notifications; do
    pids+=(--pid "$(cat "$SOCIALDEVS_LOCAL_STATE/pids/$service.pid")")
    rss+=("$service $(($(rss_kib "$(cat "$SOCIALDEVS_LOCAL_STATE/pids/$service.pid")") / 1024)) MiB")
  done
  local joined
  joined="$(IFS=,; echo "${rss[*]}")"
  idle_rss[distributed]="${joined//,/, }"
  "$loadgen" sweep --base-url "$base" --state "$work/dist-state.json" "${pids[@]}" \
    --out "$results/sweep-distributed" "${sweep_args[@]}"
  sleep "$follow_pause"
  "$loadgen" follow-latency --base-url "$base" --out "$results/follow-distributed" "${follow_args[@]}"
  bash deploy/local/distributed.sh down >/dev/null
}

for topology in $topologies; do
  case "$topology" in
    all-in-one) all_in_one ;;
    distributed) distributed ;;
    *) echo "unknown topology $topology (all-in-one, distributed)" >&2; exit 2 ;;
  esac
done

# The generated part of docs/benchmarks.md.
{
  echo "<!-- results:begin (written by bench/sweep.sh; edit outside the markers) -->"
  echo
  echo "Measured on $(date -u +%Y-%m-%d) at commit \`$(git rev-parse --short HEAD)\`: $(nproc) cores"
  echo "($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo),"
  echo "load generator, services, databases, broker and edge on the same machine. Commands:"
  echo "\`bench/sweep.sh\` (\`socialdevs-loadgen sweep ${sweep_args[*]}\`,"
  echo "\`socialdevs-loadgen follow-latency ${follow_args[*]}\`)."
  for topology in $topologies; do
    echo
    echo "### $topology"
    echo
    echo "Ready ${ready_ms[$topology]} ms after start on the seeded database; idle memory: ${idle_rss[$topology]}."
    echo
    sed -e '1{/^# /d}' -e '/^!\[/d' "$results/sweep-$topology.md"
    echo
    echo "![p50 and p99 against the offered rate, $topology](../bench/results/sweep-$topology.png)"
    echo
    echo "#### Post → follower"
    echo
    sed -e '1{/^# /d}' "$results/follow-$topology.md"
  done
  echo
  echo "<!-- results:end -->"
} >"$work/section.md"

python3 - "$doc" "$work/section.md" <<'PY'
import pathlib, re, sys
doc, section = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]).read_text()
text = doc.read_text() if doc.exists() else "# Benchmarks\n\n<!-- results:begin -->\n<!-- results:end -->\n"
pattern = re.compile(r"<!-- results:begin.*?<!-- results:end -->\n?", re.S)
if not pattern.search(text):
    sys.exit(f"{doc} has no results markers")
doc.write_text(pattern.sub(lambda _: section, text, count=1))
PY
echo "results in bench/results/, docs/benchmarks.md updated"
