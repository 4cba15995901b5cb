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
# The fuzzers run a fixed number of inputs per harness with a fixed seed
# (tests/fuzz/run_fuzzers.sh): the job is deterministic, so a CI run repeats the local one
# exactly (a time budget let CI explore inputs no local run had seen).

echo "== sanitizers: configure and build build-asan/ (clang, ASan + UBSan + libFuzzer)"
mkdir -p build-asan
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
      -DHALITE_SANITIZE=ON -DHALITE_FUZZ=ON -DHALITE_ENABLE_CUDA=OFF -DHALITE_BUILD_BENCH=OFF \
      -DHALITE_ENABLE_MPI=OFF \
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
  Validate.TheReferenceCellReproducesTheTableOfTheDocs
  Fit.SyntheticTruthIsFittedBackWithinItsIntervals
  Fit.FisherIntervalsCoverTheTruthForMostNoiseSeeds
  Fit.AnExactlyTradingPairIsFlagged
  Fit.AKilledFitResumesToTheSameOptimum
)
# The write-fault tests inject failures with LD_PRELOAD; in an ASan executable the sanitizer's
# own write/pwrite interceptors are linked in and resolve first, so the injector sees no write.
slow+=(
  WriteFaults.AFullDiskStopsTheRunAndItResumesOnceThereIsSpace
  WriteFaults.AFailingDeviceStopsTheRunAndItResumes
)
exclude="^($(IFS='|'; echo "${slow[*]}" | sed 's/\./\\./g'))\$"
echo "== sanitizers: test suite under ASan + UBSan (${#slow[@]} slow or LD_PRELOAD tests left out)"
ctest --test-dir build-asan -j"${jobs}" --output-on-failure --timeout 300 -E "${exclude}"

echo "== fuzz: each harness a fixed number of inputs (seed 1)"
bash tests/fuzz/run_fuzzers.sh --build build-asan --seed 1
echo "== sanitizers and fuzzers: clean"
