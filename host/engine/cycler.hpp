// The protocol engine: runs cycler steps over a batch of cells. Every cell ends a step on its
// own condition (IDA root finding), is frozen until the slowest cell has ended the step, and
// keeps its own clock. Produces per-cycle records and the voltage curves of chosen cycles.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/cpu/batch_integrator.hpp"
#include "host/cpu/batch_model.hpp"
#include "host/engine/aging_report.hpp"
#include "host/engine/integrator.hpp"
#include "host/engine/protocol.hpp"
#include "host/engine/results.hpp"
#include "host/engine/run_config.hpp"

namespace halite {

// One cell of a batch: its physics and what the protocol needs to turn C-rates into currents.
struct CellSetup {
  std::string name;
  models::CellParams params;
  double one_c_current_density = 0.0;  // A/m^2
  double active_mass_per_area = 0.0;   // kg/m^2 of active material
  double initial_stoichiometry = 0.98;
};

// Builds the CellSetup of a resolved configuration.
CellSetup cell_setup_from_config(const RunConfig& config);

// How one cell ended one step.
struct StepOutcome {
  std::string ended_by;   // "voltage", "current", "time", "capacity", "failed"
  double duration = 0.0;  // s
  double charge = 0.0;    // C/m^2 through the cathode interface, positive = discharge
  double energy = 0.0;    // J/m^2 delivered at the terminals (vs Li-In), positive = delivered
};

// Where the protocol stands at a cycle boundary: `repetition` repetitions of block `block` are
// done, and `cycle` cycles in all (the number of the last finished cycle, 1-based; 0 = none).
// {0, 0, 0} is the start of the protocol.
struct CycleCursor {
  int block = 0;
  int repetition = 0;
  int cycle = 0;
};

// Everything a Cycler needs to go on from a cycle boundary where no extrapolated cycles are
// pending (Cycler::save_state / restore_state; written to disk by host/app/checkpoint.hpp).
struct CyclerState {
  CycleCursor cursor;
  double time = 0.0;                           // the batch's integration time (s)
  int cells = 0, per_cell = 0, particles = 0;  // shape, checked on restore
  std::vector<double> clock;                   // per cell (s)
  std::vector<double> y;                       // cells * per_cell
  std::vector<models::ParticleAging> aging;    // cells * particles
  std::vector<std::string> failure;            // per cell, empty = not failed
  std::vector<LossReference> loss_reference;   // per cell
  std::vector<unsigned char> loss_reference_set;
  // The cycle-skipping controller: per cell, the slow states at the starts of the last (at most
  // 3) consecutive integrated cycles of the current block, and the records of the last
  // integrated cycle (one per cell; empty before the first cycle).
  std::vector<std::vector<std::vector<double>>> skip_history;
  std::vector<CycleRecord> last_records;
  int integrated_cycles = 0, skipped_cycles = 0;
};

// A cycle boundary reported to RunControl::on_boundary.
struct CycleBoundary {
  CycleCursor cursor;
  bool end_of_block = false;  // the cycle just finished was the last of its block
  bool end_of_run = false;    // ... the last this run() will integrate
};

// Optional controls of Cycler::run: resuming, checkpoints, retries. The default is a plain run.
struct RunControl {
  // Continue after this cursor instead of starting the protocol (restore_state first).
  const CycleCursor* start = nullptr;
  // Called at every cycle boundary where no extrapolated cycles are pending, after on_cycle and
  // on_curve have seen everything up to cursor.cycle: a consistent place for a checkpoint
  // (save_state(boundary.cursor)).
  std::function<void(const CycleBoundary&)> on_boundary;
  // A cycle in which a cell fails (or that throws IntegrationError) is integrated again from its
  // start up to `retries` times, retry k with relative tolerance / 10^k, max step / 4^k and
  // step budget * 4^k; the whole batch is re-integrated. Only the final outcome is reported; its
  // failure text then starts "cycle N failed after K retries: ".
  int retries = 0;
};

// The default of --skip-tolerance, chosen by the accuracy study of docs/validation.md ("Cycle
// skipping against integrating every cycle"). The public API (include/halite/halite.hpp) and the
// Python package repeat the value; tests/test_api.cpp checks that they agree.
inline constexpr double kDefaultSkipTolerance = 3e-3;

// Adaptive cycle skipping (see Cycler::run).
struct CycleSkipping {
  bool enabled = false;
  double tolerance = kDefaultSkipTolerance;  // allowed extrapolation error of the slow state
                                             // (weighted max norm)
  int max_jump = 200;                        // longest jump in cycles
  int final_cycles = 2;                      // the last cycles of every block are always integrated
};

class Cycler {
 public:
  // The backend runs the integration (host/engine/integrator.hpp); everything else (protocol,
  // aging, records) runs on the host either way. Throws std::runtime_error if the backend cannot
  // run.
  Cycler(std::vector<CellSetup> cells, models::CellLayout layout, const SolverConfig& solver,
         Protocol protocol, Backend backend = Backend::kCpu);

  int cells() const { return static_cast<int>(cells_.size()); }
  BatchModel& model() { return *model_; }
  Integrator& integrator() { return *integrator_; }
  Backend backend() const { return backend_; }  // kAuto resolved for this batch
  const Protocol& protocol() const { return protocol_; }

  // Integrates one protocol step for the whole batch. Records curve points of every cell into
  // curves (if not null). Failed cells are marked in the model and the others go on.
  std::vector<StepOutcome> run_step(const Step& step, int step_index,
                                    std::vector<Curve>* curves = nullptr);

  // Runs the protocol (at most max_cycles cycles if > 0). After every cycle calls on_cycle with
  // one record per cell; for cycles where want_curve(cycle) is true, calls on_curve per cell.
  // With skipping enabled, slow cycles are extrapolated and reported with simulated = false.
  void run(int max_cycles, const std::function<void(const std::vector<CycleRecord>&)>& on_cycle,
           const std::function<bool(int)>& want_curve,
           const std::function<void(int, const Curve&)>& on_curve,
           const CycleSkipping& skipping = {}, const RunControl& control = {});
  // The state at a cycle boundary (see CyclerState). Valid only between cycles, e.g. in
  // RunControl::on_boundary, or before run().
  CyclerState save_state(const CycleCursor& cursor) const;
  // Puts a saved state back (the cells, mesh and protocol must be those it was saved from;
  // throws std::invalid_argument otherwise). Rebuilds the model and the integrator, so
  // references obtained from model() and integrator() before are invalid afterwards.
  void restore_state(const CyclerState& state);
  int retried_cycles() const { return retried_cycles_; }
  // Integrates one repetition of a block for the whole batch.
  std::vector<CycleRecord> integrate_cycle(const Block& block, int cycle,
                                           std::vector<Curve>* curves = nullptr);
  int integrated_cycles() const { return integrated_cycles_; }
  int skipped_cycles() const { return skipped_cycles_; }

  // Voltage of a cell in the protocol's reference (V).
  double reference_voltage(int cell, const double* y_cell) const;
  double reference_offset(int cell) const;
  // mAh per g of active material for a charge in C/m^2.
  double specific_capacity(int cell, double charge) const;
  // C/m^2 per mAh/g of the cell's active material (equally J/m^2 per mWh/g).
  double per_area_per_gram(int cell) const;
  double cell_clock(int cell) const { return clock_[cell]; }
  // Diagnostics for tests: largest |y - y_frozen| / max(1, |y_frozen|) of any frozen cell over the
  // IDA steps taken after it froze, since
  // tracking was switched on (frozen cells must not move).
  void track_frozen_drift(bool on) { track_frozen_drift_ = on; }
  double frozen_drift() const { return frozen_drift_; }
  double time() const { return time_; }

 private:
  std::vector<CellSetup> cells_;
  Protocol protocol_;
  std::unique_ptr<BatchModel> model_;
  std::unique_ptr<Integrator> integrator_;
  std::vector<double> clock_;  // each cell's own clock (s)
  double time_ = 0.0;          // the batch's integration time
  SolverConfig solver_config_;
  Backend backend_ = Backend::kCpu;
  std::vector<double> max_hoop_;              // per cell, over the current cycle (Pa)
  std::vector<double> rsp_lithium_step_end_;  // per cell, RSP Li (mol/m^2) at the last step end
  int integrated_cycles_ = 0, skipped_cycles_ = 0;
  std::vector<LossReference> loss_reference_;  // first cycle of each cell
  std::vector<bool> loss_reference_set_;
  // The slow state of a cell (shell stoichiometries and aging states) and its scales.
  std::vector<double> slow_state(int cell) const;
  std::vector<double> slow_state_scale(int cell) const;
  void set_slow_state(int cell, const std::vector<double>& s);
  // The cycle-skipping controller's memory (see CyclerState).
  std::vector<std::vector<std::vector<double>>> skip_history_;
  std::vector<CycleRecord> last_records_;
  int retried_cycles_ = 0;
  // Throws std::invalid_argument if a resume cursor does not fit the protocol.
  void check_cursor(const CycleCursor& cursor) const;
  // Cycle skipping: the jump a cell may make and the drift/curvature to extrapolate with.
  struct JumpPlan {
    int jump = 0;
    std::vector<double> drift, bend, third;  // per cycle, at the last integrated cycle
    std::vector<double> measured;            // the curvature as measured (mean over its baseline)
    double measured_baseline = 0.0;          // cycles; 0 for a three-cycle estimate
  };
  // With a third-derivative estimate the jump's second-order term may reach this many
  // tolerances (docs/validation.md, "Cycle skipping against integrating every cycle").
  static constexpr double kSecondOrderTermCap = 10.0;
  // The crack states' second-order term is held to tolerance / kCrackTolerance.
  static constexpr double kCrackTolerance = 3.0;
  JumpPlan plan_jump(int cell, const std::vector<std::vector<double>>& history, int max_jump,
                     double tolerance) const;
  // One cycle integrated, and again with tighter settings while a cell newly fails.
  std::vector<CycleRecord> integrate_with_retries(const Block& block, int cycle_number,
                                                  std::vector<Curve>* curves,
                                                  const CycleCursor& here, int retries);
  // New model and integrator (same cells, mesh, solver_config_), state copied from `state`.
  void rebuild(const CyclerState& state);
  // Cells that sit the next integrated cycle out (frozen for all its steps): within a block
  // every cell skips cycles on its own, and a cell that is ahead waits for the others.
  std::vector<unsigned char> parked_;
  bool is_parked(int cell) const { return !parked_.empty() && parked_[cell] != 0; }
  bool track_frozen_drift_ = false;
  double frozen_drift_ = 0.0;
};

}  // namespace halite
