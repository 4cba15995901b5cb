#include "host/batch_integrator.hpp"

#include <fmt/format.h>
#include <ida/ida.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace halite {

namespace {

void check_ida(int flag, const char* call) {
  if (flag < 0)
    throw IntegrationError(
        fmt::format("{} failed with flag {} ({})", call, IDAGetReturnFlagName(flag), flag), -1,
        flag);
}

}  // namespace

BatchIntegrator::BatchIntegrator(BatchModel& model, const SolverConfig& config)
    : model_(model), config_(config), solver_(model) {
  const int b = model.cells(), n = model.per_cell();
  y_ = NVectorPtr(make_batch_vector(context_, b, n, model.mask()));
  yp_ = NVectorPtr(N_VClone(y_.get()));
  id_ = NVectorPtr(N_VClone(y_.get()));
  atol_ = NVectorPtr(N_VClone(y_.get()));
  N_VConst(0.0, yp_.get());
  for (int c = 0; c < b; ++c) {
    model.differential_id(batch_data(id_.get()) + std::size_t(c) * n);
    model.absolute_tolerances(config.absolute_tolerance_stoichiometry,
                              config.absolute_tolerance_potential,
                              config.absolute_tolerance_current, config.absolute_tolerance_charge,
                              batch_data(atol_.get()) + std::size_t(c) * n);
  }
  last_residual_point_.assign(std::size_t(b) * n, 0.0);

  ida_ = IDACreate(context_);
  if (!ida_) throw std::bad_alloc();
  check_ida(IDASetErrHandlerFn(ida_, &BatchIntegrator::error_callback, this), "IDASetErrHandlerFn");
  check_ida(IDAInit(ida_, &BatchIntegrator::residual_callback, 0.0, y_.get(), yp_.get()),
            "IDAInit");
  check_ida(IDASVtolerances(ida_, config.relative_tolerance, atol_.get()), "IDASVtolerances");
  check_ida(IDASetUserData(ida_, this), "IDASetUserData");
  check_ida(IDASetId(ida_, id_.get()), "IDASetId");
  check_ida(IDASetMaxStep(ida_, config.max_step), "IDASetMaxStep");

  hooks_.current_cj = [this] {
    double cj = 0.0;
    IDAGetCurrentCj(ida_, &cj);
    return cj;
  };
  hooks_.step_counter = [this] {
    // During IDACalcIC every Newton iteration gets a fresh Jacobian (full Newton): IDA cannot
    // ask a matrix-embedded solver for a new setup there, and the first guess may be far off.
    if (in_initial_condition_) return -(++ic_solves_);
    long nst = 0, ncfn = 0, netf = 0;
    IDAGetNumSteps(ida_, &nst);
    IDAGetNumNonlinSolvConvFails(ida_, &ncfn);
    IDAGetNumErrTestFails(ida_, &netf);
    // dF/dy is re-evaluated every jacobian_reuse_steps steps and after any convergence or
    // error-test failure; the factorisation follows every change of cj (SchurSolver), so the
    // Newton matrix always has the exact current cj and the Li balance stays exact.
    return (epoch_ << 42) + ((ncfn + netf) << 24) + nst / jacobian_reuse_steps_;
  };
  hooks_.last_residual_point = [this] { return last_residual_point_.data(); };
  if (const char* env = std::getenv("HALITE_JACOBIAN_REUSE")) set_jacobian_reuse(std::atol(env));
  linear_solver_ = make_schur_linear_solver(context_, solver_, hooks_);
  check_ida(IDASetLinearSolver(ida_, linear_solver_, nullptr), "IDASetLinearSolver");
}

BatchIntegrator::~BatchIntegrator() {
  if (ida_) IDAFree(&ida_);
  if (linear_solver_) SUNLinSolFree(linear_solver_);
}

int BatchIntegrator::residual_callback(double, N_Vector y, N_Vector yp, N_Vector res, void* data) {
  auto* self = static_cast<BatchIntegrator*>(data);
  try {
    const double* yd = batch_data(y);
    std::copy(yd, yd + self->last_residual_point_.size(), self->last_residual_point_.begin());
    return self->model_.residual(yd, batch_data(yp), batch_data(res));
  } catch (...) {
    return -1;
  }
}

int BatchIntegrator::root_callback(double t, N_Vector y, N_Vector, double* g, void* data) {
  auto* self = static_cast<BatchIntegrator*>(data);
  try {
    self->roots_->evaluate(self->model_, t, batch_data(y), g);
    return 0;
  } catch (...) {
    return -1;
  }
}

void BatchIntegrator::error_callback(int, const char* module, const char* function, char* msg,
                                     void* data) {
  auto* self = static_cast<BatchIntegrator*>(data);
  self->last_ida_message_ =
      fmt::format("[{} {}] {}", module ? module : "IDA", function ? function : "", msg ? msg : "");
}

void BatchIntegrator::restart(double t0, const StepRoots* roots) {
  accumulate_stats();
  ++epoch_;
  roots_ = roots;
  const int roots_per_cell = roots ? roots->conditions() : 0;
  roots_per_cell_ = roots_per_cell;
  N_VConst(0.0, yp_.get());
  check_ida(IDAReInit(ida_, t0, y_.get(), yp_.get()), "IDAReInit");
  check_ida(IDARootInit(ida_, model_.cells() * roots_per_cell,
                        roots_per_cell > 0 ? &BatchIntegrator::root_callback : nullptr),
            "IDARootInit");
  // Root functions are tested only after the first step: a condition already met at t0 (e.g. a
  // cell that starts at its cut-off) is handled by the caller before integrating.
  IDASetNoInactiveRootWarn(ida_);
  const double t_ic = t0 + 1.0;
  in_initial_condition_ = true;
  const int flag = IDACalcIC(ida_, IDA_YA_YDP_INIT, t_ic);
  in_initial_condition_ = false;
  if (flag < 0) {
    int cell = -1;
    const std::string msg = describe_failure("IDACalcIC", flag, &cell);
    throw IntegrationError(msg, cell, flag);
  }
  check_ida(IDAGetConsistentIC(ida_, y_.get(), yp_.get()), "IDAGetConsistentIC");
  ++epoch_;  // the first step evaluates a fresh Jacobian at its predicted state
}

int BatchIntegrator::step(double t_limit, double* t_reached) {
  IDASetStopTime(ida_, t_limit);
  return IDASolve(ida_, t_limit, t_reached, y_.get(), yp_.get(), IDA_ONE_STEP);
}

const std::vector<int>& BatchIntegrator::roots_found() {
  return read_roots_found(ida_, std::size_t(model_.cells()) * roots_per_cell_, &roots_found_);
}

std::string BatchIntegrator::describe_failure(const char* call, int flag, int* blamed_cell) {
  std::string msg =
      fmt::format("{} failed with flag {} ({})", call, IDAGetReturnFlagName(flag), flag);
  if (!last_ida_message_.empty()) msg += ": " + last_ida_message_;
  *blamed_cell = -1;
  if (!model_.nonfinite_cells().empty()) {
    *blamed_cell = model_.nonfinite_cells().front();
    msg += fmt::format("; non-finite residual of {} in cell {}",
                       model_.describe_component(model_.nonfinite_components().front()),
                       *blamed_cell + 1);
  }
  // Largest weighted local errors, translated to physics.
  NVectorPtr err(N_VClone(y_.get())), weights(N_VClone(y_.get()));
  if (IDAGetEstLocalErrors(ida_, err.get()) == IDA_SUCCESS &&
      IDAGetErrWeights(ida_, weights.get()) == IDA_SUCCESS)
    append_local_error_ranking(model_, batch_data(err.get()), batch_data(weights.get()), &msg,
                               blamed_cell);
  if (*blamed_cell < 0) {
    for (int c = 0; c < model_.cells(); ++c)
      if (!model_.frozen(c)) {
        *blamed_cell = c;
        break;
      }
  }
  return msg;
}

SolverStats read_ida_counters(void* ida) {
  SolverStats s;
  IDAGetNumSteps(ida, &s.steps);
  IDAGetNumResEvals(ida, &s.residual_evals);
  IDAGetNumNonlinSolvIters(ida, &s.nonlinear_iters);
  IDAGetNumErrTestFails(ida, &s.error_test_fails);
  IDAGetNumNonlinSolvConvFails(ida, &s.nonlinear_conv_fails);
  return s;
}

void BatchIntegrator::accumulate_stats() {
  total_.add_ida_counters(read_ida_counters(ida_));
}

SolverStats BatchIntegrator::stats() const {
  SolverStats s = read_ida_counters(ida_);
  s.add_ida_counters(total_);
  s.jacobian_evals = solver_.jacobian_evaluations();
  return s;
}

}  // namespace halite
