#!/usr/bin/env bash
# Runs every SocialDevs test: the Rust workspace (unit, property and black-box API tests),
# the web app (type check, Vitest, Playwright in Chromium against the real binary), the
# observability checks (promtool, dashboards) and the offline deploy validation.
# Each step installs what it needs (idempotently) and prints how long it took.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

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

rust_tests() {
  command -v python3 >/dev/null || { echo "python3 is required (apt-get install python3)" >&2; return 1; }
  cargo test --workspace --locked
}

step "rust tests" rust_tests
step "web tests" bash scripts/test-web.sh
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
