#!/usr/bin/env python3
"""Prints every metric name the SocialDevs dashboards and rules expect the services to expose.

One name per line, sorted, as the name appears in PromQL — histogram series keep their
`_bucket` / `_sum` / `_count` suffix, exactly as they appear in the /metrics text. A test on the
service side checks that each printed name is exposed, so no panel or alert shows "no data"
because of a typo.

Left out, on purpose:
  - names recorded by the rules themselves (`record:`), which Prometheus computes;
  - Prometheus' own series (`up`, `ALERTS`, `ALERTS_FOR_STATE`);
  - exporter metrics, by prefix: cAdvisor `container_`/`machine_`, postgres-exporter `pg_`,
    node exporter `node_`, Alloy `alloy_`, kube-state-metrics `kube_`, the kubelet `kubelet_`,
    cert-manager `certmanager_`, CloudNativePG `cnpg_` and its Barman Cloud plugin
    `barman_cloud_`;
  - event-pipeline metrics declared in crates/events/src/metrics.rs (`ALL`; for those it
    describes as histograms, their `_bucket`/`_sum`/`_count` series): they only appear on
    /metrics once events flow, so the running-app test cannot see them, and their contract is
    that file. `--with-events` prints them too. A name with an event-pipeline prefix
    (`socialdevs_events_`, `socialdevs_live_`) that the file does not declare is an error;
  - names only exposed after traffic the running-app test does not make (an error path), or by
    a service or setting that test does not start, listed in CONDITIONAL with the source file
    (or crate folder) that declares each: the tool checks the declaration is there (so a typo
    still fails) and prints them only with `--with-conditional`.

Expressions come from Prometheus-datasource targets and variables in grafana/dashboards/*.json
and from `expr:` in prometheus/rules/*.yml (LogQL is not read). Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD_DIR = ROOT / "grafana" / "dashboards"
RULES_DIR = ROOT / "prometheus" / "rules"
EVENT_METRICS = ROOT.parent.parent / "crates" / "events" / "src" / "metrics.rs"
EVENT_PREFIXES = ("socialdevs_events_", "socialdevs_live_")
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")

# name -> (file, or folder of .rs files, declaring it as a string literal, relative to the
# repository; when it appears). Remove an entry once the running-app test sees the series (the
# service registers it at start, e.g. `increment(0)` for each label value, and the test starts
# that service), so it is checked like any other name.
CONDITIONAL = {
    "socialdevs_timeline_store_errors_total": (
        "crates/timeline/src/service.rs",
        "counted from a process's first timeline store error; not registered at start",
    ),
}

EXCLUDED_NAMES = {"up", "ALERTS", "ALERTS_FOR_STATE"}
EXCLUDED_PREFIXES = ("container_", "machine_", "pg_", "node_", "alloy_", "kube_", "kubelet_",
                     "certmanager_", "cnpg_", "barman_cloud_")

PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan", "atan2", "start", "end",
}
# Clauses whose parentheses hold label names, not expressions.
LABEL_LIST = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
IDENT = re.compile(r"(?<![\w:$.])([a-zA-Z_:][a-zA-Z0-9_:]*)")


def metric_names(expr: str) -> set[str]:
    """Metric names in one PromQL expression."""
    text = STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)          # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)          # range and subquery windows
    text = LABEL_LIST.sub(" ", text)
    text = re.sub(r"\$\{?\w+\}?", "", text)         # Grafana variables
    names = set()
    for match in IDENT.finditer(text):
        name = match.group(1)
        rest = text[match.end():].lstrip()
        if rest.startswith("("):                       # a function call
            continue
        if name.lower() in PROMQL_KEYWORDS:
            continue
        names.add(name)
    return names


def event_metric_names(path: Path = EVENT_METRICS) -> set[str]:
    """Names in `ALL` of the events crate's metrics.rs, plus the series of its histograms."""
    text = path.read_text(encoding="utf-8")
    consts = dict(re.findall(r'pub\s+const\s+(\w+)\s*:\s*&(?:\'static\s+)?str\s*=\s*"([^"]+)"\s*;',
                             text))
    m = re.search(r"pub\s+const\s+ALL\s*:[^=]*=\s*&\[(.*?)\]\s*;", text, re.S)
    if not m:
        raise ValueError(f"no `pub const ALL` list in {path}")
    idents = re.findall(r"\w+", re.sub(r"//[^\n]*", "", m.group(1)))
    unknown = [i for i in idents if i not in consts]
    if unknown or not idents:
        raise ValueError(f"`ALL` in {path} names no metric or unknown constants: {unknown}")
    histograms = set(re.findall(r"describe_histogram!\s*\(\s*(\w+)", text))
    names = set()
    for ident in idents:
        if ident in histograms:
            names |= {consts[ident] + suffix for suffix in HISTOGRAM_SERIES}
        else:
            names.add(consts[ident])
    return names


def check_conditional(repo: Path = ROOT.parent.parent) -> list[str]:
    """Problems with CONDITIONAL: a name its file (or any .rs file of its folder) does not
    declare."""
    problems = []
    for name, (path, _why) in sorted(CONDITIONAL.items()):
        source = repo / path
        files = sorted(source.rglob("*.rs")) if source.is_dir() else [source]
        try:
            text = "\n".join(f.read_text(encoding="utf-8") for f in files)
        except OSError as err:
            problems.append(f"{name}: cannot read {path}: {err}")
            continue
        if f'"{name}"' not in text:
            problems.append(f"{name}: not declared in {path}")
    return problems


def rule_expressions() -> tuple[list[str], set[str]]:
    """(expressions, recorded names) from the rule files, read line by line (no YAML module)."""
    exprs: list[str] = []
    recorded: set[str] = set()
    for path in sorted(RULES_DIR.glob("*.yml")):
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            line = lines[i]
            m = re.match(r"^\s*-?\s*record:\s*(\S+)", line)
            if m:
                recorded.add(m.group(1))
            m = re.match(r"^(\s*)expr:\s*(.*)$", line)
            if m:
                indent, value = len(m.group(1)), m.group(2).strip()
                if value in ("|", ">", "|-", ">-"):
                    block = []
                    i += 1
                    while i < len(lines) and (not lines[i].strip()
                                              or len(lines[i]) - len(lines[i].lstrip()) > indent):
                        block.append(lines[i])
                        i += 1
                    exprs.append("\n".join(block))
                    continue
                exprs.append(value)
            i += 1
    return exprs, recorded


def dashboard_expressions() -> list[str]:
    exprs: list[str] = []

    def is_prometheus(ref) -> bool:
        return isinstance(ref, dict) and ref.get("type") == "prometheus"

    def panels(items):
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for path in sorted(DASHBOARD_DIR.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        for panel in panels(board.get("panels", [])):
            for t in panel.get("targets", []):
                if is_prometheus(t.get("datasource", panel.get("datasource"))) and t.get("expr"):
                    exprs.append(t["expr"])
        for var in board.get("templating", {}).get("list", []):
            if not is_prometheus(var.get("datasource")):
                continue
            query = var.get("query")
            query = query.get("query", "") if isinstance(query, dict) else str(query or "")
            m = re.match(r"^\s*(?:label_values|query_result)\((.*)\)\s*$", query, re.S)
            if m:
                inner = m.group(1)
                if query.lstrip().startswith("label_values"):
                    inner = inner.rsplit(",", 1)[0] if "," in inner else inner
                exprs.append(inner)
    return exprs


def main() -> int:
    parser = argparse.ArgumentParser(description="List the metric names dashboards and rules use.")
    parser.add_argument("--summary", action="store_true",
                        help="print a count to stderr as well")
    parser.add_argument("--with-events", action="store_true",
                        help="also print the event-pipeline names declared in "
                             "crates/events/src/metrics.rs")
    parser.add_argument("--with-conditional", action="store_true",
                        help="also print the names only exposed after specific traffic "
                             "(CONDITIONAL)")
    args = parser.parse_args()
    try:
        declared = event_metric_names()
    except (OSError, ValueError) as err:
        print(f"cannot read the event-pipeline metric names: {err}", file=sys.stderr)
        return 1
    rule_exprs, recorded = rule_expressions()
    names: set[str] = set()
    for expr in rule_exprs + dashboard_expressions():
        names |= metric_names(expr)
    names -= recorded
    names -= EXCLUDED_NAMES
    names = {n for n in names if not n.startswith(EXCLUDED_PREFIXES)}
    undeclared = sorted(n for n in names if n.startswith(EVENT_PREFIXES) and n not in declared)
    if undeclared:
        print("event-pipeline names used by dashboards/rules but not declared in "
              f"crates/events/src/metrics.rs ALL: {', '.join(undeclared)}", file=sys.stderr)
        return 1
    problems = check_conditional()
    if problems:
        print("conditional metric names not declared where CONDITIONAL says: "
              + "; ".join(problems), file=sys.stderr)
        return 1
    events = names & declared
    if not args.with_events:
        names -= events
    conditional = names & set(CONDITIONAL)
    if not args.with_conditional:
        names -= conditional
    for name in sorted(names):
        print(name)
    if args.summary:
        shown = "included" if args.with_events else "left out"
        print(f"{len(names)} metric names (left out: {len(recorded)} recorded names, "
              f"{', '.join(sorted(EXCLUDED_NAMES))}, {'* '.join(EXCLUDED_PREFIXES)}*; "
              f"{len(events)} event-pipeline names declared in crates/events/src/metrics.rs "
              f"{shown}; {len(conditional)} conditional names "
              f"{'included' if args.with_conditional else 'left out'}: "
              f"{', '.join(sorted(conditional)) or 'none'})", file=sys.stderr)
    return 0 if names else 1


if __name__ == "__main__":
    sys.exit(main())
