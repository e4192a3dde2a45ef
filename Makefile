# SocialDevs — the two commands everyone needs, plus a few helpers.
#   make run    build the web app and the binary, start the all-in-one platform on :8080
#   make test   run every test (Rust, web unit + browser end-to-end, deploy and observability checks)

.PHONY: run test build web release deps seed bench bench-wrk loadgen-smoke fuzz fmt lint clean

run: web release
	SOCIALDEVS_WEB_DIR=web/dist MALLOC_ARENA_MAX=$${MALLOC_ARENA_MAX:-2} ./target/release/socialdevs serve

test:
	bash scripts/test.sh

build: web release

web:
	bash scripts/build-web.sh

# The C toolchain, cmake and headers the bundled librdkafka builds with (apt, when missing).
deps:
	bash -c 'source scripts/lib/apt.sh && ensure_build_packages'

release: deps
	cargo build --release --locked --bin socialdevs

seed: release
	./target/release/socialdevs seed --users 200 --posts 2000

# The benchmark of record: the load generator's open-loop sweep of the social-network mix and
# its post -> follower latency on both topologies; rewrites the results in docs/benchmarks.md.
bench: deps
	bash bench/sweep.sh

# The older closed-loop comparison (wrk per endpoint) of both topologies; numbers go to
# bench/results/topologies.md.
bench-wrk: release
	SOCIALDEVS_BIN=./target/release/socialdevs bash bench/topologies.sh

# The load generator's smoke test: a throwaway all-in-one server, 3 s of the social-network mix
# at 50 req/s; fails if any request failed (crates/loadgen, README "Benchmarks").
loadgen-smoke:
	bash bench/smoke.sh

# Coverage-guided fuzzing of the parsers and request bodies (cargo fuzz, fuzz/): 20 s per
# target; FUZZ_SECONDS=600 make fuzz for a long run.
fuzz:
	bash scripts/fuzz.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets --locked -- -D warnings

clean:
	cargo clean
	rm -rf web/dist web/node_modules
