// The public C++ API (include/halite/halite.hpp) over the engine and the application layer:
// configurations through the YAML loader, in-memory runs through the engine's observer, file runs
// and sweeps through the CLI's own code paths, results through the HDF5 readers.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <system_error>

#include "halite/build_info.hpp"
#include "halite/halite.hpp"
#include "host/app/config.hpp"
#include "host/app/result_writer.hpp"
#include "host/app/runner.hpp"
#include "host/app/sweep.hpp"
#include "host/engine/aging_report.hpp"
#include "host/engine/simulation.hpp"

namespace halite::api {

struct Config::Impl {
  RunConfig config;
};

struct ConfigAccess {
  static Config make(RunConfig config) {
    return Config(std::make_shared<const Config::Impl>(Config::Impl{std::move(config)}));
  }
};

namespace {

// Runs `body`, turning the application's exceptions into the API's.
template <typename Body>
auto translated(Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const halite::ConfigError& e) {
    throw api::ConfigError(e.what(), e.file, e.line, e.column, e.key);
  } catch (const SweepError& e) {
    throw api::ConfigError(e.what(), e.file, e.line, e.column, "");
  } catch (const OutputExistsError& e) {
    throw OutputError(e.what());
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(e.what());
  }
}

Backend backend_of(const std::string& name) {
  Backend backend = Backend::kCpu;
  try {
    backend = parse_backend(name);
  } catch (const std::exception& e) {
    throw Error(e.what());
  }
  if (const std::string why = backend_unavailable_reason(backend); !why.empty())
    throw Error("backend " + name + ": " + why);
  return backend;
}

ColumnKind kind_of(halite::ColumnKind kind) {
  switch (kind) {
    case halite::ColumnKind::kDouble:
      return ColumnKind::kFloat;
    case halite::ColumnKind::kInt64:
      return ColumnKind::kInt;
    case halite::ColumnKind::kInt8:
      return ColumnKind::kFlag;
  }
  return ColumnKind::kFloat;
}

// A record as a row of cycle_columns().
std::vector<double> row_of(const CycleRecord& r) {
  std::vector<double> row;
  const std::size_t builtin = halite::cycle_columns().size();
  row.reserve(builtin + r.aging.size());
  for (std::size_t k = 0; k < builtin; ++k) row.push_back(cycle_column_value(r, k));
  row.insert(row.end(), r.aging.begin(), r.aging.end());
  // A record before the aging columns were filled (a failed first cycle) reads NaN there.
  row.resize(builtin + aging_column_specs().size(), NAN);
  return row;
}

std::string shortest(double value) {
  return fmt::format("{}", value);
}

std::map<std::string, std::string> provenance_map(const Provenance& p) {
  return {{"generator", p.generator},
          {"version", p.version},
          {"git_commit", p.git_commit},
          {"date", p.date},
          {"config_name", p.config_name},
          {"config_source", p.config_source},
          {"resolved_config_yaml", p.resolved_config_yaml},
          {"voltage_reference", p.voltage_reference},
          {"backend", p.backend},
          {"current_sign_convention", p.current_sign_convention},
          {"active_mass_per_area [kg.m-2]", shortest(p.active_mass_per_area)}};
}

CurveTable curve_table(const Curve& curve) {
  CurveTable t;
  t.cycle = curve.cycle;
  for (const auto& p : curve.points) {
    t.time.push_back(p.time);
    t.voltage.push_back(p.voltage);
    t.current_density.push_back(p.current_density);
    t.step.push_back(p.step);
  }
  return t;
}

// Collects a simulation's records and curves into CellResults and passes them on.
class Collector : public halite::Observer {
 public:
  Collector(std::vector<CellResult>& cells, int max_steps, api::Observer* user)
      : cells_(cells), max_steps_(max_steps), user_(user) {
    const auto columns = api::cycle_columns();
    for (auto& cell : cells_) {
      cell.cycles.columns = columns;
      cell.cycles.values.assign(columns.size(), {});
    }
  }
  void on_cycle(const std::vector<CycleRecord>& records) override {
    std::vector<std::vector<double>> rows;
    for (std::size_t c = 0; c < records.size(); ++c) {
      rows.push_back(row_of(records[c]));
      CycleTable& table = cells_[c].cycles;
      for (std::size_t k = 0; k < rows.back().size(); ++k)
        table.values[k].push_back(rows.back()[k]);
      std::vector<double> steps(static_cast<std::size_t>(max_steps_), NAN);
      std::copy_n(records[c].step_end_times.begin(),
                  std::min(records[c].step_end_times.size(), steps.size()), steps.begin());
      table.step_end_times.push_back(std::move(steps));
    }
    if (user_) user_->on_cycle(records.front().cycle, rows);
  }
  void on_curve(int cell, const Curve& curve) override {
    cells_[static_cast<std::size_t>(cell)].curves.push_back(curve_table(curve));
  }
  void on_progress(const ProgressReport& p) override {
    if (!user_) return;
    api::Progress progress;
    progress.cycle = p.cycle;
    progress.total_cycles = p.total_cycles;
    progress.elapsed_s = p.elapsed_s;
    progress.eta_s = p.eta_s;
    progress.discharge_capacity = p.discharge_capacity;
    progress.retention = p.retention;
    user_->on_progress(progress);
  }
  bool stop_requested() override { return user_ && user_->stop_requested(); }

 private:
  std::vector<CellResult>& cells_;
  int max_steps_;
  api::Observer* user_;
};

}  // namespace

std::string version() {
  return build_info::kVersion;
}
std::string git_commit() {
  return build_info::kGitCommit;
}

// ---- Config ---------------------------------------------------------------------------------

Config Config::load(const std::string& path, const std::vector<std::string>& overrides) {
  return translated([&] { return ConfigAccess::make(load_config(path, overrides)); });
}

Config Config::parse(const std::string& yaml, const std::vector<std::string>& overrides,
                     const std::string& name) {
  return translated([&] { return ConfigAccess::make(load_config_text(yaml, name, overrides)); });
}

const std::string& Config::name() const {
  return impl_->config.name;
}
const std::string& Config::source() const {
  return impl_->config.source;
}
const std::string& Config::resolved_yaml() const {
  return impl_->config.resolved_yaml;
}
int Config::total_cycles() const {
  return impl_->config.protocol.total_cycles();
}
std::string Config::voltage_reference() const {
  return to_string(impl_->config.protocol.reference);
}
double Config::active_mass_per_area() const {
  return impl_->config.loading.active_areal_mass;
}
double Config::one_c_current_density() const {
  return impl_->config.loading.one_c_current_density;
}

// ---- results --------------------------------------------------------------------------------

const std::vector<double>& CycleTable::column(const std::string& name) const {
  for (std::size_t k = 0; k < columns.size(); ++k)
    if (columns[k].name == name) return values[k];
  throw Error("no per-cycle column '" + name + "'");
}

std::vector<ColumnInfo> cycle_columns() {
  std::vector<ColumnInfo> out;
  for (const auto& c : halite::cycle_columns())
    out.push_back({c.name, c.units, c.description, kind_of(c.kind)});
  for (const auto& c : aging_column_specs())
    out.push_back({c.name, c.units, c.description, ColumnKind::kFloat});
  return out;
}

// ---- running --------------------------------------------------------------------------------

Result run(const std::vector<Config>& batch, const RunSettings& settings, Observer* observer) {
  return translated([&] {
    if (batch.empty()) throw Error("run: the batch is empty");
    const Backend backend = backend_of(settings.backend);
    std::vector<RunConfig> configs;
    for (const auto& c : batch) configs.push_back(c.impl().config);
    Simulation simulation(configs, backend);
    Result result;
    Provenance provenance = run_provenance(configs.front(), backend);
    provenance.cell_names.clear();
    result.provenance = provenance_map(provenance);
    result.cells.resize(configs.size());
    int max_steps = 1;
    for (const auto& block : configs.front().protocol.blocks)
      max_steps = std::max<int>(max_steps, static_cast<int>(block.steps.size()));
    for (std::size_t c = 0; c < configs.size(); ++c) result.cells[c].name = configs[c].name;
    Collector collector(result.cells, max_steps, observer);
    SimulationOptions options;
    options.max_cycles = settings.max_cycles;
    options.skipping = settings.skipping;
    options.skip_tolerance = settings.skip_tolerance;
    options.retries = settings.retries;
    options.backend = backend;
    const SimulationOutcome outcome = simulation.run(collector, options);
    for (std::size_t c = 0; c < configs.size(); ++c) {
      result.cells[c].status = outcome.cells[c].status;
      result.cells[c].reason = outcome.cells[c].reason;
    }
    return result;
  });
}

Result run(const Config& config, const RunSettings& settings, Observer* observer) {
  return run(std::vector<Config>{config}, settings, observer);
}

int run_to_file(const Config& config, const std::string& output, const RunSettings& settings,
                bool overwrite) {
  return translated([&] {
    std::error_code ec;
    if (!overwrite && std::filesystem::exists(std::filesystem::symlink_status(output, ec)))
      throw OutputError(OutputExistsError(output).what());
    RunOptions options;
    options.output = output;
    options.overwrite = overwrite;
    options.max_cycles = settings.max_cycles;
    options.quiet = true;
    options.no_skip = !settings.skipping;
    options.skip_tolerance = settings.skip_tolerance;
    options.retries = settings.retries;
    options.backend = backend_of(settings.backend);
    return run_job(config.impl().config, options);
  });
}

int sweep(const std::string& sweep_file, const std::string& output, const SweepSettings& settings,
          bool overwrite) {
  return translated([&] {
    std::error_code ec;
    if (!overwrite && std::filesystem::exists(std::filesystem::symlink_status(output, ec)))
      throw OutputError(OutputExistsError(output).what());
    SweepOptions options;
    options.output = output;
    options.overwrite = overwrite;
    options.max_cycles = settings.max_cycles;
    options.threads = settings.threads;
    options.no_skip = !settings.skipping;
    options.retries = settings.retries;
    options.quiet = settings.quiet;
    options.backend = backend_of(settings.backend);
    const SweepSpec spec = load_sweep(sweep_file);
    const auto cases = generate_cases(spec);
    const auto configs = resolve_cases(spec, cases);
    return run_sweep(spec, cases, configs, options);
  });
}

// ---- reading --------------------------------------------------------------------------------

Result read_result(const std::string& path) {
  try {
    Result result;
    if (read_string_attribute(path, "/", "generator") != "halite")
      throw OutputError(path + " is not a halite result file (generator is not halite)");
    for (const char* key :
         {"generator", "version", "git_commit", "date", "config_name", "config_source",
          "resolved_config_yaml", "voltage_reference", "current_sign_convention"})
      result.provenance[key] = read_string_attribute(path, "/", key);
    try {
      result.provenance["backend"] = read_string_attribute(path, "/", "backend");
    } catch (const std::exception&) {
      result.provenance["backend"] = "cpu";  // files from before the attribute
    }
    result.provenance["active_mass_per_area [kg.m-2]"] =
        shortest(read_numeric_attribute(path, "/", "active_mass_per_area [kg.m-2]"));

    const auto names = read_string_dataset(path, "/cells/name");
    const auto status = read_string_dataset(path, "/cells/status");
    const auto reason = read_string_dataset(path, "/cells/failure reason");
    const auto written =
        static_cast<std::size_t>(read_numeric_attribute(path, "/cycles", "cycles_written"));
    const auto present = list_group(path, "/cycles");
    auto has = [&](const std::string& name) {
      return std::find(present.begin(), present.end(), name) != present.end();
    };
    std::vector<ColumnInfo> columns;
    std::vector<std::vector<std::vector<double>>> data;  // [column][cell][cycle]
    for (const auto& c : api::cycle_columns()) {
      if (!has(c.name)) continue;
      columns.push_back(c);
      data.push_back(read_cycle_column(path, c.name));
    }
    const ArrayData steps = read_array(path, "/cycles/Step end times [s]");
    const std::size_t max_steps = steps.dims.size() == 3 ? steps.dims[2] : 0;
    const std::size_t width = steps.dims.size() == 3 ? steps.dims[1] : 0;
    result.cells.resize(names.size());
    for (std::size_t k = 0; k < names.size(); ++k) {
      CellResult& cell = result.cells[k];
      cell.name = names[k];
      cell.status = k < status.size() ? status[k] : "";
      cell.reason = k < reason.size() ? reason[k] : "";
      cell.cycles.columns = columns;
      for (auto& column : data) {
        std::vector<double> values = column[k];
        values.resize(std::min(values.size(), written));
        cell.cycles.values.push_back(std::move(values));
      }
      const std::size_t cycles = std::min(written, width);
      for (std::size_t c = 0; c < cycles; ++c) {
        const auto begin =
            steps.values.begin() + static_cast<std::ptrdiff_t>((k * width + c) * max_steps);
        cell.cycles.step_end_times.emplace_back(begin,
                                                begin + static_cast<std::ptrdiff_t>(max_steps));
      }
      for (const auto& curve : read_curves(path, static_cast<int>(k)))
        cell.curves.push_back(curve_table(curve));
    }
    return result;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw OutputError("cannot read " + path + ": " + e.what());
  }
}

}  // namespace halite::api
