#!/usr/bin/env bash
# Installs the Debian 12 packages gapwatch needs to build, test and run its
# demo. Idempotent: installs only what is missing; uses sudo when not root.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config clang-format
  librdkafka-dev libhiredis-dev libprotobuf-c-dev protobuf-c-compiler
  libyaml-dev libjansson-dev libcmocka-dev libcurl4-openssl-dev
  libmicrohttpd-dev libssl-dev
  clang libclang-rt-14-dev  # libFuzzer and clang's sanitizers: tools/fuzz.sh
  redis-server redis-tools prometheus-alertmanager prometheus prometheus-redis-exporter
  systemd  # systemd-analyze: test_deploy verifies deploy/systemd/gapwatchd.service
  # Apache Kafka's broker for the tests of label `kafka` (tools/kafka.sh
  # fetches it from Maven Central); openssl makes its test certificates
  openjdk-17-jre-headless maven openssl
)

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
