#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: installs missing dependencies
# (.ci/install-deps.sh), configures and builds build/ (Release), runs every test with CTest, then
# installs the Python package with `pip install .` into a fresh virtual environment
# (build/venv) and runs its tests (tests/python) against the CLI just built, and finally the
# sanitizer and fuzz job (.ci/sanitize.sh: ASan + UBSan suite and libFuzzer harnesses).
# Exits non-zero on any failure. Usage: bash tests/run_all.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs=$(nproc 2>/dev/null || echo 2)

echo "== dependencies"
bash .ci/install-deps.sh

echo "== configure (build/, Release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release

echo "== build (${jobs} jobs)"
cmake --build build -j"${jobs}"

echo "== test"
ctest --test-dir build --output-on-failure -j"${jobs}"

echo "== python: pip install . into a fresh virtual environment (build/venv)"
rm -rf build/venv
python3 -m venv build/venv
build/venv/bin/python -m pip install --quiet --upgrade pip
build/venv/bin/python -m pip install --quiet . pytest h5py tqdm
# from outside the source tree, so that `import halite` is the installed package
(cd build && venv/bin/python -c "import halite; r = halite.run(cycles=3, progress=False); \
  print('import halite; halite.run(cycles=3):', r.status, list(r.cycles['Discharge capacity [mA.h.g-1]'].round(3)))")
HALITE_BINARY="$PWD/build/halite" build/venv/bin/python -m pytest -q -p no:cacheprovider tests/python

bash .ci/sanitize.sh

echo "== all tests passed"
