#!/usr/bin/env python3
"""Pins the SocialDevs images of an overlay by digest: rewrites the `images:` block of its
kustomization.yaml (and nothing else, comments included) so that every image is
`name:<git sha>@sha256:<digest>`; the digest is what the nodes pull, the tag says which commit
built it.

  pin-images.py KUSTOMIZATION --sha SHA --digest users=sha256:... --digest web=sha256:...
      the release workflow: the digests build-push-action reported for commit SHA
  pin-images.py KUSTOMIZATION --from OTHER_KUSTOMIZATION
      the promote workflow: the very pins another overlay (staging) runs

Standard library only. Exits non-zero, changing nothing, on anything it does not expect.
"""

import argparse
import re
import sys

REGISTRY = "ghcr.io/socialdevs/socialdevs-"
SERVICES = ("users", "posts", "timeline", "notifications", "web")
SHA = re.compile(r"^[0-9a-f]{40}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
KEY = re.compile(r"^\s*-?\s*(name|newName|newTag|digest):\s*(\S+)\s*$")


def split(text):
    """(before, images block lines, after) of a kustomization; the block is `images:` and
    the indented or list lines under it."""
    lines = text.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.rstrip() == "images:")
    except StopIteration:
        raise SystemExit("no top-level `images:` block")
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "-")) or not lines[end].strip()):
        end += 1
    return lines[:start], lines[start + 1 : end], lines[end:]


def parse(block):
    """The entries of an images block, in order: dicts of name/newName/newTag/digest."""
    entries = []
    for line in block:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = KEY.match(line)
        if not match:
            raise SystemExit(f"unexpected line in the images block: {line.rstrip()}")
        if line.lstrip().startswith("-"):
            entries.append({})
        if not entries:
            raise SystemExit(f"images block does not start with a list item: {line.rstrip()}")
        entries[-1][match.group(1)] = match.group(2).strip("\"'")
    return entries


def render(entries):
    out = ["images:\n"]
    for entry in entries:
        out.append(f"  - name: {entry['name']}\n")
        for key in ("newName", "newTag", "digest"):
            if key in entry:
                out.append(f"    {key}: {entry[key]}\n")
    return out


def pins_from(path):
    with open(path, encoding="utf-8") as f:
        entries = parse(split(f.read())[1])
    pins = {}
    for entry in entries:
        service = entry["name"].removeprefix(REGISTRY)
        if entry["name"].startswith(REGISTRY) and service in SERVICES:
            tag, digest = entry.get("newTag", ""), entry.get("digest", "")
            if not SHA.match(tag) or not DIGEST.match(digest):
                raise SystemExit(f"{path}: {entry['name']} is not pinned by git sha and digest")
            pins[service] = (tag, digest)
    return pins


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kustomization")
    parser.add_argument("--sha")
    parser.add_argument("--digest", action="append", default=[], metavar="SERVICE=DIGEST")
    parser.add_argument("--from", dest="source", metavar="KUSTOMIZATION")
    args = parser.parse_args()

    if args.source:
        if args.sha or args.digest:
            parser.error("--from takes no --sha or --digest")
        pins = pins_from(args.source)
    else:
        if not args.sha or not SHA.match(args.sha):
            parser.error(f"--sha must be a full git sha, not {args.sha!r}")
        pins = {}
        for item in args.digest:
            service, _, digest = item.partition("=")
            if service not in SERVICES or not DIGEST.match(digest):
                parser.error(f"--digest must be SERVICE=sha256:<64 hex>, not {item!r}")
            pins[service] = (args.sha, digest)
    missing = [service for service in SERVICES if service not in pins]
    if missing:
        raise SystemExit(f"no digest for {', '.join(missing)}")

    with open(args.kustomization, encoding="utf-8") as f:
        before, block, after = split(f.read())
    entries = parse(block)
    seen = set()
    for entry in entries:
        service = entry["name"].removeprefix(REGISTRY)
        if entry["name"].startswith(REGISTRY) and service in pins:
            entry.pop("newName", None)
            entry["newTag"], entry["digest"] = pins[service]
            seen.add(service)
    for service in SERVICES:
        if service not in seen:
            tag, digest = pins[service]
            entries.append({"name": REGISTRY + service, "newTag": tag, "digest": digest})
    with open(args.kustomization, "w", encoding="utf-8") as f:
        f.writelines(before + render(entries) + after)
    for service in SERVICES:
        print(f"{REGISTRY}{service}:{pins[service][0]}@{pins[service][1]}")


if __name__ == "__main__":
    sys.exit(main())
