#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo fuzz, libFuzzer) of the domain parsers, the page cursors and
# the public requests' JSON bodies: builds every target in fuzz/ and runs each for a bounded
# time. Each target checks the invariants of what it parses (fuzz/src/lib.rs); it fails on a
# panic, a broken invariant, an input that takes over 10 s, or one that runs out of memory.
#
#   scripts/fuzz.sh                              # every target, 20 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh             # a long run by hand
#   FUZZ_SEED=1 scripts/fuzz.sh post_text        # one target, with a fixed seed
#   FUZZ_SANITIZER=address scripts/fuzz.sh       # with AddressSanitizer (slower)
#
# Only the stable toolchain is needed: RUSTC_BOOTSTRAP=1 lets it take the unstable flags cargo
# fuzz passes. The targets build without a sanitizer by default: the project forbids unsafe
# code, so the fuzzer's job is panics and broken invariants, and ASan would halve its speed.
# cargo-fuzz (pinned) is installed with `cargo install` when missing.
#
# Inputs: fuzz/seeds/<target> (committed) and fuzz/corpus/<target> (what earlier runs found,
# kept between runs, not committed). A crash leaves its input in fuzz/artifacts/<target>/;
# replay it with `RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none -a <target> <file>`, then
# fix the parser and add the input as a regression test in the crate that owns it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/lib/apt.sh
source "$root/scripts/lib/apt.sh"

seconds="${FUZZ_SECONDS:-20}"
seed="${FUZZ_SEED:-}"
sanitizer="${FUZZ_SANITIZER:-none}"
# Large enough for a post at its byte cap (280 graphemes of 64 bytes) and any request body.
max_len="${FUZZ_MAX_LEN:-20000}"
version="0.13.2"
export RUSTC_BOOTSTRAP=1

# libfuzzer-sys compiles libFuzzer (C++).
ensure_command c++ g++
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz $version"
  cargo install --locked cargo-fuzz --version "$version"
fi
echo "$(cargo fuzz --version), $(rustc --version), sanitizer: $sanitizer"

cargo fmt --manifest-path fuzz/Cargo.toml -- --check
# fuzz/Cargo.lock is committed: refuse to run if it no longer matches fuzz/Cargo.toml.
cargo metadata --locked --format-version 1 --manifest-path fuzz/Cargo.toml >/dev/null

flags=(--sanitizer "$sanitizer" --debug-assertions)
start=$SECONDS
cargo fuzz build "${flags[@]}"
build_seconds=$((SECONDS - start))

if (($# > 0)); then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

rows=()
failed=()
for target in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$target" "fuzz/seeds/$target"
  log="fuzz/artifacts/$target.log"
  mkdir -p fuzz/artifacts
  args=(-max_total_time="$seconds" -max_len="$max_len" -timeout=10 -print_final_stats=1)
  [[ -n "$seed" ]] && args+=(-seed="$seed")
  [[ -f "fuzz/dicts/$target.dict" ]] && args+=(-dict="fuzz/dicts/$target.dict")
  echo
  echo "=== fuzz $target (${seconds}s)"
  t0=$SECONDS
  status=ok
  if ! cargo fuzz run "${flags[@]}" "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" \
    -- "${args[@]}" >"$log" 2>&1; then
    status=CRASHED
    failed+=("$target")
    grep -E -A12 "panicked at|ERROR: libFuzzer|SUMMARY" "$log" | head -40 >&2 || tail -40 "$log" >&2
    grep -E "Test unit written to" "$log" >&2 || true
  fi
  took=$((SECONDS - t0))
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  used_seed="$(sed -n 's/^INFO: Seed: *//p' "$log" | head -1)"
  corpus="$(find "fuzz/corpus/$target" -type f | wc -l)"
  rows+=("$(printf '%-18s %4ss %12s runs %9s/s  corpus %5s  seed %-10s %s' \
    "$target" "$took" "${runs:-?}" "${rate:-?}" "$corpus" "${used_seed:-?}" "$status")")
  echo "${rows[-1]}"
done

echo
echo "=== fuzz summary (build ${build_seconds}s, total $((SECONDS - start))s)"
for row in "${rows[@]}"; do echo "  $row"; done
if ((${#failed[@]})); then
  echo "CRASHED: ${failed[*]} (inputs in fuzz/artifacts/<target>/, logs in fuzz/artifacts/<target>.log)" >&2
  exit 1
fi
echo "no target crashed"
