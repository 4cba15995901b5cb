// Batched residual, Jacobian and Schur-complement kernels of the device backend, and the device
// copy of a batch's per-cell data. The kernels call the same models/ functions as the CPU
// backend (models::cell_residual, models::cell_jacobian, models::factor_cell,
// models::solve_cell); there is no second copy of any equation here.
//
// Storage (all cell-major, like the host backend):
//   y, y', residual, rhs, solution : cells * layout.size()          (device batch vectors)
//   Jacobian                       : cells * models::cell_jacobian_size(layout)
//   factors                        : cells * models::cell_factor_size(layout)
//   pivots                         : cells * layout.x_size()
//   scratch                        : cells * scratch_per_cell(layout)
// One thread per cell (first version; docs/gpu.md, "Kernels", describes one thread per particle).
//
// Host-only header: nothing in it needs nvcc.
#pragma once

#include <cuda_runtime_api.h>

#include <vector>

#include "cuda/cuda_check.hpp"
#include "models/cell.hpp"
#include "models/structured_solve.hpp"

namespace halite {
class BatchModel;
}

namespace halite::cuda {

// Scratch doubles per cell: enough for cell_residual / cell_jacobian and for factor_cell.
HALITE_HD inline int scratch_per_cell(const models::CellLayout& L) {
  const int a = models::cell_scratch_size(L), b = L.x_size();
  return a > b ? a : b;
}

// Plain pointers into device memory, passed to kernels by value.
struct BatchView {
  int cells = 0;
  models::CellLayout layout;
  const models::CellParams* params = nullptr;            // cells
  const models::CellControl* controls = nullptr;         // cells
  const models::ParticleCoefficients* coeffs = nullptr;  // cells * layout.particles()
  const unsigned char* frozen = nullptr;                 // cells, 1 = frozen
  const double* frozen_state = nullptr;                  // cells * layout.size()
  double* scratch = nullptr;                             // cells * scratch_per_cell(layout)
};

// Kernel launchers (asynchronous on `stream`; they check the launch, not the execution).
// Residual: frozen cells get F = y - y_frozen; for every other cell models::cell_residual.
// nonfinite[c] = index of the first non-finite residual entry of cell c, or -1;
// *nonfinite_count += number of cells with one (the caller zeroes it).
void launch_residual(const BatchView& view, const double* y, const double* yp, double* res,
                     int* nonfinite, int* nonfinite_count, cudaStream_t stream);
// dF/dy of every active cell (models::cell_jacobian); frozen cells are skipped.
void launch_jacobian(const BatchView& view, const double* y, double* jacobians,
                     cudaStream_t stream);
// models::factor_cell for every active cell at cj. singular[c] = 1 if cell c's matrix is
// singular, else 0; *singular_count += their number (the caller zeroes it).
void launch_factor(const BatchView& view, double cj, const double* jacobians, double* factors,
                   int* pivots, int* singular, int* singular_count, cudaStream_t stream);
// x = J^-1 b per active cell (models::solve_cell), x = b for frozen cells. x may alias b.
void launch_solve(const BatchView& view, const double* jacobians, const double* factors,
                  const int* pivots, const double* b, double* x, cudaStream_t stream);

// The device copy of a BatchModel's per-cell data: parameters, controls, aging coefficients,
// frozen flags and frozen states, plus the kernels' scratch. The host BatchModel stays the
// source of truth; upload() copies what the kernels read (call it after the host changed any of
// it: a new protocol step, a freeze, an aging update).
class DeviceBatchModel {
 public:
  DeviceBatchModel(int cells, const models::CellLayout& layout);

  int cells() const { return cells_; }
  const models::CellLayout& layout() const { return layout_; }
  int per_cell() const { return layout_.size(); }

  // Copies params, controls, coefficients, frozen flags and frozen states of every cell
  // (queued on stream; the host staging buffers are kept until the next upload, and the call
  // synchronises the stream before returning, so the host model may change right away).
  void upload(const BatchModel& model, cudaStream_t stream);
  // Only the controls (cheap: one struct per cell).
  void upload_controls(const BatchModel& model, cudaStream_t stream);
  // Only the frozen flags and the frozen states (after cells ended a step within a step).
  void upload_frozen(const BatchModel& model, cudaStream_t stream);

  BatchView view() const;

  // Residual of the whole batch; returns the number of active cells with a non-finite entry
  // (synchronises the stream to read it). nonfinite_cells() then lists them with the first bad
  // component of each.
  int residual(const double* y, const double* yp, double* res, cudaStream_t stream);
  struct Nonfinite {
    int cell, component;
  };
  std::vector<Nonfinite> nonfinite_cells(cudaStream_t stream) const;

 private:
  int cells_;
  models::CellLayout layout_;
  DeviceBuffer<models::CellParams> params_;
  DeviceBuffer<models::CellControl> controls_;
  DeviceBuffer<models::ParticleCoefficients> coeffs_;
  DeviceBuffer<unsigned char> frozen_;
  DeviceBuffer<double> frozen_state_;
  DeviceBuffer<double> scratch_;
  DeviceBuffer<int> nonfinite_;        // cells
  DeviceBuffer<int> nonfinite_count_;  // 1
  PinnedBuffer<int> host_count_;
  // host staging
  std::vector<models::CellParams> h_params_;
  std::vector<models::CellControl> h_controls_;
  std::vector<models::ParticleCoefficients> h_coeffs_;
  std::vector<unsigned char> h_frozen_;
  std::vector<double> h_frozen_state_;
};

}  // namespace halite::cuda
