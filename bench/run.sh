#!/bin/sh
# Builds every benchmark under bench/ (Release) and runs each one, printing its figures.
# Needs root for bench_foundation (BPF programs, audit rules). Usage:
#   bench/run.sh [BUILD_DIR]        (default: build-bench-release next to this script's repo)
# Environment: JOBS (default 2), FOUNDATION_ARGS (extra arguments for bench_foundation).
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$repo/build-bench-release}
jobs=${JOBS:-2}

# Every bench/<dir>/CMakeLists.txt adds executables; find their names from add_executable().
targets=$(sed -n 's/^[[:space:]]*add_executable(\([A-Za-z0-9_-]*\).*/\1/p' "$repo"/bench/*/CMakeLists.txt | sort -u)
if [ -z "$targets" ]; then
  echo "bench: no benchmark targets under $repo/bench" >&2
  exit 1
fi

cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
# One target at a time: a benchmark that does not build is reported, the others still run.
built=
for t in $targets; do
  if cmake --build "$build" --target "$t" -j"$jobs" >"$build/bench-build-$t.log" 2>&1; then
    built="$built $t"
  else
    echo "bench: $t did not build (see $build/bench-build-$t.log)" >&2
  fi
done

# auditd for the comparison in bench_foundation: start it if it is not running, stop it after.
started_auditd=
if command -v auditctl >/dev/null 2>&1 && ! pidof auditd >/dev/null 2>&1; then
  if /sbin/auditd >/tmp/mw-bench-auditd.log 2>&1; then
    sleep 1
    started_auditd=$(pidof auditd || true)
    echo "bench: started auditd (pid ${started_auditd:-?})"
  else
    echo "bench: could not start /sbin/auditd: $(cat /tmp/mw-bench-auditd.log)"
  fi
fi
stop_auditd() {
  if [ -n "$started_auditd" ]; then
    kill "$started_auditd" 2>/dev/null || true
  fi
}
trap stop_auditd EXIT

status=0
for t in $built; do
  bin=$(find "$build/bench" -type f -name "$t" -perm -u+x | head -n 1)
  if [ -z "$bin" ]; then
    echo "bench: $t was not built" >&2
    status=1
    continue
  fi
  echo
  echo "================ $t ================"
  case "$t" in
    bench_foundation)
      # shellcheck disable=SC2086
      "$bin" ${FOUNDATION_ARGS:-} || status=1 ;;
    *)
      # Google Benchmark binaries: medians of repeated runs.
      if "$bin" --help 2>&1 | grep -q benchmark_repetitions; then
        "$bin" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true || status=1
      else
        "$bin" || status=1
      fi ;;
  esac
done
exit $status
