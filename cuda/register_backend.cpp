#include "cuda/register_backend.hpp"

#include <fmt/format.h>

#include <memory>
#include <string>

#include "cuda/gpu_integrator.hpp"
#include "cuda/runtime.hpp"
#include "host/engine/integrator.hpp"

namespace halite::cuda {

namespace {

std::unique_ptr<Integrator> make_gpu_integrator(BatchModel& model, const SolverConfig& config) {
  return std::make_unique<GpuBatchIntegrator>(model, config);
}

std::string probe_device() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky error of a machine without a driver
    return fmt::format("no CUDA device (cudaGetDeviceCount: {}: {})", cudaGetErrorName(status),
                       cudaGetErrorString(status));
  }
  if (count == 0) return "no CUDA device (cudaGetDeviceCount found none)";
  return {};
}

}  // namespace

void register_cuda_backend() {
  register_backend(Backend::kCuda, &make_gpu_integrator, &probe_device);
}

}  // namespace halite::cuda
