// The batched kernels: one thread per cell, each calling the per-cell function of models/ that
// the CPU backend calls in host/batch_model.cpp and host/schur_solver.cpp.
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
                                int* nonfinite, int* nonfinite_count) {
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
  if (bad >= 0) atomicAdd(nonfinite_count, 1);
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
                              int* pivots, int* singular, int* singular_count) {
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
  if (!ok) atomicAdd(singular_count, 1);
}

__global__ void solve_kernel(BatchView v, const double* jacobians, const double* factors,
                             const int* pivots, const double* b, double* x) {
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
  models::solve_cell(v.params[c], L, J, factors + std::size_t(c) * models::cell_factor_size(L),
                     pivots + std::size_t(c) * L.x_size(), bc, xc);
}

}  // namespace

void launch_residual(const BatchView& view, const double* y, const double* yp, double* res,
                     int* nonfinite, int* nonfinite_count, cudaStream_t stream) {
  if (view.cells < 1) return;
  residual_kernel<<<cell_blocks(view.cells), kCellThreads, 0, stream>>>(view, y, yp, res, nonfinite,
                                                                        nonfinite_count);
  HALITE_CUDA_CHECK_LAUNCH();
}

void launch_jacobian(const BatchView& view, const double* y, double* jacobians,
                     cudaStream_t stream) {
  if (view.cells < 1) return;
  jacobian_kernel<<<cell_blocks(view.cells), kCellThreads, 0, stream>>>(view, y, jacobians);
  HALITE_CUDA_CHECK_LAUNCH();
}

void launch_factor(const BatchView& view, double cj, const double* jacobians, double* factors,
                   int* pivots, int* singular, int* singular_count, cudaStream_t stream) {
  if (view.cells < 1) return;
  factor_kernel<<<cell_blocks(view.cells), kCellThreads, 0, stream>>>(
      view, cj, jacobians, factors, pivots, singular, singular_count);
  HALITE_CUDA_CHECK_LAUNCH();
}

void launch_solve(const BatchView& view, const double* jacobians, const double* factors,
                  const int* pivots, const double* b, double* x, cudaStream_t stream) {
  if (view.cells < 1) return;
  solve_kernel<<<cell_blocks(view.cells), kCellThreads, 0, stream>>>(view, jacobians, factors,
                                                                     pivots, b, x);
  HALITE_CUDA_CHECK_LAUNCH();
}

}  // namespace halite::cuda
