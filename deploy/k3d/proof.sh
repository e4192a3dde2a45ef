#!/usr/bin/env bash
# The proof on a real cluster: SocialDevs delivered by Argo CD from git converges on a fresh
# k3s cluster, serves the API through Traefik, and rolls out a canary to completion.
# Run by .github/workflows/k3d-proof.yml; runs the same on a laptop with Docker.
#
#   1. create a k3d cluster (deploy/k3d/cluster.yaml, named socialdevs-proof),
#   2. build the images and import them into the nodes (deploy/k3d/lib.sh, as up.sh does),
#   3. install cert-manager, Argo Rollouts and Argo CD (pinned versions below),
#   4. create the namespace socialdevs-staging and its Secrets (random, as up.sh does),
#   5. apply the AppProject and the root Application of deploy/argocd, pointed at the commit
#      under test (repository URL + commit; the commit must be pushed: Argo CD reads git),
#   6. assert that every Application reaches Synced + Healthy (prints what is not, on failure),
#   7. the API smoke flow through Traefik over HTTPS: register, log in, post, read the home
#      timeline; plain HTTP is redirected to HTTPS,
#   8. a canary rollout of the users Rollout (a new pod-template annotation, delivered through
#      Argo CD like any change) that must complete, then every Application Synced + Healthy.
#
# What is deployed: the root Application and its children as they are in git at that commit,
# except that the root Application carries Kustomize patches (nothing committed is edited):
#   - every child Application points at the same repository URL and commit;
#   - the Applications whose destination is socialdevs-prod are left out: prod needs what a
#     k3d cluster does not have (a real domain for Let's Encrypt, its NFS and object storage);
#     platform, staging-data and staging are deployed, with the Secrets this script creates;
#   - in the children: the images are the ones built here (socialdevs-<name>:proof, imported,
#     never pulled); the ClusterIssuers are self-signed instead of ACME (the certificate of the
#     staging host is issued by cert-manager all the same, no public DNS needed); sign-up
#     needs no e-mail confirmation (no mail relay); the users pod template carries the
#     annotation socialdevs.dev/proof-rollout, which step 8 changes.
# Each CronJob of socialdevs-staging runs once (the nightly backup: it must succeed, and its
# volume is bound only once a pod uses it).
#
#   deploy/k3d/proof.sh                 everything above, then delete the cluster
#   deploy/k3d/proof.sh --keep          keep the cluster afterwards (kubectl context k3d-socialdevs-proof)
#   deploy/k3d/proof.sh --no-build      images socialdevs-*:proof already built
#   deploy/k3d/proof.sh --delete        delete the cluster
#   deploy/k3d/proof.sh --render DIR    no cluster: render what Argo CD would deploy into DIR
#                                       and check it (deploy/k3d/proof_render.py; needs PyYAML)
#
# Needs Docker (about 8 GB of memory for the cluster and the builds), k3d, kubectl, git and
# curl, and access to GitHub and the container registries. The cluster publishes ports 80 and
# 443 on the host (stop deploy/k3d/up.sh's cluster first: `k3d cluster stop socialdevs`).
# Settings (environment):
#   PROOF_REPO_URL   the repository Argo CD reads (default: the origin remote, as https)
#   PROOF_REVISION   the commit (default: HEAD; it must be on that remote)
#   PROOF_TIMEOUT    seconds for the Applications to converge (default 1200)
#   PROOF_ROLLOUT_TIMEOUT  seconds for the canary to complete (default 1200)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=deploy/k3d/lib.sh
source "$ROOT/deploy/k3d/lib.sh"

CLUSTER=socialdevs-proof
NAMESPACE=socialdevs-staging
TAG=proof
WORK="$ROOT/.tools/proof"
ARGOCD_VERSION=v3.4.7
ROLLOUTS_VERSION=v1.8.4
CERT_MANAGER_VERSION=v1.20.3
APPS_TIMEOUT="${PROOF_TIMEOUT:-1200}"
ROLLOUT_TIMEOUT="${PROOF_ROLLOUT_TIMEOUT:-1200}"

build=true keep=false render_out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --delete)
      k3d cluster delete "$CLUSTER"
      exit 0
      ;;
    --keep) keep=true ;;
    --no-build) build=false ;;
    --render)
      render_out="${2:?--render needs a directory}"
      shift
      ;;
    *)
      echo "usage: $0 [--keep] [--no-build] | --delete | --render DIR" >&2
      exit 2
      ;;
  esac
  shift
done

if [[ -z "$render_out" ]]; then
  need_k3d_tools
  need curl "https://curl.se/download.html"
fi
need git "https://git-scm.com/downloads"

# The repository as Argo CD reads it: an https URL (an SSH remote needs credentials there).
repo_url() {
  local url
  if ! url="$(git -C "$ROOT" remote get-url origin)"; then
    echo "no origin remote: set PROOF_REPO_URL to the repository Argo CD must read" >&2
    exit 1
  fi
  case "$url" in
    git@github.com:*) url="https://github.com/${url#git@github.com:}" ;;
    ssh://git@github.com/*) url="https://github.com/${url#ssh://git@github.com/}" ;;
  esac
  [[ "$url" == *.git ]] || url="$url.git"
  echo "$url"
}
REPO_URL="${PROOF_REPO_URL:-$(repo_url)}"
REVISION="${PROOF_REVISION:-$(git -C "$ROOT" rev-parse HEAD)}"

fail() {
  echo "PROOF FAILED: $*" >&2
  exit 1
}

# indent N: prefix every line of stdin with N spaces.
indent() {
  local pad
  pad="$(printf '%*s' "$1" '')"
  sed "s/^/$pad/"
}

# --------------------------------------------------------------------------- cluster, images
create_cluster() {
  step "cluster $CLUSTER (deploy/k3d/cluster.yaml)"
  if ! k3d cluster get "$CLUSTER" >/dev/null 2>&1; then
    k3d cluster create "$CLUSTER" --config "$ROOT/deploy/k3d/cluster.yaml"
  fi
  kubectl config use-context "k3d-$CLUSTER" >/dev/null
  kubectl wait --for=condition=Ready node --all --timeout=300s
}

images() {
  if $build; then
    step "build images (socialdevs-*:$TAG)"
    build_images "$ROOT" "$TAG"
  fi
  step "import images into the nodes"
  import_images "$CLUSTER" "$TAG"
}

# --------------------------------------------------------------------------- controllers
install_controllers() {
  step "cert-manager $CERT_MANAGER_VERSION"
  kubectl apply -f "https://github.com/cert-manager/cert-manager/releases/download/$CERT_MANAGER_VERSION/cert-manager.yaml"

  step "Argo Rollouts $ROLLOUTS_VERSION"
  kubectl create namespace argo-rollouts --dry-run=client -o yaml | kubectl apply -f -
  kubectl apply -n argo-rollouts -f "https://github.com/argoproj/argo-rollouts/releases/download/$ROLLOUTS_VERSION/install.yaml"
  # The canary's TraefikService is traefik.io/v1alpha1 (Traefik v3, as k3s ships it); the
  # controller looks for traefik.containo.us unless told otherwise.
  kubectl -n argo-rollouts patch deployment argo-rollouts --type json -p '[{"op": "add",
    "path": "/spec/template/spec/containers/0/args",
    "value": ["--traefik-api-group=traefik.io", "--traefik-api-version=traefik.io/v1alpha1"]}]'

  step "Argo CD $ARGOCD_VERSION"
  kubectl create namespace argocd --dry-run=client -o yaml | kubectl apply -f -
  kubectl apply -n argocd --server-side --force-conflicts \
    -f "https://raw.githubusercontent.com/argoproj/argo-cd/$ARGOCD_VERSION/manifests/install.yaml"
  # The root's sync waves wait for each child Application to be healthy (platform, then the
  # data stores, then the applications) only with this health check (Argo CD health docs).
  kubectl -n argocd patch configmap argocd-cm --type merge -p "$(
    cat <<'JSON'
{"data": {"resource.customizations.health.argoproj.io_Application": "hs = {}\nhs.status = \"Progressing\"\nhs.message = \"\"\nif obj.status ~= nil then\n  if obj.status.health ~= nil then\n    hs.status = obj.status.health.status\n    if obj.status.health.message ~= nil then\n      hs.message = obj.status.health.message\n    end\n  end\nend\nreturn hs\n"}}
JSON
  )"

  # Each resource's health in the Application's status (off by default since Argo CD 3.0), so
  # a failure can say which resource is not healthy.
  kubectl -n argocd patch configmap argocd-cmd-params-cm --type merge \
    -p '{"data": {"controller.resource.health.persist": "true"}}'

  step "wait for the controllers"
  kubectl -n cert-manager wait --for=condition=Available deployment --all --timeout=300s
  kubectl -n argo-rollouts rollout status deployment/argo-rollouts --timeout=300s
  kubectl -n argocd wait --for=condition=Available deployment --all --timeout=300s
  kubectl -n argocd rollout status statefulset/argocd-application-controller --timeout=300s
  # The command parameters are read at start.
  kubectl -n argocd rollout restart statefulset/argocd-application-controller
  kubectl -n argocd rollout status statefulset/argocd-application-controller --timeout=300s
}

# The Secrets created outside git (deploy/validation/external-secrets.yaml) that staging needs:
# the application's (lib.sh create_secrets) and the observability component's. proof.sh
# --render fails when a pod needs one that is not in this list.
PROOF_SECRETS=(socialdevs-db socialdevs-db-users socialdevs-db-posts socialdevs-db-notifications
  socialdevs-jwt socialdevs-mqtt grafana-admin alertmanager-receivers)

secrets() {
  step "namespace $NAMESPACE and its Secrets"
  kubectl create namespace "$NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
  create_secrets "$NAMESPACE" "$WORK/secrets" "$TAG"
  kubectl -n "$NAMESPACE" create secret generic grafana-admin \
    --from-literal=admin-password="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
    --dry-run=client -o yaml | kubectl apply -f -
  # Alerts go nowhere in the proof (a closed local port): Alertmanager starts, delivery fails.
  kubectl -n "$NAMESPACE" create secret generic alertmanager-receivers \
    --from-literal=page-webhook-url=http://127.0.0.1:9/page \
    --from-literal=team-webhook-url=http://127.0.0.1:9/team \
    --dry-run=client -o yaml | kubectl apply -f -
}

# --------------------------------------------------------------------------- the root app
# Patches for every child Application kept (see the header): images, pull policy, issuers,
# sign-up, and the rollout mark ($1) on the users pod template.
child_patches() {
  local mark="$1" service
  echo "images:"
  for service in "${!SOCIALDEVS_PORTS[@]}" web; do
    echo "  - ghcr.io/socialdevs/socialdevs-$service=socialdevs-$service:$TAG"
  done
  cat <<EOF
patches:
  - target:
      kind: Deployment
    patch: |-
      - op: add
        path: /spec/template/spec/containers/0/imagePullPolicy
        value: IfNotPresent
  - target:
      kind: Job
    patch: |-
      - op: add
        path: /spec/template/spec/containers/0/imagePullPolicy
        value: IfNotPresent
  - target:
      kind: ClusterIssuer
    patch: |-
      apiVersion: cert-manager.io/v1
      kind: ClusterIssuer
      metadata:
        name: any
      spec:
        acme: null
        selfSigned: {}
  - target:
      kind: ConfigMap
      name: socialdevs-config
    patch: |-
      - op: add
        path: /data/SOCIALDEVS_SIGNUP_EMAIL_VERIFICATION
        value: "false"
  - target:
      kind: Deployment
      name: users
    patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata:
        name: users
      spec:
        template:
          metadata:
            annotations:
              socialdevs.dev/proof-rollout: "$mark"
EOF
}

# The Kustomize patches of the root Application: what it does to the child Applications.
root_patches() {
  local mark="$1" name
  cat <<EOF
- target:
    group: argoproj.io
    kind: Application
  patch: |-
    - op: replace
      path: /spec/source/repoURL
      value: "$REPO_URL"
    - op: replace
      path: /spec/source/targetRevision
      value: "$REVISION"
EOF
  for name in "${PROD_APPS[@]}"; do
    cat <<EOF
- patch: |-
    \$patch: delete
    apiVersion: argoproj.io/v1alpha1
    kind: Application
    metadata:
      name: $name
      namespace: argocd
EOF
  done
  for name in "${KEPT_APPS[@]}"; do
    cat <<EOF
- target:
    group: argoproj.io
    kind: Application
    name: $name
  patch: |-
    apiVersion: argoproj.io/v1alpha1
    kind: Application
    metadata:
      name: $name
      namespace: argocd
    spec:
      source:
        kustomize:
EOF
    child_patches "$mark" | indent 10
  done
}

# render_root MARK: the kustomization (in $WORK/root) of deploy/argocd with the root pointed
# at the commit under test and carrying root_patches; the AppProject admits the repository.
render_root() {
  local mark="$1"
  mkdir -p "$WORK/root"
  {
    # Kustomize takes resources by a relative path only: $WORK/root is .tools/proof/root.
    cat <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../../deploy/argocd
patches:
  - target:
      kind: AppProject
      name: socialdevs
    patch: |-
      - op: add
        path: /spec/sourceRepos/-
        value: "$REPO_URL"
  - target:
      kind: Application
      name: socialdevs-root
    patch: |-
      apiVersion: argoproj.io/v1alpha1
      kind: Application
      metadata:
        name: socialdevs-root
        namespace: argocd
      spec:
        source:
          repoURL: "$REPO_URL"
          targetRevision: "$REVISION"
          kustomize:
            patches:
EOF
    root_patches "$mark" | indent 14
  } >"$WORK/root/kustomization.yaml"
}

# "name destination-namespace" of each child Application, from Kustomize's normalised output
# (two-space indentation, one document per object).
child_apps() {
  kubectl kustomize "$ROOT/deploy/argocd/apps" | awk '
    function flush() { if (kind == "Application") print name, (ns == "" ? "-" : ns); kind = name = ns = "" }
    /^---/ { flush(); next }
    /^kind: / { kind = $2 }
    /^[a-z]/ { top = $1 }
    /^  [a-z]/ { second = $1 }
    top == "metadata:" && /^  name: / { name = $2 }
    top == "spec:" && second == "destination:" && /^    namespace: / { ns = $2 }
    END { flush() }'
}

# Which children are left out: those whose destination is socialdevs-prod (in git at this commit).
PROD_APPS=() KEPT_APPS=()
classify_apps() {
  local name namespace
  while read -r name namespace; do
    if [[ "$namespace" == socialdevs-prod ]]; then PROD_APPS+=("$name"); else KEPT_APPS+=("$name"); fi
  done < <(child_apps)
  [[ ${#KEPT_APPS[@]} -gt 0 ]] || fail "no Application to deploy in deploy/argocd/apps"
  echo "deployed: ${KEPT_APPS[*]}"
  echo "left out (prod): ${PROD_APPS[*]:-none}"
}

apply_root() {
  render_root "$1"
  kubectl apply -k "$WORK/root"
}

# --------------------------------------------------------------------------- assertions
# Applications not Synced + Healthy, one "name sync health" line each; none when all are.
apps_not_ready() {
  kubectl -n argocd get applications.argoproj.io \
    -o jsonpath='{range .items[*]}{.metadata.name} {.status.sync.status} {.status.health.status}{"\n"}{end}' |
    awk 'NF && !($2 == "Synced" && $3 == "Healthy")'
}

explain_apps() {
  echo "--- Applications"
  kubectl -n argocd get applications.argoproj.io -o wide || true
  local name
  while read -r name _; do
    echo "--- $name: conditions, last operation, resources not Synced + Healthy"
    kubectl -n argocd get application "$name" -o jsonpath='{range .status.conditions[*]}  {.type}: {.message}{"\n"}{end}  operation: {.status.operationState.phase} {.status.operationState.message}{"\n"}' || true
    kubectl -n argocd get application "$name" \
      -o jsonpath='{range .status.resources[*]}{.kind}/{.name} {.status} {.health.status} {.health.message}{"\n"}{end}' |
      awk '!($2 == "Synced" && ($3 == "Healthy" || $3 == ""))' | sed 's/^/  /' || true
  done < <(apps_not_ready)
  echo "--- pods not running"
  kubectl get pods -A --field-selector=status.phase!=Running,status.phase!=Succeeded -o wide || true
  echo "--- recent warnings"
  kubectl get events -A --field-selector type=Warning --sort-by=.lastTimestamp 2>/dev/null | tail -n 40 || true
}

# Run each CronJob of the namespace once (backups: they must work; their PVC binds then),
# as soon as the CronJobs exist and every StatefulSet (the data stores) is ready.
CRON_JOBS_STARTED=false
run_cronjobs_once() {
  $CRON_JOBS_STARTED && return 0
  [[ -n "$(kubectl -n "$NAMESPACE" get cronjobs -o name 2>/dev/null)" ]] || return 0
  local unready
  unready="$(kubectl -n "$NAMESPACE" get statefulsets \
    -o jsonpath='{range .items[*]}{.metadata.name} {.spec.replicas} {.status.readyReplicas}{"\n"}{end}' |
    awk 'NF && $2 != $3')" || return 0
  [[ -z "$unready" ]] || return 0
  local cronjob
  for cronjob in $(kubectl -n "$NAMESPACE" get cronjobs -o name); do
    echo "running ${cronjob#*/} once"
    kubectl -n "$NAMESPACE" get job "proof-${cronjob#*/}" >/dev/null 2>&1 ||
      kubectl -n "$NAMESPACE" create job --from="cronjob/${cronjob#*/}" "proof-${cronjob#*/}"
  done
  CRON_JOBS_STARTED=true
}

# wait_apps SECONDS: every Application Synced + Healthy, or fail and say why.
wait_apps() {
  local deadline=$((SECONDS + $1)) pending count
  while true; do
    run_cronjobs_once
    # A failed read (the API server busy) counts as not ready yet.
    count="$(kubectl -n argocd get applications.argoproj.io -o name | wc -l)" || count=0
    pending="$(apps_not_ready)" || count=0
    if [[ "$count" -gt 1 && -z "$pending" ]]; then
      kubectl -n argocd get applications.argoproj.io
      return 0
    fi
    if ((SECONDS >= deadline)); then
      explain_apps
      fail "Applications not Synced + Healthy after $1 s"
    fi
    printf '%s  waiting for: %s\n' "$(date +%T)" "$(echo "$pending" | awk '{printf "%s(%s,%s) ", $1, $2, $3}')"
    sleep 15
  done
}

wait_cronjobs() {
  local job
  for job in $(kubectl -n "$NAMESPACE" get jobs -o name | grep '/proof-' || true); do
    kubectl -n "$NAMESPACE" wait --for=condition=complete "$job" --timeout=600s || {
      kubectl -n "$NAMESPACE" describe "$job" || true
      kubectl -n "$NAMESPACE" logs "$job" --all-containers --tail=50 || true
      fail "${job#*/} did not complete"
    }
  done
}

# --------------------------------------------------------------------------- smoke flow
HOST="" SMOKE_USER=""
# api METHOD PATH [BODY [TOKEN]]: HTTPS through Traefik (the k3d load balancer on this host).
api() {
  local args=(-sS -k --max-time 20 --resolve "$HOST:443:127.0.0.1" -X "$1" -H 'content-type: application/json')
  [[ -n "${3:-}" ]] && args+=(-d "$3")
  [[ -n "${4:-}" ]] && args+=(-H "authorization: Bearer $4")
  curl "${args[@]}" -w '\n%{http_code}' "https://$HOST$2"
}

# expect_status STATUS RESPONSE: the response's last line is its status code.
expect_status() {
  local status="${2##*$'\n'}"
  [[ "$status" == "$1" ]] || fail "expected $1, got $status: ${2%$'\n'*}"
}

# json_field NAME JSON: the first string value of NAME (a flat look-up; no jq needed).
json_field() {
  { grep -o "\"$1\"[[:space:]]*:[[:space:]]*\"[^\"]*\"" <<<"$2" || true; } | sed -n '1s/.*"\([^"]*\)"$/\1/p'
}

smoke() {
  step "API smoke flow through Traefik"
  HOST="$(kubectl -n "$NAMESPACE" get ingress socialdevs -o jsonpath='{.spec.rules[0].host}')"
  [[ -n "$HOST" ]] || fail "no host on the Ingress socialdevs"
  echo "host $HOST"
  local name password response token post_id redirect
  # Plain HTTP answers with a redirect to HTTPS.
  redirect="$(curl -sS --max-time 20 --resolve "$HOST:80:127.0.0.1" -o /dev/null -w '%{http_code} %{redirect_url}' "http://$HOST/api/v1/posts")"
  [[ "$redirect" =~ ^30[178]\ https:// ]] || fail "plain HTTP is not redirected to HTTPS: $redirect"
  echo "http -> https: $redirect"
  # The certificate came from cert-manager (the self-signed stand-in for Let's Encrypt).
  kubectl -n "$NAMESPACE" wait --for=condition=Ready certificate --all --timeout=300s
  name="proof_$(date +%s)_$RANDOM"
  password="proof-$RANDOM-$RANDOM-correct-horse"
  response="$(api POST /api/v1/auth/register "{\"username\":\"$name\",\"email\":\"$name@example.com\",\"password\":\"$password\"}")"
  expect_status 201 "$response"
  echo "registered $name"
  SMOKE_USER="$name"
  response="$(api POST /api/v1/auth/login "{\"login\":\"$name\",\"password\":\"$password\"}")"
  expect_status 200 "$response"
  token="$(json_field access_token "$response")"
  [[ -n "$token" ]] || fail "no access_token in the login answer"
  echo "logged in"
  response="$(api POST /api/v1/posts "{\"text\":\"proof of delivery $name\"}" "$token")"
  expect_status 201 "$response"
  post_id="$(json_field id "$response")"
  echo "posted $post_id"
  # The home timeline is fed asynchronously (events): give it a minute.
  local deadline=$((SECONDS + 60))
  until response="$(api GET '/api/v1/timeline/home?limit=20' '' "$token")" &&
    [[ "${response##*$'\n'}" == 200 && "$response" == *"proof of delivery $name"* ]]; do
    ((SECONDS < deadline)) || fail "the post is not on the home timeline: ${response%$'\n'*}"
    sleep 3
  done
  echo "the post is on the home timeline"
}

# --------------------------------------------------------------------------- canary
rollout_field() { kubectl -n "$NAMESPACE" get rollout users -o jsonpath="{$1}" || true; }

canary() {
  step "canary rollout of users"
  local before deadline phase current stable traffic_pid
  kubectl -n "$NAMESPACE" get rollout users >/dev/null || fail "no Rollout users in $NAMESPACE"
  before="$(rollout_field .status.currentPodHash)"
  [[ -n "$before" ]] || fail "the Rollout users has no current pod template hash"
  echo "stable pod template hash $before"
  apply_root "canary-$(date +%s)"
  # Requests during the canary, so its analysis measures something.
  (
    while true; do
      api GET "/api/v1/users/$SMOKE_USER" >/dev/null 2>&1 || true
      sleep 0.5
    done
  ) &
  traffic_pid=$!
  deadline=$((SECONDS + ROLLOUT_TIMEOUT))
  while true; do
    phase="$(rollout_field .status.phase)"
    current="$(rollout_field .status.currentPodHash)"
    stable="$(rollout_field .status.stableRS)"
    printf '%s  phase %s, step %s, weight %s, canary %s, stable %s\n' "$(date +%T)" "$phase" \
      "$(rollout_field .status.currentStepIndex)" "$(rollout_field .status.canary.weights.canary.weight)" "$current" "$stable"
    if [[ -n "$current" && "$current" != "$before" && "$stable" == "$current" && "$phase" == Healthy ]]; then
      break
    fi
    if [[ "$phase" == Degraded || "$(rollout_field .status.abort)" == true ]] || ((SECONDS >= deadline)); then
      kill "$traffic_pid" 2>/dev/null || true
      kubectl -n "$NAMESPACE" get rollout users -o yaml | sed -n '/^status:/,$p' || true
      kubectl -n "$NAMESPACE" get analysisruns -o wide || true
      kubectl -n "$NAMESPACE" describe analysisruns | tail -n 80 || true
      fail "the users canary did not complete (phase ${phase:-unknown})"
    fi
    sleep 15
  done
  kill "$traffic_pid" 2>/dev/null || true
  wait "$traffic_pid" 2>/dev/null || true
  echo "canary $current promoted"
}

# --------------------------------------------------------------------------- main
# --render DIR: no cluster; what Argo CD would deploy, rendered into DIR and checked
# (deploy/k3d/proof_render.py; deploy/validate.sh runs this).
render_only() {
  classify_apps
  render_root initial
  "${PYTHON:-python3}" "$ROOT/deploy/k3d/proof_render.py" "$WORK/root" "$ROOT" "$render_out" \
    --repo-url "$REPO_URL" --revision "$REVISION" --secrets "${PROOF_SECRETS[*]}"
}

main() {
  echo "repository $REPO_URL"
  echo "commit     $REVISION"
  mkdir -p "$WORK"
  create_cluster
  if ! $keep; then
    trap 'status=$?; k3d cluster delete "$CLUSTER" || true; exit $status' EXIT
  fi
  images
  install_controllers
  secrets

  step "root Application at $REVISION"
  classify_apps
  apply_root initial
  wait_apps "$APPS_TIMEOUT"
  wait_cronjobs

  smoke
  canary
  step "after the canary"
  wait_apps 600

  step "proof passed"
  echo "every Application Synced + Healthy, API smoke flow through Traefik, users canary promoted"
}

if [[ -n "$render_out" ]]; then
  render_only
else
  main
fi
