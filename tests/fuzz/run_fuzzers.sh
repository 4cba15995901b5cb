#!/usr/bin/env bash
# Runs the libFuzzer harnesses of tests/fuzz (built by .ci/sanitize.sh in build-asan/: clang,
# ASan + UBSan + libFuzzer) on the seed corpus, a fixed number of inputs each with a fixed seed,
# so that a run repeats exactly. A crash, a sanitizer report, a leak, an input that takes more
# than 10 s, more than 2 GB in all or 1 GB in one allocation, or an exception other than the
# documented located error fails it and keeps the input in BUILD/fuzz-artifacts/.
#
#   bash tests/fuzz/run_fuzzers.sh [--build DIR] [--seed N] [--runs N] [HARNESS...]
#
# Without --runs each harness runs CI's count (about 30 s each on a 2-core VM); the long runs of
# docs/reliability.md are `--seed 2 --runs 1000000`. HARNESS: config, set, sweep, checkpoint
# (default: all four).
set -euo pipefail
cd "$(dirname "$0")/../.."
build=build-asan
seed=1
runs=""
harnesses=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) harnesses+=("$1"); shift ;;
  esac
done
[[ ${#harnesses[@]} -gt 0 ]] || harnesses=(config set sweep checkpoint)
# CI's counts: about 30 s each here (the config and --set harnesses parse a whole configuration
# per input)
declare -A ci_runs=([config]=20000 [set]=20000 [sweep]=40000 [checkpoint]=80000)

corpus=${build}/fuzz-corpus
artifacts=${build}/fuzz-artifacts
rm -rf "${corpus}" "${artifacts}"
mkdir -p "${artifacts}" "${corpus}"/{config,set,sweep,checkpoint}
cp configs/reference_nmc721_lspscl.yaml configs/shell_architecture.yaml \
   configs/stack_pressure_low.yaml "${corpus}/config/"
cp configs/sweep_*.yaml "${corpus}/sweep/"
cp tests/fuzz/seeds/set/* "${corpus}/set/"
# a real checkpoint of this build's format: one cycle of the reference cell
seed_run=$(mktemp -d)
"${build}/halite" run -q --cycles 1 -o "${seed_run}/seed.h5"
cp "${seed_run}/seed.h5.checkpoint" "${corpus}/checkpoint/"
rm -rf "${seed_run}"
for harness in "${harnesses[@]}"; do
  log="${build}/fuzz_${harness}.log"
  n=${runs:-${ci_runs[${harness}]}}
  start=$(date +%s)
  # (timeout -s KILL: a fuzzer stuck reporting an out-of-memory input, once stopped for over an
  # hour here, must not stall CI)
  if ! timeout -s KILL $((120 + n / 20)) "${build}/tests/fuzz/fuzz_${harness}" -seed="${seed}" \
       -runs="${n}" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
       -max_len=65536 -artifact_prefix="${artifacts}/${harness}-" \
       "${corpus}/${harness}" > "${log}" 2>&1; then
    tail -40 "${log}"
    echo "fuzz_${harness}: FAILED (input in ${artifacts})"
    exit 1
  fi
  echo "fuzz_${harness}: seed ${seed}, $(grep -E '^Done' "${log}" | tail -1), 0 crashes," \
       "$(( $(date +%s) - start )) s wall"
done
