// cuda/batch_kernels.cu compiled by the host compiler for the emulation
// (cuda/emulation/runtime.hpp).
#include "cuda/batch_kernels.cu"
