// The project's CUDA emulation (cuda/emulation, HALITE_CUDA_EMULATION) checked on its own: barrier
// and shuffle semantics against a host reduction, the checks that make it stricter than plain
// host code (a barrier in a kernel launched without barriers, a barrier not every thread
// reaches, launch shapes, copy directions and bounds, undefined device memory), and the
// per-IDA-step launch and synchronisation budget of docs/gpu.md measured through its counters
// on the real backend. Only built with the emulation (cuda/emulation/CMakeLists.txt).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/gpu_integrator.hpp"
#include "cuda/profiling/event_phase_timer.hpp"
#include "cuda/register_backend.hpp"
#include "cuda/runtime.hpp"
#include "host/app/config.hpp"
#include "host/engine/cycler.hpp"
#include "host/engine/integrator.hpp"

namespace {

using halite::cuda::DeviceBuffer;
namespace emulation = halite::cuda::emulation;

// A block reduction the way device_vector.cu writes it: warp shuffles, then shared memory
// between two barriers; block results combined by the last block (atomic ticket).
__device__ double warp_sum(double v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}
__global__ void sum_kernel(int n, const double* x, double* partials, unsigned int* ticket,
                           double* total) {
  __shared__ double warp_values[32];
  __shared__ bool is_last;
  double v = 0.0;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) v += x[i];
  v = warp_sum(v);
  if ((threadIdx.x & 31) == 0) warp_values[threadIdx.x >> 5] = v;
  __syncthreads();
  v = int(threadIdx.x) < int(blockDim.x >> 5) ? warp_values[threadIdx.x] : 0.0;
  if ((threadIdx.x >> 5) == 0) v = warp_sum(v);
  if (threadIdx.x == 0) {
    partials[blockIdx.x] = v;
    is_last = atomicInc(ticket, gridDim.x - 1) == gridDim.x - 1;
  }
  __syncthreads();
  if (is_last && threadIdx.x == 0) {
    double s = 0.0;
    for (unsigned b = 0; b < gridDim.x; ++b) s += partials[b];
    *total = s;
  }
}

__global__ void barrier_kernel(double* out) {
  __syncthreads();
  out[threadIdx.x] = 1.0;
}

// Thread 0 waits at another __syncthreads than the rest of its block.
__global__ void divergent_barrier_kernel(double* out) {
  if (threadIdx.x == 0) {
    __syncthreads();
    out[0] = 1.0;
    return;
  }
  out[threadIdx.x] = 2.0;
  __syncthreads();
}

// Lane 0 waits in a shuffle for lanes that wait at the block barrier for lane 0.
__global__ void deadlock_kernel(double* out) {
  if (threadIdx.x == 0)
    out[0] = __shfl_xor_sync(0xffffffffu, 1.0, 1);
  else
    __syncthreads();
}

__global__ void fill_kernel(int n, double value, double* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = value;
}

TEST(Emulation, BarriersAndShufflesGiveTheBlockReductionItsCudaResult) {
  for (const int n : {1, 31, 256, 257, 10007}) {
    std::vector<double> x(n);
    for (int i = 0; i < n; ++i) x[i] = 1.0 + (i % 7) * 0.25;
    const double expected = std::accumulate(x.begin(), x.end(), 0.0);
    const int blocks = 5;
    DeviceBuffer<double> dx(n), partials(blocks), total(1);
    DeviceBuffer<unsigned int> ticket(1);
    dx.upload(x.data(), n, nullptr);
    ticket.zero(nullptr);
    HALITE_LAUNCH_WITH_BARRIERS(sum_kernel, blocks, 256, 0, nullptr, n, dx.get(), partials.get(),
                                ticket.get(), total.get());
    HALITE_CUDA_CHECK_LAUNCH();
    double result = 0.0;
    total.download(&result, 1, nullptr);
    // (the order of additions differs from the host's: equal to rounding)
    EXPECT_NEAR(result, expected, 1e-12 * expected) << n << " values";
    unsigned int after = 7;
    ticket.download(&after, 1, nullptr);
    EXPECT_EQ(after, 0u) << "atomicInc wraps the ticket back to zero";
  }
}

TEST(EmulationDeathTest, ABarrierInAKernelLaunchedWithoutBarriersStopsWithAMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  DeviceBuffer<double> out(32);
  EXPECT_DEATH(HALITE_LAUNCH(barrier_kernel, 1, 32, 0, nullptr, out.get()),
               "__syncthreads in a kernel launched with HALITE_LAUNCH: launch it with "
               "HALITE_LAUNCH_WITH_BARRIERS");
  HALITE_LAUNCH_WITH_BARRIERS(barrier_kernel, 1, 32, 0, nullptr, out.get());
  std::vector<double> host(32);
  out.download(host.data(), 32, nullptr);
  for (double v : host) EXPECT_EQ(v, 1.0);
}

TEST(EmulationDeathTest, DivergentBarriersAndDeadlocksStopWithAMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  DeviceBuffer<double> out(64);
  EXPECT_DEATH(HALITE_LAUNCH_WITH_BARRIERS(divergent_barrier_kernel, 1, 64, 0, nullptr, out.get()),
               "divergent __syncthreads: threads of block \\(0,0\\) wait at different "
               "barriers");
  EXPECT_DEATH(HALITE_LAUNCH_WITH_BARRIERS(deadlock_kernel, 1, 64, 0, nullptr, out.get()),
               "deadlock: a __syncthreads or warp shuffle was not reached by every live thread");
}

TEST(Emulation, LaunchShapesCopiesAndUndefinedMemoryAreChecked) {
  DeviceBuffer<double> out(8);
  // A block of more than 1024 threads is a launch error, as on a device.
  HALITE_LAUNCH(fill_kernel, 1, 2048, 0, nullptr, 8, 1.0, out.get());
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess) << "cudaGetLastError clears the error";
  // Device memory is undefined until written: NaN here.
  std::vector<double> host(8, 0.0);
  out.download(host.data(), 8, nullptr);
  for (double v : host) EXPECT_TRUE(std::isnan(v));
  HALITE_LAUNCH(fill_kernel, 2, 4, 0, nullptr, 8, 3.0, out.get());
  out.download(host.data(), 8, nullptr);
  for (double v : host) EXPECT_EQ(v, 3.0);
  // Past the end of the allocation, or the wrong direction: an error, nothing copied.
  std::vector<double> big(9, 1.0);
  EXPECT_EQ(cudaMemcpy(out.get(), big.data(), 9 * sizeof(double), cudaMemcpyHostToDevice),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(big.data(), out.get(), 8 * sizeof(double), cudaMemcpyHostToDevice),
            cudaErrorInvalidValue);
  EXPECT_EQ(cudaMemcpy(out.get(), big.data(), 8 * sizeof(double), cudaMemcpyDeviceToHost),
            cudaErrorInvalidMemcpyDirection);
  (void)cudaGetLastError();
  EXPECT_EQ(big[0], 1.0);
  // HALITE_CUDA_CHECK names the failing call.
  try {
    HALITE_CUDA_CHECK(cudaFree(big.data()));
    FAIL() << "no exception";
  } catch (const halite::cuda::CudaError& e) {
    EXPECT_NE(std::string(e.what()).find("cudaErrorInvalidDevicePointer"), std::string::npos);
  }
  // As on a device, the failed call's error is what cudaGetLastError returns next (once).
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidDevicePointer);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
}

// The GPU integrator, counting what the runtime does inside IDA's steps (step()) apart from
// what it does at protocol-step starts and between steps (restart(), uploads, observables).
class CountingGpuIntegrator : public halite::cuda::GpuBatchIntegrator {
 public:
  using GpuBatchIntegrator::GpuBatchIntegrator;
  int step(double t_limit, double* t_reached) override {
    const auto& c = emulation::counters();
    const long launches = c.launches, syncs = c.synchronizations, reductions = vectors().reductions;
    const int flag = GpuBatchIntegrator::step(t_limit, t_reached);
    step_launches += c.launches - launches;
    step_syncs += c.synchronizations - syncs;
    step_reductions += vectors().reductions - reductions;
    return flag;
  }
  long step_launches = 0, step_syncs = 0, step_reductions = 0;
};
CountingGpuIntegrator* last_counting = nullptr;
std::unique_ptr<halite::Integrator> make_counting(halite::BatchModel& model,
                                                  const halite::SolverConfig& config) {
  auto integrator = std::make_unique<CountingGpuIntegrator>(model, config);
  last_counting = integrator.get();
  return integrator;
}
std::string device_available() {
  return {};
}

// docs/gpu.md, "Per-step budget": per IDA step of the reference cell's protocol on the CUDA
// backend, at most 25 kernel launches, and no host synchronisation beyond the reductions IDA
// asks for (norms, dot products) and the root functions at the step's end (with IDA's root
// finding when an event is bracketed). Measured over the first cycle of the reference protocol
// for one cell and for eight; protocol-step starts (uploads, IDACalcIC) are counted apart.
TEST(Emulation, PerStepLaunchesAndSynchronisationsStayWithinTheBudget) {
  halite::register_backend(halite::Backend::kCuda, &make_counting, &device_available);
  const auto config = halite::load_config("", {});
  for (const int cells : {1, 8}) {
    std::vector<halite::CellSetup> setups(cells, halite::cell_setup_from_config(config));
    const auto& counters = emulation::counters();
    const long launches0 = counters.launches, syncs0 = counters.synchronizations;
    halite::Cycler cycler(setups, config.mesh.layout(config.cell.particle_classes), config.solver,
                          config.protocol, halite::Backend::kCuda);
    CountingGpuIntegrator& gpu = *last_counting;
    ASSERT_EQ(&gpu, &cycler.integrator());
    const auto own0 = gpu.device_counters();
    const long run_launches0 = counters.launches, run_syncs0 = counters.synchronizations;
    halite::cuda::EventPhaseTimer timer;
    gpu.set_phase_timer(&timer);
    cycler.run(
        1, [](const std::vector<halite::CycleRecord>&) {}, nullptr, nullptr);
    gpu.set_phase_timer(nullptr);
    // The integrator's own counters (what bench_gpu reports) miss nothing the runtime saw, and
    // the timer saw every launch.
    const auto own = gpu.device_counters();
    EXPECT_EQ(own.launches - own0.launches, counters.launches - run_launches0);
    EXPECT_EQ(own.synchronizations - own0.synchronizations + timer.synchronizations(),
              counters.synchronizations - run_syncs0);
    long timed = 0;
    for (long n : timer.launches()) timed += n;
    EXPECT_EQ(timed, own.launches - own0.launches);
    const double steps = double(gpu.stats().steps);
    ASSERT_GT(steps, 100.0);
    const double launches = double(counters.launches - launches0) / steps;
    const double syncs = double(counters.synchronizations - syncs0) / steps;
    const double step_launches = double(gpu.step_launches) / steps;
    const double step_syncs = double(gpu.step_syncs) / steps;
    const double step_reductions = double(gpu.step_reductions) / steps;
    std::printf(
        "%d cell(s), %.0f IDA steps in one cycle; per step: %.2f launches (%.2f inside "
        "IDA's steps), %.2f host syncs (%.2f inside IDA's steps: %.2f reductions, %.2f "
        "other)\n",
        cells, steps, launches, step_launches, syncs, step_syncs, step_reductions,
        step_syncs - step_reductions);
    RecordProperty("cells_" + std::to_string(cells) + "_launches_per_step",
                   std::to_string(launches));
    RecordProperty("cells_" + std::to_string(cells) + "_syncs_per_step", std::to_string(syncs));
    EXPECT_LE(launches, 25.0) << cells << " cell(s), protocol-step starts included";
    // One sync per step for the root values at its end, and a few more where IDA's root finding
    // iterates on a bracketed event (a handful per protocol step).
    EXPECT_LE(step_syncs - step_reductions, 1.05) << cells << " cell(s)";
  }
  halite::cuda::register_cuda_backend();
}

}  // namespace
