#!/usr/bin/env bash
# deploy/systemd/gapwatchd.service: sandboxed (DynamicUser=yes,
# ProtectSystem=strict), speaks sd_notify (Type=notify, a WatchdogSec,
# ExecReload sending SIGHUP), runs the installed /usr/local/bin/gapwatchd,
# passes `systemd-analyze verify` with no warning naming it, and
# `systemd-analyze security --offline=yes` rates its exposure 2.0 or less.
# verify checks that ExecStart's binary exists, so the unit is verified with
# the daemon at its build path.
#
#   check_systemd.sh SOURCE_DIR GAPWATCHD
set -euo pipefail
usage="usage: check_systemd.sh SOURCE_DIR GAPWATCHD"
src=${1:?$usage}
gapwatchd=${2:?$usage}
unit=${GW_UNIT:-$src/deploy/systemd/gapwatchd.service} # another file: to see this check fail
rel=${unit#"$src"/}
installed=/usr/local/bin/gapwatchd
problems=()
problem() { problems+=("$*"); }
report() {
  if [ ${#problems[@]} -gt 0 ]; then
    echo "$rel: ${#problems[@]} problem(s)" >&2
    printf '  %s\n' "${problems[@]}" >&2
    exit 1
  fi
}

# LINE<TAB>VALUE of the last assignment of $1 (systemd: the last one wins).
setting() {
  awk -v k="$1" 'index($0, k "=") == 1 { l = NR; v = substr($0, length(k) + 2) }
    END { if (l) printf "%d\t%s\n", l, v }' "$unit"
}
# expect KEY TEST WHAT: TEST is a shell pattern the value must match.
expect() {
  local key=$1 pattern=$2 what=$3 found line value
  found=$(setting "$key")
  if [ -z "$found" ]; then
    problem "$rel: no $key= ($what)"
    return
  fi
  line=${found%%$'\t'*}
  value=${found#*$'\t'}
  # shellcheck disable=SC2254 # the pattern is meant to glob
  case "$value" in
    $pattern) ;;
    *) problem "$rel:$line: $key=$value: $what" ;;
  esac
}
expect DynamicUser yes "expected DynamicUser=yes"
expect ProtectSystem strict "expected ProtectSystem=strict"
# gapwatchd speaks sd_notify: READY=1, WATCHDOG=1, RELOADING=1 on SIGHUP
expect Type notify "expected Type=notify (gapwatchd speaks sd_notify)"
expect WatchdogSec '[1-9]*' "expected a WatchdogSec (gapwatchd pings the watchdog)"
expect ExecReload '*-HUP $MAINPID*' "ExecReload does not send SIGHUP to \$MAINPID"
expect ExecStart "$installed *" "ExecStart does not run $installed"
report

if ! command -v systemd-analyze >/dev/null; then
  echo "note: systemd-analyze not found; verify and security skipped" >&2
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A trivial unit with the same dependencies first: if even that fails, this
# environment cannot run systemd-analyze (no unit files, a sandbox), which
# is not the unit's fault.
printf '%s\n' '[Unit]' 'Description=control' 'After=network-online.target' \
  'Wants=network-online.target' '[Service]' 'ExecStart=/bin/true' \
  '[Install]' 'WantedBy=multi-user.target' >"$tmp/gw-control.service"
if ! out=$(systemd-analyze verify --man=no "$tmp/gw-control.service" 2>&1); then
  echo "note: systemd-analyze verify fails even on a trivial unit here; skipped:" >&2
  echo "$out" >&2
  exit 77
fi
sed "s|$installed|$gapwatchd|g" "$unit" >"$tmp/gapwatchd.service"
# verify exits 0 on unknown keys and bad values: it only warns, naming the
# file (and the line), so any output naming it is a problem too.
rc=0
out=$(systemd-analyze verify --man=no "$tmp/gapwatchd.service" 2>&1) || rc=$?
if [ $rc -ne 0 ] || grep -q gapwatchd.service <<<"$out"; then
  problem "$rel: systemd-analyze verify (exit $rc):"
  while IFS= read -r l; do problems+=("  ${l//$tmp\/gapwatchd.service/$rel}"); done <<<"$out"
fi
# exposure 2.0 or less ("OK"); --offline needs systemd 250 or newer
rc=0
out=$(systemd-analyze security --offline=yes --threshold=20 "$tmp/gapwatchd.service" 2>&1) || rc=$?
level=$(grep -m1 'Overall exposure level' <<<"$out" || true)
if [ -z "$level" ]; then
  echo "note: systemd-analyze security --offline not usable here; skipped" >&2
elif [ $rc -ne 0 ]; then
  problem "$rel: systemd-analyze security rates it above 2.0: ${level#*→ }"
  # the settings that cost the most exposure
  while IFS= read -r l; do problems+=("  $l"); done < <(grep '^✗' <<<"$out" |
    awk '{ print $NF "\t" $0 }' | sort -rn -k1,1 | cut -f2- | head -8)
fi
report
echo "$rel: ok (systemd-analyze verify clean; security:${level#*:})"
