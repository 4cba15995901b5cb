#include "host/cpu/schur_solver.hpp"

#include <algorithm>
#include <stdexcept>

namespace halite {

SchurSolver::SchurSolver(BatchModel& model) : model_(model) {
  const auto& L = model.layout();
  const std::size_t b = model.cells();
  jacobians_.assign(b * models::cell_jacobian_size(L), 0.0);
  factors_.assign(b * models::cell_factor_size(L), 0.0);
  pivots_.assign(b * L.x_size(), 0);
  scratch_.assign(std::max(models::cell_scratch_size(L), L.x_size()), 0.0);
  refinement_.assign(2 * L.size(), 0.0);
}

models::CellJacobianRef SchurSolver::jacobian(int cell) {
  const auto& L = model_.layout();
  return models::cell_jacobian_ref(
      L, jacobians_.data() + std::size_t(cell) * models::cell_jacobian_size(L));
}

void SchurSolver::evaluate_jacobian(const double* y) {
  const auto& L = model_.layout();
  for (int c = 0; c < model_.cells(); ++c) {
    if (model_.frozen(c)) continue;
    const auto J = jacobian(c);
    models::cell_jacobian(model_.params(c), L, model_.control(c), y + std::size_t(c) * L.size(),
                          J.particle_blocks, J.x_block, J.x_mean_coupling, scratch_.data(),
                          model_.coefficients(c));
  }
  ++jacobian_evaluations_;
}

bool SchurSolver::factor(double cj) {
  const auto& L = model_.layout();
  singular_.clear();
  for (int c = 0; c < model_.cells(); ++c) {
    if (model_.frozen(c)) continue;
    const auto J = jacobian(c);
    if (!models::factor_cell(model_.params(c), L, cj, J,
                             factors_.data() + std::size_t(c) * models::cell_factor_size(L),
                             pivots_.data() + std::size_t(c) * L.x_size(), scratch_.data()))
      singular_.push_back(c);
  }
  factored_cj_ = cj;
  ++factorizations_;
  return singular_.empty();
}

void SchurSolver::solve(const double* b, double* x) const {
  const auto& L = model_.layout();
  const std::size_t n = L.size();
  for (int c = 0; c < model_.cells(); ++c) {
    const double* bc = b + c * n;
    double* xc = x + c * n;
    if (model_.frozen(c)) {
      if (xc != bc)
        for (std::size_t i = 0; i < n; ++i) xc[i] = bc[i];
      continue;
    }
    const auto J = models::cell_jacobian_ref(
        L, const_cast<double*>(jacobians_.data()) + c * models::cell_jacobian_size(L));
    const double* factors = factors_.data() + c * models::cell_factor_size(L);
    const int* pivots = pivots_.data() + c * L.x_size();
    models::solve_cell_refined(model_.params(c), L, J, factored_cj_, factors, pivots, bc, xc,
                               refinement_.data());
  }
}

// ---------------------------------------------------------------------------------------------
// SUNLinearSolver wrapper (host/cpu/embedded_linear_solver.hpp, shared with the device backend)

namespace {
struct HostBatchVectors {
  static bool accepts(N_Vector v) { return is_batch_vector(v); }
  static double* data(N_Vector v) { return batch_data(v); }
  static void record_error(N_Vector, const char*) {}
};
}  // namespace

SUNLinearSolver make_schur_linear_solver(SUNContext context, SchurSolver& solver,
                                         SchurSolverHooks& hooks) {
  return EmbeddedSchurLinearSolver<SchurSolver, HostBatchVectors>::make(context, solver, hooks);
}

}  // namespace halite
