// cuda/device_vector.cu compiled by the host compiler for the emulation
// (cuda/emulation/runtime.hpp).
#include "cuda/device_vector.cu"
