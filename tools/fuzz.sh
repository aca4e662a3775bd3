#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang, ASan and UBSan in
# build-fuzz/ and runs each for FUZZ_SECONDS (default 60) from its committed
# corpus (tests/fuzz/corpus/<target without fuzz_>; new inputs go to
# build-fuzz/corpus/).
# Fails on the first crash, leak or sanitizer report; the reproducer is left
# in build-fuzz/ (crash-*, leak-*). Prints the executions of each target.
#
#   tools/fuzz.sh                       every target, 60 s each
#   FUZZ_SECONDS=3600 tools/fuzz.sh fuzz_config    one target, an hour
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_decode fuzz_config fuzz_jsonline)

CC=clang BUILD_DIR=build-fuzz BUILD_TYPE=Debug tools/build.sh -DGW_FUZZ=ON -DGW_SANITIZE=ON \
  -DGW_BUILD_TESTS=OFF

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${targets[@]}"; do
  work=build-fuzz/corpus/$t
  mkdir -p "$work"
  log=build-fuzz/$t.log
  echo "fuzz: $t for ${FUZZ_SECONDS} s" >&2
  if ! (cd build-fuzz && "./tests/fuzz/$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 "corpus/$t" "../tests/fuzz/corpus/${t#fuzz_}") >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $t failed (log: $log; reproducer: build-fuzz/crash-* or leak-*)" >&2
    exit 1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  echo "fuzz: $t ok, ${execs:-?} executions in ${FUZZ_SECONDS} s" >&2
done
