#!/usr/bin/env bash
# Tests the SocialDevs web app: type check, Vitest unit tests, production build, then the
# Playwright end-to-end suite in Chromium against the real `socialdevs` binary.
# Installs what it needs first (Chromium from apt, npm packages) and is safe to re-run.
#
#   scripts/test-web.sh                 # everything
#   SKIP_E2E=1 scripts/test-web.sh      # stop after the build (says so loudly)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
web="$root/web"
export CI="${CI:-true}"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
export CHROMIUM_PATH="$chromium"

timings=()
step() {
  local name="$1"
  shift
  local start=$SECONDS
  echo
  echo "==> $name"
  "$@"
  local took=$((SECONDS - start))
  timings+=("$(printf '%-28s %4ds' "$name" "$took")")
  echo "<== $name: ${took}s"
}

# Adds up the Vitest and Playwright JSON reports into one "N passed, N failed" line.
count_tests() {
  node - "$web/test-results/vitest.json" "$web/playwright-report/results.json" <<'JS'
const fs = require('node:fs')
let passed = 0, failed = 0, skipped = 0, seen = false
const [vitest, playwright] = process.argv.slice(2)
if (fs.existsSync(vitest)) {
  const r = JSON.parse(fs.readFileSync(vitest, 'utf8'))
  passed += r.numPassedTests; failed += r.numFailedTests; skipped += r.numPendingTests + (r.numTodoTests ?? 0); seen = true
}
if (fs.existsSync(playwright)) {
  const s = JSON.parse(fs.readFileSync(playwright, 'utf8')).stats ?? {}
  passed += (s.expected ?? 0) + (s.flaky ?? 0); failed += s.unexpected ?? 0; skipped += s.skipped ?? 0; seen = true
}
if (seen) console.log(`web: ${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ''))
JS
}

summary() {
  local rc=$?
  echo
  echo "test-web.sh step timings:"
  local t
  for t in "${timings[@]}"; do echo "  $t"; done
  count_tests || true
  if ((rc == 0)); then echo "test-web.sh: all web checks passed"; else echo "test-web.sh: FAILED (exit $rc)" >&2; fi
}
trap summary EXIT

# shellcheck source=scripts/lib/apt.sh
source "$root/scripts/lib/apt.sh"

install_chromium() {
  if [[ -x "$chromium" ]]; then
    echo "chromium present: $("$chromium" --version 2>/dev/null || echo "$chromium")"
  else
    echo "installing chromium from apt"
    apt_install chromium fonts-dejavu-core
    [[ -x "$chromium" ]] || { echo "chromium is still missing at $chromium" >&2; return 1; }
  fi
  # Emoji in the screenshots need a colour emoji font; only cosmetic, so a failure warns.
  if [[ ! -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ]]; then
    apt_install fonts-noto-color-emoji || echo "warning: fonts-noto-color-emoji not installed; emoji show as boxes in screenshots" >&2
  fi
}

install_node_modules() {
  command -v node >/dev/null || { echo "node is missing: install Node.js 20 or newer" >&2; return 1; }
  local stamp="$web/node_modules/.package-lock.json"
  # npm writes node_modules/.package-lock.json on install; if package-lock.json is newer,
  # or anything is missing, install again from the lock file.
  if [[ -f "$stamp" && "$stamp" -nt "$web/package-lock.json" && -x "$web/node_modules/.bin/vite" && -x "$web/node_modules/.bin/playwright" ]]; then
    echo "node_modules up to date"
    return
  fi
  (cd "$web" && npm ci --no-audit --no-fund)
}

build_backend() {
  command -v cargo >/dev/null || { echo "cargo is missing: install Rust to build socialdevs" >&2; return 1; }
  (cd "$root" && cargo build --bin socialdevs)
}

run_vitest() {
  (cd "$web" && npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json)
}

# Reports of an earlier run must not be counted as this run's.
rm -f "$web/test-results/vitest.json" "$web/playwright-report/results.json"

step "install chromium" install_chromium
step "npm ci" install_node_modules
step "typecheck (vue-tsc)" bash -c "cd '$web' && npm run typecheck"
step "unit tests (vitest)" run_vitest
step "build (vite)" bash -c "cd '$web' && npm run build"

if [[ "${SKIP_E2E:-}" == "1" ]]; then
  echo "SKIP_E2E=1: end-to-end tests NOT run" >&2
  exit 0
fi

step "build backend (cargo)" build_backend
step "end-to-end (playwright)" bash -c "cd '$web' && SOCIALDEVS_BIN='${CARGO_TARGET_DIR:-$root/target}/debug/socialdevs' npx playwright test"
