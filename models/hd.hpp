// HALITE_HD marks a function as callable on the host and, when compiled by nvcc, on the device.
// Every physics function in models/ carries it: one source for the CPU and the GPU backends.
#pragma once

#if defined(__CUDACC__)
#define HALITE_HD __host__ __device__
#else
#define HALITE_HD
#endif
