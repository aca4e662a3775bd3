#!/usr/bin/env bash
# The compose stack's Prometheus configuration passes `promtool check
# config` (scrape configs, rule files it names). Its alerting rules:
# check_rules.sh; its queries against a real Prometheus: test_observability.
#
#   check_prometheus.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: check_prometheus.sh SOURCE_DIR}
if ! command -v promtool >/dev/null; then
  echo "check_prometheus: promtool not found (Debian package prometheus; tools/deps.sh installs it)" >&2
  exit 1
fi
cd "$src"
promtool check config deploy/prometheus/prometheus.yml
