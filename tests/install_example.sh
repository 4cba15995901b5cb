#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, builds docs/examples/api against the installed
# CMake package (find_package(halite)) and runs it. Usage: bash tests/install_example.sh BUILD_DIR
set -euo pipefail
source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="$(cd "$1" && pwd)"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cmake --install "$build_dir" --prefix "$scratch/prefix" > "$scratch/install.log"
test -f "$scratch/prefix/include/halite/halite.hpp"
test -f "$scratch/prefix/lib/cmake/halite/haliteConfig.cmake"
# Only the public header is installed: the example cannot reach the engine's internals.
test "$(find "$scratch/prefix/include" -name '*.hpp' | wc -l)" -eq 1
cmake -S "$source_dir/docs/examples/api" -B "$scratch/build" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$scratch/prefix" > "$scratch/configure.log"
cmake --build "$scratch/build" -j2 > "$scratch/build.log"
cd "$scratch"
./build/halite_example "$scratch/example.h5"
