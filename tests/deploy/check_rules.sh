#!/usr/bin/env bash
# The operators' alerting rules: `promtool check rules` (syntax, PromQL,
# templates) and `promtool test rules` (each alert fires, and only, on the
# series of deploy/prometheus/rules/gapwatch.rules.test.yml).
set -euo pipefail
cd "$(dirname "$0")/../../deploy/prometheus/rules"
if ! command -v promtool >/dev/null; then
  echo "check_rules: promtool not found (Debian package prometheus; tools/deps.sh installs it)" >&2
  exit 1
fi
promtool check rules gapwatch.rules.yml
promtool test rules gapwatch.rules.test.yml
