#!/usr/bin/env python3
"""Convert CustomResourceDefinitions into the strict JSON schemas of deploy/validation/schemas.

validate_manifests.py checks a custom resource against
schemas/<group>/<kind>_<version>.json. This script writes those files from the CRDs an
upstream project publishes (their spec.versions[].schema.openAPIV3Schema), so a schema can be
regenerated when the upstream version changes instead of being edited by hand:

    base=https://raw.githubusercontent.com/cloudnative-pg/cloudnative-pg/v1.30.0/config/crd/bases
    for k in clusters backups scheduledbackups; do curl -fsSLO "$base/postgresql.cnpg.io_$k.yaml"; done
    python3 deploy/validation/crd_to_schema.py --source "CloudNativePG v1.30.0" postgresql.cnpg.io_*.yaml
    curl -fsSLO https://raw.githubusercontent.com/cloudnative-pg/plugin-barman-cloud/v0.14.0/config/crd/bases/barmancloud.cnpg.io_objectstores.yaml
    python3 deploy/validation/crd_to_schema.py --source "Barman Cloud Plugin v0.14.0" barmancloud.cnpg.io_objectstores.yaml

What the conversion does, and why:
- Every object schema that lists properties and does not say otherwise gets
  additionalProperties: false. The API server silently drops (prunes) unknown fields of a
  structural schema, so a misspelt field would be accepted and ignored; here it is an error.
  Objects marked x-kubernetes-preserve-unknown-fields stay open, as on the cluster.
- x-kubernetes-int-or-string becomes "integer or string"; nullable adds "null" to the type.
- metadata gets the same closed schema as the other files here (name, generateName,
  namespace, labels, annotations, finalizers), apiVersion and kind become constants, and
  status is dropped: a manifest in git never carries a status.
- Descriptions and the other x-kubernetes-* markers (list types, CEL rules the API server
  evaluates) are dropped: they change nothing a JSON Schema validator can check.

Only served versions are written; --only KIND keeps the kinds named (repeatable).
"""
import argparse
import json
import os
import sys

import yaml

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")

METADATA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "generateName": {"type": "string"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
        "finalizers": {"type": "array", "items": {"type": "string"}},
    },
}

DROP = {"description", "example", "externalDocs"}


def convert(node):
    """Return a JSON Schema (draft 2020-12) for one OpenAPI v3 schema node of a CRD."""
    if isinstance(node, list):
        return [convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    for key, value in node.items():
        if key in DROP or key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key == "properties":
            out[key] = {name: convert(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            out[key] = convert(value) if isinstance(value, (dict, list)) else value
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [convert(sub) for sub in value]
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string") is True:
        out.pop("type", None)
        # CRDs usually spell the two types out in their own anyOf already.
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if node.get("nullable") is True and "type" in out:
        out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else out["type"] + ["null"]
    is_object = out.get("type") in ("object", ["object", "null"])
    if is_object and "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def convert_crd(crd, source):
    spec = crd["spec"]
    group, kind = spec["group"], spec["names"]["kind"]
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        raw = (version.get("schema") or {}).get("openAPIV3Schema")
        if raw is None:
            continue
        body = convert(raw)
        props = body.setdefault("properties", {})
        props.pop("status", None)
        props["apiVersion"] = {"const": f"{group}/{version['name']}"}
        props["kind"] = {"const": kind}
        props["metadata"] = METADATA
        required = [r for r in body.get("required", []) if r != "status"]
        for r in ("apiVersion", "kind", "metadata"):
            if r not in required:
                required.append(r)
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"{kind} ({group}/{version['name']}), converted from the CRD of {source} "
                     "by deploy/validation/crd_to_schema.py; unknown fields are rejected",
            "type": "object",
            "additionalProperties": False,
            "properties": props,
            "required": required,
        }
        yield group, kind, version["name"], schema


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", required=True, help='where the CRDs come from, e.g. "CloudNativePG v1.30.0"')
    ap.add_argument("--out", default=SCHEMA_DIR, help="schema folder (default: deploy/validation/schemas)")
    ap.add_argument("--only", action="append", default=[], metavar="KIND", help="convert only these kinds")
    ap.add_argument("crds", nargs="+", help="CRD YAML files (several documents per file allowed)")
    args = ap.parse_args()
    written = 0
    for path in args.crds:
        with open(path, encoding="utf-8") as f:
            for doc in yaml.safe_load_all(f):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                for group, kind, version, schema in convert_crd(doc, args.source):
                    if args.only and kind not in args.only:
                        continue
                    target = os.path.join(args.out, group, f"{kind.lower()}_{version}.json")
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with open(target, "w", encoding="utf-8") as out:
                        json.dump(schema, out, indent=2, ensure_ascii=False)
                        out.write("\n")
                    print(f"{target}: {kind} {group}/{version}")
                    written += 1
    if not written:
        print("no CustomResourceDefinition converted", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
