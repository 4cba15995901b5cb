#!/usr/bin/env bash
# Profile (not a test): where a reference 1C CCCV cycle spends its CPU time. Samples
# bench_core's measured cycles with perf (DWARF call stacks: no frame-pointer build needed) and
# writes a flame graph and a flat profile with bench/flamegraph.py.
#
#   bash bench/profile.sh [BUILD_DIR] [CYCLES] [OUT.svg]
#
# Needs perf (Debian: linux-perf) and a Release build of bench_core in BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
cycles=${2:-10}
svg=${3:-profile.svg}
data=$(mktemp)
trap 'rm -f "${data}"' EXIT
perf record --quiet --call-graph dwarf,16384 -F 999 -o "${data}" \
  "${build}/bench/bench_core" --cycles "${cycles}" > /dev/null
perf script -i "${data}" 2> /dev/null | python3 bench/flamegraph.py --svg "${svg}" --top 25
