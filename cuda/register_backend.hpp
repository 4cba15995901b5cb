// Makes the CUDA backend available to make_integrator(Backend::kCuda, ...)
// (host/engine/integrator.hpp). Call once from any program linked with halite_cuda (halite itself,
// tests, benchmarks) before building a Cycler with Backend::kCuda. Harmless without a device: the
// backend then reports "no CUDA device" through backend_unavailable_reason().
#pragma once

namespace halite::cuda {

void register_cuda_backend();

// The device every GPU integrator created from now on uses, for the process's rank `local_rank`
// among the ranks on its node: device local_rank mod the number of devices (docs/sweep.md, "On
// several machines"). Without a device it does nothing.
void use_device_of_local_rank(int local_rank);

}  // namespace halite::cuda
