#!/usr/bin/env bash
# The test command: installs what is missing, checks formatting, builds,
# runs the whole ctest suite (unit and integration: real redis-server and
# librdkafka's mock Kafka cluster), the tests of label `kafka` against
# Apache Kafka's own broker (tools/kafka.sh fetches it with Maven into
# ~/.cache/gapwatch/kafka; plain build only), the fast suite and the `kafka`
# tests again on Debian 13 in a cached debootstrap root (tools/trixie.sh:
# librdkafka 2.8, SCRAM-SHA-512 over SASL_SSL), then builds again with
# ASan+UBSan and runs the suite once more (without `kafka`), and ends with
# the fuzz targets (tools/fuzz.sh, FUZZ_SECONDS each, 30 by default in CI).
#
#   tools/test.sh            everything (what CI runs)
#   tools/test.sh --fast     one build, no sanitizers, no slow tests
# The quality report (label `quality`) is never run here: it is a report,
# run by hand with `ctest -L quality` or build/tests/quality/gw_quality.
set -euo pipefail
cd "$(dirname "$0")/.."
fast=0
[ "${1:-}" = "--fast" ] && fast=1

tools/deps.sh
tools/format.sh --check

start=$(date +%s)
BUILD_DIR=build tools/build.sh
if [ $fast -eq 1 ]; then
  (cd build && ctest --output-on-failure -LE "slow|quality|kafka")
  exit 0
fi
(cd build && ctest --output-on-failure -LE "quality|kafka")
# The diagnosis' quality report: printed for the record, never a failure.
build/tests/quality/gw_quality | tail -8 || true
echo "test: plain build passed in $(($(date +%s) - start)) s" >&2

# Apache Kafka's own broker: the fixture starts it once for the label.
kafka=$(date +%s)
tools/kafka.sh fetch >/dev/null
(cd build && ctest --output-on-failure -L kafka)
echo "test: real-broker suite (label kafka) passed in $(($(date +%s) - kafka)) s" >&2

# Debian 13 (trixie): the plain build, the fast suite and the real-broker
# suite (the same jars, the root's JRE) in a cached debootstrap root
# (tools/trixie.sh; GW_TRIXIE=0 skips it, GW_TRIXIE_KAFKA=0 its broker suite).
if [ "${GW_TRIXIE:-1}" != 0 ]; then
  t=$(date +%s)
  tools/trixie.sh
  echo "test: Debian 13 suites passed in $(($(date +%s) - t)) s" >&2
fi
mid=$(date +%s)

BUILD_DIR=build-asan BUILD_TYPE=Debug tools/build.sh -DGW_SANITIZE=ON
# LeakSanitizer: librdkafka's and libyaml's own allocations at exit are not
# ours; the suppressions file names them.
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest --output-on-failure -LE "quality|kafka")
end=$(date +%s)
echo "test: sanitizer build passed in $((end - mid)) s; total $((end - start)) s" >&2

FUZZ_SECONDS=${FUZZ_SECONDS:-30} tools/fuzz.sh
echo "test: fuzz targets passed in $(($(date +%s) - end)) s" >&2
