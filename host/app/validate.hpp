// `halite validate [CONFIG] [DATA.yaml]`: a model checked against measured data in one command
// (docs/validation.md, "Validating a cell").
//
// DATA.yaml names measured datasets — CSV files of per-cycle values (capacity, retention,
// Coulombic efficiency, ...), of single points (a quantity at a cycle with its band) or a
// voltage-capacity curve at a cycle — with the protocol each was measured under (overrides of
// CONFIG) and the band each value must fall in. halite runs every distinct configuration once,
// as far as the latest cycle any dataset needs (cycle skipping on, in parallel threads), compares
// every measured value with the simulated one, prints a table, writes an HDF5 file (the runs'
// tables in the standard layout plus /validation) and exits 0 when every value is inside its
// band, 4 when some are not, 2 on bad input (file:line:column), 3 when a simulation failed.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "host/app/config.hpp"
#include "host/app/result_writer.hpp"
#include "host/engine/integrator.hpp"
#include "host/engine/results.hpp"
#include "host/engine/simulation.hpp"

namespace halite {

// The exit code of a validation with values outside their bands.
inline constexpr int kExitOutOfBand = 4;

struct ValidateOptions {
  std::string config;  // CONFIG; "" = the data file's `config:`, else the embedded reference
  std::string data;    // DATA.yaml; "" = the reference cell's data, compiled in
  std::vector<std::string> overrides;      // --set, applied to every run before the datasets' own
  std::vector<std::string> skip_datasets;  // datasets not read nor run (halite fit: weight 0)
  std::string output = "validation.h5";
  bool overwrite = false;
  std::string plots;  // directory for PNG plots ("" = none); needs python3 with matplotlib
  int threads = 0;    // runs at once (<= 0: hardware threads)
  bool quiet = false;
  Backend backend = Backend::kCpu;
};

// One measured value (or one curve) and where it was read.
struct MeasuredPoint {
  std::string dataset;   // the dataset's name
  std::string quantity;  // "discharge_capacity", "retention", ... or "voltage_rms" (a curve)
  std::string unit;      // display unit ("mAh/g", "%", "um", "V", "" for a plain number)
  int cycle = 0;         // 1-based cycle of the run's protocol
  double measured = 0, lower = 0, upper = 0;  // in the display unit (lower/upper: +-inf if open)
  std::string source;                         // "FILE:LINE" of the CSV row
  int run = 0;                                // index into ValidationPlan::runs
  // A curve: the measured capacity (display unit of its capacity) and voltage (V) points, the
  // direction ("discharge" or "charge").
  std::vector<double> curve_capacity, curve_voltage;
  std::string direction;
};

// One simulation: a resolved configuration, run to `cycles`.
struct ValidationRun {
  RunConfig config;
  std::string label;  // the datasets that use it
  int cycles = 0;
  std::vector<int> curve_cycles;  // cycles whose curves a curve dataset compares
};

struct ValidationPlan {
  std::string name;
  std::string data_source;  // the DATA.yaml path, or "<embedded reference data>"
  std::vector<MeasuredPoint> points;
  std::vector<ValidationRun> runs;
  std::vector<std::string> dataset_names;  // every dataset of the file, skipped ones included
};

// Reads DATA.yaml and its CSV files and resolves every dataset's configuration. Throws
// ConfigError (file, line, column, key) for anything malformed: unknown keys, an unknown column
// or quantity, a unit of the wrong dimension, non-numbers, cycles that do not increase or lie
// beyond the protocol, a point without a band.
ValidationPlan load_validation(const ValidateOptions& options);

// One run's results: cell 0's record of every cycle it finished, the curves of the cycles the
// curve datasets name, how it ended.
struct RunResult {
  std::vector<CycleRecord> records;
  std::map<int, Curve> curves;
  CellOutcome outcome;
  std::string error;  // an exception from the engine
};
// Runs every run of the plan, `threads` at once (<= 0: hardware threads); a progress line per
// run on stderr unless `progress_prefix` is empty. Stops at a cycle boundary on SIGINT/SIGTERM
// when StopSignals is installed.
std::vector<RunResult> simulate_runs(const ValidationPlan& plan, int threads, Backend backend,
                                     const std::string& progress_prefix);

// The simulated value of every point (in its display unit; a curve: RMS difference in mV),
// whether it is inside its band, and why a point has no value.
struct Comparison {
  std::vector<double> simulated;
  std::vector<std::int64_t> passed;
  std::vector<std::string> notes;
  long passed_count = 0;
  bool any_failed_run = false;
};
Comparison compare_points(const ValidationPlan& plan, const std::vector<RunResult>& results);
// The Markdown table of a comparison.
void print_comparison(const ValidationPlan& plan, const Comparison& comparison, std::FILE* out);
// The validation HDF5 (the runs' tables, one cell per run, and /validation); returned open so
// that `halite fit` can add its own groups.
std::unique_ptr<ResultWriter> write_validation_file(const std::string& output, bool overwrite,
                                                    const ValidationPlan& plan,
                                                    const std::vector<RunResult>& results,
                                                    const Comparison& comparison, Backend backend);

// PNG plots of a validation or fit file into `directory` (validation/plot_validation.py, compiled
// in, run with python3; a warning naming `who` when that fails).
void write_plots(const std::string& file, const std::string& directory, const std::string& who);

// Runs a plan and reports it (table on stdout, HDF5, plots); returns the exit code.
int run_validate(const ValidateOptions& options);

}  // namespace halite
