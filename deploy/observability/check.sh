#!/usr/bin/env bash
# Checks the SocialDevs observability configuration, offline:
#   - promtool check config (compose, local and Kubernetes Prometheus configurations)
#   - promtool check rules and promtool test rules
#   - amtool check-config on the Alertmanager configuration, amtool config routes test (each
#     severity reaches its receiver), and the broken fixtures in alertmanager/testdata must fail
#   - dashboards: regenerated JSON matches the committed files, parses, passes the schema
#     sanity check, and every PromQL expression in them parses
#   - metric names used by dashboards and rules (tools/metric_names.py)
#   - the copies inside deploy/k8s/components/observability/files equal the canonical files
#   - kubectl kustomize renders a test overlay that includes the component
#   - checkov on that render, when checkov is installed
#
# Usage: deploy/observability/check.sh [--sync]
#   --sync  first copy the canonical files into the Kubernetes component, then check.
# Installs promtool (Debian's prometheus package) and amtool (prometheus-alertmanager) when
# they are missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
component="$repo/deploy/k8s/components/observability"
copies="$component/files"
python="${PYTHON:-python3}"

# Canonical files (relative to deploy/observability) that the Kubernetes component loads.
k8s_copies=(
  prometheus/prometheus-k8s.yml
  prometheus/rules/socialdevs-alerts.rules.yml
  prometheus/rules/socialdevs-recording.rules.yml
  grafana/provisioning/datasources/datasources.yml
  grafana/provisioning/dashboards/dashboards.yml
  grafana/dashboards/socialdevs-overview.json
  grafana/dashboards/socialdevs-service.json
  grafana/dashboards/socialdevs-logs.json
  loki/loki.yaml
  tempo/tempo.yaml
  alloy/config-k8s.alloy
  alertmanager/alertmanager.yml
)

sync=false
for arg in "$@"; do
  case "$arg" in
    --sync) sync=true ;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

started=$(date +%s%N)
passed=0
failed=0
failures=()

ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# step NAME COMMAND...: runs one check, prints its outcome and time, keeps going on failure.
step() {
  local name="$1"; shift
  local t0; t0=$(date +%s%N)
  if "$@" >"$work/out" 2>&1; then
    passed=$((passed + 1))
    printf 'ok    %-58s %6d ms\n' "$name" "$(ms_since "$t0")"
    grep -E '^(  )?(SUCCESS|dashboards:|[0-9]+ metric names|[0-9]+ copies identical|rendered [0-9]+|Passed checks|broken fixtures)' "$work/out" \
      | sed 's/^ */      /' | sort -u || true
  else
    failed=$((failed + 1))
    failures+=("$name")
    printf 'FAIL  %-58s %6d ms\n' "$name" "$(ms_since "$t0")"
    sed 's/^/      /' "$work/out"
  fi
}

# ---------------------------------------------------------------- tools

apt_install() {
  if ! DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q "$@"; then
    apt-get -o DPkg::Lock::Timeout=300 update -q
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q "$@"
  fi
}

# Installs Debian's package PKG when COMMAND is missing. The package also ships a server the
# package manager may start; only the command-line tool is wanted, so the listed services and
# processes are stopped (nothing is left listening on 9090 or 9093).
ensure_tool() {
  local cmd="$1" pkg="$2" units="$3" procs="$4"
  command -v "$cmd" >/dev/null 2>&1 && return 0
  echo "$cmd not found: installing Debian's $pkg package"
  if [ "$(id -u)" -ne 0 ]; then
    echo "run as root (or install the $pkg package) to get $cmd" >&2
    return 1
  fi
  apt_install "$pkg"
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    # shellcheck disable=SC2086 # a list of unit names
    systemctl disable --now $units >/dev/null 2>&1 || true
  fi
  local pid proc
  for proc in $procs; do
    for pid in $(pgrep -f "^(/usr/bin/)?$proc( |$)" || true); do
      echo "stopping the server the package started (pid $pid)"
      kill "$pid" || true
    done
  done
  command -v "$cmd" >/dev/null 2>&1
}

t_tools=$(date +%s%N)
ensure_tool promtool prometheus "prometheus prometheus-node-exporter" "prometheus prometheus-node-exporter"
ensure_tool amtool prometheus-alertmanager prometheus-alertmanager prometheus-alertmanager
command -v kubectl >/dev/null 2>&1 || { echo "kubectl is required (see TOOLCHAIN.md)" >&2; exit 1; }
echo "tools: $(promtool --version 2>&1 | head -1); $(amtool --version 2>&1 | head -1); kubectl $(kubectl version --client 2>/dev/null | head -1 | awk '{print $3}') ($(ms_since "$t_tools") ms)"

# ---------------------------------------------------------------- sync

if $sync; then
  for f in "${k8s_copies[@]}"; do
    mkdir -p "$copies/$(dirname "$f")"
    cp "$here/$f" "$copies/$f"
  done
  echo "synced ${#k8s_copies[@]} files into ${component#"$repo"/}/files"
fi

# ---------------------------------------------------------------- Prometheus

cd "$here/prometheus"
step "promtool check config prometheus.yml" promtool check config prometheus.yml
step "promtool check config prometheus-local.yml" promtool check config prometheus-local.yml

# Debian's promtool is built without Kubernetes service discovery: check the Kubernetes
# configuration with each kubernetes_sd_configs block swapped for an empty static_configs.
# promtool also wants the files a job reads to exist: the pod's service account token and CA
# (the kubelet job) are pointed at empty stand-ins.
k8s_config_as_static() {
  mkdir -p "$work/k8s/serviceaccount"
  cp -r rules "$work/k8s/"
  : >"$work/k8s/serviceaccount/token"
  : >"$work/k8s/serviceaccount/ca.crt"
  "$python" - prometheus-k8s.yml "$work/k8s/prometheus-k8s.yml" "$work/k8s/serviceaccount/" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
lines = text.replace("/var/run/secrets/kubernetes.io/serviceaccount/", sys.argv[3]).splitlines()
out, i = [], 0
while i < len(lines):
    # "kubernetes_sd_configs:" as a key, or as the first key of a list item (alertmanagers).
    m = re.match(r"^(\s*)(- )?kubernetes_sd_configs:\s*$", lines[i])
    if not m:
        out.append(lines[i]); i += 1; continue
    indent = len(m.group(1)) + (2 if m.group(2) else 0)
    out += [m.group(1) + (m.group(2) or "") + "static_configs:", " " * indent + "  - targets: []"]
    i += 1
    while i < len(lines) and (not lines[i].strip()
                              or len(lines[i]) - len(lines[i].lstrip()) > indent):
        i += 1
open(sys.argv[2], "w", encoding="utf-8").write("\n".join(out) + "\n")
PY
  grep -q kubernetes_sd_configs "$work/k8s/prometheus-k8s.yml" && return 1
  promtool check config "$work/k8s/prometheus-k8s.yml"
}
step "promtool check config prometheus-k8s.yml (static SD)" k8s_config_as_static

rule_files=(rules/*.yml)
step "promtool check rules (${#rule_files[@]} files)" promtool check rules "${rule_files[@]}"
test_files=(tests/*.test.yml)
step "promtool test rules (${#test_files[@]} files)" promtool test rules "${test_files[@]}"

# ---------------------------------------------------------------- Alertmanager

cd "$here/alertmanager"
step "amtool check-config alertmanager.yml" amtool check-config alertmanager.yml

# routes_test FILE: every severity reaches its receiver (critical pages; warning and info go
# to the team channel; an alert without severity too).
routes_test() {
  local file="$1" want labels
  while read -r want labels; do
    # shellcheck disable=SC2086 # one label matcher per word
    amtool config routes test --config.file="$file" --verify.receivers="$want" $labels \
      || { echo "$file: {$labels} does not reach receiver $want"; return 1; }
  done <<'ROUTES'
page severity=critical
page severity=critical alertname=SocialDevsPostgresDown service=posts
team severity=warning
team severity=info
team alertname=Unlabelled
ROUTES
}
step "amtool config routes test (severity -> receiver)" routes_test alertmanager.yml

# The checks above must reject a broken configuration and a misrouted one.
rejects_broken() {
  if amtool check-config testdata/undefined-receiver.yml; then
    echo "amtool accepted testdata/undefined-receiver.yml"; return 1
  fi
  if routes_test testdata/critical-not-paged.yml; then
    echo "the routing test accepted testdata/critical-not-paged.yml"; return 1
  fi
  echo "broken fixtures rejected"
}
step "alertmanager fixtures are rejected" rejects_broken

# ---------------------------------------------------------------- Grafana

cd "$here"
step "dashboards match tools/build_dashboards.py" "$python" tools/build_dashboards.py --check

parse_json() {
  local f
  for f in grafana/dashboards/*.json; do
    "$python" -m json.tool "$f" >/dev/null || { echo "invalid JSON: $f"; return 1; }
  done
}
step "dashboards parse as JSON" parse_json
step "dashboard schema sanity check" "$python" tools/check_dashboards.py --emit-rules "$work/dashboard-exprs.yml"
step "dashboard PromQL parses (promtool)" promtool check rules "$work/dashboard-exprs.yml"

metric_names() {
  "$python" tools/metric_names.py --summary >"$work/metric-names" 2>"$work/metric-summary"
  cat "$work/metric-summary"
  # Every name must follow the contract's prefixes, so a typo cannot hide here either.
  if grep -v -E '^(socialdevs_|process_)' "$work/metric-names"; then
    echo "unexpected metric names above"; return 1
  fi
}
step "metric names used by dashboards and rules" metric_names

# ---------------------------------------------------------------- Kubernetes

compare_copies() {
  local f bad=0 extra
  for f in "${k8s_copies[@]}"; do
    if ! cmp -s "$here/$f" "$copies/$f"; then
      echo "differs from deploy/observability/$f: ${copies#"$repo"/}/$f"; bad=1
    fi
  done
  # No stale file may linger in the component.
  extra="$(find "$copies" -type f | sed "s|^$copies/||" | sort \
    | { grep -v -x -F -f <(printf '%s\n' "${k8s_copies[@]}") || true; })"
  if [ -n "$extra" ]; then echo "not a copy of a canonical file: $extra"; bad=1; fi
  if [ "$bad" -eq 0 ]; then
    echo "${#k8s_copies[@]} copies identical"
  else
    echo "run deploy/observability/check.sh --sync"
  fi
  return "$bad"
}
step "k8s component copies equal canonical files (${#k8s_copies[@]})" compare_copies

render() {
  kubectl kustomize "$here/tools/testdata" >"$work/render.yaml"
  local kinds
  kinds="$(grep -c '^kind:' "$work/render.yaml")"
  echo "rendered $kinds objects"
  # Every object of the component is there, with the scrape annotation patch applied: the
  # service is scraped on its internal listener, and Prometheus may reach that port.
  local want
  for want in "kind: DaemonSet" "name: alloy" "name: cadvisor" "name: prometheus" "name: grafana" \
              "name: loki" "name: tempo" "name: alertmanager" "name: kube-state-metrics" \
              "name: alertmanager-config" "prometheus.io/scrape: \"true\"" \
              "prometheus.io/port-name: internal" "port: 9081" \
              "OTEL_EXPORTER_OTLP_ENDPOINT: http://tempo:4318"; do
    grep -q -F "$want" "$work/render.yaml" || { echo "missing in render: $want"; return 1; }
  done
  # The services' public ports are not opened to Prometheus: they serve no /metrics.
  if grep -q -E '^ *- port: 808[1-4]$' "$work/render.yaml"; then
    echo "Prometheus is let in on a public port (808x): /metrics is on the internal ones"
    return 1
  fi
}
step "kubectl kustomize test overlay with the component" render

checkov_scan() {
  checkov -f "$work/render.yaml" --framework kubernetes --skip-download --compact --quiet \
    >"$work/checkov.out" 2>&1 || { cat "$work/checkov.out"; return 1; }
  checkov -f "$work/render.yaml" --framework kubernetes --skip-download --compact 2>&1 \
    | grep -E 'Passed checks' || true
}
if command -v checkov >/dev/null 2>&1 && [ -s "$work/render.yaml" ]; then
  step "checkov on the rendered component" checkov_scan
else
  echo "skip  checkov (not installed; the deploy checks in CI scan the overlays)"
fi

# ---------------------------------------------------------------- summary

echo
echo "observability checks: $passed passed, $failed failed ($(ms_since "$started") ms)"
if [ "$failed" -gt 0 ]; then
  printf '  failed: %s\n' "${failures[@]}"
  exit 1
fi
