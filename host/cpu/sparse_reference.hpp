// Reference path for tests: the structured Jacobian of one cell assembled into a SUNDIALS sparse
// (CSC) matrix and solved with SUNDIALS KLU. Slow and general; it checks the Schur solver.
#pragma once

#include <sundials/sundials_context.h>
#include <sundials/sundials_linearsolver.h>
#include <sundials/sundials_matrix.h>

#include <vector>

#include "models/structured_solve.hpp"

namespace halite {

// RAII owners of SUNDIALS matrices and linear solvers.
class SunMatrixPtr {
 public:
  explicit SunMatrixPtr(SUNMatrix m = nullptr) : m_(m) {}
  SunMatrixPtr(const SunMatrixPtr&) = delete;
  SunMatrixPtr& operator=(const SunMatrixPtr&) = delete;
  SunMatrixPtr(SunMatrixPtr&& o) noexcept : m_(o.m_) { o.m_ = nullptr; }
  ~SunMatrixPtr() {
    if (m_) SUNMatDestroy(m_);
  }
  SUNMatrix get() const { return m_; }

 private:
  SUNMatrix m_;
};

class SunLinearSolverPtr {
 public:
  explicit SunLinearSolverPtr(SUNLinearSolver s = nullptr) : s_(s) {}
  SunLinearSolverPtr(const SunLinearSolverPtr&) = delete;
  SunLinearSolverPtr& operator=(const SunLinearSolverPtr&) = delete;
  ~SunLinearSolverPtr() {
    if (s_) SUNLinSolFree(s_);
  }
  SUNLinearSolver get() const { return s_; }

 private:
  SUNLinearSolver s_;
};

// J = dF/dy + cj dF/dy' of one cell as a CSC sparse matrix.
SunMatrixPtr assemble_cell_matrix(SUNContext context, const models::CellParams& p,
                                  const models::CellLayout& L, const models::CellJacobianRef& J,
                                  double cj);

// y = A x for a CSC matrix.
std::vector<double> sparse_multiply(SUNMatrix A, const std::vector<double>& x);

// Solves A x = b with SUNDIALS KLU (serial vectors). Throws std::runtime_error on failure.
std::vector<double> klu_solve(SUNContext context, SUNMatrix A, const std::vector<double>& b);

}  // namespace halite
