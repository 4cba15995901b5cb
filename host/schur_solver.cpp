#include "host/schur_solver.hpp"

#include <stdexcept>

namespace halite {

SchurSolver::SchurSolver(BatchModel& model) : model_(model) {
  const auto& L = model.layout();
  const std::size_t b = model.cells();
  jacobians_.assign(b * models::cell_jacobian_size(L), 0.0);
  factors_.assign(b * models::cell_factor_size(L), 0.0);
  pivots_.assign(b * L.x_size(), 0);
  scratch_.assign(std::max(models::cell_scratch_size(L), L.x_size()), 0.0);
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
    models::solve_cell(model_.params(c), L, J, factors_.data() + c * models::cell_factor_size(L),
                       pivots_.data() + c * L.x_size(), bc, xc);
  }
}

// ---------------------------------------------------------------------------------------------
// SUNLinearSolver wrapper

namespace {

struct SchurLinSolContent {
  SchurSolver* solver;
  SchurSolverHooks* hooks;
  long jacobian_step = -1;  // step counter at the last Jacobian evaluation
  int last_flag = 0;
};

SchurLinSolContent* content(SUNLinearSolver S) {
  return static_cast<SchurLinSolContent*>(S->content);
}

SUNLinearSolver_Type schur_gettype(SUNLinearSolver) {
  return SUNLINEARSOLVER_MATRIX_EMBEDDED;
}
SUNLinearSolver_ID schur_getid(SUNLinearSolver) {
  return SUNLINEARSOLVER_CUSTOM;
}
int schur_initialize(SUNLinearSolver S) {
  content(S)->jacobian_step = -1;
  return SUNLS_SUCCESS;
}
int schur_setup(SUNLinearSolver, SUNMatrix) {
  return SUNLS_SUCCESS;
}

int schur_solve(SUNLinearSolver S, SUNMatrix, N_Vector x, N_Vector b, realtype) {
  auto* c = content(S);
  const double cj = c->hooks->current_cj();
  const long step = c->hooks->step_counter();
  try {
    if (step != c->jacobian_step) {
      c->solver->evaluate_jacobian(c->hooks->last_residual_point());
      c->jacobian_step = step;
      if (!c->solver->factor(cj)) return c->last_flag = SUNLS_LUFACT_FAIL;
    } else if (cj != c->solver->factored_cj()) {
      if (!c->solver->factor(cj)) return c->last_flag = SUNLS_LUFACT_FAIL;
    }
    c->solver->solve(batch_data(b), batch_data(x));
  } catch (...) {
    return c->last_flag = SUNLS_PACKAGE_FAIL_UNREC;
  }
  return c->last_flag = SUNLS_SUCCESS;
}

int schur_numiters(SUNLinearSolver) {
  return 0;
}
realtype schur_resnorm(SUNLinearSolver) {
  return 0.0;
}
sunindextype schur_lastflag(SUNLinearSolver S) {
  return content(S)->last_flag;
}
int schur_setzeroguess(SUNLinearSolver, booleantype) {
  return SUNLS_SUCCESS;
}

int schur_free(SUNLinearSolver S) {
  if (!S) return SUNLS_SUCCESS;
  delete content(S);
  S->content = nullptr;
  SUNLinSolFreeEmpty(S);
  return SUNLS_SUCCESS;
}

}  // namespace

SUNLinearSolver make_schur_linear_solver(SUNContext context, SchurSolver& solver,
                                         SchurSolverHooks& hooks) {
  SUNLinearSolver S = SUNLinSolNewEmpty(context);
  if (!S) throw std::bad_alloc();
  S->ops->gettype = schur_gettype;
  S->ops->getid = schur_getid;
  S->ops->initialize = schur_initialize;
  S->ops->setup = schur_setup;
  S->ops->solve = schur_solve;
  S->ops->numiters = schur_numiters;
  S->ops->resnorm = schur_resnorm;
  S->ops->lastflag = schur_lastflag;
  S->ops->setzeroguess = schur_setzeroguess;
  S->ops->free = schur_free;
  S->content = new SchurLinSolContent{&solver, &hooks};
  return S;
}

}  // namespace halite
