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
# shellcheck source=deploy/k3d/lib.sh
source "$ROOT/deploy/k3d/lib.sh"
CLUSTER=socialdevs
NAMESPACE=socialdevs-dev
TAG=dev
SECRETS_DIR="$ROOT/.tools/k3d-secrets"

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

need_k3d_tools

step "cluster $CLUSTER"
if ! k3d cluster get "$CLUSTER" >/dev/null 2>&1; then
  k3d cluster create --config "$ROOT/deploy/k3d/cluster.yaml"
fi
kubectl config use-context "k3d-$CLUSTER" >/dev/null

if $build; then
  step "build images"
  build_images "$ROOT" "$TAG"
  step "import images into the nodes"
  import_images "$CLUSTER" "$TAG"
fi

step "namespace and secrets"
kubectl apply -f "$ROOT/deploy/k8s/overlays/dev/data/namespace.yaml"
create_secrets "$NAMESPACE" "$SECRETS_DIR" "$TAG"

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
