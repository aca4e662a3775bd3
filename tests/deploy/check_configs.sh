#!/usr/bin/env bash
# The gapwatchd configurations shipped under deploy/ pass the daemon's own
# `gapwatchd --check-config` (every error with its line): the compose
# stack's deploy/gapwatchd.compose.yaml, and the config the k8s ConfigMap
# embeds as data."gapwatchd.yaml" (taken out with PyYAML; its errors are
# reported at their line of configmap.yaml).
#
#   check_configs.sh SOURCE_DIR GAPWATCHD
set -euo pipefail
src=${1:?usage: check_configs.sh SOURCE_DIR GAPWATCHD}
gapwatchd=${2:?usage: check_configs.sh SOURCE_DIR GAPWATCHD}
# the shipped configs read the Redis password from this variable
export GAPWATCH_REDIS_PASSWORD=not-a-secret
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

rel=deploy/gapwatchd.compose.yaml
if ! "$gapwatchd" --check-config "$src/$rel" >"$tmp/out" 2>&1; then
  echo "$rel: gapwatchd --check-config rejects it:" >&2
  sed "s|$src/||" "$tmp/out" >&2
  failed=1
fi

rel=deploy/k8s/configmap.yaml
if ! python3 -c 'import yaml' 2>/dev/null; then
  echo "note: python3-yaml not installed; $rel not checked" >&2
  [ $failed -eq 0 ] && exit 77
  exit 1
fi
# Prints the line of configmap.yaml just before the embedded text (a block
# scalar starts on the line after its key), writes the text to argv[2].
if ! offset=$(python3 - "$src/$rel" "$tmp/gapwatchd.yaml" <<'EOF'
import sys, yaml
for doc in yaml.compose_all(open(sys.argv[1], encoding="utf-8"), Loader=yaml.SafeLoader):
    if not isinstance(doc, yaml.MappingNode):
        continue
    top = {k.value: v for k, v in doc.value}
    if getattr(top.get("kind"), "value", None) != "ConfigMap":
        continue
    data = {k.value: v for k, v in getattr(top.get("data"), "value", [])}
    node = data.get("gapwatchd.yaml")
    if isinstance(node, yaml.ScalarNode):
        open(sys.argv[2], "w", encoding="utf-8").write(node.value)
        print(node.start_mark.line + 1 if node.style in ("|", ">") else node.start_mark.line)
        sys.exit(0)
sys.exit(1)
EOF
); then
  echo "$rel: no ConfigMap with data.\"gapwatchd.yaml\"" >&2
  exit 1
fi
if ! "$gapwatchd" --check-config "$tmp/gapwatchd.yaml" >"$tmp/out" 2>&1; then
  echo "$rel: data.\"gapwatchd.yaml\" fails gapwatchd --check-config:" >&2
  # gapwatchd names the temporary file and the embedded text's line:
  # name configmap.yaml and its line instead.
  awk -v f="$tmp/gapwatchd.yaml" -v rel="$rel" -v off="$offset" '{
    p = index($0, f ":")
    if (p) {
      rest = substr($0, p + length(f) + 1)
      if (match(rest, /^[0-9]+/)) {
        n = substr(rest, 1, RLENGTH) + off
        $0 = substr($0, 1, p - 1) rel ":" n substr(rest, RLENGTH + 1)
      }
    }
    print
  }' "$tmp/out" >&2
  failed=1
fi
if [ $failed -eq 0 ]; then
  echo "gapwatchd --check-config: ok for deploy/gapwatchd.compose.yaml and $rel"
fi
exit $failed
