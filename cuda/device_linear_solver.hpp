// The structured (Schur-complement) direct solver of the batch's Newton systems on the device,
// and its wrapper as a SUNDIALS SUNLinearSolver of type MATRIX_EMBEDDED: the device twin of
// host/cpu/schur_solver.hpp, with the same re-evaluation policy (a fresh Jacobian at every new
// integration step, a refactorisation whenever cj changes).
#pragma once

#include <sundials/sundials_linearsolver.h>

#include <vector>

#include "cuda/batch_kernels.hpp"
#include "host/cpu/schur_solver.hpp"  // SchurSolverHooks

namespace halite::cuda {

class DeviceSchurSolver {
 public:
  DeviceSchurSolver(DeviceBatchModel& model, cudaStream_t stream);

  // dF/dy of every active cell at the batch state y (device pointer). Asynchronous.
  void evaluate_jacobian(const double* y);
  // Factors J = dF/dy + cj dF/dy' of every active cell. Asynchronous, so it returns true: a
  // singular cell's factor gives a non-finite solve that reaches IDA through the norms (a
  // recoverable Newton failure); singular_cells() lists such cells for the failure message.
  bool factor(double cj);
  // x = J^-1 b for the whole batch (device pointers; frozen cells: identity). x may alias b.
  // Asynchronous.
  void solve(const double* b, double* x) const;

  double factored_cj() const { return factored_cj_; }
  std::vector<int> singular_cells() const;  // downloads
  long jacobian_evaluations() const { return jacobian_evaluations_; }
  long factorizations() const { return factorizations_; }
  cudaStream_t stream() const { return stream_; }

  // Device storage (for tests): cells * cell_jacobian_size / cell_factor_size / x_size.
  const double* jacobians() const { return jacobians_.get(); }
  const double* factors() const { return factors_.get(); }
  const int* pivots() const { return pivots_.get(); }

 private:
  DeviceBatchModel& model_;
  cudaStream_t stream_;
  DeviceBuffer<double> jacobians_, factors_;
  DeviceBuffer<double> refinement_;  // 2 x the state per cell: the solve's refinement step
  DeviceBuffer<int> pivots_, singular_;
  double factored_cj_ = 0.0;
  long jacobian_evaluations_ = 0, factorizations_ = 0;
};

// Creates a SUNLinearSolver that refers to solver and hooks (both must outlive it). The vectors
// IDA passes must be device batch vectors (cuda/device_vector.hpp).
SUNLinearSolver make_device_schur_linear_solver(SUNContext context, DeviceSchurSolver& solver,
                                                SchurSolverHooks& hooks);

}  // namespace halite::cuda
