#!/usr/bin/env python3
"""deploy/compose.yaml resolves without Docker (this machine has no engine,
so `docker compose config` cannot run): every service has an image, every
bind mount and build context names a file of the checkout, every ${VAR}
without a default is set in deploy/.env.example, and deploy/.env (the
stack's secrets) is kept out of git and out of the image's build context.

    check_compose.py SOURCE_DIR
"""

import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from deploylib import Problems, Source, get, items, line, load, pairs, scalar

COMPOSE = "deploy/compose.yaml"

# $$ is compose's escape for a literal $; ${VAR:-x} and ${VAR-x} have a default.
VARIABLE = re.compile(r"\$(\$|\{?([A-Za-z0-9_]+)(:?-)?)")


def check_variables(src, problems):
    env = src.read("deploy/.env.example").splitlines()
    defined = {l.split("=", 1)[0] for l in env if "=" in l and not l.lstrip().startswith("#")}
    for n, text in enumerate(src.read(COMPOSE).splitlines(), 1):
        if text.lstrip().startswith("#"):
            continue
        for m in VARIABLE.finditer(text):
            name, default = m.group(2), m.group(3)
            if not name or default == ":-" or (default == "-" and m.group(0)[1] == "{"):
                continue
            if name not in defined:
                problems.add(
                    COMPOSE, n, f"${{{name}}} has no default and is not in deploy/.env.example"
                )


def main():
    src = Source(sys.argv[1])
    problems = Problems(COMPOSE)
    docs = load(src, COMPOSE, problems)
    services = get(docs[0], "services") if docs else None
    if not pairs(services):
        problems.add(COMPOSE, 0, "no services mapping")
    for name, svc in pairs(services):
        if get(svc, "image") is None:
            problems.add(COMPOSE, line(svc), f"service {name} has no image:")
        # Relative paths are relative to the compose file's directory.
        for v in items(get(svc, "volumes")):
            source = None
            if scalar(v) is not None:
                source = scalar(v).split(":", 1)[0]
            elif scalar(get(v, "type")) == "bind":
                source = scalar(get(v, "source"))
            if not source or not source.startswith("."):
                continue  # a named volume
            if not src.exists(os.path.normpath(os.path.join("deploy", source))):
                problems.add(COMPOSE, line(v), f"service {name} mounts {source}, which does not exist")
        build = get(svc, "build")
        if build is not None:
            context = scalar(build) or scalar(get(build, "context")) or "."
            dockerfile = scalar(get(build, "dockerfile")) or "Dockerfile"
            rel = os.path.normpath(os.path.join("deploy", context, dockerfile))
            if not os.path.isfile(src.path(rel)):
                problems.add(
                    COMPOSE, line(build), f"service {name} builds from {rel}, which does not exist"
                )
    check_variables(src, problems)

    # deploy/.env holds the secrets: never in git, never in the image.
    if ".env" not in src.read("deploy/.gitignore").splitlines():
        problems.add("deploy/.gitignore", 0, "does not ignore .env (the stack's secrets)")
    if "deploy/.env" not in src.read(".dockerignore"):
        problems.add(".dockerignore", 0, "does not keep deploy/.env out of the build context")
    problems.finish(f"{len(pairs(services))} services")


if __name__ == "__main__":
    main()
