# syntax=docker/dockerfile:1.7
#
# SocialDevs Rust services: one binary, one image per service.
#
#   docker build --build-arg SERVICE=posts --build-arg PORT=8082 -t socialdevs-posts .
#   docker build --target all-in-one -t socialdevs .
#
# Stages: chef (toolchain + cargo-chef) -> planner (dependency recipe) ->
# builder (dependencies cached in their own layer, then the workspace) ->
# runtime (distroless, numeric non-root user, read-only root filesystem friendly).
# HEALTHCHECK runs `socialdevs healthcheck` (the image has no shell or curl); Kubernetes
# ignores it and probes /healthz and /readyz itself.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm
ARG NODE_VERSION=20

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS chef
# cmake and the -dev packages build the bundled librdkafka (rdkafka feature cmake-build).
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake libcurl4-openssl-dev libssl-dev zlib1g-dev pkg-config \
    && rm -rf /var/lib/apt/lists/* \
    && cargo install cargo-chef --locked
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# A RUN with a pipe (ldd | awk | grep | xargs below) fails when any command of it fails,
# not only the last one.
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY --from=planner /src/recipe.json recipe.json
# This layer only changes when Cargo.toml/Cargo.lock change.
RUN cargo chef cook --release --locked --recipe-path recipe.json --bin socialdevs
COPY . .
# Besides the binary, /out gets the shared libraries it links that distroless/cc does not
# ship (zlib, libcurl and their dependencies, whatever the build pulled in), and the data
# dir owned by the runtime user (writable only where a volume is mounted).
# REVISION is reported by the build-info metric (compiled in as SOCIALDEVS_GIT_SHA).
ARG REVISION=unknown
RUN SOCIALDEVS_GIT_SHA="${REVISION}" cargo build --release --locked --bin socialdevs \
    && install -D -m 0755 target/release/socialdevs /out/usr/local/bin/socialdevs \
    && ldd target/release/socialdevs \
        | awk '/=> \// { print $3 }' \
        | { grep -Ev '/(libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+|ld-linux[^/]*)\.so' || test $? -eq 1; } \
        | xargs -r -I{} cp --parents -L {} /out/ \
    && install -d -o 65532 -g 65532 /out/var/lib/socialdevs /out/var/lib/socialdevs/keys

FROM node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim AS web
WORKDIR /web
COPY web/package*.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM gcr.io/distroless/cc-debian12:nonroot AS base
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="socialdevs" \
      org.opencontainers.image.description="SocialDevs micro-blogging platform services" \
      org.opencontainers.image.source="https://github.com/socialdevs/socialdevs" \
      org.opencontainers.image.url="https://github.com/socialdevs/socialdevs" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="SocialDevs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
COPY --from=builder /out/ /
# MALLOC_ARENA_MAX: glibc's allocator otherwise keeps up to 8 arenas per core, each holding
# on to memory it touched once; two cost no measurable CPU and about 2 MiB of idle memory
# (docs/benchmarks.md).
ENV SOCIALDEVS_LOG_FORMAT=json \
    SOCIALDEVS_DATA_DIR=/var/lib/socialdevs \
    MALLOC_ARENA_MAX=2
USER 65532:65532
WORKDIR /var/lib/socialdevs
HEALTHCHECK --interval=10s --timeout=6s --start-period=10s --retries=5 \
    CMD ["/usr/local/bin/socialdevs", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/socialdevs"]
CMD ["serve"]

# All-in-one: every service plus the web app, SQLite in the data dir.
FROM base AS all-in-one
COPY --from=web /web/dist /usr/share/socialdevs/web
ENV SOCIALDEVS_SERVICES=all \
    SOCIALDEVS_WEB_DIR=/usr/share/socialdevs/web \
    SOCIALDEVS_LISTEN=0.0.0.0:8080
EXPOSE 8080

# Default target: one service per image (SERVICE=users|posts|timeline|notifications).
FROM base AS service
ARG SERVICE=users
ARG PORT=8081
LABEL org.opencontainers.image.title="socialdevs-${SERVICE}"
ENV SOCIALDEVS_SERVICES=${SERVICE}
EXPOSE ${PORT}
