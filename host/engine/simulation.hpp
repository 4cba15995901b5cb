// A configured simulation, driven from plain structs and reported through an observer: the
// engine's entry point for every front end (the CLI's HDF5 run, the C++ API, the Python module).
// It owns the Cycler, picks the cycles whose curves are kept, checks each cycle's physical sanity
// and turns the way the run ended into per-cell statuses; it writes nothing and prints nothing.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "host/engine/cycler.hpp"
#include "host/engine/run_config.hpp"

namespace halite {

// Where a run stands after a cycle (for progress bars and log lines).
struct ProgressReport {
  int cycle = 0;                      // last finished cycle (1-based over the protocol)
  int total_cycles = 0;               // cycles this run will report in all
  int first_cycle = 1;                // first cycle of this session (> 1 when resumed)
  double elapsed_s = 0.0;             // wall time of this session
  double eta_s = 0.0;                 // estimated wall time left
  double discharge_capacity = 0.0;    // mAh/g, cell 0, this cycle
  double retention = 0.0;             // cell 0, this cycle's discharge / the first cycle's (-)
  double coulombic_efficiency = 0.0;  // cell 0, this cycle
};

// What a front end hears from a running simulation. Every method has a do-nothing default.
// A method that throws ends the run at once and the exception leaves Simulation::run.
class Observer {
 public:
  virtual ~Observer() = default;
  // The records of one cycle, one per cell, in cycle order (extrapolated cycles included, with
  // simulated = false; a failed cell's record has failed = true).
  virtual void on_cycle(const std::vector<CycleRecord>& records) { (void)records; }
  // The full voltage curve of one cell in one of the cycles RunConfig::output.curve_cycles names.
  virtual void on_curve(int cell, const Curve& curve) {
    (void)cell;
    (void)curve;
  }
  // After every on_cycle.
  virtual void on_progress(const ProgressReport& progress) { (void)progress; }
  // A cycle boundary where the state is consistent (Cycler::save_state is valid here): where a
  // front end writes a checkpoint.
  virtual void on_boundary(const CycleBoundary& boundary) { (void)boundary; }
  // Asked at every cycle boundary, after on_boundary: true ends the run there with status
  // "interrupted" (a signal, Ctrl-C in a notebook).
  virtual bool stop_requested() { return false; }
};

struct SimulationOptions {
  int max_cycles = -1;   // cut the protocol short (<= 0: the full protocol)
  bool skipping = true;  // adaptive cycle skipping (Cycler::run)
  double skip_tolerance = kDefaultSkipTolerance;  // its tolerance
  int retries = 2;  // re-integrations of a failed cycle (RunControl::retries)
  Backend backend = Backend::kCpu;
};

// How one cell's run ended.
struct CellOutcome {
  // "completed", "completed_with_warnings", "failed" or "interrupted".
  std::string status = "completed";
  std::string reason;  // the failure, the warning or what stopped the run; empty when completed
};

struct SimulationOutcome {
  std::vector<CellOutcome> cells;
  bool interrupted = false;
  int last_cycle = 0;         // the last cycle reported to on_cycle (0: none)
  int integrated_cycles = 0;  // in this session
  int extrapolated_cycles = 0;
  int retried_cycles = 0;
  bool all_completed() const;  // every cell "completed" or "completed_with_warnings"
};

class Simulation {
 public:
  // One cell per config. Every config must have the same mesh, particle classes, solver options
  // and protocol (they share one IDA instance; compared value by value); throws
  // std::invalid_argument otherwise, or if a cell's loading is not resolved. Throws
  // std::runtime_error if the backend cannot run here.
  explicit Simulation(std::vector<RunConfig> configs, Backend backend = Backend::kCpu);
  explicit Simulation(const RunConfig& config, Backend backend = Backend::kCpu)
      : Simulation(std::vector<RunConfig>{config}, backend) {}

  Cycler& cycler() { return cycler_; }
  const std::vector<RunConfig>& configs() const { return configs_; }
  int cells() const { return static_cast<int>(configs_.size()); }

  // Cycles run() reports with max_cycles as given (<= 0: the full protocol).
  int total_cycles(int max_cycles) const;
  // The cycles whose curves on_curve receives: RunConfig::output.curve_cycles of the first
  // config, or by default the first and the last cycle and every cycle of the blocks after the
  // first (the rate test).
  std::set<int> curve_cycles(int total_cycles) const;

  // Runs the protocol from its start, or after `start` (a cursor restored with
  // cycler().restore_state), reporting to `observer`. A cell that fails ends with status
  // "failed" and the others go on; IntegrationError from the whole batch fails every cell still
  // running. Exceptions thrown by the observer propagate.
  SimulationOutcome run(Observer& observer, const SimulationOptions& options,
                        const CycleCursor* start = nullptr);

 private:
  std::vector<RunConfig> configs_;
  Cycler cycler_;
};

}  // namespace halite
