// HDF5 result file: see result_writer.hpp for the API and docs/output.md for the layout.
#include "host/app/result_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <set>
#include <system_error>

#include "halite/build_info.hpp"
#include "host/app/h5.hpp"

namespace halite {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr const char* kStepEndTimes = "Step end times [s]";
constexpr int kFormatVersion = 1;

using Kind = ColumnKind;

struct BuiltinColumn {
  ColumnSpec spec;
  Kind kind;
};

// The per-cycle table, in file order: the engine's built-in columns (host/engine/results.hpp).
const std::vector<BuiltinColumn>& builtin_table() {
  static const std::vector<BuiltinColumn> table = [] {
    std::vector<BuiltinColumn> t;
    for (const auto& c : cycle_columns()) t.push_back({{c.name, c.units, c.description}, c.kind});
    return t;
  }();
  return table;
}

// Position of the cycle numbers (the one column this file reads back).
constexpr std::size_t kCycleNumber = 0;

// Column buffers of the three storage kinds, filled from records.
struct ColumnBuffers {
  std::vector<std::vector<double>> doubles;
  std::vector<std::vector<std::int64_t>> ints;
  std::vector<std::vector<std::int8_t>> flags;
  explicit ColumnBuffers(std::size_t values) {
    const auto& table = builtin_table();
    doubles.resize(table.size());
    ints.resize(table.size());
    flags.resize(table.size());
    for (std::size_t c = 0; c < table.size(); ++c) {
      if (table[c].kind == Kind::kDouble) doubles[c].resize(values);
      if (table[c].kind == Kind::kInt64) ints[c].resize(values);
      if (table[c].kind == Kind::kInt8) flags[c].resize(values);
    }
  }
  void set(std::size_t i, const CycleRecord& r) {
    const auto& table = builtin_table();
    for (std::size_t c = 0; c < table.size(); ++c) {
      const double v = cycle_column_value(r, c);
      if (table[c].kind == Kind::kDouble) doubles[c][i] = v;
      if (table[c].kind == Kind::kInt64) ints[c][i] = static_cast<std::int64_t>(v);
      if (table[c].kind == Kind::kInt8) flags[c][i] = static_cast<std::int8_t>(v);
    }
  }
  const void* data(std::size_t c) const {
    switch (builtin_table()[c].kind) {
      case Kind::kDouble:
        return doubles[c].data();
      case Kind::kInt64:
        return ints[c].data();
      case Kind::kInt8:
        return flags[c].data();
    }
    return nullptr;
  }
};

hid_t file_type(Kind kind) {
  switch (kind) {
    case Kind::kDouble:
      return H5T_IEEE_F64LE;
    case Kind::kInt64:
      return H5T_STD_I64LE;
    case Kind::kInt8:
      return H5T_STD_I8LE;
  }
  return H5T_IEEE_F64LE;
}

hid_t memory_type(Kind kind) {
  switch (kind) {
    case Kind::kDouble:
      return H5T_NATIVE_DOUBLE;
    case Kind::kInt64:
      return H5T_NATIVE_INT64;
    case Kind::kInt8:
      return H5T_NATIVE_INT8;
  }
  return H5T_NATIVE_DOUBLE;
}

// File access: no file locking (so h5py can read a file while a run writes it) and the HDF5 1.8
// file format (dense storage for large attributes such as the resolved config; no superblock
// "open for write" flag, so a killed run leaves a file that opens without h5clear).
h5::PropertyList file_access(const std::string& path) {
  h5::PropertyList fapl = h5::create_plist(H5P_FILE_ACCESS, path);
  h5::check(H5Pset_libver_bounds(fapl.id(), H5F_LIBVER_V18, H5F_LIBVER_LATEST),
            "H5Pset_libver_bounds", path);
  h5::check(H5Pset_file_locking(fapl.id(), false, true), "H5Pset_file_locking", path);
  return fapl;
}

h5::File open_readonly(const std::string& path) {
  h5::PropertyList fapl = file_access(path);
  return {h5::check_id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.id()), "H5Fopen", path), path};
}

bool path_exists(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::symlink_status(path, ec);
  return !ec && std::filesystem::exists(status);
}

void write_units(hid_t obj, const std::string& obj_path, const std::string& units,
                 const std::string& description) {
  h5::write_attribute(obj, obj_path, "units", std::string_view(units));
  h5::write_attribute(obj, obj_path, "description", std::string_view(description));
}

// A dataset of shape (cells, 0[, depth]) that grows along its second dimension, or, for a fixed
// table, of shape (cells, fixed_cycles[, depth]) from the start.
h5::Dataset create_cycle_dataset(const h5::Group& group, const ColumnSpec& spec, Kind kind,
                                 hsize_t cells, hsize_t depth, const TableLayout& layout) {
  const std::string path = group.path() + "/" + spec.name;
  const auto fixed = static_cast<hsize_t>(std::max(0, layout.fixed_cycles));
  std::vector<hsize_t> dims{cells, fixed};
  std::vector<hsize_t> maxdims{cells, H5S_UNLIMITED};
  // About 16 Ki values per chunk (128 KiB of doubles). A growing table is written one cycle of
  // every cell at a time: chunks of all cells and at most 256 cycles. A fixed table is written a
  // few rows at a time: chunks of those rows and as many cycles as fit.
  std::vector<hsize_t> chunk;
  if (fixed == 0) {
    const hsize_t per_cycle = cells * std::max<hsize_t>(depth, 1);
    chunk = {cells, std::clamp<hsize_t>(16384 / per_cycle, 1, 256)};
  } else {
    const hsize_t rows = layout.rows_per_write > 0
                             ? std::min<hsize_t>(cells, static_cast<hsize_t>(layout.rows_per_write))
                             : cells;
    const hsize_t per_cycle = rows * std::max<hsize_t>(depth, 1);
    chunk = {rows, std::clamp<hsize_t>(16384 / per_cycle, 1, fixed)};
  }
  if (depth > 0) {
    dims.push_back(depth);
    maxdims.push_back(depth);
    chunk.push_back(depth);
  }
  h5::Dataspace space = h5::create_simple_space(dims, maxdims, path);
  h5::PropertyList dcpl = h5::create_plist(H5P_DATASET_CREATE, path);
  h5::check(H5Pset_chunk(dcpl.id(), static_cast<int>(chunk.size()), chunk.data()), "H5Pset_chunk",
            path);
  if (kind == Kind::kDouble) {
    const double fill = kNaN;
    h5::check(H5Pset_fill_value(dcpl.id(), H5T_NATIVE_DOUBLE, &fill), "H5Pset_fill_value", path);
  }
  h5::Dataset ds{h5::check_id(H5Dcreate2(group.id(), spec.name.c_str(), file_type(kind), space.id(),
                                         H5P_DEFAULT, dcpl.id(), H5P_DEFAULT),
                              "H5Dcreate2", path),
                 path};
  write_units(ds.id(), path, spec.units, spec.description);
  return ds;
}

// Grows `ds` to `cycles` cycles and writes the last one from `buffer` (cells[ x depth] values).
void write_last_cycle(const h5::Dataset& ds, hid_t mem_type, const void* buffer, hsize_t cells,
                      hsize_t cycles, hsize_t depth) {
  std::vector<hsize_t> dims{cells, cycles};
  std::vector<hsize_t> start{0, cycles - 1};
  std::vector<hsize_t> count{cells, 1};
  if (depth > 0) {
    dims.push_back(depth);
    start.push_back(0);
    count.push_back(depth);
  }
  h5::check(H5Dset_extent(ds.id(), dims.data()), "H5Dset_extent", ds.path());
  h5::Dataspace file_space = h5::dataset_space(ds);
  h5::check(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, start.data(), nullptr,
                                count.data(), nullptr),
            "H5Sselect_hyperslab", ds.path());
  h5::Dataspace mem_space = h5::create_simple_space(count, {}, ds.path());
  h5::check(H5Dwrite(ds.id(), mem_type, mem_space.id(), file_space.id(), H5P_DEFAULT, buffer),
            "H5Dwrite", ds.path());
}

// Writes columns [first, first + cycles) of the rows `rows` (ascending) from `buffer`, ordered
// row by row (rows.size() x cycles[ x depth] values).
void write_row_block(const h5::Dataset& ds, hid_t mem_type, const void* buffer,
                     const std::vector<int>& rows, hsize_t first, hsize_t cycles, hsize_t depth) {
  h5::Dataspace file_space = h5::dataset_space(ds);
  h5::check(H5Sselect_none(file_space.id()), "H5Sselect_none", ds.path());
  // One hyperslab per run of consecutive rows; HDF5 visits the union in file order, row by row,
  // which is the order of the buffer.
  for (std::size_t k = 0; k < rows.size();) {
    std::size_t end = k + 1;
    while (end < rows.size() && rows[end] == rows[end - 1] + 1) ++end;
    std::vector<hsize_t> start{static_cast<hsize_t>(rows[k]), first};
    std::vector<hsize_t> count{static_cast<hsize_t>(end - k), cycles};
    if (depth > 0) {
      start.push_back(0);
      count.push_back(depth);
    }
    h5::check(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_OR, start.data(), nullptr,
                                  count.data(), nullptr),
              "H5Sselect_hyperslab", ds.path());
    k = end;
  }
  std::vector<hsize_t> mem_dims{static_cast<hsize_t>(rows.size()), cycles};
  if (depth > 0) mem_dims.push_back(depth);
  h5::Dataspace mem_space = h5::create_simple_space(mem_dims, {}, ds.path());
  h5::check(H5Dwrite(ds.id(), mem_type, mem_space.id(), file_space.id(), H5P_DEFAULT, buffer),
            "H5Dwrite", ds.path());
}

// A 1-D variable-length UTF-8 string dataset.
h5::Dataset create_string_dataset(const h5::Group& group, const std::string& name,
                                  const std::vector<std::string>& values,
                                  const std::string& description) {
  const std::string path = group.path() + "/" + name;
  h5::Datatype type = h5::utf8_string_type(path);
  h5::Dataspace space = h5::create_simple_space({values.size()}, {}, path);
  h5::Dataset ds{h5::check_id(H5Dcreate2(group.id(), name.c_str(), type.id(), space.id(),
                                         H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                              "H5Dcreate2", path),
                 path};
  std::vector<const char*> ptrs;
  ptrs.reserve(values.size());
  for (const auto& v : values) ptrs.push_back(v.c_str());
  h5::check(H5Dwrite(ds.id(), type.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "H5Dwrite",
            path);
  write_units(ds.id(), path, "", description);
  return ds;
}

void write_string_element(const h5::Dataset& ds, hsize_t index, const std::string& value) {
  h5::Datatype type = h5::utf8_string_type(ds.path());
  h5::Dataspace file_space = h5::dataset_space(ds);
  const hsize_t count = 1;
  h5::check(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, &index, nullptr, &count, nullptr),
            "H5Sselect_hyperslab", ds.path());
  h5::Dataspace mem_space = h5::create_simple_space({1}, {}, ds.path());
  const char* ptr = value.c_str();
  h5::check(H5Dwrite(ds.id(), type.id(), mem_space.id(), file_space.id(), H5P_DEFAULT, &ptr),
            "H5Dwrite", ds.path());
}

// A fixed-size 1-D dataset, chunked and deflate-compressed when non-empty.
template <class T>
void write_vector(hid_t loc, const std::string& loc_path, const std::string& name, hid_t file_t,
                  hid_t mem_t, const std::vector<T>& values, const std::string& units,
                  const std::string& description) {
  const std::string path = loc_path + "/" + name;
  const hsize_t n = values.size();
  h5::Dataspace space = h5::create_simple_space({n}, {}, path);
  h5::PropertyList dcpl = h5::create_plist(H5P_DATASET_CREATE, path);
  if (n > 0) {
    const hsize_t chunk = std::min<hsize_t>(n, 65536);
    h5::check(H5Pset_chunk(dcpl.id(), 1, &chunk), "H5Pset_chunk", path);
    if (h5::check_tri(H5Zfilter_avail(H5Z_FILTER_DEFLATE), "H5Zfilter_avail", path)) {
      h5::check(H5Pset_shuffle(dcpl.id()), "H5Pset_shuffle", path);
      h5::check(H5Pset_deflate(dcpl.id(), 4), "H5Pset_deflate", path);
    }
  }
  h5::Dataset ds{h5::check_id(H5Dcreate2(loc, name.c_str(), file_t, space.id(), H5P_DEFAULT,
                                         dcpl.id(), H5P_DEFAULT),
                              "H5Dcreate2", path),
                 path};
  if (n > 0) {
    h5::check(H5Dwrite(ds.id(), mem_t, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "H5Dwrite",
              path);
  }
  write_units(ds.id(), path, units, description);
  ds.close("H5Dclose");
}

void validate_name(const std::string& name, const std::string& what) {
  if (name.empty() || name == "." || name.find('/') != std::string::npos) {
    throw std::invalid_argument("ResultWriter: " + what + " '" + name +
                                "' is not a valid HDF5 dataset name (empty, '.' or contains '/')");
  }
}

}  // namespace

OutputExistsError::OutputExistsError(const std::string& path)
    : std::runtime_error("output file '" + path +
                         "' already exists; use --overwrite to replace it (nothing was written)"),
      path_(path) {}

OutputExistsError::OutputExistsError(const std::string& path, const std::string& reason)
    : std::runtime_error("output '" + path + "' " + reason), path_(path) {}

// ---- the writer ---------------------------------------------------------------------------------

struct ResultWriter::Impl {
  std::string path;
  int cells = 0;
  int max_steps = 0;
  int cycles = 0;
  Provenance provenance;
  std::vector<ColumnSpec> extra_specs;
  TableLayout layout;               // fixed_cycles > 0: a fixed table (write_rows)
  std::vector<std::string> status;  // current /cells/status, to detect the first failure

  // Declared file first: members are destroyed in reverse order, so every object id is closed
  // before the file id.
  h5::File file;
  h5::Group cycles_group, cells_group, curves_group;
  std::vector<h5::Dataset> builtin;
  h5::Dataset step_end_times;
  std::vector<h5::Dataset> extra;
  h5::Dataset status_ds, reason_ds;

  void require_open(const char* what) const {
    if (!file.valid()) {
      throw std::logic_error("ResultWriter::" + std::string(what) + ": '" + path +
                             "' was already closed");
    }
  }

  void flush() {
    h5::check(H5Fflush(file.id(), H5F_SCOPE_GLOBAL), "H5Fflush", path);
    // Push the flushed bytes to the disk as well, so the finished cycles survive a power loss.
    void* handle = nullptr;
    h5::check(H5Fget_vfd_handle(file.id(), H5P_DEFAULT, &handle), "H5Fget_vfd_handle", path);
    if (handle != nullptr) {
      const int fd = *static_cast<int*>(handle);
      if (::fsync(fd) != 0) {
        throw std::system_error(errno, std::generic_category(), "fsync of '" + path + "'");
      }
    }
  }

  void close_all() {
    if (!file.valid()) return;
    flush();
    builtin.clear();
    extra.clear();
    step_end_times = {};
    status_ds = {};
    reason_ds = {};
    cycles_group = {};
    cells_group = {};
    curves_group = {};
    file.close("H5Fclose");
  }

  void create(bool overwrite);
  void open_existing();
  void set_status(int cell, const std::string& new_status, const std::string& reason);
};

void ResultWriter::Impl::create(bool overwrite) {
  // Only regular files are written or replaced: with --overwrite a device, FIFO or directory at
  // the output path was truncated and, when writing then failed, deleted (the null device, run
  // as root). Refuse it before touching anything.
  {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);  // follows a symlink
    if (!ec && std::filesystem::exists(status) && !std::filesystem::is_regular_file(status))
      throw OutputExistsError(path,
                              "exists and is not a regular file; halite writes only regular "
                              "files (nothing was written or removed)");
  }
  if (!overwrite && path_exists(path)) throw OutputExistsError(path);
  // The file is made under a temporary name in the same directory and renamed into place once
  // its structure is on disk: a failure while creating it leaves whatever stood at the path as
  // it was (with --overwrite the old file used to be truncated first and deleted on failure),
  // and only the temporary file, which halite made, is removed.
  const std::string creating = path + ".creating";
  {
    h5::PropertyList fapl = file_access(creating);
    const hid_t id = H5Fcreate(creating.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id());
    file = h5::File{h5::check_id(id, "H5Fcreate", creating), path};
  }
  try {
    // Provenance on the root group.
    const hid_t root = file.id();
    const std::string r = path + ":/";
    const Provenance& p = provenance;
    h5::write_attribute(root, r, "generator", std::string_view(p.generator));
    h5::write_attribute(root, r, "version", std::string_view(p.version));
    h5::write_attribute(root, r, "git_commit", std::string_view(p.git_commit));
    h5::write_attribute(root, r, "date", std::string_view(p.date));
    h5::write_attribute(root, r, "config_name", std::string_view(p.config_name));
    h5::write_attribute(root, r, "config_source", std::string_view(p.config_source));
    h5::write_attribute(root, r, "resolved_config_yaml", std::string_view(p.resolved_config_yaml));
    h5::write_attribute(root, r, "voltage_reference", std::string_view(p.voltage_reference));
    h5::write_attribute(root, r, "backend", std::string_view(p.backend));
    h5::write_attribute(root, r, "current_sign_convention",
                        std::string_view(p.current_sign_convention));
    h5::write_attribute(root, r, "active_mass_per_area [kg.m-2]", p.active_mass_per_area);
    h5::write_attribute(root, r, "reference_cell",
                        static_cast<std::int8_t>(p.is_reference_cell ? 1 : 0));
    h5::write_attribute(root, r, "cells", std::int64_t{cells});
    h5::write_attribute(root, r, "max_steps", std::int64_t{max_steps});
    h5::write_attribute(root, r, "format", std::string_view("halite-result"));
    h5::write_attribute(root, r, "format_version", std::int64_t{kFormatVersion});

    // /cycles
    const bool fixed = layout.fixed_cycles > 0;
    cycles_group = h5::create_group(root, "cycles", path + ":/cycles");
    h5::write_attribute(cycles_group.id(), cycles_group.path(), "cycles_written",
                        std::int64_t{fixed ? layout.fixed_cycles : 0});
    h5::write_attribute(
        cycles_group.id(), cycles_group.path(), "description",
        std::string_view(fixed ? "one row per cell, one column per cycle; the table has its full "
                                 "width from the start (NaN, integers 0, until written) and rows "
                                 "are written, and the file flushed, as cells finish"
                               : "one row per cell, one column per cycle; datasets are extended "
                                 "and the file flushed after every cycle"));
    if (fixed)
      h5::write_attribute(cycles_group.id(), cycles_group.path(), "fixed_cycles",
                          std::int64_t{layout.fixed_cycles});
    cycles = fixed ? layout.fixed_cycles : 0;
    const auto n = static_cast<hsize_t>(cells);
    for (const auto& col : builtin_table()) {
      builtin.push_back(create_cycle_dataset(cycles_group, col.spec, col.kind, n, 0, layout));
    }
    step_end_times = create_cycle_dataset(
        cycles_group,
        {kStepEndTimes, "s",
         "end time of each protocol step since the start of the cycle, NaN after the last step"},
        Kind::kDouble, n, static_cast<hsize_t>(max_steps), layout);
    for (const auto& spec : extra_specs) {
      extra.push_back(create_cycle_dataset(cycles_group, spec, Kind::kDouble, n, 0, layout));
    }

    // /cells
    cells_group = h5::create_group(root, "cells", path + ":/cells");
    std::vector<std::string> names = p.cell_names;
    if (names.empty()) {
      for (int k = 0; k < cells; ++k) names.push_back("cell_" + std::to_string(k));
    }
    create_string_dataset(cells_group, "name", names, "name of each cell (row of /cycles)");
    status.assign(static_cast<std::size_t>(cells), fixed ? "not run" : "running");
    status_ds = create_string_dataset(
        cells_group, "status", status,
        fixed ? "not run (no results written yet), running (results written in part), completed "
                "or failed"
              : "running (still running, or the run was interrupted), completed or failed");
    reason_ds = create_string_dataset(cells_group, "failure reason",
                                      std::vector<std::string>(static_cast<std::size_t>(cells)),
                                      "why the cell failed (empty unless status is failed)");

    curves_group = h5::create_group(root, "curves", path + ":/curves");
    flush();
    // Into place: replacing an old file only with --overwrite, and never one that appeared
    // meanwhile without it (RENAME_NOREPLACE, as O_EXCL did).
    const int renamed = overwrite ? ::rename(creating.c_str(), path.c_str())
                                  : ::renameat2(AT_FDCWD, creating.c_str(), AT_FDCWD, path.c_str(),
                                                RENAME_NOREPLACE);
    if (renamed != 0) {
      const int err = errno;
      if (err == EEXIST) throw OutputExistsError(path);
      throw std::system_error(err, std::generic_category(),
                              "cannot rename '" + creating + "' to '" + path + "'");
    }
  } catch (...) {
    // Do not leave a half-written file behind (it would block a rerun without --overwrite).
    builtin.clear();
    extra.clear();
    step_end_times = {};
    status_ds = {};
    reason_ds = {};
    cycles_group = {};
    cells_group = {};
    curves_group = {};
    file = {};
    std::error_code ec;
    if (path_exists(creating)) std::filesystem::remove(creating, ec);
    throw;
  }
}

// Reopens a file made by create() (path and extra_specs set): RDWR, every dataset by name.
void ResultWriter::Impl::open_existing() {
  if (!path_exists(path)) throw std::runtime_error("'" + path + "' does not exist");
  {
    h5::PropertyList fapl = file_access(path);
    file = h5::File{h5::check_id(H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.id()), "H5Fopen", path),
                    path};
  }
  const hid_t root = file.id();
  const std::string r = path + ":/";
  auto has_attribute = [&](const char* name) {
    return h5::check_tri(H5Aexists(root, name), "H5Aexists", r + "@" + name);
  };
  if (!has_attribute("format") || h5::read_string_attribute(root, r, "format") != "halite-result")
    throw std::runtime_error("'" + path + "' is not a halite result file");
  const double version = h5::read_numeric_attribute(root, r, "format_version");
  if (version != kFormatVersion) {
    throw std::runtime_error("'" + path + "' has result format version " +
                             std::to_string(static_cast<long>(version)) + "; this halite writes " +
                             std::to_string(kFormatVersion));
  }
  cells = static_cast<int>(h5::read_numeric_attribute(root, r, "cells"));
  max_steps = static_cast<int>(h5::read_numeric_attribute(root, r, "max_steps"));
  Provenance& p = provenance;
  p.generator = h5::read_string_attribute(root, r, "generator");
  p.version = h5::read_string_attribute(root, r, "version");
  p.git_commit = h5::read_string_attribute(root, r, "git_commit");
  p.date = h5::read_string_attribute(root, r, "date");
  p.config_name = h5::read_string_attribute(root, r, "config_name");
  p.config_source = h5::read_string_attribute(root, r, "config_source");
  p.resolved_config_yaml = h5::read_string_attribute(root, r, "resolved_config_yaml");
  p.voltage_reference = h5::read_string_attribute(root, r, "voltage_reference");
  // Files from before the attribute existed were all integrated on the CPU.
  p.backend = has_attribute("backend") ? h5::read_string_attribute(root, r, "backend") : "cpu";
  p.current_sign_convention = h5::read_string_attribute(root, r, "current_sign_convention");
  p.active_mass_per_area = h5::read_numeric_attribute(root, r, "active_mass_per_area [kg.m-2]");
  p.is_reference_cell = h5::read_numeric_attribute(root, r, "reference_cell") != 0.0;

  cycles_group = h5::open_group(root, "cycles", path + ":/cycles");
  cycles = static_cast<int>(
      h5::read_numeric_attribute(cycles_group.id(), cycles_group.path(), "cycles_written"));
  if (h5::check_tri(H5Aexists(cycles_group.id(), "fixed_cycles"), "H5Aexists",
                    cycles_group.path() + "@fixed_cycles"))
    layout.fixed_cycles = static_cast<int>(
        h5::read_numeric_attribute(cycles_group.id(), cycles_group.path(), "fixed_cycles"));
  auto open_column = [&](const std::string& name) {
    const std::string where = cycles_group.path() + "/" + name;
    if (!h5::link_exists(cycles_group.id(), name, where))
      throw std::runtime_error("'" + path + "' has no column /cycles/" + name);
    h5::Dataset ds = h5::open_dataset(cycles_group.id(), name, where);
    const auto dims = h5::extent(h5::dataset_space(ds));
    if (dims.size() < 2 || dims[0] != static_cast<hsize_t>(cells) ||
        dims[1] < static_cast<hsize_t>(cycles))
      throw std::runtime_error("'" + where + "' does not have the shape of the table");
    return ds;
  };
  for (const auto& col : builtin_table()) builtin.push_back(open_column(col.spec.name));
  step_end_times = open_column(kStepEndTimes);
  for (const auto& spec : extra_specs) extra.push_back(open_column(spec.name));

  cells_group = h5::open_group(root, "cells", path + ":/cells");
  status_ds = h5::open_dataset(cells_group.id(), "status", cells_group.path() + "/status");
  reason_ds =
      h5::open_dataset(cells_group.id(), "failure reason", cells_group.path() + "/failure reason");
  curves_group = h5::open_group(root, "curves", path + ":/curves");
}

void ResultWriter::Impl::set_status(int cell, const std::string& new_status,
                                    const std::string& reason) {
  const auto index = static_cast<hsize_t>(cell);
  write_string_element(status_ds, index, new_status);
  write_string_element(reason_ds, index, reason);
  status[static_cast<std::size_t>(cell)] = new_status;
}

ResultWriter::ResultWriter(const std::string& path, bool overwrite, int cells,
                           Provenance provenance, int max_steps,
                           std::vector<ColumnSpec> extra_columns, TableLayout layout)
    : impl_(std::make_unique<Impl>()) {
  if (path.empty()) throw std::invalid_argument("ResultWriter: empty output path");
  if (cells < 1) {
    throw std::invalid_argument("ResultWriter: cells must be >= 1, got " + std::to_string(cells));
  }
  if (max_steps < 1) {
    throw std::invalid_argument("ResultWriter: max_steps must be >= 1, got " +
                                std::to_string(max_steps));
  }
  if (!provenance.cell_names.empty() &&
      provenance.cell_names.size() != static_cast<std::size_t>(cells)) {
    throw std::invalid_argument("ResultWriter: " + std::to_string(provenance.cell_names.size()) +
                                " cell names for " + std::to_string(cells) + " cells");
  }
  std::set<std::string> names;
  for (const auto& col : builtin_table()) names.insert(col.spec.name);
  names.insert(kStepEndTimes);
  for (const auto& spec : extra_columns) {
    validate_name(spec.name, "extra column");
    if (!names.insert(spec.name).second) {
      throw std::invalid_argument("ResultWriter: extra column '" + spec.name +
                                  "' duplicates another column");
    }
  }
  if (provenance.version.empty()) provenance.version = build_info::kVersion;
  if (provenance.git_commit.empty()) provenance.git_commit = build_info::kGitCommit;
  if (provenance.date.empty()) provenance.date = iso8601_utc_now();

  impl_->path = path;
  impl_->cells = cells;
  impl_->max_steps = max_steps;
  impl_->provenance = std::move(provenance);
  if (layout.fixed_cycles < 0 || layout.rows_per_write < 0) {
    throw std::invalid_argument("ResultWriter: negative fixed_cycles or rows_per_write");
  }
  impl_->extra_specs = std::move(extra_columns);
  impl_->layout = layout;
  h5::QuietErrors quiet;
  impl_->create(overwrite);
}

ResultWriter ResultWriter::open_existing(const std::string& path,
                                         std::vector<ColumnSpec> extra_columns) {
  if (path.empty()) throw std::invalid_argument("ResultWriter: empty output path");
  ResultWriter w;
  w.impl_ = std::make_unique<Impl>();
  w.impl_->path = path;
  w.impl_->extra_specs = std::move(extra_columns);
  h5::QuietErrors quiet;
  if (!path_exists(path)) throw std::runtime_error("'" + path + "' does not exist");
  // /cells/status of every cell, to detect the first failure as append_cycle does (read before
  // the file is opened for writing)
  std::vector<std::string> status = read_string_dataset(path, "/cells/status");
  std::vector<std::string> names = read_string_dataset(path, "/cells/name");
  w.impl_->open_existing();
  w.impl_->status = std::move(status);
  w.impl_->provenance.cell_names = std::move(names);
  if (w.impl_->status.size() != static_cast<std::size_t>(w.impl_->cells))
    throw std::runtime_error("'" + path + "': /cells/status does not have one entry per cell");
  return w;
}

// The writer's state, for an operation that needs the file open (a moved-from writer, or one
// closed already, is a programming error).
ResultWriter::Impl& ResultWriter::open_impl(const char* operation) const {
  if (!impl_)
    throw std::logic_error(std::string("ResultWriter::") + operation + " on a moved-from writer");
  impl_->require_open(operation);
  return *impl_;
}

void ResultWriter::truncate_cycles(int cycles) {
  Impl& w = open_impl("truncate_cycles");
  if (w.layout.fixed_cycles > 0)
    throw std::logic_error("ResultWriter::truncate_cycles: '" + w.path + "' has a fixed table");
  if (cycles < 0 || cycles > w.cycles) {
    throw std::invalid_argument("ResultWriter::truncate_cycles: " + std::to_string(cycles) +
                                " cycles asked, the file holds " + std::to_string(w.cycles));
  }
  h5::QuietErrors quiet;
  const auto n = static_cast<hsize_t>(w.cells);
  // The largest cycle number that stays: curves of later cycles go.
  std::int64_t last_kept = std::numeric_limits<std::int64_t>::min();
  if (cycles > 0) {
    const h5::Dataset& numbers = w.builtin[kCycleNumber];
    h5::Dataspace file_space = h5::dataset_space(numbers);
    const std::vector<hsize_t> start{0, 0}, count{n, static_cast<hsize_t>(cycles)};
    h5::check(H5Sselect_hyperslab(file_space.id(), H5S_SELECT_SET, start.data(), nullptr,
                                  count.data(), nullptr),
              "H5Sselect_hyperslab", numbers.path());
    h5::Dataspace mem_space = h5::create_simple_space(count, {}, numbers.path());
    std::vector<std::int64_t> values(n * static_cast<hsize_t>(cycles));
    h5::check(H5Dread(numbers.id(), H5T_NATIVE_INT64, mem_space.id(), file_space.id(), H5P_DEFAULT,
                      values.data()),
              "H5Dread", numbers.path());
    for (std::int64_t v : values) last_kept = std::max(last_kept, v);
  }
  auto shrink = [&](const h5::Dataset& ds) {
    auto dims = h5::extent(h5::dataset_space(ds));
    dims[1] = static_cast<hsize_t>(cycles);
    h5::check(H5Dset_extent(ds.id(), dims.data()), "H5Dset_extent", ds.path());
  };
  for (const auto& ds : w.builtin) shrink(ds);
  shrink(w.step_end_times);
  for (const auto& ds : w.extra) shrink(ds);
  h5::update_attribute(w.cycles_group.id(), w.cycles_group.path(), "cycles_written",
                       static_cast<std::int64_t>(cycles));
  w.cycles = cycles;

  // Curves: /curves/cell_<k>/cycle_<m>, m > last_kept.
  auto child_names = [](const h5::Group& group) {
    H5G_info_t info{};
    h5::check(H5Gget_info(group.id(), &info), "H5Gget_info", group.path());
    std::vector<std::string> names;
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      const ssize_t size = H5Lget_name_by_idx(group.id(), ".", H5_INDEX_NAME, H5_ITER_INC, i,
                                              nullptr, 0, H5P_DEFAULT);
      if (size < 0) h5::throw_error("H5Lget_name_by_idx", group.path());
      std::string name(static_cast<std::size_t>(size) + 1, '\0');
      if (H5Lget_name_by_idx(group.id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(),
                             name.size(), H5P_DEFAULT) < 0)
        h5::throw_error("H5Lget_name_by_idx", group.path());
      name.resize(static_cast<std::size_t>(size));
      names.push_back(name);
    }
    return names;
  };
  for (const auto& cell_name : child_names(w.curves_group)) {
    const std::string cell_path = w.curves_group.path() + "/" + cell_name;
    h5::Group cell_group = h5::open_group(w.curves_group.id(), cell_name, cell_path);
    for (const auto& cycle_name : child_names(cell_group)) {
      if (!cycle_name.starts_with("cycle_")) continue;
      std::int64_t number = 0;
      try {
        number = std::stoll(cycle_name.substr(6));
      } catch (const std::exception&) {
        continue;
      }
      if (number <= last_kept) continue;
      h5::check(H5Ldelete(cell_group.id(), cycle_name.c_str(), H5P_DEFAULT), "H5Ldelete",
                cell_path + "/" + cycle_name);
    }
  }
  w.flush();
}

const Provenance& ResultWriter::provenance() const {
  return impl_->provenance;
}

ResultWriter::~ResultWriter() {
  if (!impl_) return;
  try {
    h5::QuietErrors quiet;
    impl_->close_all();
  } catch (...) {
    // A destructor must not throw; close() reports errors.
  }
}

ResultWriter::ResultWriter(ResultWriter&&) noexcept = default;
ResultWriter& ResultWriter::operator=(ResultWriter&& other) noexcept {
  if (this != &other) {
    if (impl_) {
      try {
        h5::QuietErrors quiet;
        impl_->close_all();
      } catch (...) {
      }
    }
    impl_ = std::move(other.impl_);
  }
  return *this;
}

void ResultWriter::append_cycle(const std::vector<CycleRecord>& per_cell,
                                const std::vector<std::vector<double>>& extra, bool flush) {
  Impl& w = open_impl("append_cycle");
  if (w.layout.fixed_cycles > 0)
    throw std::logic_error("ResultWriter::append_cycle: '" + w.path +
                           "' has a fixed table; use write_rows");
  const auto cells = static_cast<std::size_t>(w.cells);
  // Validate everything first: a rejected call leaves the file as it was.
  if (per_cell.size() != cells) {
    throw std::invalid_argument("ResultWriter::append_cycle: " + std::to_string(per_cell.size()) +
                                " records for " + std::to_string(cells) + " cells");
  }
  for (std::size_t k = 0; k < cells; ++k) {
    if (per_cell[k].step_end_times.size() > static_cast<std::size_t>(w.max_steps)) {
      throw std::invalid_argument("ResultWriter::append_cycle: cell " + std::to_string(k) +
                                  " cycle " + std::to_string(per_cell[k].cycle) + " has " +
                                  std::to_string(per_cell[k].step_end_times.size()) +
                                  " step end times but the writer was created with max_steps = " +
                                  std::to_string(w.max_steps));
    }
  }
  if (!extra.empty() && extra.size() != w.extra_specs.size()) {
    throw std::invalid_argument("ResultWriter::append_cycle: " + std::to_string(extra.size()) +
                                " extra columns given, " + std::to_string(w.extra_specs.size()) +
                                " declared");
  }
  for (std::size_t c = 0; c < extra.size(); ++c) {
    if (extra[c].size() != cells) {
      throw std::invalid_argument(
          "ResultWriter::append_cycle: extra column '" + w.extra_specs[c].name + "' has " +
          std::to_string(extra[c].size()) + " values for " + std::to_string(cells) + " cells");
    }
  }

  // Gather the column buffers.
  ColumnBuffers buffers(cells);
  std::vector<double> steps(cells * static_cast<std::size_t>(w.max_steps), kNaN);
  for (std::size_t k = 0; k < cells; ++k) {
    const CycleRecord& r = per_cell[k];
    buffers.set(k, r);
    std::copy(
        r.step_end_times.begin(), r.step_end_times.end(),
        steps.begin() + static_cast<std::ptrdiff_t>(k * static_cast<std::size_t>(w.max_steps)));
  }

  h5::QuietErrors quiet;
  const auto n = static_cast<hsize_t>(cells);
  const auto new_cycles = static_cast<hsize_t>(w.cycles + 1);
  const auto& table = builtin_table();
  for (std::size_t c = 0; c < table.size(); ++c) {
    write_last_cycle(w.builtin[c], memory_type(table[c].kind), buffers.data(c), n, new_cycles, 0);
  }
  write_last_cycle(w.step_end_times, H5T_NATIVE_DOUBLE, steps.data(), n, new_cycles,
                   static_cast<hsize_t>(w.max_steps));
  const std::vector<double> nan_column(cells, kNaN);
  for (std::size_t c = 0; c < w.extra.size(); ++c) {
    const std::vector<double>& values = extra.empty() ? nan_column : extra[c];
    write_last_cycle(w.extra[c], H5T_NATIVE_DOUBLE, values.data(), n, new_cycles, 0);
  }
  for (std::size_t k = 0; k < cells; ++k) {
    if (per_cell[k].failed && w.status[k] != "failed") {
      w.set_status(static_cast<int>(k), "failed", per_cell[k].failure);
    }
  }
  h5::update_attribute(w.cycles_group.id(), w.cycles_group.path(), "cycles_written",
                       static_cast<std::int64_t>(new_cycles));
  w.cycles = static_cast<int>(new_cycles);
  if (flush) w.flush();
}

void ResultWriter::write_rows(const RowBlock& block) {
  Impl& w = open_impl("write_rows");
  if (w.layout.fixed_cycles <= 0)
    throw std::logic_error("ResultWriter::write_rows: '" + w.path +
                           "' has a growing table; use append_cycle");
  const std::size_t rows = block.cells.size();
  const std::size_t cycles = block.records.size();
  const auto fail = [](const std::string& why) {
    throw std::invalid_argument("ResultWriter::write_rows: " + why);
  };
  // Validate everything first: a rejected call leaves the file as it was.
  if (rows == 0) fail("no rows");
  for (std::size_t k = 0; k < rows; ++k) {
    if (block.cells[k] < 0 || block.cells[k] >= w.cells)
      fail("row " + std::to_string(block.cells[k]) + " out of range [0, " +
           std::to_string(w.cells) + ")");
    if (k > 0 && block.cells[k] <= block.cells[k - 1]) fail("rows not ascending");
  }
  if (block.first_cycle < 0 || static_cast<std::size_t>(block.first_cycle) + cycles >
                                   static_cast<std::size_t>(w.layout.fixed_cycles))
    fail("cycles [" + std::to_string(block.first_cycle) + ", " +
         std::to_string(block.first_cycle + static_cast<long>(cycles)) + ") outside the table (" +
         std::to_string(w.layout.fixed_cycles) + " cycles)");
  for (const auto& records : block.records) {
    if (records.size() != rows)
      fail(std::to_string(records.size()) + " records in a cycle for " + std::to_string(rows) +
           " rows");
    for (const auto& r : records)
      if (r.step_end_times.size() > static_cast<std::size_t>(w.max_steps))
        fail("cycle " + std::to_string(r.cycle) + " has " +
             std::to_string(r.step_end_times.size()) +
             " step end times but the writer was created with max_steps = " +
             std::to_string(w.max_steps));
  }
  if (!block.extra.empty() && block.extra.size() != w.extra_specs.size())
    fail(std::to_string(block.extra.size()) + " extra columns given, " +
         std::to_string(w.extra_specs.size()) + " declared");
  for (std::size_t c = 0; c < block.extra.size(); ++c)
    if (block.extra[c].size() != rows * cycles)
      fail("extra column '" + w.extra_specs[c].name + "' has " +
           std::to_string(block.extra[c].size()) + " values for " + std::to_string(rows * cycles));
  if ((!block.status.empty() && block.status.size() != rows) ||
      (!block.reason.empty() && block.reason.size() != block.status.size()))
    fail("status and reason must be empty or one per row");

  bool failed_records = false;
  for (const auto& records : block.records)
    for (const auto& r : records) failed_records = failed_records || r.failed;

  h5::QuietErrors quiet;
  if (cycles > 0) {
    // Gather the column buffers, row by row (the order of the file selection).
    const std::size_t values = rows * cycles;
    const auto steps_per = static_cast<std::size_t>(w.max_steps);
    ColumnBuffers buffers(values);
    std::vector<double> steps(values * steps_per, kNaN);
    std::vector<std::vector<double>> extra(w.extra_specs.size(), std::vector<double>(values, kNaN));
    for (std::size_t k = 0; k < rows; ++k) {
      for (std::size_t c = 0; c < cycles; ++c) {
        const std::size_t i = k * cycles + c;
        const CycleRecord& r = block.records[c][k];
        buffers.set(i, r);
        std::copy(r.step_end_times.begin(), r.step_end_times.end(),
                  steps.begin() + static_cast<std::ptrdiff_t>(i * steps_per));
        for (std::size_t e = 0; e < block.extra.size(); ++e)
          extra[e][i] = block.extra[e][c * rows + k];
      }
    }
    const auto first = static_cast<hsize_t>(block.first_cycle);
    const auto count = static_cast<hsize_t>(cycles);
    const auto& table = builtin_table();
    for (std::size_t c = 0; c < table.size(); ++c) {
      write_row_block(w.builtin[c], memory_type(table[c].kind), buffers.data(c), block.cells, first,
                      count, 0);
    }
    write_row_block(w.step_end_times, H5T_NATIVE_DOUBLE, steps.data(), block.cells, first, count,
                    static_cast<hsize_t>(w.max_steps));
    for (std::size_t e = 0; e < w.extra.size(); ++e)
      write_row_block(w.extra[e], H5T_NATIVE_DOUBLE, extra[e].data(), block.cells, first, count, 0);
  }
  // The rows reach the file before the statuses that vouch for them: the status datasets are
  // written through to the file at once, the rows' chunks only when flushed, so without this
  // flush a kill could leave a row "completed" whose values never reached the disk.
  if (cycles > 0 && (!block.status.empty() || failed_records)) w.flush();
  for (std::size_t k = 0; k < block.status.size(); ++k)
    w.set_status(block.cells[k], block.status[k], block.reason.empty() ? "" : block.reason[k]);
  for (std::size_t k = 0; k < rows; ++k) {
    const auto cell = static_cast<std::size_t>(block.cells[k]);
    for (const auto& records : block.records) {
      if (records[k].failed && w.status[cell] != "failed") {
        w.set_status(block.cells[k], "failed", records[k].failure);
        break;
      }
    }
  }
  w.flush();
}

void ResultWriter::set_cell_status(int cell, const std::string& status, const std::string& reason) {
  open_impl("set_cell_status");
  if (cell < 0 || cell >= impl_->cells) {
    throw std::invalid_argument("ResultWriter::set_cell_status: cell " + std::to_string(cell) +
                                " out of range [0, " + std::to_string(impl_->cells) + ")");
  }
  h5::QuietErrors quiet;
  impl_->set_status(cell, status, reason);
  impl_->flush();
}

void ResultWriter::write_curve(int cell, const Curve& curve) {
  Impl& w = open_impl("write_curve");
  if (cell < 0 || cell >= w.cells) {
    throw std::invalid_argument("ResultWriter::write_curve: cell " + std::to_string(cell) +
                                " out of range [0, " + std::to_string(w.cells) + ")");
  }
  h5::QuietErrors quiet;
  const std::string cell_name = "cell_" + std::to_string(cell);
  const std::string cell_path = w.curves_group.path() + "/" + cell_name;
  h5::Group cell_group = h5::link_exists(w.curves_group.id(), cell_name, cell_path)
                             ? h5::open_group(w.curves_group.id(), cell_name, cell_path)
                             : h5::create_group(w.curves_group.id(), cell_name, cell_path);
  const std::string cycle_name = "cycle_" + std::to_string(curve.cycle);
  const std::string path = cell_path + "/" + cycle_name;
  if (h5::link_exists(cell_group.id(), cycle_name, path)) {
    throw std::runtime_error("ResultWriter::write_curve: '" + path +
                             "' already exists; not replaced");
  }
  h5::Group group = h5::create_group(cell_group.id(), cycle_name, path);
  h5::write_attribute(group.id(), path, "cycle", static_cast<std::int64_t>(curve.cycle));
  h5::write_attribute(group.id(), path, "cell", static_cast<std::int64_t>(cell));
  h5::write_attribute(group.id(), path, "voltage_reference",
                      std::string_view(w.provenance.voltage_reference));

  const std::size_t n = curve.points.size();
  std::vector<double> time(n), voltage(n), current(n);
  std::vector<std::int32_t> step(n);
  for (std::size_t i = 0; i < n; ++i) {
    time[i] = curve.points[i].time;
    voltage[i] = curve.points[i].voltage;
    current[i] = curve.points[i].current_density;
    step[i] = curve.points[i].step;
  }
  write_vector(group.id(), path, "Time [s]", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, time, "s",
               "time on the cell's clock since the start of the run");
  write_vector(group.id(), path, "Voltage [V]", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, voltage, "V",
               "cell voltage vs " + w.provenance.voltage_reference);
  write_vector(group.id(), path, "Current density [A.m-2]", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
               current, "A.m-2",
               "current per electrode area, " + w.provenance.current_sign_convention);
  write_vector(group.id(), path, "Step index", H5T_STD_I32LE, H5T_NATIVE_INT32, step, "-",
               "index of the protocol step within the cycle (0-based)");
  group.close("H5Gclose");
  cell_group.close("H5Gclose");
  w.flush();
}

namespace {

// The parent group of an absolute or relative (-> /final_state) path, missing groups created,
// and the leaf's name and full path. Throws if the leaf exists.
struct Placement {
  h5::Group parent;
  std::string leaf, leaf_path;
};

Placement place(hid_t file, const std::string& file_path, const std::string& path,
                const char* what) {
  const std::string full = path.starts_with('/') ? path : "/final_state/" + path;
  // Split into components; create the missing groups.
  std::vector<std::string> parts;
  for (std::size_t begin = 1; begin <= full.size();) {
    const std::size_t end = std::min(full.find('/', begin), full.size());
    if (end > begin) parts.push_back(full.substr(begin, end - begin));
    begin = end + 1;
  }
  if (parts.empty())
    throw std::invalid_argument(std::string("ResultWriter::") + what + ": empty path");
  for (const auto& part : parts) validate_name(part, std::string(what) + " path component");

  std::string current = file_path + ":";
  h5::Group parent = h5::open_group(file, "/", current + "/");
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    current += "/" + parts[i];
    parent = h5::link_exists(parent.id(), parts[i], current)
                 ? h5::open_group(parent.id(), parts[i], current)
                 : h5::create_group(parent.id(), parts[i], current);
  }
  Placement out{std::move(parent), parts.back(), current + "/" + parts.back()};
  if (h5::link_exists(out.parent.id(), out.leaf, out.leaf_path)) {
    throw std::runtime_error(std::string("ResultWriter::") + what + ": '" + out.leaf_path +
                             "' already exists; not replaced");
  }
  return out;
}

template <class T>
void write_numeric_array(const std::string& file_path, hid_t file, const std::string& path,
                         const std::vector<T>& values, const std::vector<std::size_t>& dims,
                         hid_t file_type, const std::string& units,
                         const std::string& description) {
  std::vector<hsize_t> shape;
  std::size_t total = 1;
  for (std::size_t d : dims) {
    shape.push_back(d);
    total *= d;
  }
  if (dims.empty()) {
    shape.push_back(values.size());
    total = values.size();
  }
  if (total != values.size()) {
    throw std::invalid_argument("ResultWriter::write_array: '" + path + "' has " +
                                std::to_string(values.size()) + " values but dims give " +
                                std::to_string(total));
  }
  Placement where = place(file, file_path, path, "write_array");
  h5::Dataspace space = h5::create_simple_space(shape, {}, where.leaf_path);
  h5::Dataset ds{h5::check_id(H5Dcreate2(where.parent.id(), where.leaf.c_str(), file_type,
                                         space.id(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                              "H5Dcreate2", where.leaf_path),
                 where.leaf_path};
  if (!values.empty()) {
    h5::check(H5Dwrite(ds.id(), h5::detail::native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                       values.data()),
              "H5Dwrite", where.leaf_path);
  }
  write_units(ds.id(), where.leaf_path, units, description);
  ds.close("H5Dclose");
  where.parent.close("H5Gclose");
}

}  // namespace

void ResultWriter::write_array(const std::string& path, const std::vector<double>& values,
                               const std::vector<std::size_t>& dims, const std::string& units,
                               const std::string& description) {
  Impl& w = open_impl("write_array");
  h5::QuietErrors quiet;
  write_numeric_array(w.path, w.file.id(), path, values, dims, H5T_IEEE_F64LE, units, description);
  w.flush();
}

void ResultWriter::write_int_array(const std::string& path, const std::vector<std::int64_t>& values,
                                   const std::vector<std::size_t>& dims, const std::string& units,
                                   const std::string& description) {
  Impl& w = open_impl("write_int_array");
  h5::QuietErrors quiet;
  write_numeric_array(w.path, w.file.id(), path, values, dims, H5T_STD_I64LE, units, description);
  w.flush();
}

void ResultWriter::write_strings(const std::string& path, const std::vector<std::string>& values,
                                 const std::string& description) {
  Impl& w = open_impl("write_strings");
  h5::QuietErrors quiet;
  Placement where = place(w.file.id(), w.path, path, "write_strings");
  create_string_dataset(where.parent, where.leaf, values, description).close("H5Dclose");
  where.parent.close("H5Gclose");
  w.flush();
}

void ResultWriter::add_link(const std::string& existing, const std::string& link_path) {
  Impl& w = open_impl("add_link");
  if (!existing.starts_with('/') || !link_path.starts_with('/'))
    throw std::invalid_argument("ResultWriter::add_link: paths must be absolute ('" + existing +
                                "', '" + link_path + "')");
  h5::QuietErrors quiet;
  h5::Object target = h5::open_object(w.file.id(), existing, w.path + ":" + existing);
  Placement where = place(w.file.id(), w.path, link_path, "add_link");
  h5::check(H5Lcreate_hard(target.id(), ".", where.parent.id(), where.leaf.c_str(), H5P_DEFAULT,
                           H5P_DEFAULT),
            "H5Lcreate_hard", where.leaf_path);
  where.parent.close("H5Gclose");
  w.flush();
}

void ResultWriter::set_attribute(const std::string& name, const std::string& value) {
  Impl& w = open_impl("set_attribute");
  h5::QuietErrors quiet;
  const std::string r = w.path + ":/";
  if (h5::check_tri(H5Aexists(w.file.id(), name.c_str()), "H5Aexists", r + "@" + name))
    h5::check(H5Adelete(w.file.id(), name.c_str()), "H5Adelete", r + "@" + name);
  h5::write_attribute(w.file.id(), r, name, std::string_view(value));
  if (name == "backend") w.provenance.backend = value;
  w.flush();
}

void ResultWriter::set_attribute(const std::string& name, std::int64_t value) {
  Impl& w = open_impl("set_attribute");
  h5::QuietErrors quiet;
  const std::string r = w.path + ":/";
  if (h5::check_tri(H5Aexists(w.file.id(), name.c_str()), "H5Aexists", r + "@" + name))
    h5::check(H5Adelete(w.file.id(), name.c_str()), "H5Adelete", r + "@" + name);
  h5::write_attribute(w.file.id(), r, name, value);
  w.flush();
}

void ResultWriter::flush() {
  open_impl("flush");
  h5::QuietErrors quiet;
  impl_->flush();
}

void ResultWriter::close() {
  if (!impl_) return;
  h5::QuietErrors quiet;
  impl_->close_all();
}

int ResultWriter::cells() const {
  return impl_->cells;
}
int ResultWriter::cycles() const {
  return impl_->cycles;
}
bool ResultWriter::fixed_table() const {
  return impl_->layout.fixed_cycles > 0;
}
int ResultWriter::max_steps() const {
  return impl_->max_steps;
}
const std::string& ResultWriter::path() const {
  return impl_->path;
}
const std::vector<ColumnSpec>& ResultWriter::extra_columns() const {
  return impl_->extra_specs;
}

const std::vector<ColumnSpec>& ResultWriter::builtin_columns() {
  static const std::vector<ColumnSpec> specs = [] {
    std::vector<ColumnSpec> out;
    for (const auto& col : builtin_table()) out.push_back(col.spec);
    return out;
  }();
  return specs;
}

// ---- readers ------------------------------------------------------------------------------------

ArrayData read_array(const std::string& path, const std::string& dataset) {
  h5::QuietErrors quiet;
  h5::File file = open_readonly(path);
  const std::string where = path + ":" + dataset;
  h5::Dataset ds = h5::open_dataset(file.id(), dataset, where);
  h5::Dataspace space = h5::dataset_space(ds);
  ArrayData out;
  std::size_t total = 1;
  for (hsize_t d : h5::extent(space)) {
    out.dims.push_back(static_cast<std::size_t>(d));
    total *= static_cast<std::size_t>(d);
  }
  out.values.resize(total);
  if (total > 0) {
    h5::check(H5Dread(ds.id(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.values.data()),
              "H5Dread", where);
  }
  return out;
}

void ResultWriter::drop_curves(int cell, const std::function<bool(int)>& drop) {
  Impl& w = open_impl("drop_curves");
  h5::QuietErrors quiet;
  const std::string name = "cell_" + std::to_string(cell);
  if (H5Lexists(w.curves_group.id(), name.c_str(), H5P_DEFAULT) <= 0) return;
  const std::string cell_path = w.curves_group.path() + "/" + name;
  h5::Group cell_group = h5::open_group(w.curves_group.id(), name, cell_path);
  std::vector<std::string> doomed;
  auto collect = [](hid_t, const char* child, const H5L_info_t*, void* out) -> herr_t {
    static_cast<std::vector<std::string>*>(out)->emplace_back(child);
    return 0;
  };
  std::vector<std::string> children;
  h5::check(H5Literate(cell_group.id(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect, &children),
            "H5Literate", cell_path);
  for (const auto& child : children) {
    if (child.rfind("cycle_", 0) != 0) continue;
    int number = 0;
    try {
      number = std::stoi(child.substr(6));
    } catch (const std::exception&) {
      continue;
    }
    if (drop(number)) doomed.push_back(child);
  }
  for (const auto& child : doomed)
    h5::check(H5Ldelete(cell_group.id(), child.c_str(), H5P_DEFAULT), "H5Ldelete",
              cell_path + "/" + child);
  w.flush();
}

std::vector<std::string> list_group(const std::string& path, const std::string& group) {
  h5::QuietErrors quiet;
  h5::File file = open_readonly(path);
  std::vector<std::string> names;
  if (group != "/" && H5Lexists(file.id(), group.c_str(), H5P_DEFAULT) <= 0) return names;
  h5::Group g = h5::open_group(file.id(), group, path + ":" + group);
  auto collect = [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
    static_cast<std::vector<std::string>*>(out)->emplace_back(name);
    return 0;
  };
  h5::check(H5Literate(g.id(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect, &names), "H5Literate",
            path + ":" + group);
  return names;
}

std::vector<Curve> read_curves(const std::string& path, int cell) {
  const std::string group = "/curves/cell_" + std::to_string(cell);
  std::vector<Curve> curves;
  for (const auto& name : list_group(path, group)) {
    if (name.rfind("cycle_", 0) != 0) continue;
    Curve curve;
    try {
      curve.cycle = std::stoi(name.substr(6));
    } catch (const std::exception&) {
      continue;
    }
    const std::string base = group + "/" + name + "/";
    const auto time = read_array(path, base + "Time [s]").values;
    const auto voltage = read_array(path, base + "Voltage [V]").values;
    const auto current = read_array(path, base + "Current density [A.m-2]").values;
    const auto step = read_array(path, base + "Step index").values;
    if (voltage.size() != time.size() || current.size() != time.size() ||
        step.size() != time.size())
      throw std::runtime_error("curve " + base + " in '" + path +
                               "' has columns of unequal length");
    for (std::size_t i = 0; i < time.size(); ++i)
      curve.points.push_back({time[i], voltage[i], current[i], static_cast<int>(step[i])});
    curves.push_back(std::move(curve));
  }
  std::sort(curves.begin(), curves.end(),
            [](const Curve& a, const Curve& b) { return a.cycle < b.cycle; });
  return curves;
}

std::vector<std::vector<double>> read_cycle_column(const std::string& path,
                                                   const std::string& name) {
  const ArrayData data = read_array(path, "/cycles/" + name);
  if (data.dims.size() != 2) {
    throw std::runtime_error("read_cycle_column: '/cycles/" + name + "' in '" + path + "' has " +
                             std::to_string(data.dims.size()) +
                             " dimensions, expected 2 (use read_array)");
  }
  std::vector<std::vector<double>> out(data.dims[0]);
  for (std::size_t k = 0; k < data.dims[0]; ++k) {
    const auto begin = data.values.begin() + static_cast<std::ptrdiff_t>(k * data.dims[1]);
    out[k].assign(begin, begin + static_cast<std::ptrdiff_t>(data.dims[1]));
  }
  return out;
}

std::string read_string_attribute(const std::string& path, const std::string& object,
                                  const std::string& name) {
  h5::QuietErrors quiet;
  h5::File file = open_readonly(path);
  const std::string where = path + ":" + object;
  h5::Object obj = h5::open_object(file.id(), object, where);
  return h5::read_string_attribute(obj.id(), where, name);
}

double read_numeric_attribute(const std::string& path, const std::string& object,
                              const std::string& name) {
  h5::QuietErrors quiet;
  h5::File file = open_readonly(path);
  const std::string where = path + ":" + object;
  h5::Object obj = h5::open_object(file.id(), object, where);
  return h5::read_numeric_attribute(obj.id(), where, name);
}

std::vector<std::string> read_string_dataset(const std::string& path, const std::string& dataset) {
  h5::QuietErrors quiet;
  h5::File file = open_readonly(path);
  const std::string where = path + ":" + dataset;
  h5::Dataset ds = h5::open_dataset(file.id(), dataset, where);
  h5::Dataspace space = h5::dataset_space(ds);
  const auto dims = h5::extent(space);
  if (dims.size() != 1) {
    throw std::runtime_error("read_string_dataset: '" + dataset + "' in '" + path + "' is not 1-D");
  }
  h5::Datatype file_t{h5::check_id(H5Dget_type(ds.id()), "H5Dget_type", where), where};
  std::vector<std::string> out;
  if (h5::check_tri(H5Tis_variable_str(file_t.id()), "H5Tis_variable_str", where)) {
    h5::Datatype mem = h5::utf8_string_type(where);
    std::vector<char*> ptrs(dims[0], nullptr);
    h5::check(H5Dread(ds.id(), mem.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()), "H5Dread",
              where);
    for (char* p : ptrs) out.emplace_back(p != nullptr ? p : "");
    h5::check(H5Dvlen_reclaim(mem.id(), space.id(), H5P_DEFAULT, ptrs.data()), "H5Dvlen_reclaim",
              where);
  } else {
    const std::size_t size = h5::type_size(file_t);
    std::vector<char> buffer(size * dims[0]);
    h5::check(H5Dread(ds.id(), file_t.id(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()),
              "H5Dread", where);
    for (hsize_t i = 0; i < dims[0]; ++i) {
      std::string s(buffer.data() + i * size, size);
      s.resize(std::min(s.find('\0'), s.size()));
      out.push_back(s);
    }
  }
  return out;
}

std::string iso8601_utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buffer;
}

}  // namespace halite
