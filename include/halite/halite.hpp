// halite's public C++ API: load a configuration, run it (one cell or a batch) with an observer,
// run a sweep, read a result file. The one header a program includes; link the CMake target
// halite::halite (find_package(halite)). Nothing here exposes the engine's internals: results
// are plain tables whose column names and units are those of the result file's /cycles group
// (docs/output.md), so a program, the Python module and h5py see the same names.
//
// Versioning: HALITE_API_VERSION_MAJOR changes when a declaration here changes incompatibly;
// MINOR when something is added. docs/api.md describes every call.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#define HALITE_API_VERSION_MAJOR 1
#define HALITE_API_VERSION_MINOR 0

namespace halite::api {

inline constexpr int kApiVersionMajor = HALITE_API_VERSION_MAJOR;
inline constexpr int kApiVersionMinor = HALITE_API_VERSION_MINOR;

// halite's version (the CMake project version) and the commit the library was built from.
std::string version();
std::string git_commit();

// ---- errors -------------------------------------------------------------------------------------

// Every error this API throws derives from Error.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A configuration (or sweep file) error, located: what() is the CLI's message, e.g.
// "my_cell.yaml:12:5: cell.mechanics.stack_pressure: ...".
class ConfigError : public Error {
 public:
  ConfigError(const std::string& message, std::string file, int line, int column, std::string key)
      : Error(message), file(std::move(file)), key(std::move(key)), line(line), column(column) {}
  const std::string file, key;  // key: the dotted key path ("" where none applies)
  const int line, column;       // 1-based; 0 where unknown
};

// The output file exists (and overwrite was not asked for), or a result file cannot be read.
class OutputError : public Error {
 public:
  using Error::Error;
};

// ---- configuration ------------------------------------------------------------------------------

// A validated, resolved configuration: every default filled in, units turned into SI, derived
// quantities (cathode thickness, 1C current) computed. Cheap to copy.
class Config {
 public:
  // The YAML file at `path` ("" = the built-in reference cell) with "key.path=value" overrides
  // applied in order (values with units, as on the command line: "300 MPa"). Throws ConfigError.
  static Config load(const std::string& path = "", const std::vector<std::string>& overrides = {});
  // The same from YAML text; `name` is what error messages call it.
  static Config parse(const std::string& yaml, const std::vector<std::string>& overrides = {},
                      const std::string& name = "<string>");

  const std::string& name() const;           // the config's `name`
  const std::string& source() const;         // the file ("<embedded reference>", "<string>")
  const std::string& resolved_yaml() const;  // the whole resolved config as YAML (rerunnable)
  int total_cycles() const;                  // cycles in the protocol
  std::string voltage_reference() const;     // "Li+/Li" or "Li-In"
  double active_mass_per_area() const;       // kg/m^2 of cathode active material
  double one_c_current_density() const;      // A/m^2

  struct Impl;  // the engine's RunConfig (host/engine/run_config.hpp)
  const Impl& impl() const { return *impl_; }

 private:
  explicit Config(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
  friend struct ConfigAccess;
};

// ---- results ------------------------------------------------------------------------------------

enum class ColumnKind { kFloat, kInt, kFlag };

struct ColumnInfo {
  std::string name;  // "Discharge capacity [mA.h.g-1]", as in /cycles
  std::string units;
  std::string description;
  ColumnKind kind = ColumnKind::kFloat;
};

// The per-cycle table of one cell: columns[k] holds values[k], one per cycle (integers and flags
// as exact doubles). Step end times are apart: step_end_times[cycle][step] (s since the cycle's
// start; NaN past the cycle's last step).
struct CycleTable {
  std::vector<ColumnInfo> columns;
  std::vector<std::vector<double>> values;
  std::vector<std::vector<double>> step_end_times;
  int cycles() const { return values.empty() ? 0 : static_cast<int>(values.front().size()); }
  // The values of the column with this name; throws Error if there is none.
  const std::vector<double>& column(const std::string& name) const;
};

// One stored voltage curve (the cycles the config's output.curve_cycles names).
struct CurveTable {
  int cycle = 0;
  std::vector<double> time;             // s, the cell's clock since the start of the run
  std::vector<double> voltage;          // V vs the voltage reference
  std::vector<double> current_density;  // A/m^2, positive = discharge
  std::vector<int> step;                // step index within the cycle
};

struct CellResult {
  std::string name;
  // "completed", "completed_with_warnings", "failed", "interrupted" (or, read from a file of a
  // killed run, "running"; of a sweep, "not run").
  std::string status;
  // The failure, the warning, what stopped the run (the signal, for a file; the cycle, for an
  // observer's stop); empty when completed.
  std::string reason;
  CycleTable cycles;
  std::vector<CurveTable> curves;
};

struct Result {
  // The result file's root attributes as text: generator, version, git_commit, date,
  // config_name, config_source, resolved_config_yaml, voltage_reference, backend,
  // current_sign_convention, "active_mass_per_area [kg.m-2]" (shortest round-trip decimal).
  std::map<std::string, std::string> provenance;
  std::vector<CellResult> cells;
};

// The per-cycle columns of every run, in /cycles order (built-in, then the aging columns).
std::vector<ColumnInfo> cycle_columns();

// ---- running ------------------------------------------------------------------------------------

struct Progress {
  int cycle = 0, total_cycles = 0;
  double elapsed_s = 0.0, eta_s = 0.0;
  double discharge_capacity = 0.0;  // mAh/g, cell 0
  double retention = 0.0;           // cell 0, vs its first cycle
};

// What a running simulation reports. Methods are called on the calling thread; one that throws
// ends the run, and run() throws it on (an api::Error as it is; any other std::exception as an
// api::Error with its message).
class Observer {
 public:
  virtual ~Observer() = default;
  // After every cycle: rows[cell][k] is the value of cycle_columns()[k] (the same numbers the
  // final Result holds).
  virtual void on_cycle(int cycle, const std::vector<std::vector<double>>& rows) {
    (void)cycle;
    (void)rows;
  }
  virtual void on_progress(const Progress& progress) { (void)progress; }
  // Asked at every cycle boundary: true stops the run there (cell status "interrupted"; the
  // cycles finished so far are in the Result).
  virtual bool stop_requested() { return false; }
};

struct RunSettings {
  int max_cycles = -1;           // cut the protocol short (<= 0: the full protocol)
  bool skipping = true;          // adaptive cycle skipping (docs/model.md)
  double skip_tolerance = 3e-3;  // its tolerance (the engine's kDefaultSkipTolerance)
  int retries = 2;               // re-integrations of a failed cycle
  std::string backend = "cpu";   // "cpu" or "cuda"
};

// Runs one configuration in memory. A solver failure does not throw: the cell's status says
// "failed" and its table holds every finished cycle (and the failed one, Failed = 1).
// Throws Error for a backend that cannot run here.
Result run(const Config& config, const RunSettings& settings = {}, Observer* observer = nullptr);
// A batch: one IDA instance over all cells (they must share mesh and protocol; Error otherwise);
// a failing cell does not stop the others.
Result run(const std::vector<Config>& batch, const RunSettings& settings = {},
           Observer* observer = nullptr);

// What `halite run CONFIG -o OUTPUT` does: the run written to an HDF5 file as it goes, with
// checkpoints (resumable by the CLI). Returns the CLI's exit code: 0 ok, 2 the output is locked by
// another run (the reason on stderr), 3 solver failed, 128+n stopped by signal n. Throws
// OutputError if the output exists and !overwrite, Error for an HDF5 failure.
int run_to_file(const Config& config, const std::string& output, const RunSettings& settings = {},
                bool overwrite = false);

struct SweepSettings {
  int max_cycles = -1;
  int threads = 0;  // <= 0: every core
  bool skipping = true;
  int retries = 2;
  std::string backend = "cpu";
  bool quiet = true;  // no progress lines on stderr
};

// What `halite sweep SWEEP_FILE -o OUTPUT` does (docs/sweep.md); returns its exit code: 0 when
// the sweep ran (a failed case is a status in the file, /cells/status, not an error), 2 when the
// output is locked by another run, 128+n when stopped by signal n. Throws ConfigError for a bad
// sweep file or case, OutputError if the output exists and !overwrite.
int sweep(const std::string& sweep_file, const std::string& output,
          const SweepSettings& settings = {}, bool overwrite = false);

// ---- reading ------------------------------------------------------------------------------------

// A result file of `halite run` or `halite sweep` (one CellResult per row/case), every curve
// included. Throws OutputError if it is not a halite result file.
Result read_result(const std::string& path);

}  // namespace halite::api
