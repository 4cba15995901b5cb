// What the protocol engine (host/engine/cycler.hpp) needs from a batch integrator, whatever runs
// it: the CPU backend (host/cpu/batch_integrator.hpp) or the CUDA backend
// (cuda/gpu_integrator.hpp). Both run one SUNDIALS IDA instance over the whole batch with the same
// tolerances, Jacobian policy and initial-condition handling; they differ only in where the vectors
// and kernels live.
//
// The state seen through y() is on the host. On the CPU it is IDA's own vector; on the GPU it is
// a host mirror, refreshed after every restart() and step(), and uploaded at the next restart():
// write to y() only between a step and the next restart() (as the Cycler does: it resets the
// step counters and pins frozen cells, then restarts).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "host/cpu/batch_model.hpp"
#include "host/engine/results.hpp"
#include "host/engine/solver_options.hpp"
#include "models/termination.hpp"

namespace halite {

// An IDA failure: which call, its flag, IDA's own text, the worst components in physics terms.
class IntegrationError : public std::runtime_error {
 public:
  IntegrationError(const std::string& message, int cell, int flag)
      : std::runtime_error(message), cell(cell), flag(flag) {}
  const int cell;  // the cell blamed (-1: not attributable)
  const int flag;
};

// The root functions of one protocol step (models/termination.hpp): the same conditions for every
// cell, per-cell thresholds in SI. g[cell * conditions() + k] for condition k.
struct StepRoots {
  double t0 = 0.0;                        // s, integration time at the step start
  std::vector<models::StepEnd> kinds;     // per condition
  std::vector<double> thresholds;         // cells * kinds.size()
  std::vector<double> voltage_direction;  // per cell: +1 rising (charge), -1 falling
  std::vector<double> voltage_offset;     // per cell: protocol reference - vs Li-In (V)
  int conditions() const { return static_cast<int>(kinds.size()); }
  // All g of the batch at (t, y) on the host (the CPU backend's root callback).
  void evaluate(const BatchModel& model, double t, const double* y, double* g) const;
};

class Integrator {
 public:
  virtual ~Integrator() = default;
  virtual const char* backend_name() const = 0;  // "cpu", "cuda"

  virtual BatchModel& model() = 0;
  // The batch state on the host, cells * per_cell doubles, cell-major (see the note above).
  virtual double* y() = 0;
  double* cell_state(int cell) { return y() + std::size_t(cell) * model().per_cell(); }
  // One cell's current state, read-only, valid until the next call (the GPU copies one cell).
  virtual const double* read_cell(int cell) { return cell_state(cell); }
  // Terminal voltage vs Li-In (V) and current density (A/m^2) of every cell.
  virtual void terminal_observables(std::vector<double>* voltage, std::vector<double>* current);

  // Restart IDA at t0 from y() and compute consistent algebraic variables and derivatives
  // (IDACalcIC). Takes the model's current parameters, controls, coefficients, aging states and
  // frozen cells. `roots` (may be null: no root functions) is kept and must outlive the
  // integration of the step; after changing its voltage directions call update_roots().
  // Throws IntegrationError.
  virtual void restart(double t0, const StepRoots* roots) = 0;
  virtual void update_roots() {}
  // The root functions of the last restart() at (t, current state): g[cell * conditions + k].
  virtual void root_values(double t, double* g) = 0;
  // Whether the last failure came with a non-finite residual (bad numbers, not a bad guess).
  virtual bool nonfinite_residual() const { return false; }
  // One internal IDA step towards t_limit (IDA_ONE_STEP with tstop = t_limit). Returns IDA's
  // flag (IDA_SUCCESS, IDA_ROOT_RETURN, IDA_TSTOP_RETURN or a negative failure). Cells frozen
  // since the last call are taken into account.
  virtual int step(double t_limit, double* t_reached) = 0;
  // Which roots were found at the last IDA_ROOT_RETURN (size cells * roots_per_cell).
  virtual const std::vector<int>& roots_found() = 0;
  // Describes a failure of `call` with `flag`: IDA's message and the worst components. Also
  // returns the cell with the largest weighted local error (or a cell with non-finite values).
  virtual std::string describe_failure(const char* call, int flag, int* blamed_cell) = 0;

  // Aging drivers (BatchModel::sample_aging) of every active cell at time t, on the backend's
  // copy of the state; collect_aging() brings what was sampled into the host model (call it
  // before BatchModel::finish_aging_step).
  virtual void sample_aging(double t) { model().sample_aging(t, y()); }
  virtual void collect_aging() {}

  virtual SolverStats stats() const = 0;  // cumulative over the whole run
  virtual long factorizations() const = 0;
  // Re-evaluate dF/dy only every n IDA steps (modified Newton); 1 = every step.
  virtual void set_jacobian_reuse(long n) = 0;
};

// --- backends -----------------------------------------------------------------------------------

// kAuto: the CUDA backend for a batch of at least kAutoCudaMinimumCells cells where a device
// can be used, the CPU backend otherwise (resolve_backend). A batch is integrated by one
// IDA instance: one cell per thread on the CPU wins for small batches, the GPU only when a batch
// fills enough of it to pay for its per-step launch and synchronisation cost.
enum class Backend { kCpu, kCuda, kAuto };

// The smallest batch `auto` sends to the GPU. An estimate until a device run measures the
// crossover (bench_gpu prints it): ~1 ms of GPU time per IDA step whatever the batch size
// (issue 13's kernel estimate, one thread per cell) against ~0.1 ms per cell and step on one CPU
// core for the reference cell (docs/performance.md), shared by 16 cores: the GPU wins from
// about 160 cells; 256 is also the smallest group the sweep gives the GPU (kMinCudaGroup).
inline constexpr int kAutoCudaMinimumCells = 256;

// "cpu" / "cuda" / "auto"; parse_backend throws std::invalid_argument naming the allowed values.
const char* backend_name(Backend backend);
Backend parse_backend(const std::string& text);
// The backend a batch of `cells` cells runs on: `backend` itself unless it is kAuto.
Backend resolve_backend(Backend backend, int cells);

using IntegratorFactory = std::unique_ptr<Integrator> (*)(BatchModel&, const SolverConfig&);
// Why the backend cannot run here ("" if it can): the CPU and auto backends always can; the CUDA
// backend needs a binary built with CUDA (cuda/register_backend.hpp) and a device.
std::string backend_unavailable_reason(Backend backend);
// Throws std::runtime_error with backend_unavailable_reason() if the backend cannot run. kAuto
// is resolved for model.cells() (resolve_backend).
std::unique_ptr<Integrator> make_integrator(Backend backend, BatchModel& model,
                                            const SolverConfig& config);
// Called once by the CUDA library (halite::cuda::register_cuda_backend()); `probe` returns ""
// when a device can be used, or why not.
void register_backend(Backend backend, IntegratorFactory factory, std::string (*probe)());

// Summary of IDA's weighted local errors for failure messages: appends "; largest weighted
// local errors: <component> of cell k (value); ..." (the three largest over the active cells) to
// msg and, if *blamed_cell < 0, blames the cell of the largest one.
void append_local_error_ranking(const BatchModel& model, const double* local_error,
                                const double* weights, std::string* msg, int* blamed_cell);

}  // namespace halite
