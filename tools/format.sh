#!/usr/bin/env bash
# clang-format over every C source of the project: rewrites in place (and
# regenerates docs/modules.md, the module map drawn from src/), or with
# --check fails listing the files that are not formatted.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find daemon src tools tests -name '*.[ch]')
if [ "${1:-}" = "--check" ]; then
  bad=""
  for f in $files; do
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad="$bad $f"
  done
  if [ -n "$bad" ]; then
    echo "format: not clang-format clean:$bad (run tools/format.sh)" >&2
    exit 1
  fi
else
  clang-format -i $files
  python3 tools/module-map.py > docs/modules.md
fi
