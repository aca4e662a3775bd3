#!/usr/bin/env bash
# Configures and builds into build/ (or $BUILD_DIR), printing the compiler's
# output only when the build fails. Extra arguments go to cmake's configure
# step, e.g. -DGW_SANITIZE=ON. JOBS=N builds with N jobs (default: one per
# CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" "$@" &&
  cmake --build "$BUILD_DIR" -j"${JOBS:-$(nproc)}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "build: failed (see above)" >&2
  exit 1
fi
echo "build: $BUILD_DIR is up to date" >&2
