// The SUNLinearSolver wrapper of a structured Schur solver (host or device), written once: type
// MATRIX_EMBEDDED, dF/dy re-evaluated whenever the step key of the hooks changes, refactored
// whenever cj changes (so every Newton matrix has the exact current cj: the Li balance stays
// exact, docs/architecture.md). Exceptions never cross into SUNDIALS.
//
// Solver: evaluate_jacobian(const double* y), bool factor(double cj), double factored_cj(),
//         solve(const double* b, double* x).
// Vectors: static bool accepts(N_Vector), static double* data(N_Vector),
//          static void record_error(N_Vector, const char* what).
#pragma once

#include <sundials/sundials_linearsolver.h>

#include <exception>
#include <functional>
#include <new>

namespace halite {

// Callbacks the linear solver uses to learn IDA's current cj and whether a new step has started
// (then the Jacobian is re-evaluated at the point of the last residual evaluation).
struct SchurSolverHooks {
  std::function<double()> current_cj;
  std::function<long()> step_counter;
  std::function<const double*()> last_residual_point;
};

template <class Solver, class Vectors>
struct EmbeddedSchurLinearSolver {
  struct Content {
    Solver* solver;
    SchurSolverHooks* hooks;
    long jacobian_step = -1;  // step key at the last Jacobian evaluation
    int last_flag = 0;
  };
  static Content* content(SUNLinearSolver S) { return static_cast<Content*>(S->content); }

  static SUNLinearSolver_Type gettype(SUNLinearSolver) { return SUNLINEARSOLVER_MATRIX_EMBEDDED; }
  static SUNLinearSolver_ID getid(SUNLinearSolver) { return SUNLINEARSOLVER_CUSTOM; }
  static int initialize(SUNLinearSolver S) {
    content(S)->jacobian_step = -1;
    return SUNLS_SUCCESS;
  }
  static int setup(SUNLinearSolver, SUNMatrix) { return SUNLS_SUCCESS; }
  static int solve(SUNLinearSolver S, SUNMatrix, N_Vector x, N_Vector b, realtype) {
    auto* c = content(S);
    try {
      if (!Vectors::accepts(x) || !Vectors::accepts(b)) return c->last_flag = SUNLS_ILL_INPUT;
      const double cj = c->hooks->current_cj();
      const long step = c->hooks->step_counter();
      if (step != c->jacobian_step) {
        c->solver->evaluate_jacobian(c->hooks->last_residual_point());
        c->jacobian_step = step;
        if (!c->solver->factor(cj)) return c->last_flag = SUNLS_LUFACT_FAIL;
      } else if (cj != c->solver->factored_cj()) {
        if (!c->solver->factor(cj)) return c->last_flag = SUNLS_LUFACT_FAIL;
      }
      c->solver->solve(Vectors::data(b), Vectors::data(x));
    } catch (const std::exception& e) {
      Vectors::record_error(x, e.what());
      return c->last_flag = SUNLS_PACKAGE_FAIL_UNREC;
    } catch (...) {
      return c->last_flag = SUNLS_PACKAGE_FAIL_UNREC;
    }
    return c->last_flag = SUNLS_SUCCESS;
  }
  static int numiters(SUNLinearSolver) { return 0; }
  static realtype resnorm(SUNLinearSolver) { return 0.0; }
  static sunindextype lastflag(SUNLinearSolver S) { return content(S)->last_flag; }
  static int setzeroguess(SUNLinearSolver, booleantype) { return SUNLS_SUCCESS; }
  // A direct solve needs no scaling; offering the op spares IDA (which treats every solver type
  // but DIRECT as iterative) an N_VConst and a WRMS norm per linear solve to scale a tolerance
  // that the direct solve ignores: a launch and a host synchronisation per Newton iteration on
  // the GPU.
  static int setscalingvectors(SUNLinearSolver, N_Vector, N_Vector) { return SUNLS_SUCCESS; }
  static int free(SUNLinearSolver S) {
    if (!S) return SUNLS_SUCCESS;
    delete content(S);
    S->content = nullptr;
    SUNLinSolFreeEmpty(S);
    return SUNLS_SUCCESS;
  }

  // A SUNLinearSolver that refers to solver and hooks (both must outlive it).
  static SUNLinearSolver make(SUNContext context, Solver& solver, SchurSolverHooks& hooks) {
    SUNLinearSolver S = SUNLinSolNewEmpty(context);
    if (!S) throw std::bad_alloc();
    S->ops->gettype = gettype;
    S->ops->getid = getid;
    S->ops->initialize = initialize;
    S->ops->setup = setup;
    S->ops->solve = solve;
    S->ops->numiters = numiters;
    S->ops->resnorm = resnorm;
    S->ops->lastflag = lastflag;
    S->ops->setzeroguess = setzeroguess;
    S->ops->setscalingvectors = setscalingvectors;
    S->ops->free = free;
    S->content = new Content{&solver, &hooks};
    return S;
  }
};

}  // namespace halite
