// SUNDIALS IDA integrating a BatchModel on the GPU: one IDA instance for the whole batch (IDA's
// own logic runs on the host), the device batch N_Vector (max-over-cells norms, reduced on the
// device), the batched residual kernel and the device Schur linear solver. The device twin of
// host/batch_integrator.hpp, with the same tolerances, Jacobian policy (reuse over
// jacobian_reuse_steps_ steps, refactorisation at every new cj) and initial-condition
// handling, so that the same batch gives the same answer within the integration tolerance.
//
// The host BatchModel stays the owner of everything that is not the hot path (parameters,
// controls, freezing, aging, initial guesses, messages): change it there, then call
// sync_model() before the next restart().
//
// First version: no root functions (protocol steps end at a given time; per-cell cut-offs are
// remaining work, docs/gpu.md).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cuda/batch_kernels.hpp"
#include "cuda/device_linear_solver.hpp"
#include "cuda/device_vector.hpp"
#include "host/batch_integrator.hpp"  // IntegrationError
#include "host/batch_model.hpp"
#include "host/config.hpp"
#include "host/results.hpp"

namespace halite::cuda {

class GpuBatchIntegrator {
 public:
  GpuBatchIntegrator(BatchModel& model, const SolverConfig& config);
  ~GpuBatchIntegrator();
  GpuBatchIntegrator(const GpuBatchIntegrator&) = delete;
  GpuBatchIntegrator& operator=(const GpuBatchIntegrator&) = delete;

  BatchModel& model() { return model_; }
  // State transfer (whole batch, cell-major, cells * per_cell doubles).
  void set_state(const double* y_host);
  void get_state(double* y_host) const;
  void get_derivative(double* yp_host) const;
  std::vector<double> state() const;

  // Copies parameters, controls, coefficients, frozen flags/states and the norm mask from the
  // host model to the device.
  void sync_model();

  // Restart IDA at t0 from the device state and compute consistent algebraic variables and
  // derivatives (IDACalcIC), as BatchIntegrator::restart. Throws IntegrationError.
  void restart(double t0);
  // One internal IDA step towards t_limit (IDA_ONE_STEP, tstop = t_limit). Returns IDA's flag.
  // Throws CudaError (as IntegrationError) if a device operation failed during the step.
  int step(double t_limit, double* t_reached);
  // Integrates to t_end (several steps); returns the number of IDA steps taken. Throws
  // IntegrationError on failure.
  long advance_to(double t_end);

  SolverStats stats() const;
  // Re-evaluate dF/dy only every n IDA steps (modified Newton); 1 = every step. The default
  // and the HALITE_JACOBIAN_REUSE environment variable are those of BatchIntegrator.
  void set_jacobian_reuse(long n) { jacobian_reuse_steps_ = n < 1 ? 1 : n; }
  const DeviceSchurSolver& solver() const { return *solver_; }
  DeviceBatchShared& vectors() { return device_shared(y_.get()); }
  cudaStream_t stream() { return device_stream(y_.get()); }

 private:
  static int residual_callback(double t, N_Vector y, N_Vector yp, N_Vector res, void* data);
  static void error_callback(int code, const char* module, const char* function, char* msg,
                             void* data);
  void check_device(const char* call);
  void accumulate_stats();

  BatchModel& model_;
  SolverConfig config_;
  SunContext context_;
  NVectorPtr y_, yp_, id_, atol_;
  std::unique_ptr<DeviceBatchModel> device_model_;
  std::unique_ptr<DeviceSchurSolver> solver_;
  SchurSolverHooks hooks_;
  SUNLinearSolver linear_solver_ = nullptr;
  void* ida_ = nullptr;
  DeviceBuffer<double> last_residual_point_;
  std::string last_ida_message_;
  long epoch_ = 0;
  long jacobian_reuse_steps_ = 4;  // BatchIntegrator's default
  bool in_initial_condition_ = false;
  long ic_solves_ = 0;
  SolverStats total_;
};

}  // namespace halite::cuda
