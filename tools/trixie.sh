#!/usr/bin/env bash
# Builds gapwatch and runs its suites on Debian 13 (trixie): its compiler,
# librdkafka 2.8, hiredis 1.2 with TLS, Redis 8 and OpenJDK 21, in a root
# made with debootstrap from Debian's archive.
#
#   tools/trixie.sh               make or reuse the root, build, run the fast
#                                 suite (ctest -LE "slow|quality|kafka") and the
#                                 slow cluster tests (ctest -L cluster -L slow), then
#                                 the real-broker suite (ctest -L kafka: Apache
#                                 Kafka's broker on the root's JRE)
#   GW_TRIXIE_KAFKA=0 tools/trixie.sh
#                                 the fast suite only (no JRE, no jars)
#   tools/trixie.sh --root-only   make or reuse the root (and its packages)
#   tools/trixie.sh --asan        the Debug ASan+UBSan build (build-trixie-asan/),
#                                 the fast suite
#   tools/trixie.sh -L slow       ctest arguments instead of both suites
#                                 (GW_KEEP_TMP, GW_LOG_LEVEL, GW_TEST_EVENTS, GW_TEST_SEED
#                                 reach the tests; temp dirs are the root's /tmp)
#
# The root is cached between runs on one machine, in $GW_TRIXIE_CACHE
# (default /var/cache/gapwatch, ~/.cache/gapwatch when not root; it needs
# root anyway, through sudo): it is reused when a previous run completed
# it (the stamp etc/gapwatch-root), made again when not. tools/deps.sh
# --suite installs the packages inside it (idempotent; --jre adds
# openjdk-21-jre-headless when the broker is wanted). The source is
# bind-mounted at /src; the build goes to build-trixie/ of this checkout.
# The broker's jars are not fetched in the root: `tools/kafka.sh fetch`
# runs on the host (Maven, as the calling user, into $GW_KAFKA_CACHE or
# ~/.cache/gapwatch/kafka; a no-op once cached) and that cache is
# bind-mounted read-only at /opt/gapwatch-kafka. Mounts live in a private
# mount namespace, so they vanish with the run however it ends. One run at
# a time per root (flock). The fast suite runs two tests at a time
# (GW_TRIXIE_JOBS): most of its time is waiting (alerts falling due), and
# every test has its own ports and temp dir; the real-broker suite runs one
# at a time (its fixture's broker is shared, and test_instances runs three
# brokers of its own).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

# Whether this run may need the broker (JRE, jars): all but --asan and
# GW_TRIXIE_KAFKA=0 (ctest arguments may select tests of label kafka).
kafka=1
if [ "${1:-}" = --asan ] || [ "${GW_TRIXIE_KAFKA:-1}" = 0 ]; then
  kafka=0
fi

if [ -z "${GW_TRIXIE_NS:-}" ] && [ $kafka -eq 1 ]; then
  # On the host, as the calling user (before sudo): Maven fills the cache.
  export GW_KAFKA_CACHE=${GW_KAFKA_CACHE:-$HOME/.cache/gapwatch/kafka}
  tools/kafka.sh fetch >/dev/null
  GW_KAFKA_CACHE=$(cd "$GW_KAFKA_CACHE" && pwd) # mount needs it absolute
fi

if [ "$(id -u)" -ne 0 ]; then
  exec sudo -E "$0" "$@"
fi

cache=${GW_TRIXIE_CACHE:-/var/cache/gapwatch}
root=$cache/trixie/root
stamp=etc/gapwatch-root

args=("$@")
root_only=0
asan=0
case "${1:-}" in
  --root-only)
    root_only=1
    shift
    ;;
  --asan)
    asan=1
    shift
    ;;
esac

# The Debian mirror the host's apt uses (deb822 or one-line format).
host_mirror() {
  local m=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(awk '$1 == "deb" && $2 !~ /^\[/ && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list)
  fi
  echo "${m:-http://deb.debian.org/debian}"
}
mirror=${GW_DEBIAN_MIRROR:-$(host_mirror)}

make_root() {
  if [ -f "$root/$stamp" ]; then
    return 0
  fi
  if ! command -v debootstrap >/dev/null; then
    echo "trixie: installing debootstrap" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap \
      >/dev/null || {
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    }
  fi
  local t0 partial=$root.partial
  t0=$(date +%s)
  echo "trixie: debootstrap --variant=minbase trixie from $mirror into $partial" >&2
  rm -rf "$partial" "$root"
  mkdir -p "$(dirname "$root")"
  if ! debootstrap --variant=minbase trixie "$partial" "$mirror" >"$cache/trixie/debootstrap.log" 2>&1; then
    tail -20 "$cache/trixie/debootstrap.log" >&2
    echo "trixie: debootstrap failed (log: $cache/trixie/debootstrap.log)" >&2
    exit 1
  fi
  # Packages installed into the root must not start their services (there
  # is no init in it; the tests start their own redis-server).
  printf '#!/bin/sh\nexit 101\n' >"$partial/usr/sbin/policy-rc.d"
  chmod +x "$partial/usr/sbin/policy-rc.d"
  mkdir -p "$partial/src"
  echo "mirror=$mirror made=$(date -u +%FT%TZ)" >"$partial/$stamp"
  mv "$partial" "$root"
  echo "trixie: root made in $(($(date +%s) - t0)) s" >&2
}

# Inside a private mount namespace (see the header): mounts, packages,
# build, suite.
if [ -z "${GW_TRIXIE_NS:-}" ]; then
  mkdir -p "$cache/trixie"
  exec 9>"$cache/trixie/lock"
  flock 9
  make_root
  exec unshare --mount --propagation private env GW_TRIXIE_NS=1 "$0" "${args[@]}"
fi

mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev" # with /dev/shm and /dev/pts
mount --bind "$src" "$root/src"
cp /etc/resolv.conf "$root/etc/resolv.conf"
kenv=()
if [ $kafka -eq 1 ]; then
  mkdir -p "$root/opt/gapwatch-kafka"
  mount --bind "$GW_KAFKA_CACHE" "$root/opt/gapwatch-kafka"
  mount -o remount,bind,ro "$root/opt/gapwatch-kafka"
  kenv=(GW_KAFKA_CACHE=/opt/gapwatch-kafka ${KAFKA_VERSION:+KAFKA_VERSION=$KAFKA_VERSION})
fi
# The suite's knobs (docs/testing.md) reach the tests in the root.
for v in GW_KEEP_TMP GW_LOG_LEVEL GW_KAFKA_DEBUG GW_TEST_EVENTS GW_TEST_SEED GW_TEST_FILTER; do
  [ -z "${!v:-}" ] || kenv+=("$v=${!v}")
done

in_root() {
  chroot "$root" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" "${kenv[@]}" "$@"
}

t0=$(date +%s)
in_root /src/tools/deps.sh --suite $([ $kafka -eq 1 ] && echo --jre)
echo "trixie: packages ready in $(($(date +%s) - t0)) s ($(cat "$root/etc/debian_version"))" >&2
if [ $root_only -eq 1 ]; then
  exit 0
fi

build=(env BUILD_DIR=build-trixie)
if [ $asan -eq 1 ]; then
  build=(env BUILD_DIR=build-trixie-asan BUILD_TYPE=Debug
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    LSAN_OPTIONS=suppressions=/src/tests/lsan.supp:print_suppressions=0
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1)
fi
t1=$(date +%s)
in_root "${build[@]}" bash -c 'cd /src && tools/build.sh "$@"' build \
  $([ $asan -eq 1 ] && echo -DGW_SANITIZE=ON)
t2=$(date +%s)
ctest_in_root() {
  local jobs=$1
  shift
  in_root "${build[@]}" bash -c 'cd "/src/$BUILD_DIR" && ctest --output-on-failure -j"$0" "$@"' \
    "$jobs" "$@"
}
if [ $# -gt 0 ]; then
  ctest_in_root "${GW_TRIXIE_JOBS:-2}" "$@"
  echo "trixie: build $((t2 - t1)) s, ctest $* in $(($(date +%s) - t2)) s" >&2
  exit 0
fi
ctest_in_root "${GW_TRIXIE_JOBS:-2}" -LE "slow|quality|kafka"
t3=$(date +%s)
echo "trixie: build $((t2 - t1)) s, fast suite (ctest -LE \"slow|quality|kafka\") in $((t3 - t2)) s" >&2
# the slow cluster tests too (the daemon on a real Redis Cluster: reshard,
# master killed), so the cluster suite runs on both releases (several -L
# must all match: CMake >= 3.29, trixie has 3.31)
ctest_in_root 1 -L cluster -L slow
t3=$(date +%s)
if [ $kafka -eq 1 ]; then
  ctest_in_root 1 -L kafka
  echo "trixie: real-broker suite (ctest -L kafka, $(in_root java -version 2>&1 | head -1)) in $(($(date +%s) - t3)) s" >&2
fi
