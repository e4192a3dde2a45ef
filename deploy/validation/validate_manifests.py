#!/usr/bin/env python3
"""Validate rendered Kubernetes manifests strictly, offline.

Built-in kinds go through kubernetes-validate in strict mode (unknown fields rejected) against
the Kubernetes version given with --kubernetes-version. Custom resources (Argo CD, Argo
Rollouts, cert-manager, Traefik, Prometheus Operator) go through the JSON schemas kept in
deploy/validation/schemas/<group>/<kind>_<version>.json, which reject unknown fields too.
An object whose kind has no schema at all is an error: nothing passes unchecked.

With --expect-invalid every object must FAIL (the self-test that proves the schemas are strict).
"""
import argparse
import json
import os
import sys
from collections import Counter

import jsonschema
import yaml
from kubernetes_validate import utils as kv

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")
_schema_cache = {}


def crd_schema(api_version, kind):
    group, _, version = api_version.rpartition("/")
    if not group or "." not in group or group.endswith(".k8s.io"):
        return None, False
    path = os.path.join(SCHEMA_DIR, group, f"{kind.lower()}_{version}.json")
    if path not in _schema_cache:
        if not os.path.exists(path):
            _schema_cache[path] = None
        else:
            with open(path, encoding="utf-8") as f:
                _schema_cache[path] = json.load(f)
    return _schema_cache[path], True


def check(obj, k8s_version):
    """Return (category, error message or None)."""
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if not kind or not api_version:
        return "invalid", "missing apiVersion or kind"
    schema, is_custom = crd_schema(api_version, kind)
    if is_custom:
        if schema is None:
            return "custom", f"no schema for {api_version} {kind} in deploy/validation/schemas"
        try:
            jsonschema.Draft202012Validator(schema).validate(obj)
        except jsonschema.ValidationError as e:
            where = ".".join(str(p) for p in e.absolute_path) or "(root)"
            return "custom", f"{where}: {e.message}"
        return "custom", None
    try:
        kv.validate(obj, k8s_version, strict=True)
    except kv.ValidationError as e:
        where = ".".join(str(p) for p in e.path) or "(root)"
        return "built-in", f"{where}: {e.message}"
    except kv.SchemaNotFoundError as e:
        return "built-in", e.message
    return "built-in", None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", "--kubernetes-version", default="1.32.0")
    ap.add_argument("--expect-invalid", action="store_true")
    ap.add_argument("files", nargs="+")
    args = ap.parse_args()

    counts, errors = Counter(), 0
    for path in args.files:
        with open(path, encoding="utf-8") as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        seen = set()
        for obj in docs:
            meta = obj.get("metadata") or {}
            ident = f"{obj.get('kind')}/{meta.get('namespace', '-')}/{meta.get('name')}"
            category, err = check(obj, args.kubernetes_version)
            if ident in seen:
                err = err or "duplicate object in one render"
            seen.add(ident)
            counts[category] += 1
            if args.expect_invalid:
                if err is None:
                    errors += 1
                    print(f"ERROR {path}: {ident} passed but must be rejected")
            elif err is not None:
                errors += 1
                print(f"ERROR {path}: {ident}: {err}")
    total = sum(counts.values())
    detail = ", ".join(f"{n} {c}" for c, n in sorted(counts.items()))
    mode = "rejected as expected" if args.expect_invalid else "valid"
    print(f"{total - errors}/{total} objects {mode} ({detail}) in {len(args.files)} files, "
          f"Kubernetes {args.kubernetes_version}, strict")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
