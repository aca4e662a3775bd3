#!/usr/bin/env bash
# Installs the Debian packages gapwatch needs to build, test and run its
# demo, on Debian 12 (bookworm) or Debian 13 (trixie): the release is read
# from /etc/os-release. Idempotent: installs only what is missing; uses sudo
# when not root.
#
#   tools/deps.sh           everything (build, suite, demo, format check, fuzz,
#                           gw_bench --peer)
#   tools/deps.sh --suite   only what the build and the test suite need (no
#                           clang-format, no clang: tools/trixie.sh uses it)
#   tools/deps.sh --suite --jre
#                           and the release's Java runtime, for the broker of
#                           the tests of label `kafka` (tools/trixie.sh: its
#                           jars come from the host's cache, so no Maven)
set -euo pipefail

suite_only=0
jre=0
for a in "$@"; do
  case "$a" in
    --suite) suite_only=1 ;;
    --jre) jre=1 ;;
    *)
      echo "deps: unknown option $a" >&2
      exit 2
      ;;
  esac
done

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
case "$codename" in
  bookworm) clang_rt=libclang-rt-14-dev java=openjdk-17-jre-headless ;;
  trixie) clang_rt=libclang-rt-19-dev java=openjdk-21-jre-headless ;;
  *)
    echo "deps: Debian 12 (bookworm) or 13 (trixie) expected, found '${codename:-unknown}'" >&2
    exit 1
    ;;
esac

# The -dev names are the same on both releases (the runtime libraries'
# are not: see the Dockerfile).
PACKAGES=(
  build-essential cmake pkg-config
  librdkafka-dev libhiredis-dev libprotobuf-c-dev protobuf-c-compiler
  libyaml-dev libjansson-dev libcmocka-dev libcurl4-openssl-dev
  libmicrohttpd-dev libssl-dev
  libicu-dev  # time zones of the sales calendars (gw_calendar)
  libsystemd-dev  # sd_notify: Type=notify readiness and watchdog (deploy/systemd)
  redis-server redis-tools prometheus-alertmanager prometheus prometheus-redis-exporter
  openssl  # test certificates (Redis TLS)
  systemd  # systemd-analyze: tests/deploy/check_systemd.sh verifies deploy/systemd/gapwatchd.service
  python3 python3-yaml  # tests/deploy/*.py: the deploy files' static checks
)
if [ $suite_only -eq 0 ]; then
  PACKAGES+=(clang-format clang "$clang_rt") # format check; libFuzzer and sanitizers: tools/fuzz.sh
  PACKAGES+=(debootstrap)                    # tools/trixie.sh: the Debian 13 root
  # gw_bench --peer: the Python peer (confluent-kafka, redis-py, protobuf)
  # and protoc for its gapwatch/v1/event_pb2.py (generated in the build)
  PACKAGES+=(python3-confluent-kafka python3-redis python3-protobuf protobuf-compiler)
  # Apache Kafka's broker for the tests of label `kafka` (tools/kafka.sh
  # fetches it from Maven Central; Maven on the host only: tools/trixie.sh
  # mounts the host's jars into its root and installs only the JRE there)
  PACKAGES+=("$java" maven)
elif [ $jre -eq 1 ]; then
  PACKAGES+=("$java")
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's package may start a redis-server on 6379; gapwatch never uses it
# (demo and tests start their own on free ports), so leave it be.
