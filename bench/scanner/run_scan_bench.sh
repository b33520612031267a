#!/bin/sh
# Scanner figures in one run: the host's single-core SHA-256 ceiling (openssl speed) before
# and after, the load average, and scanner_bench with its cases interleaved and repeated.
# Usage: bench/scanner/run_scan_bench.sh BUILD_DIR [REPETITIONS]   (default 3)
set -eu
build=${1:?usage: run_scan_bench.sh BUILD_DIR [REPETITIONS]}
reps=${2:-3}
bin=$build/bench/scanner/scanner_bench
[ -x "$bin" ] || { echo "scanner bench: $bin is not built (cmake --build $build --target scanner_bench)" >&2; exit 2; }
ceiling() { openssl speed -seconds 3 -bytes 16777216 -evp sha256 2>/dev/null | awk '/^sha256/ {printf "%.0f MB/s\n", $2 / 1000}'; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "openssl sha256 ceiling (one core, 16 MiB blocks) before: $(ceiling)"
"$bin" --benchmark_repetitions="$reps" --benchmark_enable_random_interleaving=true \
       --benchmark_report_aggregates_only=false
echo "openssl sha256 ceiling after: $(ceiling)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
