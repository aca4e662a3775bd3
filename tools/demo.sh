#!/usr/bin/env bash
# The main job on embedded defaults: installs what is missing, builds, starts
# a redis-server and the embedded Kafka (librdkafka's mock cluster) on free
# loopback ports, simulates a month of a small sales org (gapwatch sim, event
# time compressed), runs gapwatchd on it, prints the alerts as they arrive,
# and ends with a scoreboard per rep against the simulation's ground truth.
# Cleans up after itself; Ctrl-C stops it cleanly at any point.
#
# Environment: DEMO_TEAMS (3), DEMO_REPS (10 per team), DEMO_DAYS (30),
# DEMO_SECONDS (how long the simulated month takes, 60), DEMO_SEED (1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TEAMS=${DEMO_TEAMS:-3}
REPS=${DEMO_REPS:-10}
DAYS=${DEMO_DAYS:-30}
SECONDS_=${DEMO_SECONDS:-60}
SEED=${DEMO_SEED:-1}

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
if ! [ -s "$WORK/bootstrap" ] || ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  echo "demo: redis-server or the embedded Kafka did not start; logs:" >&2
  tail -n 5 "$WORK/redis.log" "$WORK/kafka-mock.log" >&2 || true
  exit 1
fi
BOOTSTRAP=$(cat "$WORK/bootstrap")
echo "demo: redis-server on 127.0.0.1:$REDIS_PORT, embedded Kafka on $BOOTSTRAP"

# The simulation's windows and playbook, plus where the servers are.
{
  "$GW" sim --print-config
  cat <<YAML
kafka:
  bootstrap_servers: "$BOOTSTRAP"
redis:
  port: $REDIS_PORT
metrics:
  listen: ""
evaluation:
  sweep_interval: 2s
  min_interval: 1s
alerting:
  windows: [7d]
  resolve_after: 2d
  repeat_interval: 0s
YAML
} >"$WORK/gapwatchd.yaml"
"$GWD" --check-config "$WORK/gapwatchd.yaml" >/dev/null
"$GWD" -c "$WORK/gapwatchd.yaml" 2>"$WORK/gapwatchd.log" &
GWD_PID=$!
pids+=($GWD_PID)

# Alerts as they arrive, from the alert topic.
"$GW" alerts -F "$WORK/bootstrap" --from-beginning 2>"$WORK/alerts.log" \
  > >(sed -u 's/^/  alert  /') &
pids+=($!)

# The simulated days end mid-month (the 17th, 18:00 UTC, the latest one
# not after now), so the month's pace is judged and BEHIND_PACE alerts show
# their plan whatever the day the demo runs (docs/calendars.md).
if [ "$(date -u +%-d)" -gt 17 ] || { [ "$(date -u +%-d)" -eq 17 ] && [ "$(date -u +%-H)" -ge 18 ]; }; then
  END=$(date -u +%Y-%m-17T18:00)
else
  END=$(date -u -d "$(date -u +%Y-%m-01) -1 day" +%Y-%m-17T18:00)
fi
speed=$((DAYS * 86400 / SECONDS_))
echo "demo: simulating $DAYS days to $END UTC of $TEAMS teams x $REPS reps in about" \
  "${SECONDS_}s (event time x$speed); alerts as gapwatchd publishes them:"
"$GW" sim -F "$WORK/bootstrap" --teams "$TEAMS" --reps "$REPS" --days "$DAYS" \
  --seed "$SEED" --speed "$speed" --end "$END" --truth "$WORK/truth.jsonl" 2>"$WORK/sim.log" &
SIM_PID=$!
pids+=($SIM_PID)
if ! wait "$SIM_PID"; then
  echo "demo: gapwatch sim failed:" >&2
  cat "$WORK/sim.log" >&2
  exit 1
fi
produced=$(sed -n 's/^gapwatch sim: \([0-9][0-9]*\) events.*/\1/p' "$WORK/sim.log" | tail -n 1)

# Wait until gapwatchd has applied every produced event (its positions in
# Redis), then for one more evaluation of every rep.
consumed=0
for _ in $(seq 600); do
  consumed=$(redis-cli -p "$REDIS_PORT" hgetall gw:positions:sales.events |
    awk 'NR % 2 == 1 { k = $0 } NR % 2 == 0 && k !~ /^wm:/ { s += $0 } END { print s + 0 }')
  [ -n "$produced" ] && [ "$consumed" -ge "$produced" ] && break
  kill -0 "$GWD_PID" 2>/dev/null || break
  sleep 0.1
done
if ! kill -0 "$GWD_PID" 2>/dev/null; then
  echo "demo: gapwatchd exited early; its log:" >&2
  tail -n 20 "$WORK/gapwatchd.log" >&2
  exit 1
fi
echo
echo "demo: gapwatchd applied $consumed of ${produced:-?} events; the scoreboard (7-day window):"
echo
status=0
"$GW" scoreboard -r "127.0.0.1:$REDIS_PORT" --truth "$WORK/truth.jsonl" --wait 30 || status=$?
echo
"$GW" rep -r "127.0.0.1:$REDIS_PORT" acme north-r03 | sed -n '1,12p'
echo

# Stop gapwatchd as an operator would (SIGTERM: finish, commit, exit 0).
kill -TERM "$GWD_PID"
wait "$GWD_PID"
echo "demo: gapwatchd exited with status $?; its summary:"
grep 'msg="gapwatchd stopping"' "$WORK/gapwatchd.log" | sed 's/^/  /'
exit "$status"
