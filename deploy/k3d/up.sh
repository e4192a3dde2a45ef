#!/usr/bin/env bash
# SocialDevs on a local k3d cluster, from source:
#   1. create the cluster from deploy/k3d/cluster.yaml (once),
#   2. build the images and import them into the nodes (no registry),
#   3. create the Secrets (random passwords for the database's migration role, each service's
#      own database role and MQTT, and a fresh Ed25519 key pair, kept in .tools/k3d-secrets/
#      so re-runs reuse them),
#   4. apply the data stores (deploy/k8s/overlays/dev/data), wait for them and the topics,
#   5. run the migrations and apply the dev overlay, wait for every rollout.
# Re-run after a code change to rebuild and roll out. Then open http://socialdevs.localhost
#
#   deploy/k3d/up.sh              build, import, apply
#   deploy/k3d/up.sh --no-build   apply only (images already imported)
#   deploy/k3d/up.sh --delete     delete the cluster
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CLUSTER=socialdevs
NAMESPACE=socialdevs-dev
TAG=dev
SECRETS_DIR="$ROOT/.tools/k3d-secrets"
declare -A PORTS=([users]=8081 [posts]=8082 [timeline]=8083 [notifications]=8084)

build=true
case "${1:-}" in
  --delete)
    k3d cluster delete "$CLUSTER"
    exit 0
    ;;
  --no-build) build=false ;;
  "") ;;
  *)
    echo "usage: $0 [--no-build|--delete]" >&2
    exit 2
    ;;
esac

need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "missing $1: $2" >&2
    exit 1
  fi
}
need docker "https://docs.docker.com/engine/install/"
need k3d "https://k3d.io/#installation"
need kubectl "https://kubernetes.io/docs/tasks/tools/"

step() { printf '\n==> %s\n' "$*"; }

step "cluster $CLUSTER"
if ! k3d cluster get "$CLUSTER" >/dev/null 2>&1; then
  k3d cluster create --config "$ROOT/deploy/k3d/cluster.yaml"
fi
kubectl config use-context "k3d-$CLUSTER" >/dev/null

images=()
for service in "${!PORTS[@]}"; do images+=("socialdevs-$service:$TAG"); done
images+=("socialdevs-web:$TAG")

if $build; then
  step "build images"
  revision="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  for service in "${!PORTS[@]}"; do
    docker build "$ROOT" \
      --build-arg SERVICE="$service" --build-arg PORT="${PORTS[$service]}" \
      --build-arg VERSION="$TAG" --build-arg REVISION="$revision" \
      -t "socialdevs-$service:$TAG"
  done
  docker build "$ROOT/web" -t "socialdevs-web:$TAG"
  step "import images into the nodes"
  k3d image import --cluster "$CLUSTER" "${images[@]}"
fi

step "namespace and secrets"
kubectl apply -f "$ROOT/deploy/k8s/overlays/dev/data/namespace.yaml"
mkdir -p "$SECRETS_DIR"
chmod 700 "$SECRETS_DIR"
for secret in postgres-password users-db-password posts-db-password \
  notifications-db-password mqtt-password; do
  if [[ ! -s "$SECRETS_DIR/$secret" ]]; then
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$SECRETS_DIR/$secret")
  fi
done
if [[ ! -s "$SECRETS_DIR/jwt_private.pem" ]]; then
  docker run --rm --user "$(id -u):$(id -g)" -v "$SECRETS_DIR:/keys" \
    "socialdevs-users:$TAG" keygen --out /keys
fi
password="$(cat "$SECRETS_DIR/postgres-password")"
kubectl -n "$NAMESPACE" create secret generic socialdevs-db \
  --from-literal=postgres-password="$password" \
  --from-literal=database-url="postgres://socialdevs:$password@postgres:5432/socialdevs" \
  --dry-run=client -o yaml | kubectl apply -f -
# Each service's own login role (created and granted by the migration Job).
for service in users posts notifications; do
  kubectl -n "$NAMESPACE" create secret generic "socialdevs-db-$service" \
    --from-literal=database-url="postgres://socialdevs_$service:$(cat "$SECRETS_DIR/$service-db-password")@postgres:5432/socialdevs" \
    --dry-run=client -o yaml | kubectl apply -f -
done
kubectl -n "$NAMESPACE" create secret generic socialdevs-jwt \
  --from-file=jwt_private.pem="$SECRETS_DIR/jwt_private.pem" \
  --from-file=jwt_public.pem="$SECRETS_DIR/jwt_public.pem" \
  --from-file=internal.secret="$SECRETS_DIR/internal.secret" \
  --dry-run=client -o yaml | kubectl apply -f -
# Mosquitto: the notifications service's password, and the devices in
# .tools/k3d-secrets/mqtt-devices ("<user id>:<password>" lines) when that file exists.
mqtt_devices=()
if [[ -s "$SECRETS_DIR/mqtt-devices" ]]; then
  mqtt_devices=(--from-file=devices="$SECRETS_DIR/mqtt-devices")
fi
kubectl -n "$NAMESPACE" create secret generic socialdevs-mqtt \
  --from-literal=notifications-password="$(cat "$SECRETS_DIR/mqtt-password")" \
  "${mqtt_devices[@]}" \
  --dry-run=client -o yaml | kubectl apply -f -

step "data stores"
kubectl apply -k "$ROOT/deploy/k8s/overlays/dev/data"
kubectl -n "$NAMESPACE" rollout status statefulset/postgres --timeout=300s
kubectl -n "$NAMESPACE" rollout status statefulset/redpanda --timeout=300s
kubectl -n "$NAMESPACE" rollout status deployment/redis --timeout=120s
kubectl -n "$NAMESPACE" rollout status deployment/mosquitto --timeout=120s
kubectl -n "$NAMESPACE" wait --for=condition=complete job/kafka-topics --timeout=300s

step "migrations and services"
# A Job's pod template is immutable: recreate it so new images migrate too.
kubectl -n "$NAMESPACE" delete job socialdevs-migrate --ignore-not-found
kubectl apply -k "$ROOT/deploy/k8s/overlays/dev"
kubectl -n "$NAMESPACE" wait --for=condition=complete job/socialdevs-migrate --timeout=300s
if $build; then
  # Same tag, new image: restart so the pods pick it up.
  kubectl -n "$NAMESPACE" rollout restart deployment -l 'app.kubernetes.io/component in (api,frontend)'
fi
for deployment in users posts timeline notifications web; do
  kubectl -n "$NAMESPACE" rollout status "deployment/$deployment" --timeout=300s
done

step "ready"
echo "SocialDevs: http://socialdevs.localhost"
echo "Pods:       kubectl -n $NAMESPACE get pods"
echo "Delete:     $0 --delete"
