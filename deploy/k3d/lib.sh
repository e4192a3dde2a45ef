# shellcheck shell=bash
# Shared by deploy/k3d/up.sh (dev) and deploy/k3d/proof.sh (the proof on a cluster): tool
# checks, the SocialDevs images (build, import into the k3d nodes) and the Secrets the
# workloads reference by name. Source it; it defines functions and SOCIALDEVS_PORTS only.

# The services and their public ports (one image each, plus socialdevs-web).
declare -A SOCIALDEVS_PORTS=([users]=8081 [posts]=8082 [timeline]=8083 [notifications]=8084)

# need COMMAND HINT: exit unless COMMAND is on the PATH.
need() {
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "missing $1: $2" >&2
    exit 1
  fi
}

need_k3d_tools() {
  need docker "https://docs.docker.com/engine/install/"
  need k3d "https://k3d.io/#installation"
  need kubectl "https://kubernetes.io/docs/tasks/tools/"
}

step() { printf '\n==> %s\n' "$*"; }

# socialdevs_images TAG: the image references, one a line.
socialdevs_images() {
  local service
  for service in "${!SOCIALDEVS_PORTS[@]}"; do echo "socialdevs-$service:$1"; done
  echo "socialdevs-web:$1"
}

# build_images ROOT TAG: one image per service from the root Dockerfile, and the web image.
build_images() {
  local root="$1" tag="$2" revision service
  revision="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  for service in "${!SOCIALDEVS_PORTS[@]}"; do
    docker build "$root" \
      --build-arg SERVICE="$service" --build-arg PORT="${SOCIALDEVS_PORTS[$service]}" \
      --build-arg VERSION="$tag" --build-arg REVISION="$revision" \
      -t "socialdevs-$service:$tag"
  done
  docker build "$root/web" --build-arg VERSION="$tag" --build-arg REVISION="$revision" \
    -t "socialdevs-web:$tag"
}

# import_images CLUSTER TAG: copy the images into every node (no registry involved).
import_images() {
  local images=()
  mapfile -t images < <(socialdevs_images "$2")
  k3d image import --cluster "$1" "${images[@]}"
}

# create_secrets NAMESPACE SECRETS_DIR TAG: random passwords for the migration role, each
# service's own database role and MQTT, and an Ed25519 key pair plus the service token
# secret (`socialdevs keygen`, run from the users image TAG), kept in SECRETS_DIR so re-runs
# reuse them; then the Secrets socialdevs-db, socialdevs-db-{users,posts,notifications},
# socialdevs-jwt and socialdevs-mqtt in NAMESPACE (created or updated). The namespace must
# exist. Mosquitto devices ("<user id>:<password>" lines) come from SECRETS_DIR/mqtt-devices
# when that file exists.
create_secrets() {
  local namespace="$1" dir="$2" tag="$3" secret password service
  mkdir -p "$dir"
  chmod 700 "$dir"
  for secret in postgres-password users-db-password posts-db-password \
    notifications-db-password mqtt-password; do
    if [[ ! -s "$dir/$secret" ]]; then
      (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/$secret")
    fi
  done
  if [[ ! -s "$dir/jwt_private.pem" ]]; then
    docker run --rm --user "$(id -u):$(id -g)" -v "$dir:/keys" \
      "socialdevs-users:$tag" keygen --out /keys
  fi
  password="$(cat "$dir/postgres-password")"
  kubectl -n "$namespace" create secret generic socialdevs-db \
    --from-literal=postgres-password="$password" \
    --from-literal=database-url="postgres://socialdevs:$password@postgres:5432/socialdevs" \
    --dry-run=client -o yaml | kubectl apply -f -
  # Each service's own login role (created and granted by the migration Job).
  for service in users posts notifications; do
    kubectl -n "$namespace" create secret generic "socialdevs-db-$service" \
      --from-literal=database-url="postgres://socialdevs_$service:$(cat "$dir/$service-db-password")@postgres:5432/socialdevs" \
      --dry-run=client -o yaml | kubectl apply -f -
  done
  kubectl -n "$namespace" create secret generic socialdevs-jwt \
    --from-file=jwt_private.pem="$dir/jwt_private.pem" \
    --from-file=jwt_public.pem="$dir/jwt_public.pem" \
    --from-file=internal.secret="$dir/internal.secret" \
    --dry-run=client -o yaml | kubectl apply -f -
  local mqtt_devices=()
  if [[ -s "$dir/mqtt-devices" ]]; then
    mqtt_devices=(--from-file=devices="$dir/mqtt-devices")
  fi
  kubectl -n "$namespace" create secret generic socialdevs-mqtt \
    --from-literal=notifications-password="$(cat "$dir/mqtt-password")" \
    "${mqtt_devices[@]}" \
    --dry-run=client -o yaml | kubectl apply -f -
}
