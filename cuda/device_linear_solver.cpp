#include "cuda/device_linear_solver.hpp"

#include <new>
#include <string>

#include "cuda/device_vector.hpp"

namespace halite::cuda {

DeviceSchurSolver::DeviceSchurSolver(DeviceBatchModel& model, cudaStream_t stream)
    : model_(model),
      stream_(stream),
      jacobians_(std::size_t(model.cells()) * models::cell_jacobian_size(model.layout())),
      factors_(std::size_t(model.cells()) * models::cell_factor_size(model.layout())),
      refinement_(2 * std::size_t(model.cells()) * model.layout().size()),
      pivots_(std::size_t(model.cells()) * model.layout().x_size()),
      singular_(std::size_t(model.cells())) {
  // Defined contents for cells that are frozen before their first evaluation.
  jacobians_.zero(stream_);
  factors_.zero(stream_);
  pivots_.zero(stream_);
  singular_.zero(stream_);
  model_.synchronize(stream_);
}

void DeviceSchurSolver::evaluate_jacobian(const double* y) {
  const PhaseScope timed(model_.phase_timer(), DevicePhase::kJacobian, stream_);
  launch_jacobian(model_.view(), y, jacobians_.get(), stream_);
  ++model_.launches;
  ++jacobian_evaluations_;
}

bool DeviceSchurSolver::factor(double cj) {
  const PhaseScope timed(model_.phase_timer(), DevicePhase::kFactor, stream_);
  ++model_.launches;
  launch_factor(model_.view(), cj, jacobians_.get(), factors_.get(), pivots_.get(), singular_.get(),
                stream_);
  factored_cj_ = cj;
  ++factorizations_;
  return true;
}

void DeviceSchurSolver::solve(const double* b, double* x) const {
  const PhaseScope timed(model_.phase_timer(), DevicePhase::kSolve, stream_);
  ++model_.launches;
  launch_solve(model_.view(), factored_cj_, jacobians_.get(), factors_.get(), pivots_.get(), b, x,
               refinement_.get(), stream_);
}

std::vector<int> DeviceSchurSolver::singular_cells() const {
  std::vector<int> flags(model_.cells());
  singular_.download(flags.data(), flags.size(), stream_);
  model_.synchronize(stream_);
  std::vector<int> out;
  for (int c = 0; c < model_.cells(); ++c)
    if (flags[c] != 0) out.push_back(c);
  return out;
}

// ---------------------------------------------------------------------------------------------
// SUNLinearSolver wrapper (host/cpu/embedded_linear_solver.hpp: the same policy as on the host)

namespace {
struct DeviceBatchVectors {
  static bool accepts(N_Vector v) { return is_device_vector(v); }
  static double* data(N_Vector v) { return device_data(v); }
  static void record_error(N_Vector v, const char* what) {
    if (is_device_vector(v)) device_shared(v).record_error(what);
  }
};
}  // namespace

SUNLinearSolver make_device_schur_linear_solver(SUNContext context, DeviceSchurSolver& solver,
                                                SchurSolverHooks& hooks) {
  return EmbeddedSchurLinearSolver<DeviceSchurSolver, DeviceBatchVectors>::make(context, solver,
                                                                                hooks);
}

}  // namespace halite::cuda
