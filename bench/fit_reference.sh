#!/usr/bin/env bash
# Benchmark (not a test): wall time of `halite fit` on the reference cell — the aging stage of
# the calibration, three parameters (k_RS, chi, V_O) against the 1C fade points and the
# observations after 4000 cycles (validation/fit_aging.yaml; every evaluation runs the full
# 4004-cycle protocol with cycle skipping, the aging bookkeeping and the writer-free comparison)
# — with 1 thread and with T threads, in one run, and the ratio. docs/performance.md records it.
#
#   bash bench/fit_reference.sh [build/halite] [T]
#
# The fit starts from the calibrated values; profiles are off (validation/fit_aging.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
halite=${1:-build/halite}
threads=${2:-$(nproc)}
work=$(mktemp -d)
trap 'rm -rf "${work}"' EXIT
declare -A seconds evaluations
for t in 1 "${threads}"; do
  start=$(date +%s.%N)
  "${halite}" fit validation/fit_aging.yaml -q --threads "${t}" -o "${work}/fit_${t}.h5" \
    > "${work}/report_${t}.md"
  end=$(date +%s.%N)
  seconds[${t}]=$(python3 -c "print(f'{${end} - ${start}:.1f}')")
  evaluations[${t}]=$(grep -o '[0-9]* evaluations' "${work}/report_${t}.md" | head -1)
  echo "threads ${t}: ${seconds[${t}]} s wall, ${evaluations[${t}]}"
done
grep -A6 '^| parameter' "${work}/report_${threads}.md"
python3 -c "print(f'speed-up {${seconds[1]}} s / {${seconds[${threads}]}} s = {${seconds[1]} / ${seconds[${threads}]}:.2f} x with ${threads} threads')"
