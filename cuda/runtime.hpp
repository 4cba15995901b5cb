// The CUDA runtime as the backend sees it: the real one (nvcc, CUDA toolkit), or the project's
// host-side emulation (HALITE_CUDA_EMULATION, cuda/emulation/runtime.hpp), which compiles the
// unchanged cuda/ sources with the host compiler and runs their kernels on the CPU so that the
// Gpu tests run on every commit without a GPU (docs/gpu.md, "Emulation").
//
// Kernels are launched through HALITE_LAUNCH (or HALITE_LAUNCH_WITH_BARRIERS for kernels that
// use __syncthreads or warp shuffles) instead of the <<<...>>> syntax, which only nvcc parses:
//   HALITE_LAUNCH(kernel, grid, block, shared_bytes, stream, arguments...);
// Under nvcc both are exactly kernel<<<grid, block, shared_bytes, stream>>>(arguments...). The
// emulation runs a barrier-free kernel's threads one after the other, and a kernel with barriers
// as one fiber per thread; it stops with a message if a kernel launched with HALITE_LAUNCH
// reaches a barrier, so the distinction cannot silently change results. (The form is also what
// external launch rewriters take, e.g. a SIMT emulator told the two macro names.)
#pragma once

#if defined(HALITE_CUDA_EMULATION)
#include "cuda/emulation/runtime.hpp"
#define HALITE_LAUNCH(kernel, grid, block, shared_bytes, stream, ...) \
  ::halite::cuda::emulation::launch(                                  \
      grid, block, shared_bytes, stream, false,                       \
      [](auto&... kernel_arguments) { kernel(kernel_arguments...); }, __VA_ARGS__)
#define HALITE_LAUNCH_WITH_BARRIERS(kernel, grid, block, shared_bytes, stream, ...) \
  ::halite::cuda::emulation::launch(                                                \
      grid, block, shared_bytes, stream, true,                                      \
      [](auto&... kernel_arguments) { kernel(kernel_arguments...); }, __VA_ARGS__)
#else
#include <cuda_runtime_api.h>
#define HALITE_LAUNCH(kernel, grid, block, shared_bytes, stream, ...) \
  kernel<<<grid, block, shared_bytes, stream>>>(__VA_ARGS__)
#define HALITE_LAUNCH_WITH_BARRIERS(kernel, grid, block, shared_bytes, stream, ...) \
  kernel<<<grid, block, shared_bytes, stream>>>(__VA_ARGS__)
#endif
