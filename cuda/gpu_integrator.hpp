// SUNDIALS IDA integrating a BatchModel on the GPU: one IDA instance for the whole batch (IDA's
// own logic runs on the host), the device batch N_Vector (max-over-cells norms, reduced on the
// device), the batched residual kernel and the device Schur linear solver. The CUDA backend of
// host/engine/integrator.hpp, with the tolerances, Jacobian policy (reuse over
// jacobian_reuse_steps_ steps, refactorisation at every new cj) and initial-condition handling of
// the CPU backend (host/cpu/batch_integrator.hpp), so that the same batch gives the same answer
// within the integration tolerance.
//
// What stays on the device during a protocol step: the state, the root functions of the step's
// end conditions (models/termination.hpp: only g, cells x conditions doubles, comes back per
// evaluation), the aging drivers' sampling (accumulators come back once per step), the terminal
// voltage and current for recorded curves. The whole state comes to the host only when asked
// for through y() (at step boundaries: pinning frozen cells, the aging update, cycle records),
// and one cell when it ends its step (read_cell).
//
// The host BatchModel stays the owner of everything that is not the hot path (parameters,
// controls, freezing, aging, initial guesses, messages); restart() uploads it, step() uploads
// the cells frozen since the last call.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cuda/batch_kernels.hpp"
#include "cuda/device_linear_solver.hpp"
#include "cuda/device_vector.hpp"
#include "host/cpu/batch_model.hpp"
#include "host/cpu/ida_driver.hpp"
#include "host/engine/integrator.hpp"
#include "host/engine/results.hpp"
#include "host/engine/solver_options.hpp"

namespace halite::cuda {

class GpuBatchIntegrator : public Integrator {  // not final: tests count inside step()
 public:
  GpuBatchIntegrator(BatchModel& model, const SolverConfig& config);
  ~GpuBatchIntegrator() override = default;
  GpuBatchIntegrator(const GpuBatchIntegrator&) = delete;
  GpuBatchIntegrator& operator=(const GpuBatchIntegrator&) = delete;

  const char* backend_name() const override { return "cuda"; }
  BatchModel& model() override { return model_; }
  // Host mirror of the device state (downloaded when stale; uploaded at the next restart).
  double* y() override;
  const double* read_cell(int cell) override;
  void terminal_observables(std::vector<double>* voltage, std::vector<double>* current) override;

  void restart(double t0, const StepRoots* roots) override;
  void restart(double t0) { restart(t0, nullptr); }
  void update_roots() override;
  void root_values(double t, double* g) override;
  int step(double t_limit, double* t_reached) override;
  const std::vector<int>& roots_found() override;
  std::string describe_failure(const char* call, int flag, int* blamed_cell) override;
  bool nonfinite_residual() const override;  // reads the per-cell flags (synchronises)

  void sample_aging(double t) override;
  void collect_aging() override;

  SolverStats stats() const override;
  long factorizations() const override { return solver_->factorizations(); }
  // Re-evaluate dF/dy only every n IDA steps (modified Newton); 1 = every step. The default
  // and the HALITE_JACOBIAN_REUSE environment variable are those of BatchIntegrator.
  void set_jacobian_reuse(long n) override { ida_->set_jacobian_reuse(n); }

  // Whole-batch state transfer (cells * per_cell doubles, cell-major), for tests and benchmarks.
  void set_state(const double* y_host);
  void get_state(double* y_host) const;
  void get_derivative(double* yp_host) const;
  std::vector<double> state() const;
  // Integrates to t_end (several steps); returns the number of IDA steps taken. Throws
  // IntegrationError on failure.
  long advance_to(double t_end);

  const DeviceSchurSolver& solver() const { return *solver_; }
  DeviceBatchShared& vectors() { return device_shared(y_.get()); }
  const DeviceBatchShared& vectors() const { return device_shared(y_.get()); }

  // Every kernel launch and host synchronisation of this integrator so far (vector ops,
  // reductions, model and solver kernels, uploads, copies): what bench_gpu reports per IDA step.
  struct DeviceCounters {
    long launches = 0, synchronizations = 0, reductions = 0;
  };
  DeviceCounters device_counters() const;
  // Times every launch with cudaEvents into `timer` (null: stop timing); the caller keeps it.
  void set_phase_timer(PhaseTimer* timer);
  cudaStream_t stream() const { return device_stream(y_.get()); }

 private:
  static int residual_callback(double t, N_Vector y, N_Vector yp, N_Vector res, void* data);
  static int root_callback(double t, N_Vector y, N_Vector yp, double* g, void* data);
  void check_device(const char* call);
  // Host model -> device: parameters, controls, coefficients, aging, frozen cells, norm mask.
  void sync_model();
  // The host mirror, if the caller may have written to it, -> device.
  void push_host_state();

  BatchModel& model_;
  SolverConfig config_;
  SunContext context_;
  NVectorPtr y_, yp_, id_, atol_;
  std::unique_ptr<DeviceBatchModel> device_model_;
  std::unique_ptr<DeviceSchurSolver> solver_;
  SchurSolverHooks hooks_;
  DeviceBuffer<double> last_residual_point_;
  // Host mirror: host_fresh_ = it equals the device state (or is newer: host_written_).
  std::vector<double> host_y_;
  PinnedBuffer<double> cell_buffer_;  // one cell's state read back (pinned: a direct copy)
  bool host_fresh_ = true, host_written_ = true;
  const StepRoots* roots_ = nullptr;
  unsigned long frozen_revision_ = 0;
  bool accumulators_on_device_ = false;  // the device has sampled since the last collect
  std::unique_ptr<IdaDriver> ida_;       // last: freed before what it refers to
};

}  // namespace halite::cuda
