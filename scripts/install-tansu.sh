#!/usr/bin/env bash
# Installs tansu, the Kafka-protocol broker the event transport tests run (one binary, SQLite
# storage; `crates/testkit/src/kafka.rs` starts a throwaway one per test). Idempotent: does
# nothing when tansu is already on PATH or in ~/.cargo/bin. Building it needs a C toolchain,
# cmake and the curl, OpenSSL and zlib headers (the same packages librdkafka builds with);
# they are installed from apt when missing. Takes several minutes the first time.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/lib/apt.sh
source "$root/scripts/lib/apt.sh"

cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"

found="$(command -v tansu 2>/dev/null || true)"
if [[ -z "$found" && -x "$cargo_bin/tansu" ]]; then
  found="$cargo_bin/tansu"
fi
if [[ -z "$found" && -x "$HOME/.cargo/bin/tansu" ]]; then
  found="$HOME/.cargo/bin/tansu"
fi
if [[ -n "$found" ]]; then
  echo "tansu: $found"
  exit 0
fi

command -v cargo >/dev/null 2>&1 || [[ -x "$cargo_bin/cargo" ]] || {
  echo "cargo is required to install tansu (https://rustup.rs)" >&2
  exit 1
}
export PATH="$cargo_bin:$PATH"

ensure_build_packages

echo "installing tansu (cargo install; several minutes)"
cargo install tansu --locked --features dynostore,postgres,libsql
command -v tansu >/dev/null 2>&1 || [[ -x "$cargo_bin/tansu" ]] || {
  echo "tansu is still missing after cargo install" >&2
  exit 1
}
echo "tansu: $(command -v tansu)"
