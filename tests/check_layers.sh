#!/usr/bin/env bash
# The layers' one direction of dependency (docs/architecture.md), checked on the sources:
#   host/app  ->  host/engine  ->  host/cpu  ->  models
# The engine (host/engine), the CPU backend (host/cpu), the CUDA backend (cuda/) and the physics
# (models/) include nothing from the application layer (host/app: YAML, units, HDF5, CLI,
# checkpoints, sweeps) and no library the application layer brings in (yaml-cpp, HDF5, CLI11);
# the physics includes nothing from host/ or cuda/. The CPU backend may include only the
# engine's backend contract (integrator interface, solver options, results), not the rest.
# Prints every offending line and exits 1 if there is one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

status=0
offend() {  # pattern, files..., message in $msg
  local pattern=$1; shift
  local hits
  hits=$(grep -nE "$pattern" "$@" 2>/dev/null || true)
  if [[ -n $hits ]]; then
    echo "check_layers: $msg:"
    echo "$hits" | sed 's/^/  /'
    status=1
  fi
}

mapfile -t engine < <(ls host/engine/*.[ch]pp host/cpu/*.[ch]pp cuda/*.cpp cuda/*.hpp cuda/*.cu)
mapfile -t physics < <(ls models/*.hpp)
mapfile -t cpu < <(ls host/cpu/*.[ch]pp)

msg="the engine or a backend includes the application layer"
offend '#include [<"](host/app/|halite/build_info|yaml-cpp|hdf5|H5[A-Za-z]*\.h|CLI/)' "${engine[@]}"
msg="the physics (models/) includes host/ or cuda/"
offend '#include [<"](host|cuda)/' "${physics[@]}"
msg="the CPU backend includes engine headers beyond the backend contract"
offend '#include "host/engine/(cycler|simulation|aging_report|run_config|protocol)\.hpp"' "${cpu[@]}"

# The CMake target halite_engine must list no application source.
msg="CMakeLists.txt puts an application source into halite_engine"
engine_block=$(sed -n '/^add_library(halite_engine/,/)/p' CMakeLists.txt)
if grep -q "host/app" <<<"$engine_block"; then
  echo "check_layers: $msg"
  status=1
fi

if ((status == 0)); then
  echo "check_layers: ${#engine[@]} engine/backend sources and ${#physics[@]} physics headers: no include against the layers"
fi
exit $status
