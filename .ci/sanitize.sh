#!/usr/bin/env bash
# The sanitizer and fuzz job (docs/reliability.md), run by tests/run_all.sh after the main suite:
#  1. build-asan/: everything built with clang, AddressSanitizer + UndefinedBehaviorSanitizer
#     (HALITE_SANITIZE) and libFuzzer instrumentation (HALITE_FUZZ);
#  2. the test suite under the sanitizers, without the slow long-protocol tests (all of them pass
#     under ASan too, in 13 minutes on two cores: docs/reliability.md), and without the
#     installed-package example (it builds a program without the sanitizer runtime);
#  3. each libFuzzer harness of tests/fuzz for a fixed number of inputs (seed 1; about 30 s each)
#     from its seed corpus; any crash, sanitizer report, leak, timeout (> 10 s per input) or unexpected
#     exception fails the job and leaves the input in build-asan/fuzz-artifacts/.
# Usage: bash .ci/sanitize.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs=$(nproc 2>/dev/null || echo 2)
# Inputs per harness (about 30 s each on two cores), with a fixed seed: the job is
# deterministic, so a CI run repeats the local one exactly (a time budget let CI explore inputs
# no local run had seen). HALITE_FUZZ_SCALE multiplies them for longer runs.
fuzz_scale=${HALITE_FUZZ_SCALE:-1}
declare -A fuzz_runs=([config]=5000 [set]=4000 [sweep]=40000 [checkpoint]=80000)

echo "== sanitizers: configure and build build-asan/ (clang, ASan + UBSan + libFuzzer)"
mkdir -p build-asan
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
      -DHALITE_SANITIZE=ON -DHALITE_FUZZ=ON -DHALITE_ENABLE_CUDA=OFF -DHALITE_BUILD_BENCH=OFF \
      > build-asan/configure.log
cmake --build build-asan -j"${jobs}" > build-asan/build.log || { tail -50 build-asan/build.log; exit 1; }

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# Tests above 8 s under ASan on two cores (each passes; docs/reliability.md has the full run).
slow=(
  Mechanism.StressDrivenExchangeChangesTheRetentionCurve
  Mechanism.HalvingTheSlowStateCouplingIntervalChangesRetentionByLessThanATenthOfAPoint
  CycleSkipping.CrackDrivenFadeStaysWithinThreeTenthsOfAPercentagePoint
  CycleSkipping.CellsOfABatchSkipOnTheirOwn
  CycleSkipping.StaysWithinThreeTenthsOfAPercentagePointOfTheFullRun
  CycleSkipping.AFailedCellDoesNotHoldTheBatchBack
  CycleSkipping.CapacitiesOfSkippedCyclesBalanceTheCathodeLithium
  SweepCli.SigtermStopsTheSweepAndItResumes
  SweepCli.SigkilledSweepKeepsEveryFinishedCase
  SweepCli.InterruptedSweepKeepsEveryFinishedCase
  SweepCli.ResumedSweepEqualsAnUninterruptedOne
  SweepCli.SimilarBatchesOfScatteredCasesMatchDesignOrder
  SweepCli.EndToEndMatchesSingleRunsAndRecordsFailures
  SweepRun.BlocksOfCyclesAndInterleavedBatchesWriteTheSameRows
  Resume.AFinalFailureSaysWhichCycleAndKeepsTheTable
  Resume.KilledTwiceAndResumedGivesTheUninterruptedTable
  Resume.SigtermStopsAtACycleBoundaryAndTheRunResumes
  Resume.WithCycleSkippingTheResumedRunSkipsTheSameCycles
  Resume.ExtendsAFinishedRunWithMoreCycles
  Resume.AFileTheDiskFilledMidWriteIsRebuiltOnResume
  ResumeEngine.RestoredCyclerContinuesLikeTheUninterruptedOne
  Backend.EngineUsesOnlyTheStateAccessTheCudaBackendAllows
  Install.ExampleBuildsAgainstThePackage
)
exclude="^($(IFS='|'; echo "${slow[*]}" | sed 's/\./\\./g'))\$"
echo "== sanitizers: test suite under ASan + UBSan (${#slow[@]} slow tests left out)"
ctest --test-dir build-asan -j"${jobs}" --output-on-failure --timeout 300 -E "${exclude}"

echo "== fuzz: each harness a fixed number of inputs (seed 1, scale ${fuzz_scale})"
corpus=build-asan/fuzz-corpus
artifacts=build-asan/fuzz-artifacts
rm -rf "${corpus}" "${artifacts}"
mkdir -p "${artifacts}" "${corpus}"/{config,set,sweep,checkpoint}
cp configs/reference_nmc721_lspscl.yaml configs/shell_architecture.yaml \
   configs/stack_pressure_low.yaml "${corpus}/config/"
cp configs/sweep_*.yaml "${corpus}/sweep/"
cp tests/fuzz/seeds/set/* "${corpus}/set/"
# a real checkpoint of this build's format: one cycle of the reference cell
seed_run=$(mktemp -d)
build-asan/halite run -q --cycles 1 -o "${seed_run}/seed.h5"
cp "${seed_run}/seed.h5.checkpoint" "${corpus}/checkpoint/"
rm -rf "${seed_run}"
for harness in config set sweep checkpoint; do
  log="build-asan/fuzz_${harness}.log"
  # (timeout -s KILL: a fuzzer stuck reporting an out-of-memory input, once stopped for over an
  # hour here, must not stall CI)
  runs=$((fuzz_runs[${harness}] * fuzz_scale))
  if ! timeout -s KILL $((120 + runs / 20)) build-asan/tests/fuzz/fuzz_${harness} -seed=1 \
       -runs="${runs}" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
       -max_len=65536 -artifact_prefix="${artifacts}/${harness}-" \
       "${corpus}/${harness}" > "${log}" 2>&1; then
    tail -40 "${log}"
    echo "fuzz_${harness}: FAILED (input in ${artifacts})"
    exit 1
  fi
  echo "fuzz_${harness}: $(grep -E '^Done' "${log}" | tail -1), 0 crashes"
done
echo "== sanitizers and fuzzers: clean"
