#!/usr/bin/env bash
# The main job on embedded defaults: installs what is missing, builds, starts
# a redis-server and the embedded Kafka (librdkafka's mock cluster) on free
# loopback ports, produces the sample events, runs gapwatchd, prints the
# reps' window totals, and cleans up. Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

tools/deps.sh
BUILD_DIR=build tools/build.sh
GW=$ROOT/build/tools/gapwatch
GWD=$ROOT/build/daemon/gapwatchd

WORK=$(mktemp -d /tmp/gapwatch-demo.XXXXXX)
pids=()
cleanup() {
  trap - EXIT INT TERM
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted, cleaning up" >&2; exit 130' INT TERM

free_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  echo "demo: no free port found" >&2
  exit 1
}

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK" --save '' \
  --appendonly no --logfile "$WORK/redis.log" &
pids+=($!)
"$GW" kafka-mock -n 3 -o "$WORK/bootstrap" >/dev/null 2>"$WORK/kafka-mock.log" &
pids+=($!)
for _ in $(seq 100); do
  [ -s "$WORK/bootstrap" ] && redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done
BOOTSTRAP=$(cat "$WORK/bootstrap")
echo "demo: redis-server on 127.0.0.1:$REDIS_PORT, embedded Kafka on $BOOTSTRAP"

cat >"$WORK/gapwatchd.yaml" <<YAML
kafka:
  bootstrap_servers: "$BOOTSTRAP"
redis:
  port: $REDIS_PORT
metrics:
  listen: ""
YAML
"$GWD" -c "$WORK/gapwatchd.yaml" 2>"$WORK/gapwatchd.log" &
pids+=($!)

echo "demo: producing tools/sample-events.jsonl"
"$GW" produce -F "$WORK/bootstrap" tools/sample-events.jsonl || true

total=$(grep -c . tools/sample-events.jsonl)
for _ in $(seq 300); do
  done_=$(redis-cli -p "$REDIS_PORT" hgetall gw:positions:sales.events |
    awk 'NR % 2 == 1 { k = $0 } NR % 2 == 0 && k !~ /^wm:/ { s += $0 } END { print s + 0 }')
  [ "$done_" -ge "$total" ] && break
  sleep 0.1
done
echo "demo: gapwatchd consumed $done_ of $total messages"
echo
for rep in r1 r4; do
  "$GW" rep -r "127.0.0.1:$REDIS_PORT" acme "$rep"
  echo
done
# Stop gapwatchd as an operator would (SIGTERM: finish, commit, exit 0).
kill -TERM "${pids[2]}"
wait "${pids[2]}"
echo "demo: gapwatchd exited with status $?; its summary:"
grep 'msg="gapwatchd stopping"' "$WORK/gapwatchd.log" | sed 's/^/  /'
echo "demo: the one bad sample line (rep_id \"r:6\") is in the dead-letter topic sales.events.dlq"
