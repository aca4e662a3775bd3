#!/usr/bin/env python3
"""Prints the module map of src/ as Markdown, drawn from the code.

A module is a header with its .c (gw_x.h + gw_x.c), a .c without a header of
its own (gw_config_walk.c), or a header without a .c (gw_config_internal.h).
For each module the map gives:

  lines           newline count of its .c and .h together, as `wc -l` counts
  pure            "yes" when the module's .c and .h include none of the
                  headers of IO_LIBS below and its .c has no mutable static
                  state (see mutable_state() for the rough rule)
  responsibility  the first sentence of the top comment of its header (of its
                  .c when it has none), after "gw_x: "
  includes        the gw_ modules its .c and .h include ("#include "gw_y.h"")

and then the layering: the modules grouped by the external library whose
header they reach, directly or through the gw_ headers they include (a
header that includes <librdkafka/rdkafka.h> puts librdkafka's types in the
API of everyone who includes it), and any include cycle between modules.

The heuristics read text, not C: a static variable declared through a macro,
or mutable state behind a pointer, is not seen.

Usage:
  tools/module-map.py > docs/modules.md     write the map
  tools/module-map.py --check docs/modules.md
                                            exit 1 when the file differs from
                                            what the code gives now
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "src")
REGENERATE = "tools/module-map.py > docs/modules.md"

# External libraries by layer: (layer name, include prefixes).
LAYERS = [
    ("Kafka (librdkafka)", ("librdkafka/",)),
    ("Redis (hiredis)", ("hiredis/",)),
    ("HTTP (libcurl, libmicrohttpd)", ("curl/", "microhttpd.h")),
]
# Includes that make a module not pure: I/O libraries, threads, sockets,
# systemd, directory reads.
# Modules that are another module's inside (only the owner includes their
# header), besides the <owner>_internal headers.
INSIDE = {"gw_redis_cluster": "gw_redis"}

IO_LIBS = (
    "librdkafka/",
    "hiredis/",
    "curl/",
    "microhttpd.h",
    "pthread.h",
    "sys/socket.h",
    "systemd/",
    "dirent.h",
)

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip_comments_and_strings(text):
    """Text with comments, string and character literals blanked out."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def strip_preprocessor(text):
    lines, skip = [], False
    for line in text.split("\n"):
        if skip or line.lstrip().startswith("#"):
            skip = line.rstrip().endswith("\\")
            lines.append("")
        else:
            lines.append(line)
    return "\n".join(lines)


def mutable_state(c_text):
    """Names of mutable static variables of a .c: at file scope, a definition
    (static or not, not extern, not typedef, not a function) without `const`
    before its initialiser; inside a function, a `static` declaration
    without `const`. Rough: `static const char *p` counts as constant."""
    code = strip_preprocessor(strip_comments_and_strings(c_text))
    found = []
    depth, stmt, i = 0, [], 0

    def consider(s):
        s = " ".join(s.split())
        head = s.split("=", 1)[0]
        if not s or re.match(r"(typedef|extern)\b", s):
            return
        if "(" in head and not re.search(r"\(\s*\*", head):
            return  # a function or a prototype
        if re.fullmatch(r"(static\s+)?(struct|enum|union)(\s+\w+)?\s*\{\}", s):
            return  # a type definition without a declarator
        if re.search(r"\bconst\b", head):
            return
        name = re.findall(r"(\w+)\s*(?:\[[^\]]*\]\s*)*$", head.strip())
        found.append(name[0] if name else head.strip())

    while i < len(code):
        c = code[i]
        if c == "{":
            if depth == 0:
                stmt.append("{")
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                stmt.append("}")
                text = "".join(stmt)
                before = text[: text.find("{")]
                if re.search(r"\)\s*(__attribute__\s*\(\(.*\)\)\s*)?$", before.strip()):
                    stmt = []  # a function body ends the statement
        elif c == ";" and depth == 0:
            consider("".join(stmt))
            stmt = []
        elif depth == 0:
            stmt.append(c)
        i += 1
    for m in re.finditer(r"\bstatic\b([^;{]*)[;{]", code):
        # only those inside a function: the file-scope ones are done above
        if code.count("{", 0, m.start()) > code.count("}", 0, m.start()):
            decl = m.group(1)
            if "const" not in decl.split("=", 1)[0] and "(" not in decl.split("=", 1)[0]:
                name = re.findall(r"(\w+)\s*(?:\[[^\]]*\]\s*)*(?:=|$)", decl.strip())
                found.append(name[0] if name else decl.strip())
    return found


def top_comment(text):
    """The first paragraph of the file's leading /* */ comment, on one line."""
    m = re.match(r"\s*/\*(.*?)\*/", text, re.S)
    if not m:
        return ""
    lines = [re.sub(r"^\s*\*? ?", "", line) for line in m.group(1).split("\n")]
    paragraph = []
    for line in lines:
        if line.strip():
            paragraph.append(line)
        elif paragraph:
            break
    return " ".join(" ".join(paragraph).split())


def first_sentence(comment, name):
    text = re.sub(r"^" + re.escape(name) + r"\s*:\s*", "", comment)
    m = re.search(r"(?<!e\.g)(?<!i\.e)(?<!etc)[.](\s|$)", text)
    text = text[: m.start() + 1] if m else text
    return re.sub(r"\s*:$", ".", text)


def modules():
    headers = {os.path.basename(p)[:-2]: p for p in glob.glob(os.path.join(SRC, "*.h"))}
    sources = {os.path.basename(p)[:-2]: p for p in glob.glob(os.path.join(SRC, "*.c"))}
    mods = {}
    for name in sorted(set(headers) | set(sources)):
        files = [p for p in (sources.get(name), headers.get(name)) if p]
        texts = {p: read(p) for p in files}
        includes = []
        for t in texts.values():
            includes += [(kind, inc) for kind, inc in INCLUDE.findall(t)]
        gw = sorted(
            {inc[:-2] for kind, inc in includes if re.fullmatch(r"gw_\w+\.h", inc)} - {name}
        )
        owner = INSIDE.get(name) or (name[: -len("_internal")] if name.endswith("_internal") else None)
        if owner:
            # a module's private part includes the module's public header: it
            # is the module's inside, not an arrow back to it
            gw = [g for g in gw if g != owner]
        ext = sorted({inc for kind, inc in includes if kind == "<"})
        doc = texts.get(headers.get(name)) or texts.get(sources.get(name)) or ""
        state = mutable_state(texts[sources[name]]) if name in sources else []
        mods[name] = {
            "owner": owner,
            "files": [os.path.relpath(p, ROOT) for p in files],
            "lines": sum(t.count("\n") for t in texts.values()),
            "gw": gw,
            "ext": ext,
            "state": state,
            "what": first_sentence(top_comment(doc), name),
            "header_ext": sorted(
                {inc for kind, inc in INCLUDE.findall(texts.get(headers.get(name), "")) if kind == "<"}
            ),
        }
    return mods


def reach(mods, name):
    """External headers a module reaches: its own, and those of every gw_
    header reachable through header includes."""
    seen, todo, ext = set(), list(mods[name]["gw"]), set(mods[name]["ext"])
    while todo:
        m = todo.pop()
        if m in seen or m not in mods:
            continue
        seen.add(m)
        ext |= set(mods[m]["header_ext"])
        header = os.path.join(SRC, m + ".h")
        if os.path.exists(header):
            todo += [i[:-2] for k, i in INCLUDE.findall(read(header)) if re.fullmatch(r"gw_\w+\.h", i)]
    return ext


def cycles(mods):
    """Every elementary include cycle between modules, each once."""
    found = set()

    def walk(start, node, path):
        for nxt in mods[node]["gw"]:
            if nxt not in mods:
                continue
            if nxt == start:
                found.add(tuple(path))
            elif nxt > start and nxt not in path:
                walk(start, nxt, path + [nxt])

    for name in sorted(mods):
        walk(name, name, [name])
    return sorted(found)


def classify(mods):
    """Sets each module's `reach`, `io` (the I/O headers it reaches) and
    `pure`."""
    for name, m in mods.items():
        m["reach"] = reach(mods, name)
        m["io"] = sorted(i for i in m["reach"] if i.startswith(IO_LIBS))
    # Redis I/O hides behind gw_redis' opaque handle: a module that includes
    # a module doing Redis I/O (hiredis in its .c, or through gw_redis)
    # does Redis I/O too, and so does a module's inside (its owner's arrow
    # is not in "gw", but its functions are the owner's).
    redis = {n for n, m in mods.items() if any(e.startswith("hiredis/") for e in m["ext"])}
    grown = True
    while grown:
        grown = False
        for name, m in mods.items():
            owner = {m["owner"]} if m["owner"] else set()
            through = sorted((set(m["gw"]) | owner) & redis)
            if name not in redis and through:
                redis.add(name)
                m["io"] = m["io"] + ["Redis through " + ", ".join(through)]
                grown = True
    for m in mods.values():
        m["pure"] = not m["io"] and not m["state"]


def cell(text):
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def render():
    mods = modules()
    classify(mods)
    out = []
    w = out.append
    w("# Module map")
    w("")
    w("<!-- Generated by tools/module-map.py from src/; do not edit. Regenerate with:")
    w("     " + REGENERATE + " -->")
    w("")
    w("Drawn from the code at each build: ctest `module_map` fails when this file")
    w("differs from what `tools/module-map.py` prints (regenerate with")
    w("`" + REGENERATE + "`). The hand-written table in")
    w("[README.md](../README.md#module-map) says more about each module.")
    w("")
    w("How it is read:")
    w("")
    w("- a module is a header and its `.c` (`gw_x.h` + `gw_x.c`), a `.c` without a")
    w("  header of its own, or a header without a `.c`;")
    w("- *lines*: newlines of its `.c` and `.h` together (`wc -l`);")
    w("- *pure*: no I/O header is reached by its `.c` and `.h`, directly or through")
    w("  the `gw_` headers they include (I/O headers:")
    w("  " + ", ".join("`%s`" % lib for lib in IO_LIBS) + "),")
    w("  and its `.c` has no mutable static variable (a `static` or global")
    w("  definition without `const`, at file scope or in a function). Read as text:")
    w("  state behind a macro or a pointer, and I/O done by calling an impure")
    w("  module through an opaque header, are not seen, except Redis: a module")
    w("  that includes one doing Redis I/O (hiredis in its `.c`, or through")
    w("  `gw_redis`) does Redis I/O too;")
    w("- *responsibility*: the first sentence of the top comment of its header (of")
    w("  its `.c` when it has none);")
    w("- *includes*: the `gw_` modules its `.c` and `.h` include.")
    w("")
    total = sum(m["lines"] for m in mods.values())
    w("%d modules, %d lines." % (len(mods), total))
    w("")
    w("| module | lines | pure | responsibility | includes |")
    w("|---|--:|---|---|---|")
    for name, m in sorted(mods.items()):
        w(
            "| `%s` | %d | %s | %s | %s |"
            % (
                name,
                m["lines"],
                "yes" if m["pure"] else "",
                cell(m["what"]),
                ", ".join(m["gw"]) if m["gw"] else "",
            )
        )
    w("")
    w("## Not pure, and why")
    w("")
    for name, m in sorted(mods.items()):
        if m["pure"]:
            continue
        why = []
        if m["io"]:
            why.append("reaches " + ", ".join("`%s`" % i for i in m["io"]))
        if m["state"]:
            why.append("static state " + ", ".join("`%s`" % s for s in m["state"]))
        w("- `%s`: %s" % (name, "; ".join(why)))
    w("")
    w("## Layering")
    w("")
    w("Modules by the external library whose header they reach, directly or")
    w("through the `gw_` headers they include. A module may be in several layers.")
    w("")
    reached = {name: m["reach"] for name, m in mods.items()}
    in_layer = set()
    for layer, prefixes in LAYERS:
        names = [n for n in sorted(mods) if any(i.startswith(prefixes) for i in reached[n])]
        in_layer |= set(names)
        w("- %s: %s" % (layer, ", ".join("`%s`" % n for n in names) if names else "none"))
    rest = [n for n in sorted(mods) if n not in in_layer]
    w("- none of these: %s" % ", ".join("`%s`" % n for n in rest))
    w("")
    w("## Include cycles")
    w("")
    cyc = cycles(mods)
    if cyc:
        for c in cyc:
            w("- " + " -> ".join(c + (c[0],)))
    else:
        w("None: the modules' includes form a directed acyclic graph.")
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) == 1:
        sys.stdout.write(render())
        return 0
    if len(argv) == 3 and argv[1] == "--check":
        path = argv[2]
        try:
            have = read(path)
        except OSError as e:
            print("%s: cannot read: %s; regenerate with: %s" % (path, e.strerror, REGENERATE))
            return 1
        if have != render():
            print(
                "%s is out of date with src/ (a module was added, removed, resized or its "
                "includes or top comment changed); regenerate with: %s" % (path, REGENERATE)
            )
            return 1
        return 0
    sys.stderr.write("usage: tools/module-map.py [--check FILE.md]\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
