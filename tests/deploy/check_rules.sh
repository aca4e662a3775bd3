#!/usr/bin/env bash
# The operators' alerting rules: `promtool check rules` (syntax, PromQL,
# templates) and `promtool test rules` (each alert fires, and only, on the
# series of deploy/prometheus/rules/gapwatch.rules.test.yml). The k8s
# PrometheusRule must carry the same rules (tools/k8s-rules.sh writes it)
# and its spec must pass `promtool check rules` as well.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root/deploy/prometheus/rules"
if ! command -v promtool >/dev/null; then
  echo "check_rules: promtool not found (Debian package prometheus; tools/deps.sh installs it)" >&2
  exit 1
fi
promtool check rules gapwatch.rules.yml
promtool test rules gapwatch.rules.test.yml

k8s="$root/deploy/k8s/prometheusrule.yaml"
if ! "$root/tools/k8s-rules.sh" --stdout | diff -u "$k8s" - >&2; then
  echo "check_rules: $k8s differs from gapwatch.rules.yml; run tools/k8s-rules.sh" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the PrometheusRule's spec, de-indented: a rules file for promtool
sed -n '/^spec:$/,$p' "$k8s" | tail -n +2 | sed 's/^  //' >"$tmp/spec.rules.yml"
promtool check rules "$tmp/spec.rules.yml"
