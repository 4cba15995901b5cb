#!/usr/bin/env bash
# Simulates the reference cell (configs/reference_nmc721_lspscl.yaml, embedded in halite) over
# its full protocol and plots the result.
#
#   bash validation/run_reference.sh [HALITE RUN OPTIONS...]
#
# Installs missing dependencies (.ci/install-deps.sh), builds halite in build/ (Release), runs
#   build/halite run --output out/reference.h5 [OPTIONS...]
# and then
#   python3 validation/plot_run.py out/reference.h5 --outdir out/plots
#
# The full protocol is 4001 cycles at 1C plus a 0.2C / 3C / 1C rate test (4004 cycles): it takes
# a while. Options go to `halite run` unchanged, e.g.
#   --cycles 10        stop after 10 cycles (a quick look)
#   --overwrite        replace an existing out/reference.h5
#   --set KEY=VALUE    change one configuration key (docs/configuration.md)
#   -o, --output FILE  write FILE instead (plots then go to FILE without .h5, plus _plots/)
#   CONFIG             a YAML file instead of the embedded reference cell
# Exit status: halite's (0 ok, 2 bad input or existing output, 3 solver failure: the cycles
# finished before the failure are still written and plotted), or the plot script's.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

output="out/reference.h5"
plots="out/plots"
args=()
while (($#)); do
  case "$1" in
    -o | --output)
      (($# >= 2)) || { echo "run_reference.sh: $1 needs a file name" >&2; exit 2; }
      output="$2"; plots="${output%.h5}_plots"; shift 2 ;;
    --output=*)
      output="${1#--output=}"; plots="${output%.h5}_plots"; shift ;;
    *)
      args+=("$1"); shift ;;
  esac
done

echo "== dependencies"
bash .ci/install-deps.sh

echo "== build halite (build/, Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" --target halite

mkdir -p "$(dirname "$output")"
echo "== build/halite run --output $output ${args[*]:-}"
status=0
build/halite run --output "$output" ${args[@]+"${args[@]}"} || status=$?
if ((status != 0 && status != 3)); then
  # 2: bad input, or the output exists (add --overwrite); nothing new was written.
  echo "run_reference.sh: halite exited with status $status; no plots made" >&2
  exit "$status"
fi

echo "== plots"
python3 validation/plot_run.py "$output" --outdir "$plots"

echo
echo "results: $output   (HDF5; layout in docs/output.md)"
echo "plots:   $plots/"
if ((status == 3)); then
  echo "run_reference.sh: the solver failed; the file holds the cycles finished before it" >&2
fi
exit "$status"
