#!/usr/bin/env python3
"""Every YAML file under deploy/ parses (PyYAML) with no key twice in one
mapping, the files the stack needs are there, and every image the deploy
files run is pinned to a version: each `image:` value in deploy/ and each
FROM of the Dockerfile. gapwatch's own image carries the version being built
(CMakeLists.txt), in compose, k8s and the Dockerfile's version label.

    check_yaml.py SOURCE_DIR
"""

import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from deploylib import Problems, Source, line, load, scalar, yaml, yaml_files

GAPWATCHD_IMAGE = "gapwatch/gapwatchd"

# The files the stack needs: a rename must not silently skip them.
EXPECTED = [
    "deploy/compose.yaml",
    "deploy/gapwatchd.compose.yaml",
    "deploy/grafana/provisioning/dashboards/gapwatch.yaml",
    "deploy/grafana/provisioning/datasources/prometheus.yaml",
    "deploy/k8s/configmap.yaml",
    "deploy/k8s/deployment.yaml",
    "deploy/k8s/pdb.yaml",
    "deploy/k8s/prometheusrule.yaml",
    "deploy/k8s/service.yaml",
    "deploy/k8s/servicemonitor.yaml",
    "deploy/prometheus/prometheus.yml",
]


def unpinned_why(ref):
    """None if `ref` is pinned to an explicit version, else why not. A
    version is a tag with a dotted number (7.0.15, v1.45.0, 12.8-slim) or a
    digest; "latest", no tag and floating tags (7, bookworm) are not."""
    if "$" in ref:
        return "comes from a variable, so the file does not fix its version"
    if "@" in ref:
        return None if ref.split("@", 1)[1].startswith("sha256:") else "has a malformed digest"
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return "has no tag, which means latest"
    tag = last.rsplit(":", 1)[1]
    if not tag:
        return "has an empty tag"
    if tag == "latest":
        return "is tagged latest"
    if re.search(r"[0-9]\.[0-9]", tag):
        return None
    return "has a floating tag (no dotted version number, e.g. 7.0.15 or v1.45.0)"


def check_image(rel, where, ref, version, problems):
    why = unpinned_why(ref)
    if why:
        problems.add(rel, where, f'image "{ref}" {why}')
    elif ref.startswith(GAPWATCHD_IMAGE + ":") and ref.split(":", 1)[1] != version:
        problems.add(
            rel, where, f'image "{ref}" is not the version being built ({version}, CMakeLists.txt)'
        )


def yaml_images(node, depth=0):
    """(line, ref) of every scalar `image:` value anywhere in a document."""
    if depth > 64:
        return
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from yaml_images(item, depth + 1)
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if scalar(k) == "image" and scalar(v) is not None:
                yield line(v), scalar(v)
            else:
                yield from yaml_images(v, depth + 1)


def dockerfile_instructions(text):
    """(line, INSTRUCTION, arguments) with continuation lines joined."""
    out, cur, start = [], "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        if not cur:
            start = n
        more = s.endswith("\\")
        cur += (s[:-1] if more else s) + " "
        if not more:
            word, _, args = cur.strip().partition(" ")
            out.append((start, word.upper(), args.strip()))
            cur = ""
    return out


def main():
    src = Source(sys.argv[1])
    problems = Problems("deploy YAML and image pins")
    m = re.search(r"project\(gapwatch VERSION ([0-9.]+)", src.read("CMakeLists.txt"))
    if not m:
        problems.add("CMakeLists.txt", 0, 'no "project(gapwatch VERSION x.y.z"')
        problems.finish()
    version = m.group(1)

    files = yaml_files(src, "deploy")
    for rel in EXPECTED:
        if rel not in files:
            problems.add(rel, 0, "missing")
    ndocs = nimages = 0
    for rel in files:
        docs = load(src, rel, problems)
        if not docs and not any(p.startswith(rel + ":") for p in problems.items):
            problems.add(rel, 0, "no YAML document")
        ndocs += len(docs)
        for doc in docs:
            for where, ref in yaml_images(doc):
                check_image(rel, where, ref, version, problems)
                nimages += 1
    if nimages == 0:
        problems.add("deploy/", 0, "no image: at all (expected compose.yaml and k8s/deployment.yaml)")

    # Dockerfile: every FROM that is not an earlier stage's alias.
    aliases, nfrom = {"scratch"}, 0
    for where, instr, args in dockerfile_instructions(src.read("Dockerfile")):
        if instr == "LABEL" and "org.opencontainers.image.version=" in args:
            got = args.split("org.opencontainers.image.version=", 1)[1].split()[0]
            if got.strip('"') != version:
                problems.add(
                    "Dockerfile", where, f"label org.opencontainers.image.version is {got}, not {version}"
                )
        if instr != "FROM":
            continue
        nfrom += 1
        words = [w for w in args.split() if not w.startswith("--")]
        if words and words[0].lower() not in aliases:
            check_image("Dockerfile", where, words[0], version, problems)
        if len(words) >= 3 and words[1].upper() == "AS":
            aliases.add(words[2].lower())
    if nfrom == 0:
        problems.add("Dockerfile", 0, "no FROM")
    problems.finish(
        f"{len(files)} YAML files, {ndocs} documents, {nimages} image: references, {nfrom} FROM"
    )


if __name__ == "__main__":
    main()
