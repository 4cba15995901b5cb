// The batched kernels: one thread per cell, each calling the per-cell function of models/ that
// the CPU backend calls in host/cpu/batch_model.cpp and host/cpu/schur_solver.cpp.
//
// Note for nvcc: models/dual.hpp defines exp/log/sqrt/... overloads in halite::models. Never write
// `using namespace halite::models;` at global scope in a .cu file: CUDA's math_functions.hpp is
// compiled after the including file's declarations and its unqualified exp(double) calls become
// ambiguous. Qualify (models::cell_residual) as below.
#include <cmath>

#include "cuda/batch_kernels.hpp"

namespace halite::cuda {

namespace {

// Few registers-hungry threads per block so that small batches still spread over many SMs.
constexpr int kCellThreads = 32;

int cell_blocks(int cells) {
  return (cells + kCellThreads - 1) / kCellThreads;
}

__global__ void residual_kernel(BatchView v, const double* y, const double* yp, double* res,
                                int* nonfinite) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= v.cells) return;
  const models::CellLayout& L = v.layout;
  const int n = L.size();
  const std::size_t off = std::size_t(c) * n;
  if (v.frozen[c] != 0) {
    const double* yf = v.frozen_state + off;
    for (int i = 0; i < n; ++i) res[off + i] = y[off + i] - yf[i];
    nonfinite[c] = -1;
    return;
  }
  double* scratch = v.scratch + std::size_t(c) * scratch_per_cell(L);
  models::cell_residual(v.params[c], L, v.controls[c], y + off, yp + off, res + off, scratch,
                        v.coeffs + std::size_t(c) * L.particles());
  int bad = -1;
  for (int i = 0; i < n; ++i)
    if (!isfinite(res[off + i])) {
      bad = i;
      break;
    }
  nonfinite[c] = bad;
}

__global__ void jacobian_kernel(BatchView v, const double* y, double* jacobians) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= v.cells || v.frozen[c] != 0) return;
  const models::CellLayout& L = v.layout;
  const auto J =
      models::cell_jacobian_ref(L, jacobians + std::size_t(c) * models::cell_jacobian_size(L));
  models::cell_jacobian(v.params[c], L, v.controls[c], y + std::size_t(c) * L.size(),
                        J.particle_blocks, J.x_block, J.x_mean_coupling,
                        v.scratch + std::size_t(c) * scratch_per_cell(L),
                        v.coeffs + std::size_t(c) * L.particles());
}

__global__ void factor_kernel(BatchView v, double cj, const double* jacobians, double* factors,
                              int* pivots, int* singular) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= v.cells) return;
  if (v.frozen[c] != 0) {
    singular[c] = 0;
    return;
  }
  const models::CellLayout& L = v.layout;
  const auto J = models::cell_jacobian_ref(
      L, const_cast<double*>(jacobians) + std::size_t(c) * models::cell_jacobian_size(L));
  const bool ok = models::factor_cell(
      v.params[c], L, cj, J, factors + std::size_t(c) * models::cell_factor_size(L),
      pivots + std::size_t(c) * L.x_size(), v.scratch + std::size_t(c) * scratch_per_cell(L));
  singular[c] = ok ? 0 : 1;
}

__global__ void solve_kernel(BatchView v, double cj, const double* jacobians, const double* factors,
                             const int* pivots, const double* b, double* x, double* work) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= v.cells) return;
  const models::CellLayout& L = v.layout;
  const int n = L.size();
  const double* bc = b + std::size_t(c) * n;
  double* xc = x + std::size_t(c) * n;
  if (v.frozen[c] != 0) {
    if (xc != bc)
      for (int i = 0; i < n; ++i) xc[i] = bc[i];
    return;
  }
  const auto J = models::cell_jacobian_ref(
      L, const_cast<double*>(jacobians) + std::size_t(c) * models::cell_jacobian_size(L));
  models::solve_cell_refined(
      v.params[c], L, J, cj, factors + std::size_t(c) * models::cell_factor_size(L),
      pivots + std::size_t(c) * L.x_size(), bc, xc, work + 2 * std::size_t(c) * n);
}

__global__ void root_kernel(BatchView v, RootView r, double t, const double* y, double* g) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= v.cells) return;
  const std::size_t k = std::size_t(c) * r.conditions;
  models::step_end_values(r.kinds, r.thresholds + k, r.conditions, v.params[c], v.layout,
                          y + std::size_t(c) * v.layout.size(), t - r.t0, r.voltage_direction[c],
                          r.voltage_offset[c], v.frozen[c] != 0, g + k);
}

// One thread per particle: the particles of a cell are independent here.
__global__ void sample_aging_kernel(BatchView v, const models::ParticleAging* aging, double t,
                                    const double* y, models::AgingAccumulator* accumulators) {
  const int particles = v.layout.particles();
  const long i = long(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= long(v.cells) * particles) return;
  const int c = int(i / particles), q = int(i % particles);
  if (v.frozen[c] != 0) return;
  const double* yc = y + std::size_t(c) * v.layout.size();
  models::sample_particle_aging(v.params[c], aging[i], yc + v.layout.particle_offset(q),
                                v.layout.radial(), t, accumulators[i]);
}

__global__ void observables_kernel(BatchView v, const double* y, double* voltage, double* current) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= v.cells) return;
  const double* yc = y + std::size_t(c) * v.layout.size();
  voltage[c] = models::cell_terminal_voltage(v.params[c], v.layout, yc);
  current[c] = yc[v.layout.current()];
}

}  // namespace

void launch_root_values(const BatchView& view, const RootView& roots, double t, const double* y,
                        double* g, cudaStream_t stream) {
  if (view.cells < 1 || roots.conditions < 1) return;
  HALITE_LAUNCH(root_kernel, cell_blocks(view.cells), kCellThreads, 0, stream, view, roots, t, y,
                g);
  HALITE_CUDA_CHECK_LAUNCH();
}

void launch_sample_aging(const BatchView& view, const models::ParticleAging* aging, double t,
                         const double* y, models::AgingAccumulator* accumulators,
                         cudaStream_t stream) {
  const long n = long(view.cells) * view.layout.particles();
  if (n < 1) return;
  constexpr int kThreads = 128;
  HALITE_LAUNCH(sample_aging_kernel, int((n + kThreads - 1) / kThreads), kThreads, 0, stream, view,
                aging, t, y, accumulators);
  HALITE_CUDA_CHECK_LAUNCH();
}

void launch_observables(const BatchView& view, const double* y, double* voltage, double* current,
                        cudaStream_t stream) {
  if (view.cells < 1) return;
  HALITE_LAUNCH(observables_kernel, cell_blocks(view.cells), kCellThreads, 0, stream, view, y,
                voltage, current);
  HALITE_CUDA_CHECK_LAUNCH();
}

void launch_residual(const BatchView& view, const double* y, const double* yp, double* res,
                     int* nonfinite, cudaStream_t stream) {
  if (view.cells < 1) return;
  HALITE_LAUNCH(residual_kernel, cell_blocks(view.cells), kCellThreads, 0, stream, view, y, yp, res,
                nonfinite);
  HALITE_CUDA_CHECK_LAUNCH();
}

void launch_jacobian(const BatchView& view, const double* y, double* jacobians,
                     cudaStream_t stream) {
  if (view.cells < 1) return;
  HALITE_LAUNCH(jacobian_kernel, cell_blocks(view.cells), kCellThreads, 0, stream, view, y,
                jacobians);
  HALITE_CUDA_CHECK_LAUNCH();
}

void launch_factor(const BatchView& view, double cj, const double* jacobians, double* factors,
                   int* pivots, int* singular, cudaStream_t stream) {
  if (view.cells < 1) return;
  HALITE_LAUNCH(factor_kernel, cell_blocks(view.cells), kCellThreads, 0, stream, view, cj,
                jacobians, factors, pivots, singular);
  HALITE_CUDA_CHECK_LAUNCH();
}

void launch_solve(const BatchView& view, double cj, const double* jacobians, const double* factors,
                  const int* pivots, const double* b, double* x, double* work,
                  cudaStream_t stream) {
  if (view.cells < 1) return;
  HALITE_LAUNCH(solve_kernel, cell_blocks(view.cells), kCellThreads, 0, stream, view, cj, jacobians,
                factors, pivots, b, x, work);
  HALITE_CUDA_CHECK_LAUNCH();
}

}  // namespace halite::cuda
