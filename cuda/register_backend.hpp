// Makes the CUDA backend available to make_integrator(Backend::kCuda, ...)
// (host/engine/integrator.hpp). Call once from any program linked with halite_cuda (halite itself,
// tests, benchmarks) before building a Cycler with Backend::kCuda. Harmless without a device: the
// backend then reports "no CUDA device" through backend_unavailable_reason().
#pragma once

namespace halite::cuda {

void register_cuda_backend();

}  // namespace halite::cuda
