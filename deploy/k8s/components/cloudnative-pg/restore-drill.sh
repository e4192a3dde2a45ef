#!/usr/bin/env bash
# Restore drill for the CloudNativePG cluster: restore the latest base backup and the archived
# WAL from object storage into a scratch Cluster, check the restored data, delete the scratch
# Cluster. Exits non-zero when any step fails, so a failed drill is a failed Job (alerted on).
#
# Settings (environment): NAMESPACE, SOURCE_CLUSTER (the cluster whose backups are restored),
# OBJECT_STORE (its barmancloud.cnpg.io ObjectStore), SERVER_NAME (the folder of its archive in
# the store: the cluster's name unless its plugin sets serverName), DRILL_CLUSTER (the scratch cluster's
# name), IMAGE (the same PostgreSQL major version as the source), STORAGE_SIZE, TIMEOUT
# (how long the restore may take), SCHEMAS (each must have applied migrations) and
# COUNT_TABLES (schema.table, counted).
set -euo pipefail

: "${NAMESPACE:?}" "${SOURCE_CLUSTER:?}" "${OBJECT_STORE:?}" "${DRILL_CLUSTER:?}" "${IMAGE:?}"
SERVER_NAME="${SERVER_NAME:-$SOURCE_CLUSTER}"
STORAGE_SIZE="${STORAGE_SIZE:-50Gi}"
TIMEOUT="${TIMEOUT:-3600s}"
SCHEMAS="${SCHEMAS:-users posts notifications}"
COUNT_TABLES="${COUNT_TABLES:-users.users posts.posts notifications.notifications}"

log() { printf '%s restore-drill: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
k() { kubectl -n "$NAMESPACE" "$@"; }

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  local status=$?
  log "deleting the scratch cluster $DRILL_CLUSTER"
  k delete cluster "$DRILL_CLUSTER" --ignore-not-found --wait=false || true
  if [[ $status -eq 0 ]]; then
    log "RESULT: PASSED"
  else
    log "RESULT: FAILED (exit $status)"
  fi
}

# A scratch cluster left by an interrupted run goes first.
if k get cluster "$DRILL_CLUSTER" >/dev/null 2>&1; then
  log "removing a scratch cluster left by an earlier run"
  k delete cluster "$DRILL_CLUSTER" --wait=true --timeout=10m
fi
trap cleanup EXIT

started="$(date +%s)"
log "restoring the latest backup of $SOURCE_CLUSTER (ObjectStore $OBJECT_STORE, $SERVER_NAME) into $DRILL_CLUSTER"
# No spec.plugins: the scratch cluster never archives WAL, so it cannot write into the source's
# backups.
k create -f - <<YAML
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata:
  name: $DRILL_CLUSTER
  labels:
    app.kubernetes.io/name: postgres-restore-drill
    app.kubernetes.io/part-of: socialdevs
spec:
  instances: 1
  imageName: $IMAGE
  enableSuperuserAccess: false
  inheritedMetadata:
    labels:
      app.kubernetes.io/part-of: socialdevs
  storage:
    size: $STORAGE_SIZE
  resources:
    requests:
      cpu: 250m
      memory: 1Gi
    limits:
      cpu: "1"
      memory: 2Gi
  bootstrap:
    recovery:
      source: origin
      database: socialdevs
      owner: socialdevs
  externalClusters:
    - name: origin
      plugin:
        name: barman-cloud.cloudnative-pg.io
        parameters:
          barmanObjectName: $OBJECT_STORE
          serverName: $SERVER_NAME
YAML

k wait --for=condition=Ready "cluster/$DRILL_CLUSTER" --timeout="$TIMEOUT"
restored="$(date +%s)"
log "restored and ready in $((restored - started)) s"

pod="$(k get pods -l "cnpg.io/cluster=$DRILL_CLUSTER,cnpg.io/instanceRole=primary" -o name | head -n1)"
[[ -n "$pod" ]] || { log "no primary pod for $DRILL_CLUSTER"; exit 1; }

# As the postgres superuser over the pod's local socket (peer authentication): no password
# leaves the cluster's Secrets.
query() {
  k exec "$pod" -c postgres -- psql -X -q -v ON_ERROR_STOP=1 -d socialdevs -t -A -c "$1"
}

failed=0
for schema in $SCHEMAS; do
  if ! count="$(query "SELECT count(*) FROM \"$schema\".schema_migrations")"; then
    log "FAIL $schema.schema_migrations cannot be read"
    failed=1
  elif [[ "$count" -lt 1 ]]; then
    log "FAIL $schema.schema_migrations is empty"
    failed=1
  else
    log "ok   $schema: $count migrations applied"
  fi
done
for table in $COUNT_TABLES; do
  if count="$(query "SELECT count(*) FROM $table")"; then
    log "ok   $table: $count rows"
  else
    log "FAIL count(*) on $table"
    failed=1
  fi
done
if newest="$(query "SELECT coalesce(max(created_at)::text, 'none') FROM posts.posts")"; then
  log "newest restored post: $newest"
fi
log "drill took $(($(date +%s) - started)) s"
exit "$failed"
