#!/usr/bin/env bash
# The Dockerfile, without Docker (this machine has no engine): it builds the
# way README does (tools/deps.sh, then tools/build.sh, then ctest -L unit)
# in a build stage, and the runtime stage copies both binaries from it, runs
# as a user that is not root and has a HEALTHCHECK on /healthz. The runtime
# stage installs the Debian package of every shared library the built
# binaries need (readelf -d: the direct dependencies; ldd: where each was
# found; dpkg-query -S: its package). Package names are this machine's, so
# that check runs only when this machine is the image's Debian release
# (Debian 13 renamed libssl3 to libssl3t64, and hiredis is another soname):
# tools/trixie.sh runs it in a Debian 13 root. Image pins: check_yaml.py.
#
#   check_image.sh SOURCE_DIR GAPWATCHD GAPWATCH
set -euo pipefail
usage="usage: check_image.sh SOURCE_DIR GAPWATCHD GAPWATCH"
src=${1:?$usage}
binaries=("${2:?$usage}" "${3:?$usage}")
dockerfile=${GW_DOCKERFILE:-$src/Dockerfile}  # another file: to see this check fail
rel=${dockerfile#"$src"/}
problems=()
problem() { problems+=("$*"); }

# The instructions, one a line: LINE<TAB>STAGE<TAB>INSTRUCTION<TAB>ARGUMENTS,
# comments dropped and continuation lines joined (STAGE counts FROMs from 0).
instructions=$(awk '
  /^[ \t]*(#|$)/ { next }
  {
    s = $0; sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s)
    if (cur == "") start = NR
    more = sub(/\\$/, "", s)
    cur = cur s " "
    if (more) next
    word = cur; sub(/[ \t].*/, "", word); word = toupper(word)
    args = cur; sub(/^[^ \t]+[ \t]*/, "", args); sub(/[ \t]+$/, "", args)
    if (word == "FROM") stage++
    printf "%d\t%d\t%s\t%s\n", start, stage - 1, word, args
    cur = ""
  }' "$dockerfile")
stages=$(awk -F'\t' '$3 == "FROM"' <<<"$instructions" | wc -l)
runtime=$((stages - 1))

# The first line of a RUN whose words include $1 (and whose text matches the
# regular expression $2, if given); 0 if none.
first_run() {
  awk -F'\t' -v w="$1" -v re="${2:-}" '
    $3 == "RUN" {
      n = split($4, words, /[ \t"\047;&|()]+/)
      for (i = 1; i <= n; i++)
        if (words[i] == w && (re == "" || $4 ~ re)) { print $1; exit }
    }' <<<"$instructions" | grep . || echo 0
}
deps=$(first_run tools/deps.sh)
build=$(first_run tools/build.sh)
ctest=$(first_run ctest '-L unit')
[ "$deps" -ne 0 ] || problem "$rel: no RUN tools/deps.sh (README installs the packages with it)"
[ "$build" -ne 0 ] || problem "$rel: no RUN tools/build.sh (README builds with it)"
[ "$ctest" -ne 0 ] || problem "$rel: no RUN of ctest -L unit (the unit tests before shipping)"
if [ "$deps" -ne 0 ] && [ "$build" -ne 0 ] && [ "$ctest" -ne 0 ] &&
  ! { [ "$deps" -lt "$build" ] && [ "$build" -lt "$ctest" ]; }; then
  problem "$rel: expected deps.sh (line $deps), then build.sh (line $build), then ctest (line $ctest)"
fi
[ "$stages" -ge 2 ] || problem "$rel: one stage: the runtime image would carry the compilers"

# the runtime stage
in_runtime() { awk -F'\t' -v s="$runtime" -v i="$1" '$2 == s && $3 == i' <<<"$instructions"; }
users=$(in_runtime USER)
[ -n "$users" ] || problem "$rel: the runtime stage has no USER: gapwatchd would run as root"
while IFS=$'\t' read -r line _ _ who; do
  who=${who%%:*}
  case "$who" in
    root | 0) problem "$rel:$line: USER $who: the runtime stage must not run as root" ;;
  esac
done <<<"$users"
health=$(in_runtime HEALTHCHECK)
[ -n "$health" ] || problem "$rel: the runtime stage has no HEALTHCHECK on /healthz"
while IFS=$'\t' read -r line _ _ args; do
  [[ $args == */healthz* ]] || problem "$rel:$line: HEALTHCHECK does not ask gapwatchd's /healthz: $args"
done <<<"$health"
copies=$(in_runtime COPY | grep -- '--from=' || true)
for bin in "${binaries[@]}"; do
  # tools/build.sh builds into build/ unless BUILD_DIR says otherwise
  want="build/$(basename "$(dirname "$bin")")/$(basename "$bin")"
  grep -qF -- "$want" <<<"$copies" ||
    problem "$rel: the runtime stage does not COPY --from the build stage's $want"
done
for cmd in tools/deps.sh tools/build.sh ctest; do
  grep -qF -- "$cmd" "$src/README.md" ||
    problem "README.md: does not mention $cmd, which the Dockerfile runs"
done

# The runtime libraries, when this machine is the image's release.
runs=$(in_runtime RUN)
from=$(in_runtime FROM | cut -f4 | sed 's/--[^ ]* //g')
image_release=$(sed -n 's/^debian:\([0-9][0-9]*\)\..*/\1/p' <<<"$from")
host_release=$(cut -d. -f1 /etc/debian_version 2>/dev/null || echo unknown)
checked=0
if [ -z "$image_release" ]; then
  problem "$rel: the runtime stage is not FROM debian:<release>.<point> (got: $from)"
elif [ "$image_release" != "$host_release" ]; then
  echo "note: the runtime image is Debian $image_release, this machine Debian $host_release:" \
    "its package names are checked by the Debian $image_release suite (tools/trixie.sh)" >&2
elif ! command -v readelf >/dev/null || ! command -v ldd >/dev/null || ! command -v dpkg-query >/dev/null; then
  echo "note: readelf, ldd or dpkg-query not found; library check skipped" >&2
else
  install_line=$(awk -F'\t' '/apt-get install/ { print $1; exit }' <<<"$runs")
  # every word of the runtime stage's RUNs, one a line
  words=$(cut -f4 <<<"$runs" | tr -s ' \t"'"'"';&|()' '\n')
  for bin in "${binaries[@]}"; do
    name="$(basename "$(dirname "$bin")")/$(basename "$bin")"
    resolved=$(ldd "$bin")
    for soname in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
      case "$soname" in
        libasan* | libubsan* | liblsan* | libtsan*) continue ;; # sanitizer builds; the image is not one
      esac
      # Match the library's directory too (x86_64-linux-gnu/libm.so.6):
      # other architectures' copies (libc6-i386) may be installed beside it.
      path=$(awk -v s="$soname" '$1 == s && $2 == "=>" { print $3; exit }' <<<"$resolved")
      dir=$(basename "$(dirname "${path:-/x/y}")")
      pkg=$(dpkg-query -S "*/$dir/$soname" 2>/dev/null | head -1 | sed 's/[:, ].*//' || true)
      if [ -z "$pkg" ]; then
        problem "$name needs $soname, which no installed Debian package provides"
        continue
      fi
      case "$pkg" in
        libc6 | libgcc-s1) continue ;; # in every Debian image, the slim one too
      esac
      checked=$((checked + 1))
      grep -qxF -- "$pkg" <<<"$words" ||
        problem "$rel:$install_line: the runtime stage does not install $pkg, which provides $soname needed by $name"
    done
  done
fi

if [ ${#problems[@]} -gt 0 ]; then
  echo "Dockerfile: ${#problems[@]} problem(s)" >&2
  printf '  %s\n' "${problems[@]}" >&2
  exit 1
fi
echo "Dockerfile: ok ($stages stages, $checked shared-library dependencies installed by the runtime stage)"
