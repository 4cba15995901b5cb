// The IDA instance of a batch integrator, written once for both backends
// (host/cpu/batch_integrator, cuda/gpu_integrator): creation with the shared settings
// (per-component tolerances, the differential/algebraic id, the longest step), the Jacobian policy
// of the embedded Schur solvers (SchurSolverHooks: full Newton during the initial condition, then
// dF/dy every jacobian_reuse_steps steps and after any failure, refactored at every new cj),
// restarts with a consistent initial condition, one-step integration, root info and counters. RAII:
// frees the IDA memory, then the linear solver it owns.
#pragma once

#include <ida/ida.h>
#include <sundials/sundials_linearsolver.h>

#include <functional>
#include <string>
#include <vector>

#include "host/cpu/embedded_linear_solver.hpp"
#include "host/engine/results.hpp"
#include "host/engine/solver_options.hpp"

namespace halite {

class IdaDriver {
 public:
  // IDAInit with `residual` (its user data: `user`), tolerances config.relative_tolerance and
  // `atol`, IDASetId(id), IDASetMaxStep(config.max_step); IDA's messages are kept for
  // last_message(). Throws IntegrationError.
  IdaDriver(SUNContext context, IDAResFn residual, void* user, N_Vector y, N_Vector yp, N_Vector id,
            N_Vector atol, const SolverConfig& config);
  ~IdaDriver();
  IdaDriver(const IdaDriver&) = delete;
  IdaDriver& operator=(const IdaDriver&) = delete;

  void* get() const { return ida_; }
  // Hooks for an embedded Schur solver whose Jacobian is taken at last_residual_point().
  SchurSolverHooks hooks(std::function<const double*()> last_residual_point);
  // IDASetLinearSolver; the driver owns `solver` from here on.
  void attach(SUNLinearSolver solver);
  // Re-evaluate dF/dy only every n IDA steps (modified Newton); 1 = every step. The default
  // is 4 (measured: ~35 % less per cycle for ~5 % more steps), HALITE_JACOBIAN_REUSE overrides.
  void set_jacobian_reuse(long n) { jacobian_reuse_steps_ = n < 1 ? 1 : n; }

  // IDAReInit at t0 from (y, yp = 0), IDARootInit(roots, root_fn), then IDACalcIC for the
  // algebraic unknowns and the derivatives (IDA_YA_YDP_INIT at t0 + 1 s). Root functions are
  // tested only after the first step: a condition already met at t0 is the caller's to handle.
  // Returns IDACalcIC's flag; on success y and yp are the consistent state.
  int restart(double t0, N_Vector y, N_Vector yp, int roots, IDARootFn root_fn);
  // One internal step towards t_limit (IDA_ONE_STEP, tstop = t_limit); returns IDA's flag.
  int step(double t_limit, double* t_reached, N_Vector y, N_Vector yp);
  // Which roots were found at the last IDA_ROOT_RETURN.
  const std::vector<int>& roots_found();
  // "CALL failed with flag NAME (N): IDA's last message".
  std::string failure_text(const char* call, int flag) const;
  // Cumulative over the whole run; jacobian_evals comes from the linear solver.
  SolverStats stats(long jacobian_evals) const;

 private:
  static void error_callback(int code, const char* module, const char* function, char* msg,
                             void* data);
  void* ida_ = nullptr;
  SUNLinearSolver linear_solver_ = nullptr;
  std::string last_message_;
  int roots_ = 0;
  std::vector<int> roots_found_;
  long epoch_ = 0;
  long jacobian_reuse_steps_ = 4;
  bool in_initial_condition_ = false;
  long ic_solves_ = 0;
  SolverStats total_;  // counters of the IDA runs before the last restart
};

}  // namespace halite
