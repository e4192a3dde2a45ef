#!/usr/bin/env python3
"""Sanity checks for the SocialDevs Grafana dashboards. Standard library only.

Checks every dashboard JSON under grafana/dashboards/: it parses; it has a uid (unique across
files), a title and a schemaVersion; panel ids are unique; every panel other than a row has a
title, a datasource whose uid is provisioned in grafana/provisioning/datasources/, and targets
that each carry an expression; rows hold their collapsed panels; panels fit the 24-column grid;
template variables use provisioned datasources.

With --emit-rules FILE it also writes every Prometheus expression (Grafana variables replaced by
sample values) into a rule file, so `promtool check rules FILE` can parse them all.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD_DIR = ROOT / "grafana" / "dashboards"
DATASOURCE_DIR = ROOT / "grafana" / "provisioning" / "datasources"

# Grafana's own pseudo-datasources, usable by annotations.
BUILTIN_UIDS = {"-- Grafana --"}
PANEL_TYPES = {"row", "timeseries", "stat", "table", "logs", "heatmap", "gauge", "bargauge",
               "text", "barchart", "piechart", "state-timeline", "traces", "nodeGraph"}
MIN_SCHEMA_VERSION = 36

# Sample values for Grafana's variables, so the expressions parse as PromQL.
PROMQL_SUBSTITUTIONS = [
    ("$__rate_interval", "1m"), ("$__interval", "1m"), ("$__range", "1h"),
    ("$service", "users"), ("$route", ".*"), ("$instance", "x"),
]


def provisioned_datasources() -> dict[str, str]:
    """uid -> type, read from the provisioning YAML with a small line parser."""
    found: dict[str, str] = {}
    for path in sorted(DATASOURCE_DIR.glob("*.y*ml")):
        uid = kind = None
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.match(r"^\s*-\s+name:", line):
                if uid:
                    found[uid] = kind or ""
                uid = kind = None
            m = re.match(r"^\s{4}uid:\s*(\S+)\s*$", line)
            if m:
                uid = m.group(1).strip("'\"")
            m = re.match(r"^\s{4}type:\s*(\S+)\s*$", line)
            if m:
                kind = m.group(1).strip("'\"")
        if uid:
            found[uid] = kind or ""
    return found


def walk_panels(panels: list):
    for panel in panels:
        yield panel
        if panel.get("type") == "row":
            yield from walk_panels(panel.get("panels", []))


class Checker:
    def __init__(self, datasources: dict[str, str]) -> None:
        self.datasources = datasources
        self.errors: list[str] = []
        self.panels = 0
        self.targets = 0
        self.promql: list[tuple[str, str]] = []

    def error(self, where: str, message: str) -> None:
        self.errors.append(f"{where}: {message}")

    def check_datasource(self, where: str, ref) -> str | None:
        if not isinstance(ref, dict) or "uid" not in ref:
            self.error(where, f"datasource must be an object with a uid, got {ref!r}")
            return None
        uid = ref["uid"]
        if uid in BUILTIN_UIDS:
            return uid
        if uid not in self.datasources:
            self.error(where, f"datasource uid {uid!r} is not provisioned "
                              f"(known: {', '.join(sorted(self.datasources))})")
            return None
        if ref.get("type") and ref["type"] != self.datasources[uid]:
            self.error(where, f"datasource {uid!r} has type {self.datasources[uid]!r}, "
                              f"panel says {ref['type']!r}")
        return uid

    def check_dashboard(self, path: Path, seen_uids: dict[str, str]) -> None:
        name = path.name
        try:
            board = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            self.error(name, f"invalid JSON: {err}")
            return
        for key in ("uid", "title", "schemaVersion", "panels"):
            if key not in board:
                self.error(name, f"missing {key!r}")
        uid = board.get("uid", "")
        if uid in seen_uids:
            self.error(name, f"uid {uid!r} already used by {seen_uids[uid]}")
        seen_uids[uid] = name
        if not isinstance(board.get("schemaVersion"), int) or board["schemaVersion"] < MIN_SCHEMA_VERSION:
            self.error(name, f"schemaVersion should be >= {MIN_SCHEMA_VERSION}")
        for var in board.get("templating", {}).get("list", []):
            if "datasource" in var:
                self.check_datasource(f"{name} variable {var.get('name')}", var["datasource"])
        ids: set[int] = set()
        for panel in walk_panels(board.get("panels", [])):
            self.check_panel(name, panel, ids)

    def check_panel(self, board: str, panel: dict, ids: set[int]) -> None:
        pid = panel.get("id")
        where = f"{board} panel {pid} {panel.get('title', '')!r}"
        if not isinstance(pid, int):
            self.error(where, "panel id must be an integer")
        elif pid in ids:
            self.error(where, "duplicate panel id")
        ids.add(pid)
        if not panel.get("title"):
            self.error(where, "panel has no title")
        kind = panel.get("type")
        if kind not in PANEL_TYPES:
            self.error(where, f"unknown panel type {kind!r}")
        grid = panel.get("gridPos", {})
        if not all(isinstance(grid.get(k), int) for k in ("x", "y", "w", "h")):
            self.error(where, "gridPos needs integer x, y, w, h")
        elif grid["x"] + grid["w"] > 24:
            self.error(where, "panel is wider than the 24-column grid")
        if kind == "row":
            if panel.get("panels") and not panel.get("collapsed"):
                self.error(where, "an open row must not hold panels")
            return
        if kind == "text":
            return
        self.panels += 1
        uid = self.check_datasource(where, panel.get("datasource"))
        targets = panel.get("targets")
        if not targets:
            self.error(where, "panel has no targets")
            return
        refs = set()
        for t in targets:
            self.targets += 1
            ref = t.get("refId")
            if not ref or ref in refs:
                self.error(where, f"target refId {ref!r} missing or repeated")
            refs.add(ref)
            expr = t.get("expr", "")
            if not isinstance(expr, str) or not expr.strip():
                self.error(where, f"target {ref} has no expression")
                continue
            target_uid = uid
            if "datasource" in t:
                target_uid = self.check_datasource(f"{where} target {ref}", t["datasource"])
            if target_uid and self.datasources.get(target_uid) == "prometheus":
                self.promql.append((f"{board} / {panel.get('title')} / {ref}", expr))


def promql_sample(expr: str) -> str:
    for var, value in PROMQL_SUBSTITUTIONS:
        expr = expr.replace(var, value)
    return expr


def emit_rules(exprs: list[tuple[str, str]], path: Path) -> None:
    lines = ["groups:", "  - name: dashboard-expressions", "    rules:"]
    for i, (where, expr) in enumerate(exprs):
        lines.append(f"      # {where}")
        lines.append(f"      - record: dashboard_expression_{i}")
        lines.append(f"        expr: {json.dumps(promql_sample(expr))}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description="Sanity-check the SocialDevs dashboards.")
    parser.add_argument("--emit-rules", type=Path,
                        help="write the Prometheus expressions to this rule file for promtool")
    args = parser.parse_args()
    datasources = provisioned_datasources()
    if not datasources:
        print(f"no datasources found under {DATASOURCE_DIR}", file=sys.stderr)
        return 1
    checker = Checker(datasources)
    files = sorted(DASHBOARD_DIR.glob("*.json"))
    if not files:
        print(f"no dashboards under {DASHBOARD_DIR}", file=sys.stderr)
        return 1
    seen: dict[str, str] = {}
    for path in files:
        checker.check_dashboard(path, seen)
    if args.emit_rules:
        emit_rules(checker.promql, args.emit_rules)
    for err in checker.errors:
        print(f"  {err}", file=sys.stderr)
    print(f"dashboards: {len(files)}, panels: {checker.panels}, targets: {checker.targets} "
          f"({len(checker.promql)} PromQL), datasources: {', '.join(sorted(datasources))}, "
          f"errors: {len(checker.errors)}")
    return 1 if checker.errors else 0


if __name__ == "__main__":
    sys.exit(main())
