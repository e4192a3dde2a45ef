#!/usr/bin/env bash
# Load-generator smoke test (a CI step): starts a throwaway all-in-one SocialDevs on a free
# port with a fresh data directory and the sign-up rate limit off, runs
# `socialdevs-loadgen smoke` against it (20 users seeded, the social-network mix at 50 req/s
# for 3 s), stops the server and exits with the smoke test's code: non-zero if any request
# failed.
#
#   bench/smoke.sh
#   SOCIALDEVS_BIN=target/release/socialdevs bench/smoke.sh --rate 200 --duration 5s
#
# Extra arguments go to `socialdevs-loadgen smoke`. SOCIALDEVS_BIN: the server binary (default
# target/debug/socialdevs, built when missing); LOADGEN_BIN: the load generator (default: built
# with cargo).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target_dir="${CARGO_TARGET_DIR:-$root/target}"

bin="${SOCIALDEVS_BIN:-$target_dir/debug/socialdevs}"
if [[ ! -x "$bin" ]]; then
  if [[ -n "${SOCIALDEVS_BIN:-}" ]]; then
    echo "SOCIALDEVS_BIN=$bin is not an executable" >&2
    exit 2
  fi
  (cd "$root" && cargo build --locked --bin socialdevs)
fi
loadgen="${LOADGEN_BIN:-}"
if [[ -z "$loadgen" ]]; then
  (cd "$root" && cargo build --locked -p socialdevs-loadgen)
  loadgen="$target_dir/debug/socialdevs-loadgen"
fi

# A port nothing listens on (connecting to it fails).
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

work="$(mktemp -d "${TMPDIR:-/tmp}/socialdevs-smoke.XXXXXX")"
server_pid=
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port="$(free_port)"
SOCIALDEVS_LISTEN="127.0.0.1:$port" SOCIALDEVS_DATA_DIR="$work/data" \
  SOCIALDEVS_RATE_LIMITS="${SOCIALDEVS_RATE_LIMITS:-*=1000000/1s}" SOCIALDEVS_LOG_FORMAT=json RUST_LOG=warn \
  "$bin" serve >"$work/server.log" 2>&1 &
server_pid=$!
echo "socialdevs (pid $server_pid) on 127.0.0.1:$port, data in a throwaway directory"

rc=0
"$loadgen" smoke --base-url "http://127.0.0.1:$port" --wait 60s "$@" || rc=$?

if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "the server stopped during the smoke test; its log:" >&2
  cat "$work/server.log" >&2
  rc=$((rc == 0 ? 1 : rc))
fi
if ((rc != 0)) && [[ -s "$work/server.log" ]]; then
  echo "--- last lines of the server log" >&2
  tail -n 40 "$work/server.log" >&2
fi
kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=
exit "$rc"
