#include "cuda/register_backend.hpp"

#include <fmt/format.h>

#include <atomic>
#include <memory>
#include <string>

#include "cuda/gpu_integrator.hpp"
#include "cuda/runtime.hpp"
#include "host/engine/integrator.hpp"

namespace halite::cuda {

namespace {

std::atomic<int> chosen_device{-1};  // -1: the runtime's default

std::unique_ptr<Integrator> make_gpu_integrator(BatchModel& model, const SolverConfig& config) {
  // cudaSetDevice is per host thread: set it on the thread that builds (and runs) the integrator.
  if (const int device = chosen_device.load(); device >= 0)
    HALITE_CUDA_CHECK(cudaSetDevice(device));
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

void use_device_of_local_rank(int local_rank) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count < 1) {
    (void)cudaGetLastError();
    return;
  }
  chosen_device = (local_rank < 0 ? 0 : local_rank) % count;
}

void register_cuda_backend() {
  register_backend(Backend::kCuda, &make_gpu_integrator, &probe_device);
}

}  // namespace halite::cuda
