"""What the Python deploy checks share: YAML read with PyYAML into nodes
that keep their line numbers, and problems collected and then reported all
at once as "file:line: what is wrong" (the way --check-config reports).

PyYAML is the parser; the helpers below only walk what it composed. PyYAML
(like libyaml, compose and kubectl's readers) lets a later duplicate key win
silently, so load() reports duplicates itself.

Each check is run by ctest as `check_x.py SOURCE_DIR [...]`; without PyYAML
it exits 77, which ctest reports as skipped (SKIP_RETURN_CODE).
"""

import os
import sys

SKIP = 77

try:
    import yaml
except ImportError:  # the Debian 13 root of tools/trixie.sh has no python3-yaml
    print("note: python3-yaml not installed; check skipped", file=sys.stderr)
    sys.exit(SKIP)


class Problems:
    """Every problem found, printed together by finish()."""

    def __init__(self, what):
        self.what = what
        self.items = []

    def add(self, rel, line, text):
        where = f"{rel}:{line}" if line else rel
        self.items.append(f"{where}: {text}")

    def finish(self, note=None):
        if self.items:
            print(f"{self.what}: {len(self.items)} problem(s)", file=sys.stderr)
            for item in self.items:
                print(f"  {item}", file=sys.stderr)
            sys.exit(1)
        if note:
            print(f"{self.what}: ok, {note}")
        else:
            print(f"{self.what}: ok")


class Source:
    """The checkout: paths relative to its root, as the reports name them."""

    def __init__(self, root):
        self.root = os.path.abspath(root)

    def path(self, rel):
        return os.path.join(self.root, rel)

    def exists(self, rel):
        return os.path.exists(self.path(rel))

    def read(self, rel):
        with open(self.path(rel), encoding="utf-8") as f:
            return f.read()


def line(node):
    """1-based line of a node, 0 for none."""
    return node.start_mark.line + 1 if node is not None else 0


def scalar(node):
    """The text of a scalar node, None for anything else."""
    return node.value if isinstance(node, yaml.ScalarNode) else None


def get(node, key):
    """The value node of `key` in a mapping node, or None."""
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if scalar(k) == key:
            return v
    return None


def at(node, dotted):
    """Follows a dotted path of mapping keys ("spec.template.spec")."""
    for key in dotted.split("."):
        node = get(node, key)
    return node


def items(node):
    """The items of a sequence node ([] for anything else)."""
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def pairs(node):
    """(key text, value node) of a mapping node ([] for anything else)."""
    if not isinstance(node, yaml.MappingNode):
        return []
    return [(scalar(k), v) for k, v in node.value]


def _duplicates(rel, node, problems, depth=0):
    if depth > 64:
        return
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _duplicates(rel, item, problems, depth + 1)
    elif isinstance(node, yaml.MappingNode):
        first = {}
        for k, v in node.value:
            name = scalar(k)
            if name is not None and name != "<<":
                if name in first:
                    problems.add(
                        rel,
                        line(k),
                        f'key "{name}" appears twice in one mapping (first on line {first[name]})',
                    )
                else:
                    first[name] = line(k)
            _duplicates(rel, v, problems, depth + 1)


def load(src, rel, problems):
    """The documents of a YAML file as nodes; a parse error or a duplicate
    key is added to `problems` (the documents before an error are kept)."""
    docs = []
    try:
        with open(src.path(rel), encoding="utf-8") as f:
            for doc in yaml.compose_all(f, Loader=yaml.SafeLoader):
                if doc is not None:
                    docs.append(doc)
    except OSError as e:
        problems.add(rel, 0, f"cannot open: {e.strerror}")
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = mark.line + 1 if mark else 0
        col = f" column {mark.column + 1}" if mark else ""
        problems.add(rel, where, f"not valid YAML:{col} {e.problem or e}")
    for doc in docs:
        _duplicates(rel, doc, problems)
    return docs


def find_kind(docs, kind):
    """The first document whose `kind` is `kind` (Kubernetes), or None."""
    for doc in docs:
        if scalar(get(doc, "kind")) == kind:
            return doc
    return None


def yaml_files(src, rel_dir):
    """Every .yaml/.yml under rel_dir, relative to the checkout, sorted."""
    found = []
    for dirpath, dirnames, filenames in os.walk(src.path(rel_dir)):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.endswith((".yaml", ".yml")) and not name.startswith("."):
                found.append(os.path.relpath(os.path.join(dirpath, name), src.root))
    return sorted(found)


def selector_matches(selector, labels):
    """True if every matchLabels pair of `selector` is among `labels`."""
    sel = pairs(selector)
    if not sel:
        return False
    return all(v is not None and scalar(get(labels, k)) == scalar(v) for k, v in sel)
