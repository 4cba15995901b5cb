#!/usr/bin/env bash
# The whole test suite, from a fresh checkout: installs missing dependencies
# (.ci/install-deps.sh), configures and builds build/ (Release), runs every test with CTest.
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

echo "== all tests passed"
