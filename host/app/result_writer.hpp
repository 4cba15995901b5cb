// HDF5 result file of a run: provenance, a per-cycle table for every cell (extended and flushed
// after each cycle), per-cell status, selected voltage curves and optional final states.
// The layout is documented in docs/output.md; plots: validation/plot_run.py.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "host/engine/results.hpp"

namespace halite {

// Where the data came from. Empty version / git_commit / date are filled in by the writer
// (build version, build commit, the current UTC time as ISO 8601).
struct Provenance {
  std::string generator = "halite";
  std::string version;
  std::string git_commit;
  std::string date;  // ISO 8601 UTC, e.g. "2025-03-01T12:00:00Z"
  std::string config_name;
  std::string config_source;  // file the config came from ("<embedded reference>" for default)
  std::string resolved_config_yaml;
  std::string voltage_reference = "Li+/Li";  // what every stored voltage is measured against
  std::string current_sign_convention = "positive current = discharge";
  double active_mass_per_area = std::numeric_limits<double>::quiet_NaN();  // kg/m^2 of CAM
  bool is_reference_cell = false;       // the run models the measured reference cell
  std::vector<std::string> cell_names;  // one per cell; empty = "cell_0", "cell_1", ...
  // The integration backend (host/engine/integrator.hpp): "cpu" or "cuda"; a run resumed on another
  // backend lists them in the order they ran, comma-separated ("cpu,cuda").
  std::string backend = "cpu";
};

// The current UTC time as ISO 8601, "2025-03-01T12:00:00Z" (provenance dates).
std::string iso8601_utc_now();

// How the /cycles table is laid out.
struct TableLayout {
  // 0 (a run): every dataset starts without cycle columns and grows by one per append_cycle.
  // > 0 (a sweep): every dataset is created with this many cycle columns, which read as NaN
  // (floating-point columns) or 0 (integer columns) until write_rows fills them, and
  // cycles_written is this width from the start; /cells/status starts as "not run".
  int fixed_cycles = 0;
  // Fixed tables: the rows write_rows usually writes at once (sets the chunk shape so that such
  // a write touches few chunks); 0 = all rows.
  int rows_per_write = 1;
};

// A block of a fixed table for ResultWriter::write_rows: columns [first_cycle, first_cycle +
// records.size()) of the rows `cells`.
struct RowBlock {
  std::vector<int> cells;                         // rows, ascending, no repeats
  int first_cycle = 0;                            // 0-based column of records[0]
  std::vector<std::vector<CycleRecord>> records;  // [cycle][k]: the record of row cells[k]
  // One vector per declared extra column, records.size() * cells.size() values, value of row
  // cells[k] in cycle c at [c * cells.size() + k]; empty = all NaN.
  std::vector<std::vector<double>> extra;
  // /cells/status and failure reason to set with the rows, one per row (empty = unchanged). A
  // record with failed == true sets its row "failed" with its failure text after these.
  std::vector<std::string> status, reason;
};

// An extra per-cycle column (shape (cells, cycles), double), declared when the writer is made.
// `name` follows the "Name [unit]" convention and must not contain '/'.
struct ColumnSpec {
  std::string name;
  std::string units;
  std::string description;
};

// The output file already exists and overwriting was not asked for. Nothing was touched.
class OutputExistsError : public std::runtime_error {
 public:
  explicit OutputExistsError(const std::string& path);
  // The path exists and may not be replaced whatever the options (`reason` says why).
  OutputExistsError(const std::string& path, const std::string& reason);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ResultWriter {
 public:
  // Creates `path` (throws OutputExistsError if it exists and !overwrite) and writes the
  // provenance, the empty /cycles table and /cells. `max_steps` is the width of
  // "Step end times [s]" (cycles with more steps are rejected). Throws std::invalid_argument for
  // bad arguments, std::runtime_error (naming the HDF5 call and path) for HDF5 failures.
  // `layout`: a growing table (a run, the default) or a fixed one filled row by row (a sweep).
  ResultWriter(const std::string& path, bool overwrite, int cells, Provenance provenance,
               int max_steps = 8, std::vector<ColumnSpec> extra_columns = {},
               TableLayout layout = {});
  // Opens an existing result file for appending (halite run --resume). `extra_columns` must name
  // the extra columns it was created with, in the same order. The provenance is read back from
  // the file. Throws std::runtime_error if the file is not a halite result file, has another
  // format version or lacks one of the columns.
  static ResultWriter open_existing(const std::string& path,
                                    std::vector<ColumnSpec> extra_columns = {});
  ~ResultWriter();  // flushes and closes; errors are swallowed (call close() to see them)
  ResultWriter(ResultWriter&&) noexcept;
  ResultWriter& operator=(ResultWriter&&) noexcept;
  ResultWriter(const ResultWriter&) = delete;
  ResultWriter& operator=(const ResultWriter&) = delete;

  // Adds one cycle for every cell (per_cell.size() == cells()) and, with `flush`, flushes the
  // file (H5Fflush and fsync). halite run flushes the rows of integrated cycles: the rows a
  // cycle-skipping jump extrapolated are written just before the integrated cycle that lands it
  // and reach the disk with it (and are in the row journal before either).
  // `extra` holds one vector per declared extra column, in declaration order, each of size
  // cells(); empty = all extra columns NaN for this cycle. Arguments are validated before
  // anything is written. A record with failed == true also sets that cell's status to "failed"
  // with its failure text as reason.
  // Growing tables only.
  void append_cycle(const std::vector<CycleRecord>& per_cell,
                    const std::vector<std::vector<double>>& extra = {}, bool flush = true);

  // Fixed tables (TableLayout::fixed_cycles > 0): writes a block of rows (any part of the
  // table, any number of times) and flushes, then its statuses and flushes again (so a status
  // is never on disk before its rows). Validated before anything is written.
  void write_rows(const RowBlock& block);

  // /cells/status and /cells/failure reason of one cell (0-based); flushed.
  void set_cell_status(int cell, const std::string& status, const std::string& reason = "");

  // /curves/cell_<cell>/cycle_<curve.cycle>. Throws if that curve already exists.
  void write_curve(int cell, const Curve& curve);

  // A double array of shape `dims` (row-major, product == values.size(); empty dims = 1-D) at
  // `path`: relative paths go under /final_state, absolute ones are used as given. Missing
  // groups are created; an existing dataset is never replaced (throws).
  void write_array(const std::string& path, const std::vector<double>& values,
                   const std::vector<std::size_t>& dims, const std::string& units,
                   const std::string& description = "");
  // The same for int64 values.
  void write_int_array(const std::string& path, const std::vector<std::int64_t>& values,
                       const std::vector<std::size_t>& dims, const std::string& units,
                       const std::string& description = "");
  // A 1-D variable-length UTF-8 string dataset, placed as write_array places arrays; flushed.
  void write_strings(const std::string& path, const std::vector<std::string>& values,
                     const std::string& description = "");
  // A second name for an existing object (an HDF5 hard link: both names are the same dataset),
  // e.g. /cases/status for /cells/status. Absolute paths; missing groups are created; flushed.
  void add_link(const std::string& existing, const std::string& link_path);
  // Sets (creates or replaces) a root attribute; flushed. "backend" also updates provenance().
  void set_attribute(const std::string& name, const std::string& value);
  void set_attribute(const std::string& name, std::int64_t value);

  // Keeps the first `cycles` cycles of /cycles (0 <= cycles <= cycles()) and drops the rest,
  // with the curves of the dropped cycles (/curves/cell_<k>/cycle_<n> with n above the largest
  // cycle number kept); sets cycles_written; flushed. (HDF5 does not give the space back: the
  // file keeps its size.) Growing tables only.
  void truncate_cycles(int cycles);

  // Deletes the curves /curves/cell_<cell>/cycle_<n> for which drop(n) is true; flushed. (A
  // finished run extended by --resume drops the curve of its old last cycle.)
  void drop_curves(int cell, const std::function<bool(int)>& drop);

  void flush();
  void close();  // flush and close now, reporting errors; later calls other than close() throw

  int cells() const;
  int cycles() const;  // cycles appended so far (a fixed table: its width)
  bool fixed_table() const;
  int max_steps() const;
  const std::string& path() const;
  const std::vector<ColumnSpec>& extra_columns() const;
  const Provenance& provenance() const;  // as written (date, version, commit filled in)

  // The built-in per-cycle columns of shape (cells, cycles), in file order (names, units,
  // descriptions as stored), not counting "Step end times [s]".
  static const std::vector<ColumnSpec>& builtin_columns();

 private:
  ResultWriter() = default;  // for open_existing
  struct Impl;
  Impl& open_impl(const char* operation) const;
  std::unique_ptr<Impl> impl_;
};

// ---- readers (tests, tools) ---------------------------------------------------------------------

// /cycles/<name> as [cell][cycle], any numeric type converted to double. Throws for 3-D columns.
std::vector<std::vector<double>> read_cycle_column(const std::string& path,
                                                   const std::string& name);

// A string attribute of `object` ("/" for the root, or a group/dataset path).
std::string read_string_attribute(const std::string& path, const std::string& object,
                                  const std::string& name);

// A numeric scalar attribute converted to double.
double read_numeric_attribute(const std::string& path, const std::string& object,
                              const std::string& name);

// A 1-D string dataset, e.g. "/cells/status".
std::vector<std::string> read_string_dataset(const std::string& path, const std::string& dataset);

// Any numeric dataset, converted to double, row-major with its dims.
struct ArrayData {
  std::vector<std::size_t> dims;
  std::vector<double> values;
};
ArrayData read_array(const std::string& path, const std::string& dataset);

// The names of the members of a group, in name order (empty if the group does not exist).
std::vector<std::string> list_group(const std::string& path, const std::string& group);

// Every stored curve of one cell (/curves/cell_<cell>/cycle_<n>), by cycle number.
std::vector<Curve> read_curves(const std::string& path, int cell);

}  // namespace halite
