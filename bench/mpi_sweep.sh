#!/usr/bin/env bash
# halite sweep on MPI ranks (issue 15; docs/sweep.md, "On several machines"): what ranks buy and
# what the coordinator (rank 0) can serve. Prints two tables, measured in one run:
#
#  1. Speed-up from 1 to 2 ranks on a sweep of real cases (8 cases, coarse mesh, 60 cycles each,
#     every cycle integrated): one process with one thread, then `mpirun -n 2` (rank 0: one
#     compute thread + the coordinator; rank 1: one compute thread). Wall time of the whole
#     command, and the ratio.
#  2. The coordinator alone: 2000 cases that compute nothing (HALITE_BENCH_TRIVIAL_CASES=1: each
#     writes 10 empty cycle records), on 1 process and on 2 and 3 ranks: cases dispatched per
#     second and rows (case-cycles) written per second by rank 0, from the sweep's own timing
#     (file created -> last batch written; configuration parsing excluded).
#
# Usage: bash bench/mpi_sweep.sh [BUILD_DIR]   (default build; needs mpirun and a halite with MPI)
# Asserts nothing; exits 1 only if a run fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${1:-build}
halite="$PWD/$build/halite"
[[ -x "$halite" ]] || { echo "mpi_sweep: no $halite (build first)" >&2; exit 1; }
"$halite" --version | grep -q MPI || { echo "mpi_sweep: $halite was built without MPI" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "mpi_sweep: no mpirun" >&2; exit 1; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/real.yaml" <<'EOF'
name: mpi bench, real cases
set:
  - "mesh.cathode_nodes=4"
  - "mesh.radial_shells=5"
factors:
  - key: cell.mechanics.stack_pressure
    min: 100 MPa
    max: 760 MPa
design:
  type: latin_hypercube
  n_samples: 8
  seed: 7
EOF
cat >"$work/trivial.yaml" <<'EOF'
name: mpi bench, trivial cases
factors:
  - key: cell.mechanics.stack_pressure
    min: 50 MPa
    max: 760 MPa
design:
  type: latin_hypercube
  n_samples: 2000
  seed: 1
EOF

now() { date +%s.%N; }
# seconds of "written to ... in X s" (the sweep's own timing)
sweep_seconds() { sed -n 's/.* written to .* in \([0-9.]*\) s$/\1/p' "$1" | tail -1; }

echo "# halite sweep on MPI ranks ($(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'))"
echo "halite: $("$halite" --version)"
echo "mpirun: $(mpirun --version 2>&1 | head -1)"
echo

echo "## 1. real cases: 8 cases x 60 cycles, coarse mesh (4 x 5), --no-skip"
t0=$(now)
"$halite" sweep "$work/real.yaml" -o "$work/r1.h5" --cycles 60 --no-skip --threads 1 \
  2>"$work/r1.log" || { cat "$work/r1.log"; exit 1; }
t1=$(now)
mpirun -n 2 "$halite" sweep "$work/real.yaml" -o "$work/r2.h5" --cycles 60 --no-skip \
  2>"$work/r2.log" || { cat "$work/r2.log"; exit 1; }
t2=$(now)
one=$(echo "$t1 - $t0" | bc -l)
two=$(echo "$t2 - $t1" | bc -l)
printf '%-34s %10s\n' "configuration" "wall_s"
printf '%-34s %10.2f\n' "1 process, 1 thread" "$one"
printf '%-34s %10.2f\n' "mpirun -n 2 (1 thread per rank)" "$two"
printf 'speed-up 1 -> 2 ranks: %.2fx\n\n' "$(echo "$one / $two" | bc -l)"

echo "## 2. the coordinator alone: 2000 trivial cases x 10 cycles (HALITE_BENCH_TRIVIAL_CASES=1)"
printf '%-34s %10s %12s %14s\n' "configuration" "sweep_s" "cases/s" "rows/s"
for ranks in 1 2 3; do
  if [[ $ranks == 1 ]]; then
    HALITE_BENCH_TRIVIAL_CASES=1 "$halite" sweep "$work/trivial.yaml" -o "$work/t$ranks.h5" \
      --cycles 10 --threads 1 2>"$work/t$ranks.log" || { cat "$work/t$ranks.log"; exit 1; }
    what="1 process, 1 thread"
  else
    HALITE_BENCH_TRIVIAL_CASES=1 mpirun -n "$ranks" -x HALITE_BENCH_TRIVIAL_CASES "$halite" sweep \
      "$work/trivial.yaml" -o "$work/t$ranks.h5" --cycles 10 2>"$work/t$ranks.log" ||
      { cat "$work/t$ranks.log"; exit 1; }
    what="mpirun -n $ranks"
  fi
  s=$(sweep_seconds "$work/t$ranks.log")
  printf '%-34s %10.2f %12.0f %14.0f\n' "$what" "$s" "$(echo "2000 / $s" | bc -l)" \
    "$(echo "20000 / $s" | bc -l)"
done
echo "(each case is one batch: one HDF5 write of its rows and statuses, flushed and fsynced)"
