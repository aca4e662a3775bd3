#!/usr/bin/env python3
"""Checks that every relative link of README.md and docs/*.md resolves.

A link [text](path), [text](path#anchor) or [text](#anchor) must name a file
or directory of the repository, and its anchor a heading of the target
Markdown file, slugged as GitHub does (lower case, punctuation other than
'-' and '_' dropped, spaces to '-', "-1", "-2"... for repeats). Links with a
scheme (https:, mailto:) are not checked. Headings and links inside fenced
code blocks do not count.

Usage: tools/check-links.py [FILE.md...]   (default: README.md docs/*.md)
Exit status: 0 when every link resolves, 1 otherwise (one line per broken
link: FILE:LINE: target: what is wrong).
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r"\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def slug(text):
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def lines_outside_fences(path):
    fence = None
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            marker = re.match(r"^ {0,3}(```+|~~~+)", line)
            if marker:
                if fence is None:
                    fence = marker.group(1)[0]
                elif marker.group(1)[0] == fence:
                    fence = None
                continue
            if fence is None:
                yield number, line.rstrip("\n")


def anchors(path, cache={}):
    if path not in cache:
        seen, out = {}, set()
        for _, line in lines_outside_fences(path):
            m = HEADING.match(line)
            if not m:
                continue
            s = slug(m.group(2))
            n = seen.get(s, 0)
            seen[s] = n + 1
            out.add(s if n == 0 else f"{s}-{n}")
        # explicit anchors: <a name="x"></a> or <a id="x">
        with open(path, encoding="utf-8") as f:
            out.update(re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", f.read()))
        cache[path] = out
    return cache[path]


def check(md):
    problems = []
    here = os.path.dirname(md)
    for number, line in lines_outside_fences(md):
        line = re.sub(r"`[^`]*`", "", line)  # code spans are not links
        for target in LINK.findall(line):
            if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
                continue
            path, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(here, path)) if path else md
            where = f"{os.path.relpath(md, ROOT)}:{number}: {target}"
            if not os.path.exists(dest):
                problems.append(f"{where}: no such file")
            elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
                problems.append(f"{where}: no heading with anchor #{anchor}")
    return problems


def main(argv):
    files = argv[1:] or [os.path.join(ROOT, "README.md")] + sorted(
        glob.glob(os.path.join(ROOT, "docs", "*.md")))
    problems = []
    for md in files:
        problems += check(os.path.abspath(md))
    for p in problems:
        print(p)
    print(f"check-links: {len(files)} files, {len(problems)} broken links", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
