#include "host/cpu/ida_driver.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#include "host/engine/integrator.hpp"

namespace halite {

namespace {

// IDAGetReturnFlagName returns a malloc'ed string the caller must free (LeakSanitizer found the
// one kept per failure message).
std::string ida_flag_name(int flag) {
  const std::unique_ptr<char, decltype(&std::free)> name(IDAGetReturnFlagName(flag), &std::free);
  return name ? std::string(name.get()) : std::string("unknown flag");
}

void check_ida(int flag, const char* call) {
  if (flag < 0)
    throw IntegrationError(
        fmt::format("{} failed with flag {} ({})", call, ida_flag_name(flag), flag), -1, flag);
}

}  // namespace

SolverStats read_ida_counters(void* ida) {
  SolverStats s;
  IDAGetNumSteps(ida, &s.steps);
  IDAGetNumResEvals(ida, &s.residual_evals);
  IDAGetNumNonlinSolvIters(ida, &s.nonlinear_iters);
  IDAGetNumErrTestFails(ida, &s.error_test_fails);
  IDAGetNumNonlinSolvConvFails(ida, &s.nonlinear_conv_fails);
  return s;
}

IdaDriver::IdaDriver(SUNContext context, IDAResFn residual, void* user, N_Vector y, N_Vector yp,
                     N_Vector id, N_Vector atol, const SolverConfig& config) {
  ida_ = IDACreate(context);
  if (!ida_) throw std::bad_alloc();
  check_ida(IDASetErrHandlerFn(ida_, &IdaDriver::error_callback, this), "IDASetErrHandlerFn");
  check_ida(IDAInit(ida_, residual, 0.0, y, yp), "IDAInit");
  check_ida(IDASVtolerances(ida_, config.relative_tolerance, atol), "IDASVtolerances");
  check_ida(IDASetUserData(ida_, user), "IDASetUserData");
  check_ida(IDASetId(ida_, id), "IDASetId");
  check_ida(IDASetMaxStep(ida_, config.max_step), "IDASetMaxStep");
  if (const char* env = std::getenv("HALITE_JACOBIAN_REUSE")) set_jacobian_reuse(std::atol(env));
}

IdaDriver::~IdaDriver() {
  if (ida_) IDAFree(&ida_);
  if (linear_solver_) SUNLinSolFree(linear_solver_);
}

SchurSolverHooks IdaDriver::hooks(std::function<const double*()> last_residual_point) {
  SchurSolverHooks h;
  h.current_cj = [this] {
    double cj = 0.0;
    IDAGetCurrentCj(ida_, &cj);
    return cj;
  };
  h.step_counter = [this] {
    // During IDACalcIC every Newton iteration gets a fresh Jacobian (full Newton): IDA cannot
    // ask a matrix-embedded solver for a new setup there, and the first guess may be far off.
    if (in_initial_condition_) return -(++ic_solves_);
    long nst = 0, ncfn = 0, netf = 0;
    IDAGetNumSteps(ida_, &nst);
    IDAGetNumNonlinSolvConvFails(ida_, &ncfn);
    IDAGetNumErrTestFails(ida_, &netf);
    // dF/dy is re-evaluated every jacobian_reuse_steps steps and after any convergence or
    // error-test failure; the factorisation follows every change of cj (the Schur solvers), so
    // the Newton matrix always has the exact current cj and the Li balance stays exact.
    return (epoch_ << 42) + ((ncfn + netf) << 24) + nst / jacobian_reuse_steps_;
  };
  h.last_residual_point = std::move(last_residual_point);
  return h;
}

void IdaDriver::attach(SUNLinearSolver solver) {
  linear_solver_ = solver;
  check_ida(IDASetLinearSolver(ida_, solver, nullptr), "IDASetLinearSolver");
}

void IdaDriver::error_callback(int, const char* module, const char* function, char* msg,
                               void* data) {
  auto* self = static_cast<IdaDriver*>(data);
  self->last_message_ =
      fmt::format("[{} {}] {}", module ? module : "IDA", function ? function : "", msg ? msg : "");
}

int IdaDriver::restart(double t0, N_Vector y, N_Vector yp, int roots, IDARootFn root_fn) {
  total_.add_ida_counters(read_ida_counters(ida_));
  ++epoch_;
  roots_ = roots;
  N_VConst(0.0, yp);
  check_ida(IDAReInit(ida_, t0, y, yp), "IDAReInit");
  check_ida(IDARootInit(ida_, roots, roots > 0 ? root_fn : nullptr), "IDARootInit");
  IDASetNoInactiveRootWarn(ida_);
  in_initial_condition_ = true;
  const int flag = IDACalcIC(ida_, IDA_YA_YDP_INIT, t0 + 1.0);
  in_initial_condition_ = false;
  if (flag < 0) return flag;
  check_ida(IDAGetConsistentIC(ida_, y, yp), "IDAGetConsistentIC");
  ++epoch_;  // the first step evaluates a fresh Jacobian at its predicted state
  return flag;
}

int IdaDriver::step(double t_limit, double* t_reached, N_Vector y, N_Vector yp) {
  IDASetStopTime(ida_, t_limit);
  return IDASolve(ida_, t_limit, t_reached, y, yp, IDA_ONE_STEP);
}

const std::vector<int>& IdaDriver::roots_found() {
  roots_found_.assign(std::size_t(roots_), 0);
  if (roots_ > 0) IDAGetRootInfo(ida_, roots_found_.data());
  return roots_found_;
}

std::string IdaDriver::failure_text(const char* call, int flag) const {
  std::string msg = fmt::format("{} failed with flag {} ({})", call, ida_flag_name(flag), flag);
  if (!last_message_.empty()) msg += ": " + last_message_;
  return msg;
}

SolverStats IdaDriver::stats(long jacobian_evals) const {
  SolverStats s = read_ida_counters(ida_);
  s.add_ida_counters(total_);
  s.jacobian_evals = jacobian_evals;
  return s;
}

}  // namespace halite
