#!/usr/bin/env bash
# SocialDevs distributed on one machine, without containers: PostgreSQL with one schema per
# service, each service as its own `socialdevs serve --services X` process, and the nginx
# edge (the web image's own configuration) serving the web app and routing the API.
#
#   deploy/local/distributed.sh up        build, migrate and start; http://localhost:8080
#   deploy/local/distributed.sh status    who runs, whether each answers ready and serves
#                                         /metrics on its internal port
#   deploy/local/distributed.sh down      stop everything it started
#
# PostgreSQL: SOCIALDEVS_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/socialdevs;
# the database is created when missing). When no server answers there and the PostgreSQL
# server binaries are installed, a private cluster is started under the state folder. That
# URL's role migrates (it needs CREATEROLE) and creates a login role per service
# (socialdevs_users, socialdevs_posts, socialdevs_notifications; random passwords kept in the
# state folder), granted its own schema only; each service process connects as its role and
# nothing else (SOCIALDEVS_LOCAL_DB_ROLES=shared: every process uses SOCIALDEVS_DATABASE_URL,
# as before).
# nginx (and PostgreSQL, when needed) is installed from Debian's packages if missing.
# Events: SOCIALDEVS_KAFKA_BROKERS names a Kafka-protocol broker; when unset, a tansu broker
# is started on SOCIALDEVS_KAFKA_PORT (19092) with its storage under the state folder
# (tansu is installed with scripts/install-tansu.sh when missing). The services create their
# topics at start. Home timelines: SOCIALDEVS_REDIS_URL names a Redis; when unset, a private
# redis-server is started on SOCIALDEVS_REDIS_PORT (16379) (installed from Debian's packages
# when missing). Notifications on devices: the MQTT bridge stays off unless SOCIALDEVS_MQTT_URL
# is set (with SOCIALDEVS_MQTT_USERNAME, SOCIALDEVS_MQTT_PASSWORD, SOCIALDEVS_MQTT_CA_FILE when
# the broker needs them); the notifications process then gets them as they are.
#
# Settings (environment): SOCIALDEVS_EDGE_PORT (8080), SOCIALDEVS_USERS_PORT (8081),
# SOCIALDEVS_POSTS_PORT (8082), SOCIALDEVS_TIMELINE_PORT (8083), SOCIALDEVS_NOTIFICATIONS_PORT
# (8084); each service also serves /internal/... to the others on its port + 1000 (the edge does
# not route there), and /metrics there for Prometheus (no token; the public ports have no
# /metrics; deploy/observability/prometheus/prometheus-local.yml scrapes 9081..9084);
# SOCIALDEVS_BIN (a built binary to use instead of building the release one),
# SOCIALDEVS_LOCAL_STATE (logs, pids, keys; default data/distributed).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib/apt.sh
source "$root/scripts/lib/apt.sh"

state="${SOCIALDEVS_LOCAL_STATE:-$root/data/distributed}"
edge_port="${SOCIALDEVS_EDGE_PORT:-8080}"
declare -A ports=(
  [users]="${SOCIALDEVS_USERS_PORT:-8081}"
  [posts]="${SOCIALDEVS_POSTS_PORT:-8082}"
  [timeline]="${SOCIALDEVS_TIMELINE_PORT:-8083}"
  [notifications]="${SOCIALDEVS_NOTIFICATIONS_PORT:-8084}"
)
services=(users posts timeline notifications)
declare -A internal_ports
for service in "${services[@]}"; do internal_ports[$service]=$((ports[$service] + 1000)); done
mqtt_settings=(SOCIALDEVS_MQTT_URL SOCIALDEVS_MQTT_USERNAME SOCIALDEVS_MQTT_PASSWORD SOCIALDEVS_MQTT_CA_FILE)
private_pg_port="${SOCIALDEVS_PRIVATE_PG_PORT:-54329}"
kafka_port="${SOCIALDEVS_KAFKA_PORT:-19092}"
redis_port="${SOCIALDEVS_REDIS_PORT:-16379}"

log() { echo "distributed.sh: $*"; }
die() { echo "distributed.sh: $*" >&2; exit 1; }

# Reads a pid file and tells whether that process still runs.
running() {
  local file="$state/pids/$1.pid"
  [[ -f "$file" ]] && kill -0 "$(cat "$file")" 2>/dev/null
}

wait_http() {
  local url="$1" what="$2" tries=0
  until curl -fsS -o /dev/null "$url" 2>/dev/null; do
    tries=$((tries + 1))
    if ((tries > 300)); then
      die "$what did not answer at $url; see $state/logs/"
    fi
    sleep 0.1
  done
}

# role_url URL ROLE PASSWORD: URL with its user and password replaced.
role_url() {
  local scheme="${1%%://*}" rest="${1#*://}"
  echo "$scheme://$2:$3@${rest#*@}"
}

pg_reachable() {
  psql "$1" -Atqc 'SELECT 1' >/dev/null 2>&1
}

# Points SOCIALDEVS_DATABASE_URL at a server that answers, creating the database if missing.
prepare_postgres() {
  ensure_command psql postgresql-client
  local url="${SOCIALDEVS_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/socialdevs}"
  local name="${url##*/}"
  name="${name%%\?*}"
  local admin="${url%/*}/postgres"
  if ! pg_reachable "$admin"; then
    if [[ -n "${SOCIALDEVS_DATABASE_URL:-}" ]]; then
      die "PostgreSQL does not answer at $admin"
    fi
    start_private_postgres
    url="postgres://postgres@127.0.0.1:$private_pg_port/socialdevs"
    admin="postgres://postgres@127.0.0.1:$private_pg_port/postgres"
    name=socialdevs
  fi
  if [[ "$(psql "$admin" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$name'")" != 1 ]]; then
    log "creating database $name"
    psql "$admin" -qc "CREATE DATABASE \"$name\"" >/dev/null
  fi
  export SOCIALDEVS_DATABASE_URL="$url"
}

start_private_postgres() {
  local bindir
  bindir="$(postgres_bindir || true)"
  if [[ -z "$bindir" ]]; then
    apt_install postgresql
    bindir="$(postgres_bindir)" || die "PostgreSQL server binaries are missing"
  fi
  local dir="$state/postgres"
  local run=()
  if [[ $(id -u) -eq 0 ]]; then run=(runuser -u postgres --); fi
  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    log "creating a private PostgreSQL cluster in $dir"
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    "${run[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
  fi
  if ! pg_reachable "postgres://postgres@127.0.0.1:$private_pg_port/postgres"; then
    log "starting the private PostgreSQL on port $private_pg_port"
    "${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-p $private_pg_port -k $dir -c listen_addresses=127.0.0.1" start >/dev/null
  fi
}

stop_private_postgres() {
  local dir="$state/postgres" bindir
  [[ -f "$dir/data/postmaster.pid" ]] || return 0
  bindir="$(postgres_bindir)" || return 0
  local run=()
  if [[ $(id -u) -eq 0 ]]; then run=(runuser -u postgres --); fi
  log "stopping the private PostgreSQL"
  "${run[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
}

# start_daemon NAME PORT COMMAND...: runs COMMAND in the background in $state/NAME (its pid
# recorded, its output in logs/NAME.log) and waits until it listens on PORT.
start_daemon() {
  local name="$1" port="$2" tries=0
  shift 2
  mkdir -p "$state/$name"
  # exec: the recorded pid is the daemon's own.
  (cd "$state/$name" && exec nohup "$@" </dev/null >"$state/logs/$name.log" 2>&1) &
  local pid=$!
  echo "$pid" >"$state/pids/$name.pid"
  # Up to 30 s (a broker opening its storage on a busy machine is slow); at once if it exits.
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    tries=$((tries + 1))
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$state/logs/$name.log" >&2 || true
      die "$name exited before listening on :$port; see $state/logs/$name.log"
    fi
    ((tries > 300)) && die "$name did not listen on :$port within 30 s; see $state/logs/$name.log"
    sleep 0.1
  done
}

tansu_binary() {
  command -v tansu 2>/dev/null || {
    local bin="${CARGO_HOME:-$HOME/.cargo}/bin/tansu"
    [[ -x "$bin" ]] && echo "$bin"
  }
}

# Points SOCIALDEVS_KAFKA_BROKERS at a broker: the configured one, else a tansu of our own.
prepare_kafka() {
  if [[ -n "${SOCIALDEVS_KAFKA_BROKERS:-}" ]]; then
    log "events through the Kafka brokers at $SOCIALDEVS_KAFKA_BROKERS"
    return
  fi
  local tansu
  tansu="$(tansu_binary || true)"
  if [[ -z "$tansu" ]]; then
    bash "$root/scripts/install-tansu.sh"
    tansu="$(tansu_binary)" || die "tansu is missing after installing it"
  fi
  # Its storage path is relative to its folder.
  start_daemon kafka "$kafka_port" "$tansu" broker \
    --listener-url "tcp://127.0.0.1:$kafka_port" \
    --advertised-listener-url "tcp://127.0.0.1:$kafka_port" \
    --storage-engine sqlite://tansu.db
  index_tansu_headers "$state/kafka/tansu.db"
  export SOCIALDEVS_KAFKA_BROKERS="127.0.0.1:$kafka_port"
  # tansu (0.6, SQLite storage) works through one request at a time, answers every fetch only
  # after fetch.wait.max.ms, and pays the same for an empty fetch of a partition as for a full
  # one, each header a row of its own. What suits it on one machine (measured with
  # `socialdevs-loadgen follow-latency`; docs/benchmarks.md): one partition per topic, the
  # content-type header only, live streams' subscriptions polled every 20 ms and background
  # ones every 250 ms. Set any of these to override; a real Kafka keeps the services' defaults.
  export SOCIALDEVS_KAFKA_PARTITIONS="${SOCIALDEVS_KAFKA_PARTITIONS:-1}"
  export SOCIALDEVS_KAFKA_HEADERS="${SOCIALDEVS_KAFKA_HEADERS:-content-type}"
  export SOCIALDEVS_KAFKA_FETCH_WAIT_MS="${SOCIALDEVS_KAFKA_FETCH_WAIT_MS:-20}"
  export SOCIALDEVS_KAFKA_BACKGROUND_FETCH_WAIT_MS="${SOCIALDEVS_KAFKA_BACKGROUND_FETCH_WAIT_MS:-250}"
  log "broker (tansu) on :$kafka_port"
}

# tansu reads a fetched record's headers by (partition, offset) without an index on them, so
# every record it serves scans every header stored: slower with each event ever published.
# Its tables are created with `if not exists`, so an index of ours stays out of its way.
index_tansu_headers() {
  python3 - "$1" <<'PY' || log "warning: could not index tansu's header table (fetches slow down as it grows)"
import sqlite3, sys, time
deadline = time.time() + 10
while True:
    try:
        db = sqlite3.connect(sys.argv[1], timeout=5)
        if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'header'").fetchone():
            db.execute("CREATE INDEX IF NOT EXISTS socialdevs_header_by_record ON header (topition, offset_id)")
            db.commit()
            break
        db.close()
    except sqlite3.OperationalError:
        pass
    if time.time() > deadline:
        sys.exit(1)
    time.sleep(0.1)
PY
}

# Points SOCIALDEVS_REDIS_URL at a Redis: the configured one, else a private redis-server.
prepare_redis() {
  if [[ -n "${SOCIALDEVS_REDIS_URL:-}" ]]; then
    log "home timelines in the Redis at ${SOCIALDEVS_REDIS_URL%%@*}"
    return
  fi
  ensure_command redis-server redis-server
  start_daemon redis "$redis_port" redis-server --port "$redis_port" --bind 127.0.0.1 \
    --save '' --appendonly no
  export SOCIALDEVS_REDIS_URL="redis://127.0.0.1:$redis_port"
  log "redis on :$redis_port"
}

up() {
  for service in redis kafka "${services[@]}" edge; do
    running "$service" && die "$service already runs (pid $(cat "$state/pids/$service.pid")); run '$0 down' first"
  done
  ensure_command nginx nginx-light
  ensure_command envsubst gettext-base
  ensure_command curl curl
  mkdir -p "$state/pids" "$state/logs" "$state/keys"

  local bin="${SOCIALDEVS_BIN:-}"
  if [[ -z "$bin" ]]; then
    log "building the release binary"
    (cd "$root" && cargo build --release --locked --bin socialdevs)
    bin="$root/target/release/socialdevs"
  fi
  [[ -x "$bin" ]] || die "no socialdevs binary at $bin"
  if [[ ! -f "$root/web/dist/index.html" ]]; then
    log "building the web app"
    bash "$root/scripts/build-web.sh"
  fi

  prepare_postgres
  prepare_kafka
  prepare_redis
  "$bin" keygen --out "$state/keys" >/dev/null
  export SOCIALDEVS_JWT_PRIVATE_KEY_FILE="$state/keys/jwt_private.pem"
  export SOCIALDEVS_JWT_PUBLIC_KEY_FILE="$state/keys/jwt_public.pem"
  export SOCIALDEVS_INTERNAL_SECRET_FILE="$state/keys/internal.secret"
  # Every request reaches the services through the edge on this machine: its X-Forwarded-For
  # names the client (per-client sign-in limits).
  export SOCIALDEVS_TRUSTED_PROXIES="${SOCIALDEVS_TRUSTED_PROXIES:-127.0.0.1/32,::1/128}"
  # Services call each other on their internal listeners, with service tokens.
  export SOCIALDEVS_USERS_URL="http://127.0.0.1:${internal_ports[users]}"
  export SOCIALDEVS_POSTS_URL="http://127.0.0.1:${internal_ports[posts]}"
  export SOCIALDEVS_LOG_FORMAT="${SOCIALDEVS_LOG_FORMAT:-json}"
  local db_roles="${SOCIALDEVS_LOCAL_DB_ROLES:-per-service}" service
  declare -A database_env=()
  case "$db_roles" in
    per-service)
      # The URL's role owns the schemas and migrates; every service gets a role of its own.
      mkdir -p "$state/db-roles"
      chmod 700 "$state/db-roles"
      export SOCIALDEVS_MIGRATE_DATABASE_URL="$SOCIALDEVS_DATABASE_URL"
      for service in users posts notifications; do
        local secret="$state/db-roles/$service"
        [[ -s "$secret" ]] || (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$secret")
        database_env[$service]="SOCIALDEVS_${service^^}_DATABASE_URL=$(role_url "$SOCIALDEVS_DATABASE_URL" "socialdevs_$service" "$(cat "$secret")")"
        export "${database_env[$service]?}"
      done
      log "migrating every service's schema and granting each service its own role"
      "$bin" migrate --grant-roles >/dev/null
      ;;
    shared)
      log "migrating every service's schema"
      "$bin" migrate >/dev/null
      ;;
    *) die "SOCIALDEVS_LOCAL_DB_ROLES is per-service or shared, not $db_roles" ;;
  esac

  # The MQTT bridge only with a broker named in the environment, and only in notifications.
  local mqtt=false setting broker
  [[ -n "${SOCIALDEVS_MQTT_URL:-}" ]] && mqtt=true
  if $mqtt; then
    broker="${SOCIALDEVS_MQTT_URL##*@}"
    log "notifications: MQTT bridge to ${broker#*://}"
  else
    log "notifications: MQTT bridge off (set SOCIALDEVS_MQTT_URL to turn it on)"
  fi
  local without_mqtt=()
  for setting in "${mqtt_settings[@]}"; do without_mqtt+=(-u "$setting"); done

  for service in "${services[@]}"; do
    local unset_mqtt=("${without_mqtt[@]}")
    if [[ "$service" == notifications ]] && $mqtt; then unset_mqtt=(); fi
    # With per-service roles, a process gets its own role's URL and no other database
    # credentials (timeline, whose events come through the broker, gets none) and does not
    # migrate at start.
    local database=()
    if [[ "$db_roles" == per-service ]]; then
      database=(-u SOCIALDEVS_DATABASE_URL -u SOCIALDEVS_MIGRATE_DATABASE_URL
        -u SOCIALDEVS_USERS_DATABASE_URL -u SOCIALDEVS_POSTS_DATABASE_URL
        -u SOCIALDEVS_NOTIFICATIONS_DATABASE_URL SOCIALDEVS_MIGRATE_AT_START=false)
      if [[ -n "${database_env[$service]:-}" ]]; then database+=("${database_env[$service]}"); fi
    fi
    SOCIALDEVS_SERVICES="$service" SOCIALDEVS_LISTEN="127.0.0.1:${ports[$service]}" \
      SOCIALDEVS_INTERNAL_LISTEN="127.0.0.1:${internal_ports[$service]}" \
      SOCIALDEVS_DATA_DIR="$state/$service" MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}" \
      nohup env "${unset_mqtt[@]}" "${database[@]}" "$bin" serve >"$state/logs/$service.log" 2>&1 &
    echo $! >"$state/pids/$service.pid"
  done
  for service in "${services[@]}"; do
    wait_http "http://127.0.0.1:${ports[$service]}/readyz" "$service"
    log "$service ready on :${ports[$service]} (/internal and /metrics on :${internal_ports[$service]})"
  done

  SOCIALDEVS_USERS_UPSTREAM="127.0.0.1:${ports[users]}" \
    SOCIALDEVS_POSTS_UPSTREAM="127.0.0.1:${ports[posts]}" \
    SOCIALDEVS_TIMELINE_UPSTREAM="127.0.0.1:${ports[timeline]}" \
    SOCIALDEVS_NOTIFICATIONS_UPSTREAM="127.0.0.1:${ports[notifications]}" \
    SOCIALDEVS_WEB_LISTEN="0.0.0.0:$edge_port" \
    nohup bash "$root/web/nginx/run-local.sh" >"$state/logs/edge.log" 2>&1 &
  echo $! >"$state/pids/edge.pid"
  wait_http "http://127.0.0.1:$edge_port/healthz" edge
  log "edge ready: SocialDevs at http://localhost:$edge_port (logs in $state/logs; stop with '$0 down')"
}

down() {
  local service pid
  for service in edge "${services[@]}" kafka redis; do
    if running "$service"; then
      pid="$(cat "$state/pids/$service.pid")"
      log "stopping $service (pid $pid)"
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      # Still there after 10 s (tansu may ignore SIGTERM): its port must be free for the next up.
      if kill -0 "$pid" 2>/dev/null; then
        log "$service did not stop; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      fi
    fi
    rm -f "$state/pids/$service.pid"
  done
  stop_private_postgres
}

status() {
  local service code=0
  for service in "${services[@]}"; do
    if running "$service" && curl -fsS -o /dev/null "http://127.0.0.1:${ports[$service]}/readyz"; then
      if curl -fsS "http://127.0.0.1:${internal_ports[$service]}/metrics" | grep '^socialdevs_' >/dev/null; then
        log "$service: ready on :${ports[$service]}, /metrics on :${internal_ports[$service]}"
      else
        log "$service: ready on :${ports[$service]}, but no /metrics on :${internal_ports[$service]}"; code=1
      fi
    else
      log "$service: not ready"; code=1
    fi
  done
  if [[ -f "$state/pids/redis.pid" ]]; then
    if running redis; then log "redis: up on :$redis_port"; else log "redis: down"; code=1; fi
  fi
  if [[ -f "$state/pids/kafka.pid" ]]; then
    if running kafka; then log "kafka: up on :$kafka_port"; else log "kafka: down"; code=1; fi
  fi
  if running edge && curl -fsS -o /dev/null "http://127.0.0.1:$edge_port/healthz"; then
    log "edge: up on :$edge_port"
  else
    log "edge: down"; code=1
  fi
  return "$code"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|status|down" >&2; exit 2 ;;
esac
