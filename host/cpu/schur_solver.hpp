// The structured direct solver of the batch's Newton systems (models/structured_solve.hpp per
// cell), and its wrapper as a SUNDIALS SUNLinearSolver of type MATRIX_EMBEDDED.
#pragma once

#include <sundials/sundials_linearsolver.h>

#include <functional>
#include <vector>

#include "host/cpu/batch_model.hpp"
#include "host/cpu/embedded_linear_solver.hpp"
#include "models/structured_solve.hpp"

namespace halite {

class SchurSolver {
 public:
  explicit SchurSolver(BatchModel& model);

  // dF/dy of every active cell at the batch state y.
  void evaluate_jacobian(const double* y);
  // Factor J = dF/dy + cj dF/dy' of every active cell. Returns false if a cell's matrix is
  // singular (singular_cells() lists them).
  bool factor(double cj);
  // x = J^-1 b for the whole batch (frozen cells: identity). x may alias b.
  void solve(const double* b, double* x) const;

  double factored_cj() const { return factored_cj_; }
  const std::vector<int>& singular_cells() const { return singular_; }
  models::CellJacobianRef jacobian(int cell);
  long jacobian_evaluations() const { return jacobian_evaluations_; }
  long factorizations() const { return factorizations_; }

 private:
  BatchModel& model_;
  std::vector<double> jacobians_, factors_, scratch_;
  mutable std::vector<double> refinement_;  // b - J x of one cell, and b when x aliases it
  std::vector<int> pivots_, singular_;
  double factored_cj_ = 0.0;
  long jacobian_evaluations_ = 0, factorizations_ = 0;
};

// Creates a SUNLinearSolver that owns nothing but refers to solver and hooks (both must outlive
// it). The Jacobian is re-evaluated once per integration step and refactored whenever cj changes,
// so every Newton update uses the exact current matrix (this keeps the lithium balance exact to
// round-off; see docs/architecture.md).
SUNLinearSolver make_schur_linear_solver(SUNContext context, SchurSolver& solver,
                                         SchurSolverHooks& hooks);

}  // namespace halite
