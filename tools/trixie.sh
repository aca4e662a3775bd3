#!/usr/bin/env bash
# Builds gapwatch and runs the fast suite (ctest -LE "slow|quality|kafka") on
# Debian 13 (trixie): its compiler, librdkafka 2.8, hiredis 1.2 with TLS and
# Redis 8, in a root made with debootstrap from Debian's archive.
#
#   tools/trixie.sh               make or reuse the root, build, run the suite
#   tools/trixie.sh --root-only   make or reuse the root (and its packages)
#   tools/trixie.sh --asan        the Debug ASan+UBSan build (build-trixie-asan/)
#   tools/trixie.sh -L slow       ctest arguments instead of -LE "slow|quality|kafka"
#
# The root is cached between runs on one machine, in $GW_TRIXIE_CACHE
# (default /var/cache/gapwatch, ~/.cache/gapwatch when not root; it needs
# root anyway, through sudo): it is reused when a previous run completed
# it (the stamp etc/gapwatch-root), made again when not. tools/deps.sh
# --suite installs the packages inside it (idempotent). The source is
# bind-mounted at /src; the build goes to build-trixie/ of this checkout.
# Mounts live in a private mount namespace, so they vanish with the run
# however it ends. One run at a time per root (flock). The suite runs two
# tests at a time (GW_TRIXIE_JOBS): most of its time is waiting (alerts
# falling due), and every test has its own ports and temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

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

in_root() {
  chroot "$root" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" "$@"
}

t0=$(date +%s)
in_root /src/tools/deps.sh --suite
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
if [ $# -eq 0 ]; then
  set -- -LE "slow|quality|kafka"
fi
in_root "${build[@]}" bash -c 'cd "/src/$BUILD_DIR" && ctest --output-on-failure -j"$0" "$@"' \
  "${GW_TRIXIE_JOBS:-2}" "$@"
t3=$(date +%s)
echo "trixie: build $((t2 - t1)) s, ctest $* in $((t3 - t2)) s" >&2
