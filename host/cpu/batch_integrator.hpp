// SUNDIALS IDA integrating a BatchModel: one IDA instance for the whole batch, the batch
// N_Vector (max-over-cells norms), the Schur linear solver, per-cell root functions.
// Exceptions never cross into SUNDIALS: callbacks catch them and return -1.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/cpu/batch_model.hpp"
#include "host/cpu/ida_driver.hpp"
#include "host/cpu/nvector_batch.hpp"
#include "host/cpu/schur_solver.hpp"
#include "host/engine/integrator.hpp"
#include "host/engine/results.hpp"
#include "host/engine/solver_options.hpp"

namespace halite {

class BatchIntegrator final : public Integrator {
 public:
  BatchIntegrator(BatchModel& model, const SolverConfig& config);
  ~BatchIntegrator() override = default;
  BatchIntegrator(const BatchIntegrator&) = delete;
  BatchIntegrator& operator=(const BatchIntegrator&) = delete;

  const char* backend_name() const override { return "cpu"; }
  double* y() override { return batch_data(y_.get()); }
  double* yp() { return batch_data(yp_.get()); }
  BatchModel& model() override { return model_; }
  SchurSolver& solver() { return solver_; }

  // Restart IDA at t0 from y (the state held by this object) and compute consistent algebraic
  // variables and derivatives (IDACalcIC). Throws IntegrationError.
  void restart(double t0, const StepRoots* roots) override;
  void root_values(double t, double* g) override {
    if (roots_) roots_->evaluate(model_, t, y(), g);
  }
  bool nonfinite_residual() const override { return !model_.nonfinite_cells().empty(); }
  // One internal IDA step towards t_limit (IDA_ONE_STEP with tstop = t_limit). Returns IDA's
  // flag (IDA_SUCCESS, IDA_ROOT_RETURN, IDA_TSTOP_RETURN or a negative failure).
  int step(double t_limit, double* t_reached) override;
  // Which roots were found at the last IDA_ROOT_RETURN (size cells * roots_per_cell).
  const std::vector<int>& roots_found() override;

  // Describes a failure of `call` with `flag`: IDA's message and the worst components. Also
  // returns the cell with the largest weighted local error (or a cell with non-finite values).
  std::string describe_failure(const char* call, int flag, int* blamed_cell) override;

  SolverStats stats() const override;  // cumulative over the whole run
  long factorizations() const override { return solver_.factorizations(); }
  // Re-evaluate dF/dy only every n IDA steps (modified Newton); 1 = every step.
  void set_jacobian_reuse(long n) override { ida_->set_jacobian_reuse(n); }

 private:
  static int residual_callback(double t, N_Vector y, N_Vector yp, N_Vector res, void* data);
  static int root_callback(double t, N_Vector y, N_Vector yp, double* g, void* data);

  BatchModel& model_;
  SolverConfig config_;
  SunContext context_;
  NVectorPtr y_, yp_, id_, atol_;
  SchurSolver solver_;
  SchurSolverHooks hooks_;
  std::vector<double> last_residual_point_;
  const StepRoots* roots_ = nullptr;
  std::unique_ptr<IdaDriver> ida_;  // last: freed before what it refers to
};

}  // namespace halite
