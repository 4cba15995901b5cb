#!/usr/bin/env bash
# One call on the lent GPU machine: the Gpu.* tests and the GPU benchmark, from a build folder
# made on the development machine (nothing is built here). Prints a short table last.
#
#   bench/gpu_check.sh [BUILD_DIR]          (default: $BUILD_DIR or build-cuda)
#   BENCH_ARGS="--batches 1,64 --cycles 1" bench/gpu_check.sh
#
# Build and carry (docs/gpu.md, "Running on the device"):
#   cmake -S . -B build-cuda -DHALITE_ENABLE_MPI=OFF && cmake --build build-cuda -j2
#   run: command "bench/gpu_check.sh", carry ["build-cuda/cuda", "build-cuda/halite"], kind nvidia-h200
# build-cuda/cuda holds test_gpu, bench_gpu and runtime-libs/ (the shared libraries the GPU
# machine lacks: yaml-cpp, fmt, libsz, libaec), which is put on LD_LIBRARY_PATH.
#
# Time budget: at most 8 minutes (480 s) in all by construction, so that one device call (limit
# 540-600 s) always returns with the summary. Each phase runs under `timeout` with the smaller of
# its own limit and what is left of the total once the later phases' shares are reserved:
#   tests             TEST_TIMEOUT  (default 150 s)
#   benchmark         BENCH_TIMEOUT (default 210 s; bench_gpu's own --budget is 30 s under it:
#                     it starts nothing after that and cuts timed cycles to fit)
#   halite run x 2    RUN_TIMEOUT   (default 45 s each, cuda then cpu, 3 cycles)
#   margin            30 s (start-up, nvidia-smi, the summary)
# TOTAL_BUDGET (default 480 s) caps the sum (a smaller one scales the three limits down). SWEEP=1 adds a fourth part after these: `halite
# sweep` of configs/sweep_lhs256.yaml on the GPU (carry build-cuda/halite too) for SWEEP_TIMEOUT s
# (default 300), added to the total (then 780 s: ask for it only with that much device time),
# writing $OUT/lhs256_gpu.h5; compare it here with the CPU run: python3
# validation/compare_sweeps.py lhs256_cpu.h5 <files_at>/lhs256_gpu.h5 (docs/performance.md).
# The summary table is written to $OUT/summary.txt after every phase (a kill keeps the phases
# done) and printed at the end.
# Environment: TEST_TIMEOUT, BENCH_TIMEOUT, RUN_TIMEOUT, TOTAL_BUDGET, BENCH_ARGS, SWEEP,
# SWEEP_TIMEOUT.
# Exit status: 0 if the tests passed (or skipped) and the benchmark ran; 1 otherwise.
set -u

BUILD_DIR=${1:-${BUILD_DIR:-build-cuda}}
TEST_TIMEOUT=${TEST_TIMEOUT:-150}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-210}
RUN_TIMEOUT=${RUN_TIMEOUT:-45}
TOTAL_BUDGET=${TOTAL_BUDGET:-480}
SWEEP_TIMEOUT=${SWEEP_TIMEOUT:-300}
# A smaller TOTAL_BUDGET scales the three phases' limits down in proportion.
phases=$((TEST_TIMEOUT + BENCH_TIMEOUT + 2 * RUN_TIMEOUT))
if ((TOTAL_BUDGET - 30 < phases)); then
  TEST_TIMEOUT=$((TEST_TIMEOUT * (TOTAL_BUDGET - 30) / phases))
  BENCH_TIMEOUT=$((BENCH_TIMEOUT * (TOTAL_BUDGET - 30) / phases))
  RUN_TIMEOUT=$((RUN_TIMEOUT * (TOTAL_BUDGET - 30) / phases))
fi
[[ "${SWEEP:-0}" == "1" ]] && TOTAL_BUDGET=$((TOTAL_BUDGET + SWEEP_TIMEOUT))
deadline=$(($(date +%s) + TOTAL_BUDGET - 30))  # 30 s kept for the summary
# Seconds a phase may take: its own limit, but no more than what is left before the deadline
# once the later phases' limits (the argument after it) are reserved; at least 1.
phase_limit() {
  local own=$1 reserved=$2 left
  left=$((deadline - $(date +%s) - reserved))
  ((left < own)) && own=$left
  ((own < 1)) && own=1
  echo "$own"
}
bench_budget=$((BENCH_TIMEOUT > 60 ? BENCH_TIMEOUT - 30 : BENCH_TIMEOUT / 2 + 1))
BENCH_ARGS=${BENCH_ARGS:-"--batches 1,64,1024,8192 --cycles 2 --cpu-max-cells 256 --budget $bench_budget"}
CUDA_DIR="$BUILD_DIR/cuda"
LOG_DIR=${OUT:-$(mktemp -d)}
mkdir -p "$LOG_DIR"

say() { echo "gpu_check: $*"; }

# The summary so far, to $LOG_DIR/summary.txt (rewritten after every phase) and, with "print",
# to stdout as well.
test_status="not run" test_detail="" bench_status="not run" bench_detail=""
smoke_status="not run" smoke_detail="" sweep_status="skipped" sweep_detail="SWEEP=1 to run it"
write_summary() {
  {
    echo "== gpu_check summary (budget ${TOTAL_BUDGET}s) =="
    printf '%-10s %-8s %s\n' "part" "status" "detail"
    printf '%-10s %-8s %s\n' "tests" "$test_status" "$test_detail"
    printf '%-10s %-8s %s\n' "benchmark" "$bench_status" "$bench_detail"
    printf '%-10s %-8s %s\n' "run" "$smoke_status" "$smoke_detail"
    printf '%-10s %-8s %s\n' "sweep" "$sweep_status" "$sweep_detail"
    if [[ -f "$LOG_DIR/bench_gpu.log" ]]; then
      sed -n '/^## summary/,$p' "$LOG_DIR/bench_gpu.log"
      # where the GPU time goes (bench_gpu's profile section), when it got that far
      sed -n '/^## where the GPU time goes/,/^per step:/p' "$LOG_DIR/bench_gpu.log"
    fi
  } >"$LOG_DIR/summary.txt"
  [[ "${1:-}" == "print" ]] && cat "$LOG_DIR/summary.txt"
  return 0
}
write_summary

if [[ ! -x "$CUDA_DIR/test_gpu" || ! -x "$CUDA_DIR/bench_gpu" ]]; then
  say "no $CUDA_DIR/test_gpu or $CUDA_DIR/bench_gpu: build on the development machine first"
  say "(cmake -S . -B $BUILD_DIR && cmake --build $BUILD_DIR -j2) and carry $CUDA_DIR"
  exit 1
fi
if [[ -d "$CUDA_DIR/runtime-libs" ]]; then
  libs_dir=$(cd "$CUDA_DIR/runtime-libs" && pwd)
  export LD_LIBRARY_PATH="$libs_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

say "build dir: $BUILD_DIR; logs: $LOG_DIR; $(date -u +%Y-%m-%dT%H:%M:%SZ)"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader |
    sed 's/^/gpu_check: device: /'
else
  say "nvidia-smi not found"
fi
say "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(nproc) cores"
missing=$(ldd "$CUDA_DIR/bench_gpu" "$CUDA_DIR/test_gpu" 2>/dev/null | grep 'not found' | sort -u)
[[ -n "$missing" ]] && say "missing shared libraries: $missing"

# --- tests ------------------------------------------------------------------------------------
test_limit=$(phase_limit "$TEST_TIMEOUT" $((BENCH_TIMEOUT + 2 * RUN_TIMEOUT)))
say "running the Gpu tests (timeout ${test_limit}s)"
t0=$(date +%s)
timeout "$test_limit" "$CUDA_DIR/test_gpu" --gtest_color=no \
  --gtest_output="xml:$LOG_DIR/test_gpu.xml" >"$LOG_DIR/test_gpu.log" 2>&1
test_rc=$?
test_s=$(($(date +%s) - t0))
# failures in full (first 80 lines of them), then gtest's own totals
grep -B2 -A12 -E 'Failure|error:|^\[  FAILED  \].*\(' "$LOG_DIR/test_gpu.log" | head -80
grep -E '^\[==========\]|^\[  PASSED  \]|^\[  FAILED  \] [0-9]|^\[  SKIPPED \] [0-9]' \
  "$LOG_DIR/test_gpu.log"
passed=$(grep -cE '^\[       OK \] .*\([0-9]+ ms\)' "$LOG_DIR/test_gpu.log")
failed=$(grep -cE '^\[  FAILED  \] .*\([0-9]+ ms\)' "$LOG_DIR/test_gpu.log")
skipped=$(grep -cE '^\[  SKIPPED \] .*\([0-9]+ ms\)' "$LOG_DIR/test_gpu.log")
[[ $test_rc -eq 124 ]] && say "tests TIMED OUT after ${test_limit}s"
test_status=$([[ $test_rc -eq 0 ]] && echo PASS || echo FAIL)
test_detail="$passed passed, $failed failed, $skipped skipped, ${test_s}s (rc $test_rc)"
write_summary

# --- benchmark --------------------------------------------------------------------------------
bench_limit=$(phase_limit "$BENCH_TIMEOUT" $((2 * RUN_TIMEOUT)))
say "running bench_gpu $BENCH_ARGS (timeout ${bench_limit}s)"
t0=$(date +%s)
# shellcheck disable=SC2086
timeout "$bench_limit" "$CUDA_DIR/bench_gpu" $BENCH_ARGS >"$LOG_DIR/bench_gpu.log" 2>&1
bench_rc=$?
bench_s=$(($(date +%s) - t0))
sed -n '1,/^## summary/p' "$LOG_DIR/bench_gpu.log" | grep -v '^## summary'
[[ $bench_rc -eq 124 ]] && say "benchmark TIMED OUT after ${bench_limit}s (rows above are complete)"
bench_status=$([[ $bench_rc -eq 0 ]] && echo RAN || echo FAIL)
bench_detail="${bench_s}s (rc $bench_rc), full log $LOG_DIR/bench_gpu.log"
write_summary

# --- the halite binary on the GPU: 3 cycles of the reference cell on both backends ----------------
smoke_status="skipped"
smoke_detail="carry $BUILD_DIR/halite to run it"
if [[ -x "$BUILD_DIR/halite" ]]; then
  smoke_rc=0
  for backend in cuda cpu; do
    run_limit=$(phase_limit "$RUN_TIMEOUT" 0)
    timeout "$run_limit" "$BUILD_DIR/halite" run --cycles 3 --backend "$backend" --overwrite \
      -o "$LOG_DIR/reference3_$backend.h5" >"$LOG_DIR/run_$backend.log" 2>&1 || smoke_rc=$?
    tail -n 2 "$LOG_DIR/run_$backend.log" | sed "s/^/gpu_check: run --backend $backend: /"
  done
  smoke_status=$([[ $smoke_rc -eq 0 ]] && echo RAN || echo FAIL)
  grep -q "no CUDA device" "$LOG_DIR/run_cuda.log" && smoke_status="NO-GPU"
  smoke_detail="rc $smoke_rc; compare $LOG_DIR/reference3_{cuda,cpu}.h5 on the development machine"
fi
write_summary

# --- optional: the 256-case sweep on the GPU -----------------------------------------------------
if [[ "${SWEEP:-0}" == "1" ]]; then
  if [[ -x "$BUILD_DIR/halite" ]]; then
    sweep_limit=$(phase_limit "$SWEEP_TIMEOUT" 0)
    say "running halite sweep configs/sweep_lhs256.yaml --backend cuda (timeout ${sweep_limit}s)"
    t0=$(date +%s)
    timeout "$sweep_limit" "$BUILD_DIR/halite" sweep configs/sweep_lhs256.yaml --cycles 4000 \
      --backend cuda -o "$LOG_DIR/lhs256_gpu.h5" --overwrite >"$LOG_DIR/sweep_gpu.log" 2>&1
    sweep_rc=$?
    sweep_s=$(($(date +%s) - t0))
    tail -n 3 "$LOG_DIR/sweep_gpu.log"
    sweep_status=$([[ $sweep_rc -eq 0 ]] && echo RAN || echo FAIL)
    sweep_detail="${sweep_s}s (rc $sweep_rc), $LOG_DIR/lhs256_gpu.h5 (an interrupted sweep keeps its finished cases)"
  else
    sweep_status="FAIL"
    sweep_detail="no $BUILD_DIR/halite: carry it"
  fi
fi

# --- the summary, last (also in $LOG_DIR/summary.txt) -------------------------------------------
echo
write_summary print

[[ $test_rc -eq 0 && $bench_rc -eq 0 ]]
