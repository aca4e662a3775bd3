#!/usr/bin/env bash
# Writes deploy/k8s/prometheusrule.yaml from deploy/prometheus/rules/
# gapwatch.rules.yml: the rules verbatim under `spec:` (indented by two).
# With --stdout, prints it instead (tests/deploy/check_rules.sh compares).
set -euo pipefail
cd "$(dirname "$0")/.."
render() {
  cat <<'HEAD'
# PrometheusRule for the Prometheus Operator: the operators' alerting rules
# of deploy/prometheus/rules/gapwatch.rules.yml, verbatim under `spec:`
# (tests/deploy/check_rules.sh checks they are the same and runs `promtool
# check rules` on this spec). Edit the rules file, then regenerate with:
#   tools/k8s-rules.sh
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: gapwatchd
  labels:
    app.kubernetes.io/name: gapwatchd
    app.kubernetes.io/part-of: gapwatch
spec:
HEAD
  sed -n '/^groups:/,$p' deploy/prometheus/rules/gapwatch.rules.yml | sed 's/^\(.\)/  \1/'
}
if [ "${1:-}" = "--stdout" ]; then
  render
else
  render >deploy/k8s/prometheusrule.yaml
fi
