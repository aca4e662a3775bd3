#!/usr/bin/env bash
# Runs a Python deploy check (python.sh check_x.py ARGS...). Without python3
# and PyYAML (the Debian 13 root of tools/trixie.sh has no Python) it exits
# 77, which ctest reports as skipped: those files do not depend on the
# Debian release, so the Debian 12 suite's run is the check.
set -euo pipefail
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "note: python3 with PyYAML (python3-yaml) not installed; $(basename "$1") skipped" >&2
  exit 77
fi
exec python3 "$@"
