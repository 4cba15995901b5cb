#!/usr/bin/env bash
# One call on the lent GPU machine: the Gpu.* tests and the GPU benchmark, from a build folder
# made on the development machine (nothing is built here). Prints a short table last.
#
#   bench/gpu_check.sh [BUILD_DIR]          (default: $BUILD_DIR or build-cuda)
#   BENCH_ARGS="--batches 1,64 --cycles 1" bench/gpu_check.sh
#
# Build and carry (docs/gpu.md, "Running on the device"):
#   cmake -S . -B build-cuda && cmake --build build-cuda -j2
#   run: command "bench/gpu_check.sh", carry ["build-cuda/cuda", "build-cuda/halite"], kind nvidia-h200
# build-cuda/cuda holds test_gpu, bench_gpu and runtime-libs/ (the shared libraries the GPU
# machine lacks: yaml-cpp, fmt, libsz, libaec), which is put on LD_LIBRARY_PATH.
#
# Environment: TEST_TIMEOUT (s, default 240), BENCH_TIMEOUT (s, default 300), BENCH_ARGS.
# The default BENCH_ARGS (batches 1, 64, 1024, 8192 and the heterogeneous 8192; 2 timed cycles of
# the 1C CCCV block after a warm-up; the CPU side of batches above 256 cells measured with 256
# cells) give the benchmark a budget 30 s under BENCH_TIMEOUT: it starts nothing after that and
# cuts timed cycles to fit, so its summary is printed even if the GPU is slower than expected.
# Tests and benchmark together take at most TEST_TIMEOUT + BENCH_TIMEOUT (9 minutes by default).
# SWEEP=1 adds a third part after the benchmark: `halite sweep` of configs/sweep_lhs256.yaml on the
# GPU (carry build-cuda/halite too), SWEEP_TIMEOUT s (default 300), writing $OUT/lhs256_gpu.h5;
# compare it here with the CPU run: python3 validation/compare_sweeps.py lhs256_cpu.h5 \
# <files_at>/lhs256_gpu.h5 (docs/performance.md, "Sweeps").
# Exit status: 0 if the tests passed (or skipped) and the benchmark ran; 1 otherwise.
set -u

BUILD_DIR=${1:-${BUILD_DIR:-build-cuda}}
TEST_TIMEOUT=${TEST_TIMEOUT:-240}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-300}
bench_budget=$((BENCH_TIMEOUT > 60 ? BENCH_TIMEOUT - 30 : BENCH_TIMEOUT / 2 + 1))
BENCH_ARGS=${BENCH_ARGS:-"--batches 1,64,1024,8192 --cycles 2 --cpu-max-cells 256 --budget $bench_budget"}
CUDA_DIR="$BUILD_DIR/cuda"
LOG_DIR=${OUT:-$(mktemp -d)}
mkdir -p "$LOG_DIR"

say() { echo "gpu_check: $*"; }

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
say "running the Gpu tests (timeout ${TEST_TIMEOUT}s)"
t0=$(date +%s)
timeout "$TEST_TIMEOUT" "$CUDA_DIR/test_gpu" --gtest_color=no \
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
[[ $test_rc -eq 124 ]] && say "tests TIMED OUT after ${TEST_TIMEOUT}s"

# --- benchmark --------------------------------------------------------------------------------
say "running bench_gpu $BENCH_ARGS (timeout ${BENCH_TIMEOUT}s)"
t0=$(date +%s)
# shellcheck disable=SC2086
timeout "$BENCH_TIMEOUT" "$CUDA_DIR/bench_gpu" $BENCH_ARGS >"$LOG_DIR/bench_gpu.log" 2>&1
bench_rc=$?
bench_s=$(($(date +%s) - t0))
sed -n '1,/^## summary/p' "$LOG_DIR/bench_gpu.log" | grep -v '^## summary'
[[ $bench_rc -eq 124 ]] && say "benchmark TIMED OUT after ${BENCH_TIMEOUT}s (rows above are complete)"

# --- the halite binary on the GPU: 3 cycles of the reference cell on both backends ----------------
smoke_status="skipped"
smoke_detail="carry $BUILD_DIR/halite to run it"
if [[ -x "$BUILD_DIR/halite" ]]; then
  smoke_rc=0
  for backend in cuda cpu; do
    timeout 120 "$BUILD_DIR/halite" run --cycles 3 --backend "$backend" --overwrite \
      -o "$LOG_DIR/reference3_$backend.h5" >"$LOG_DIR/run_$backend.log" 2>&1 || smoke_rc=$?
    tail -n 2 "$LOG_DIR/run_$backend.log" | sed "s/^/gpu_check: run --backend $backend: /"
  done
  smoke_status=$([[ $smoke_rc -eq 0 ]] && echo RAN || echo FAIL)
  grep -q "no CUDA device" "$LOG_DIR/run_cuda.log" && smoke_status="NO-GPU"
  smoke_detail="rc $smoke_rc; compare $LOG_DIR/reference3_{cuda,cpu}.h5 on the development machine"
fi

# --- optional: the 256-case sweep on the GPU -----------------------------------------------------
sweep_status="skipped"
sweep_detail="SWEEP=1 to run it"
if [[ "${SWEEP:-0}" == "1" ]]; then
  SWEEP_TIMEOUT=${SWEEP_TIMEOUT:-300}
  if [[ -x "$BUILD_DIR/halite" ]]; then
    say "running halite sweep configs/sweep_lhs256.yaml --backend cuda (timeout ${SWEEP_TIMEOUT}s)"
    t0=$(date +%s)
    timeout "$SWEEP_TIMEOUT" "$BUILD_DIR/halite" sweep configs/sweep_lhs256.yaml --cycles 4000 \
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

# --- short table last ---------------------------------------------------------------------------
echo
echo "== gpu_check summary =="
printf '%-10s %-8s %s\n' "part" "status" "detail"
printf '%-10s %-8s %s\n' "tests" "$([[ $test_rc -eq 0 ]] && echo PASS || echo FAIL)" \
  "$passed passed, $failed failed, $skipped skipped, ${test_s}s (rc $test_rc)"
printf '%-10s %-8s %s\n' "benchmark" "$([[ $bench_rc -eq 0 ]] && echo RAN || echo FAIL)" \
  "${bench_s}s (rc $bench_rc), full log $LOG_DIR/bench_gpu.log"
printf '%-10s %-8s %s\n' "run" "$smoke_status" "$smoke_detail"
printf '%-10s %-8s %s\n' "sweep" "$sweep_status" "$sweep_detail"
sed -n '/^## summary/,$p' "$LOG_DIR/bench_gpu.log"

[[ $test_rc -eq 0 && $bench_rc -eq 0 ]]
