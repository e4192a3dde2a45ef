#!/usr/bin/env python3
"""Render, without a cluster, what Argo CD deploys in the proof (deploy/k3d/proof.sh), and
check it: the proof's patches must still fit the manifests in git.

    proof_render.py ROOT_KUSTOMIZATION REPO OUT --repo-url URL --revision SHA --secrets "A B ..."
    proof_render.py --self-test FIXTURE

ROOT_KUSTOMIZATION is the kustomization proof.sh writes (deploy/argocd with the root
Application patched). Argo CD's rendering is reproduced: an Application's kustomize.images
replace the kustomization's image entries of the same name (`kustomize edit set image`), its
kustomize.patches are appended to the kustomization's patches, then `kubectl kustomize`.
The root Application renders the children; each child renders its objects into OUT/<name>.yaml.

Checks: every child points at URL and SHA and none deploys to socialdevs-prod; no workload
pulls a SocialDevs image from the registry (they are the locally built socialdevs-*:proof)
or with imagePullPolicy Always; no ClusterIssuer uses ACME; the users Deployment carries the
annotation the canary step changes; every Secret a pod needs (not optional) is rendered or among
those the proof creates (--secrets). --self-test runs the checks on FIXTURE (a broken set of
rendered objects) and fails unless every problem listed in its `expect` is reported, and none
that mentions a string in its `not_reported`.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

ANNOTATION = "socialdevs.dev/proof-rollout"
PROD = "socialdevs-prod"


def kustomize(path):
    out = subprocess.run(["kubectl", "kustomize", path], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {path}: {out.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def render_source(repo, source):
    """What Argo CD renders for an Application's (single) kustomize source."""
    tmp = tempfile.mkdtemp(prefix="proof-render-")
    try:
        shutil.copytree(os.path.join(repo, "deploy"), os.path.join(tmp, "deploy"), symlinks=True)
        kdir = os.path.join(tmp, source["path"])
        kfile = os.path.join(kdir, "kustomization.yaml")
        with open(kfile) as f:
            kust = yaml.safe_load(f)
        options = source.get("kustomize") or {}
        images = {image["name"]: image for image in kust.get("images") or []}
        for spec in options.get("images") or []:
            name, _, new = spec.partition("=")
            entry = {"name": name}
            if "@" in new:
                entry["newName"], entry["digest"] = new.split("@", 1)
            elif ":" in new.rsplit("/", 1)[-1]:
                entry["newName"], entry["newTag"] = new.rsplit(":", 1)
            else:
                entry["newName"] = new
            images[name] = entry
        if images:
            kust["images"] = sorted(images.values(), key=lambda image: image["name"])
        if options.get("patches"):
            kust["patches"] = (kust.get("patches") or []) + options["patches"]
        with open(kfile, "w") as f:
            yaml.safe_dump(kust, f, sort_keys=False)
        return kustomize(kdir)
    finally:
        shutil.rmtree(tmp)


def pod_spec(obj):
    spec = obj.get("spec") or {}
    if obj["kind"] == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return ((spec.get("template") or {}).get("spec")) or {}


def containers(obj):
    pod = pod_spec(obj)
    return (pod.get("initContainers") or []) + (pod.get("containers") or [])


def needed_secrets(obj):
    """Names of the Secrets a workload's pods cannot start without."""
    pod = pod_spec(obj)
    names = set()
    for c in (pod.get("initContainers") or []) + (pod.get("containers") or []):
        for env in c.get("env") or []:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref and not ref.get("optional"):
                names.add(ref["name"])
        for source in c.get("envFrom") or []:
            ref = source.get("secretRef")
            if ref and not ref.get("optional"):
                names.add(ref["name"])
    for volume in pod.get("volumes") or []:
        secret = volume.get("secret")
        if secret and not secret.get("optional"):
            names.add(secret["secretName"])
        for source in (volume.get("projected") or {}).get("sources") or []:
            ref = source.get("secret")
            if ref and not ref.get("optional"):
                names.add(ref["name"])
    return names


def check(apps, objects, repo_url, revision, secrets=()):
    """Problems, one string each, in the rendered children (apps) and their objects."""
    problems = []
    rendered_secrets = {o["metadata"]["name"] for objs in objects.values() for o in objs if o["kind"] == "Secret"}
    users_seen = False
    for app in apps:
        name = app["metadata"]["name"]
        source = app["spec"].get("source") or {}
        if source.get("repoURL") != repo_url or source.get("targetRevision") != revision:
            problems.append(f"{name}: source {source.get('repoURL')} @ {source.get('targetRevision')}, not the commit under test")
        if (app["spec"].get("destination") or {}).get("namespace") == PROD:
            problems.append(f"{name}: deploys to {PROD}")
        for obj in objects.get(name, []):
            where = f"{name}: {obj['kind']}/{obj['metadata']['name']}"
            for c in containers(obj):
                image = c.get("image", "")
                if image.startswith("ghcr.io/socialdevs/"):
                    problems.append(f"{where}: pulls {image} (not the image built by the proof)")
                if image.startswith("socialdevs-") and c.get("imagePullPolicy", "IfNotPresent") == "Always":
                    problems.append(f"{where}: imagePullPolicy Always for the imported {image}")
            for secret in sorted(needed_secrets(obj) - rendered_secrets - set(secrets)):
                problems.append(f"{where}: needs the Secret {secret}, which the proof does not create")
            if obj["kind"] == "ClusterIssuer" and "acme" in (obj.get("spec") or {}):
                problems.append(f"{where}: ACME issuer (no public DNS in the proof)")
            if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "users":
                users_seen = True
                annotations = ((obj["spec"]["template"].get("metadata") or {}).get("annotations")) or {}
                if ANNOTATION not in annotations:
                    problems.append(f"{where}: no {ANNOTATION} annotation (the canary step changes it)")
    if not users_seen:
        problems.append("no Deployment users in any child: nothing for the canary step")
    return problems


def self_test(path):
    with open(path) as f:
        fixture = yaml.safe_load(f)
    problems = check(fixture["apps"], fixture["objects"], fixture["repoURL"], fixture["revision"], fixture["secrets"])
    missing = [e for e in fixture["expect"] if not any(e in p for p in problems)]
    wrong = [e for e in fixture.get("not_reported", []) if any(e in p for p in problems)]
    for p in problems:
        print(f"  rejected: {p}")
    if missing or wrong:
        print(f"self-test FAILED: not reported: {missing}; reported though fine: {wrong}")
        return 1
    print(f"self-test ok: {len(fixture['expect'])} expected problems reported")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--self-test", metavar="FIXTURE")
    parser.add_argument("root", nargs="?")
    parser.add_argument("repo", nargs="?")
    parser.add_argument("out", nargs="?")
    parser.add_argument("--repo-url")
    parser.add_argument("--revision")
    parser.add_argument("--secrets", default="", help="the Secrets the proof creates, space-separated")
    args = parser.parse_args()
    if args.self_test:
        return self_test(args.self_test)
    if not (args.root and args.repo and args.out and args.repo_url and args.revision):
        parser.error("ROOT_KUSTOMIZATION REPO OUT --repo-url --revision are required")
    try:
        top = kustomize(args.root)
        roots = [o for o in top if o["kind"] == "Application"]
        if len(roots) != 1:
            raise RuntimeError(f"expected one root Application in {args.root}, found {len(roots)}")
        apps = [o for o in render_source(args.repo, roots[0]["spec"]["source"]) if o["kind"] == "Application"]
        os.makedirs(args.out, exist_ok=True)
        objects = {}
        for app in apps:
            name = app["metadata"]["name"]
            objects[name] = render_source(args.repo, app["spec"]["source"])
            with open(os.path.join(args.out, f"{name}.yaml"), "w") as f:
                yaml.safe_dump_all(objects[name], f, sort_keys=False)
            print(f"  {name:28} {len(objects[name]):4d} objects  {app['spec']['source']['path']}")
    except (RuntimeError, KeyError, OSError) as error:
        print(f"proof render FAILED: {error}")
        return 1
    problems = check(apps, objects, args.repo_url, args.revision, args.secrets.split())
    for p in problems:
        print(f"  PROBLEM {p}")
    print(f"{len(apps)} Applications rendered, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
