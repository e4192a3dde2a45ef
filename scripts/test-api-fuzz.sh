#!/usr/bin/env bash
# Property-based API fuzzing with Schemathesis against a throwaway all-in-one server: every
# operation of the OpenAPI document, with generated valid and invalid input (its coverage,
# fuzzing and stateful phases), signed in as a user of its own. Fails on any 5xx, on a status
# code the operation does not document, on a response that does not match its documented
# schema, or on an undocumented content type: bad input must get a documented 4xx
# problem+json, never a server error.
#
#   scripts/test-api-fuzz.sh                        # debug build, 25 examples per operation
#   FUZZ_EXAMPLES=200 scripts/test-api-fuzz.sh      # longer
#   SOCIALDEVS_BIN=target/release/socialdevs scripts/test-api-fuzz.sh
#
# Schemathesis (pinned) is installed into a virtual environment under target/tools when
# missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/lib/apt.sh
source "$root/scripts/lib/apt.sh"
ensure_command curl curl

version="4.32.5"
venv="${SOCIALDEVS_TOOLS_DIR:-$root/target/tools}/schemathesis"
st="$venv/bin/schemathesis"
if ! "$st" --version 2>/dev/null | grep -q "$version"; then
  echo "installing schemathesis $version into $venv"
  if ! python3 -m venv --clear "$venv" 2>/dev/null; then
    apt_install python3-venv
    python3 -m venv --clear "$venv"
  fi
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version"
fi

bin="${SOCIALDEVS_BIN:-}"
if [[ -z "$bin" ]]; then
  cargo build --locked --bin socialdevs
  bin="$root/target/debug/socialdevs"
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/socialdevs-fuzz.XXXXXX")"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
SOCIALDEVS_LISTEN="127.0.0.1:$port" SOCIALDEVS_DATA_DIR="$work/data" RUST_LOG=warn \
  SOCIALDEVS_RATE_LIMITS=off "$bin" serve >"$work/server.log" 2>&1 &
server=$!
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 300); do
  curl -fsS -o /dev/null "$base/readyz" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
token="$(curl -fsS "$base/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"username":"fuzzer","email":"fuzzer@example.com","password":"correct horse battery"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"

status=0
"$st" run "$base/api/v1/openapi.json" --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance \
  --max-examples "${FUZZ_EXAMPLES:-25}" --workers 2 --no-color || status=$?
if ((status != 0)); then
  echo "server log (last lines):" >&2
  tail -n 30 "$work/server.log" >&2
fi
exit "$status"
