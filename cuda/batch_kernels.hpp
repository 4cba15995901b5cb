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

#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/phase_timer.hpp"
#include "cuda/runtime.hpp"
#include "models/aging.hpp"
#include "models/cell.hpp"
#include "models/structured_solve.hpp"
#include "models/termination.hpp"

namespace halite {
class BatchModel;
struct StepRoots;
}  // namespace halite

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

// The end conditions of the current protocol step (models/termination.hpp), on the device.
struct RootView {
  int conditions = 0;
  const models::StepEnd* kinds = nullptr;     // conditions
  const double* thresholds = nullptr;         // cells * conditions
  const double* voltage_direction = nullptr;  // cells
  const double* voltage_offset = nullptr;     // cells
  double t0 = 0.0;
};

// Kernel launchers (asynchronous on `stream`; they check the launch, not the execution).
// Root values g[cell * conditions + k] at (t, y) (models::step_end_values; -1 for frozen cells).
void launch_root_values(const BatchView& view, const RootView& roots, double t, const double* y,
                        double* g, cudaStream_t stream);
// models::sample_particle_aging for every particle of every active cell (one thread each).
void launch_sample_aging(const BatchView& view, const models::ParticleAging* aging, double t,
                         const double* y, models::AgingAccumulator* accumulators,
                         cudaStream_t stream);
// Terminal voltage vs Li-In (models::cell_terminal_voltage) and current density of every cell.
void launch_observables(const BatchView& view, const double* y, double* voltage, double* current,
                        cudaStream_t stream);
// Residual: frozen cells get F = y - y_frozen; for every other cell models::cell_residual.
// nonfinite[c] = index of the first non-finite residual entry of cell c, or -1 (read only to
// describe a failure: a NaN reaches IDA through the norms, with no host synchronisation here).
void launch_residual(const BatchView& view, const double* y, const double* yp, double* res,
                     int* nonfinite, cudaStream_t stream);
// dF/dy of every active cell (models::cell_jacobian); frozen cells are skipped.
void launch_jacobian(const BatchView& view, const double* y, double* jacobians,
                     cudaStream_t stream);
// models::factor_cell for every active cell at cj. singular[c] = 1 if cell c's matrix is
// singular, else 0 (read only to describe a failure).
void launch_factor(const BatchView& view, double cj, const double* jacobians, double* factors,
                   int* pivots, int* singular, cudaStream_t stream);
// x = J^-1 b per active cell with one step of iterative refinement at the factored cj
// (models::solve_cell_refined, as on the host), x = b for frozen cells. x may alias b.
// work: cells * 2 * layout.size() doubles.
void launch_solve(const BatchView& view, double cj, const double* jacobians, const double* factors,
                  const int* pivots, const double* b, double* x, double* work, cudaStream_t stream);

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
  // The aging states and accumulators of every particle (host model -> device), and the
  // accumulators back (device -> host model) after sampling on the device.
  void upload_aging(const BatchModel& model, cudaStream_t stream);
  void download_accumulators(BatchModel& model, cudaStream_t stream);
  // The end conditions of a protocol step (thresholds, directions, offsets), and only the
  // voltage directions after they changed.
  void upload_roots(const StepRoots& roots, cudaStream_t stream);
  void upload_root_directions(const StepRoots& roots, cudaStream_t stream);

  // g (host, cells * conditions) at (t, y); synchronises.
  void root_values(double t, const double* y, double* g_host, cudaStream_t stream);
  // Samples the aging drivers at (t, y) into the device accumulators (asynchronous).
  void sample_aging(double t, const double* y, cudaStream_t stream);
  // Voltage vs Li-In and current density of every cell, to the host; synchronises.
  void observables(const double* y, std::vector<double>* voltage, std::vector<double>* current,
                   cudaStream_t stream);
  // Only the frozen flags and the frozen states (after cells ended a step within a step).
  void upload_frozen(const BatchModel& model, cudaStream_t stream);

  BatchView view() const;

  // Launches and host synchronisations of this model and its solver (bench_gpu, the docs), and
  // where their device time goes when a timer is set (null: not timed).
  long launches = 0;
  mutable long synchronizations = 0;  // (a const query that reads back flags counts too)
  void synchronize(cudaStream_t stream) const {
    HALITE_CUDA_CHECK(cudaStreamSynchronize(stream));
    ++synchronizations;
  }
  void set_phase_timer(PhaseTimer* timer) { timer_ = timer; }
  PhaseTimer* phase_timer() const { return timer_; }

  // Residual of the whole batch. Asynchronous: a non-finite entry reaches IDA through the
  // norms; nonfinite_cells() (which synchronises) lists the cells with one and the first bad
  // component of each, for the failure message.
  void residual(const double* y, const double* yp, double* res, cudaStream_t stream);
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
  DeviceBuffer<models::ParticleAging> aging_;            // cells * particles
  DeviceBuffer<models::AgingAccumulator> accumulators_;  // cells * particles
  DeviceBuffer<models::StepEnd> root_kinds_;
  DeviceBuffer<double> root_thresholds_, root_direction_, root_offset_, root_g_;
  PinnedBuffer<double> root_g_host_;  // staging for root_g_
  PhaseTimer* timer_ = nullptr;
  DeviceBuffer<double> observed_;  // 2 * cells
  RootView roots_;
  DeviceBuffer<int> nonfinite_;  // cells
  // host staging
  std::vector<models::CellParams> h_params_;
  std::vector<models::CellControl> h_controls_;
  std::vector<models::ParticleCoefficients> h_coeffs_;
  std::vector<unsigned char> h_frozen_;
  std::vector<double> h_frozen_state_;
  std::vector<models::ParticleAging> h_aging_;
  std::vector<models::AgingAccumulator> h_accumulators_;
};

}  // namespace halite::cuda
