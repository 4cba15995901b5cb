#include "host/app/validate.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "halite/build_info.hpp"
#include "halite/reference_data.hpp"
#include "host/app/result_writer.hpp"
#include "host/app/run_guards.hpp"
#include "host/app/runner.hpp"
#include "host/app/units.hpp"
#include "host/app/yaml_input.hpp"
#include "host/app/yaml_limits.hpp"
#include "host/engine/aging_report.hpp"
#include "host/engine/results.hpp"
#include "host/engine/simulation.hpp"

namespace halite {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr const char* kEmbeddedData = "<embedded reference data>";

// ---- what can be compared -----------------------------------------------------------------------

// A quantity a dataset can name: the /cycles column it is read from, its dimension (for the
// units of the measured values) and the unit the tables show it in.
struct Quantity {
  std::string_view name;
  std::string_view column;  // "" = retention (derived: discharge / discharge of cycle 1)
  units::Dimension dimension;
  std::string_view display_unit;
};
constexpr Quantity kQuantities[] = {
    {"discharge_capacity", "Discharge capacity [mA.h.g-1]", units::Dimension::kSpecificCapacity,
     "mAh/g"},
    {"charge_capacity", "Charge capacity [mA.h.g-1]", units::Dimension::kSpecificCapacity, "mAh/g"},
    {"coulombic_efficiency", "Coulombic efficiency", units::Dimension::kDimensionless, "%"},
    {"retention", "", units::Dimension::kDimensionless, "%"},
    {"mean_rsp_fraction", "Mean RSP fraction", units::Dimension::kDimensionless, ""},
    {"transition_layer_thickness", "Mean transition layer thickness [m]", units::Dimension::kLength,
     "um"},
    {"max_crack_length", "Max crack length [m]", units::Dimension::kLength, "um"},
    {"rsp_lithium_on_discharge", "RSP lithium taken up on discharge [mA.h.g-1]",
     units::Dimension::kSpecificCapacity, "mAh/g"},
};

const Quantity* find_quantity(std::string_view name) {
  for (const Quantity& q : kQuantities)
    if (q.name == name) return &q;
  return nullptr;
}

std::string quantity_names() {
  std::string out;
  for (const Quantity& q : kQuantities) out += (out.empty() ? "" : ", ") + std::string(q.name);
  return out;
}

// canonical value -> display unit
double to_display(double canonical, const Quantity& q) {
  if (q.display_unit.empty()) return canonical;
  return units::from_canonical(canonical, *units::find_unit(q.display_unit, q.dimension));
}

// ---- errors with a place ------------------------------------------------------------------------

[[noreturn]] void fail_at(const std::string& file, int line, int column, const std::string& key,
                          const std::string& message) {
  throw ConfigError(file, line, column, key, message);
}
[[noreturn]] void fail_at(const std::string& file, const YAML::Node& node, const std::string& key,
                          const std::string& message) {
  fail_at_node(file, node, key, message);
}

// ---- the files a DATA.yaml names ----------------------------------------------------------------

// DATA.yaml and the files it names, from the disk (relative to DATA.yaml) or compiled in.
class DataFiles {
 public:
  explicit DataFiles(const std::string& data_path) : path_(data_path) {
    if (!data_path.empty()) base_ = std::filesystem::path(data_path).parent_path();
  }
  bool embedded() const { return path_.empty(); }
  std::string data_name() const { return embedded() ? kEmbeddedData : path_; }
  // How a file named in DATA.yaml is called in messages (and opened).
  std::string resolve(const std::string& relative) const {
    if (embedded()) return relative;
    const std::filesystem::path p(relative);
    return (p.is_absolute() ? p : base_ / p).lexically_normal().string();
  }
  std::string read_data() const {
    if (embedded()) return embedded_text("reference_cell.yaml");
    return read_file(path_, path_, 0, 0, "");
  }
  // A file named at (line, column) of DATA.yaml by `key`.
  std::string read(const std::string& relative, const YAML::Node& at,
                   const std::string& key) const {
    if (embedded()) return embedded_text(relative);
    const YAML::Mark m = at.Mark();
    return read_file(resolve(relative), data_name(), m.line + 1, m.column + 1, key);
  }

 private:
  static std::string embedded_text(const std::string& name) {
    for (const auto& file : build_info::kReferenceDataFiles)
      if (name == file.name) return file.text;
    throw std::logic_error("no embedded reference data file " + name);
  }
  static std::string read_file(const std::string& path, const std::string& cited, int line,
                               int column, const std::string& key) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
      fail_at(cited, line, column, key,
              fmt::format("'{}' is not a readable file{}", path,
                          std::filesystem::exists(path, ec) ? "" : " (no such file)"));
    if (std::filesystem::file_size(path, ec) > kMaxConfigBytes * 16)
      fail_at(cited, line, column, key, fmt::format("'{}' is larger than 16 MiB", path));
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) fail_at(cited, line, column, key, fmt::format("cannot read '{}'", path));
    return text.str();
  }
  std::string path_;
  std::filesystem::path base_;
};

// ---- CSV ----------------------------------------------------------------------------------------

// A CSV table: the header's column names and the data rows, each field with its place. Lines that
// are empty or start with '#' are comments. Fields are split at commas (double quotes protect
// commas); a row with more fields than the header has its extra fields joined into the last
// column (a free-text note may contain commas).
struct CsvField {
  std::string text;
  int column = 1;  // 1-based character column
};
struct CsvRow {
  int line = 0;
  std::vector<CsvField> fields;
};
struct CsvTable {
  std::string file;
  int header_line = 0;
  std::vector<CsvField> header;
  std::vector<CsvRow> rows;
  // Index of the header column `name`, or -1.
  int index_of(std::string_view name) const {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i].text == name) return static_cast<int>(i);
    return -1;
  }
  std::string header_names() const {
    std::string out;
    for (const auto& h : header) out += (out.empty() ? "'" : ", '") + h.text + "'";
    return out;
  }
};

std::string trimmed(std::string_view s) {
  const auto begin = s.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) return "";
  const auto end = s.find_last_not_of(" \t\r");
  return std::string(s.substr(begin, end - begin + 1));
}

std::vector<CsvField> split_csv_line(std::string_view line) {
  std::vector<CsvField> fields;
  std::string current;
  int start = 1;
  bool quoted = false;
  for (std::size_t i = 0; i <= line.size(); ++i) {
    const char c = i < line.size() ? line[i] : ',';
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        current += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        current += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      // the field's column: its first non-blank character
      const std::string raw = current;
      const auto lead = raw.find_first_not_of(" \t");
      fields.push_back(
          {trimmed(raw), start + static_cast<int>(lead == std::string::npos ? 0 : lead)});
      current.clear();
      start = static_cast<int>(i) + 2;
    } else {
      current += c;
    }
  }
  return fields;
}

CsvTable parse_csv(const std::string& text, const std::string& file) {
  CsvTable table;
  table.file = file;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const std::string content = trimmed(line);
    if (content.empty() || content[0] == '#') continue;
    auto fields = split_csv_line(line);
    if (table.header.empty()) {
      table.header_line = number;
      for (const auto& f : fields) {
        if (f.text.empty())
          fail_at(file, number, f.column, "", "an empty column name in the header");
        for (const auto& g : table.header)
          if (g.text == f.text)
            fail_at(file, number, f.column, "", fmt::format("column '{}' appears twice", f.text));
        table.header.push_back(f);
      }
      continue;
    }
    if (fields.size() < table.header.size())
      fail_at(file, number, static_cast<int>(line.size()) + 1, "",
              fmt::format("{} field(s), the header has {} ({})", fields.size(), table.header.size(),
                          table.header_names()));
    if (fields.size() > table.header.size()) {
      CsvField& last = fields[table.header.size() - 1];
      last.text = trimmed(std::string_view(line).substr(static_cast<std::size_t>(last.column - 1)));
      fields.resize(table.header.size());
    }
    table.rows.push_back({number, std::move(fields)});
  }
  if (table.header.empty()) fail_at(file, number > 0 ? number : 1, 1, "", "no header line");
  return table;
}

double field_number(const CsvTable& t, const CsvRow& row, int column, const std::string& what) {
  const CsvField& f = row.fields[static_cast<std::size_t>(column)];
  const auto value = units::parse_number(f.text);
  if (!value)
    fail_at(t.file, row.line, f.column, t.header[static_cast<std::size_t>(column)].text,
            fmt::format("'{}' is not a number ({})", f.text, what));
  return *value;
}

int field_cycle(const CsvTable& t, const CsvRow& row, int column) {
  const double v = field_number(t, row, column, "a cycle number");
  const CsvField& f = row.fields[static_cast<std::size_t>(column)];
  if (v < 1 || v > 1e7 || v != std::floor(v))
    fail_at(t.file, row.line, f.column, t.header[static_cast<std::size_t>(column)].text,
            fmt::format("cycle '{}' is not a whole number from 1 to 10^7", f.text));
  return static_cast<int>(v);
}

// A measured value with its unit, converted to the quantity's canonical unit (exactly: no
// detour through text). A dimensionless value may have no unit or "%".
double measured_canonical(const std::string& file, int line, int column, const std::string& key,
                          double value, const std::string& unit, const Quantity& q) {
  if (unit.empty() && q.dimension == units::Dimension::kDimensionless) return value;
  const units::Unit* u = unit.empty() ? nullptr : units::find_unit(unit, q.dimension);
  if (u == nullptr) {
    const units::Unit* other = unit.empty() ? nullptr : units::find_unit(unit);
    fail_at(
        file, line, column, key,
        fmt::format("unit '{}' for {}: {}; a {} needs one of: {}", unit, q.name,
                    unit.empty() ? "no unit"
                    : other ? fmt::format("that is a {}", units::dimension_name(other->dimension))
                            : "not a unit halite knows",
                    units::dimension_name(q.dimension), units::accepted_units(q.dimension)));
  }
  return units::to_canonical(value, *u);
}

// ---- DATA.yaml ----------------------------------------------------------------------------------

std::string scalar(const std::string& file, const YAML::Node& map, const std::string& key,
                   const std::string& where, bool required, const std::string& fallback = "") {
  const YAML::Node node = map[key];
  if (!node) {
    if (required) fail_at(file, map, where, fmt::format("missing '{}'", key));
    return fallback;
  }
  if (!node.IsScalar())
    fail_at(file, node, where + "." + key, fmt::format("'{}' must be a single value", key));
  return node.Scalar();
}

struct DatasetContext {
  std::vector<std::string> overrides;  // --set, then the dataset's set and protocol
};

// The configuration a dataset runs: CONFIG with the command's and the dataset's overrides.
RunConfig dataset_config(const std::string& config_path, const std::vector<std::string>& overrides,
                         const std::string& file, const YAML::Node& at, const std::string& key) {
  try {
    return load_config(config_path, overrides);
  } catch (const ConfigError& e) {
    if (e.file != "--set") throw;
    fail_at(file, at, key, std::string("this dataset's configuration: ") + e.what());
  }
}

}  // namespace

ValidationPlan load_validation(const ValidateOptions& options) {
  const DataFiles files(options.data);
  const std::string file = files.data_name();
  const std::string text = files.read_data();
  if (text.size() > kMaxConfigBytes)
    fail_at(file, 1, 1, "", fmt::format("larger than {} MiB", kMaxConfigBytes >> 20));
  YAML::Node root;
  try {
    reject_yaml_cpp_hang(text);
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail_at(file, e.mark.line + 1, e.mark.column + 1, "", "malformed YAML: " + e.msg);
  }
  if (const auto bad = check_yaml_limits(root))
    fail_at(file, bad->mark.line + 1, bad->mark.column + 1, "",
            "YAML too large or self-referencing: " + bad->what);
  if (!root.IsMap())
    fail_at(file, 1, 1, "", "the top level must be a map (name, config, datasets)");
  allow_keys(file, root, "", {"name", "config", "datasets"});

  ValidationPlan plan;
  plan.data_source = file;
  plan.name = scalar(file, root, "name", "", false, "validation");
  // CONFIG from the command line, else the data file's, else the embedded reference.
  std::string config_path = options.config;
  if (config_path.empty() && root["config"])
    config_path = files.embedded() ? "" : files.resolve(scalar(file, root, "config", "", true));
  if (!config_path.empty() && root["config"] && options.config.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(config_path, ec))
      fail_at(file, root["config"], "config", fmt::format("no such file '{}'", config_path));
  }

  const YAML::Node datasets = root["datasets"];
  if (!datasets) fail_at(file, root, "", "missing 'datasets' (a list of measured datasets)");
  if (!datasets.IsSequence() || datasets.size() == 0)
    fail_at(file, datasets, "datasets", "'datasets' must be a non-empty list");

  std::map<std::string, int> run_of_config;  // resolved YAML -> run index
  std::set<std::string> names;
  for (std::size_t d = 0; d < datasets.size(); ++d) {
    const YAML::Node ds = datasets[d];
    const std::string where = fmt::format("datasets[{}]", d);
    if (!ds.IsMap()) fail_at(file, ds, where, "a dataset must be a map (name, file, type, ...)");
    allow_keys(
        file, ds, where,
        {"name", "file", "type", "set", "protocol", "cycle_column", "columns", "only_cycles",
         "cycle", "direction", "capacity_column", "voltage_column", "capacity_unit", "band"});
    const std::string name = scalar(file, ds, "name", where, true);
    if (!names.insert(name).second)
      fail_at(file, ds["name"], where + ".name", fmt::format("a second dataset named '{}'", name));
    plan.dataset_names.push_back(name);
    if (std::find(options.skip_datasets.begin(), options.skip_datasets.end(), name) !=
        options.skip_datasets.end())
      continue;
    const std::string type = scalar(file, ds, "type", where, true);
    if (type != "cycles" && type != "points" && type != "curve")
      fail_at(file, ds["type"], where + ".type",
              fmt::format("type '{}': one of 'cycles' (per-cycle values), 'points' (a quantity at "
                          "a cycle with its band, per row) or 'curve' (voltage vs capacity at a "
                          "cycle)",
                          type));
    const std::string csv_name = scalar(file, ds, "file", where, true);
    const std::string csv_path = files.resolve(csv_name);
    const CsvTable csv = parse_csv(files.read(csv_name, ds["file"], where + ".file"), csv_path);

    // the dataset's configuration: the command's overrides, then its own, then its protocol
    std::vector<std::string> overrides = options.overrides;
    if (const YAML::Node set = ds["set"]) {
      if (!set.IsSequence())
        fail_at(file, set, where + ".set", "'set' must be a list of KEY=VALUE");
      for (const auto& s : set) {
        if (!s.IsScalar()) fail_at(file, s, where + ".set", "each 'set' entry is one KEY=VALUE");
        overrides.push_back(s.Scalar());
      }
    }
    // the protocol's keys replace CONFIG's one by one (blocks, ...), like --set protocol.KEY=
    if (const YAML::Node protocol = ds["protocol"]) {
      if (!protocol.IsMap())
        fail_at(file, protocol, where + ".protocol", "'protocol' must be a map (blocks, ...)");
      for (const auto& entry : protocol) {
        YAML::Emitter flow;
        flow.SetMapFormat(YAML::Flow);
        flow.SetSeqFormat(YAML::Flow);
        flow << entry.second;
        overrides.push_back("protocol." + entry.first.Scalar() + "=" + flow.c_str());
      }
    }
    RunConfig config = dataset_config(config_path, overrides, file, ds, where);
    const int protocol_cycles = config.protocol.total_cycles();
    auto [it, fresh] =
        run_of_config.emplace(config.resolved_yaml, static_cast<int>(plan.runs.size()));
    if (fresh)
      plan.runs.push_back({std::move(config), name, 0, {}});
    else
      plan.runs[static_cast<std::size_t>(it->second)].label += ", " + name;
    const int run = it->second;
    ValidationRun& target = plan.runs[static_cast<std::size_t>(run)];

    auto add_point = [&](MeasuredPoint p, const CsvRow& row, int cycle_field) {
      if (p.cycle > protocol_cycles)
        fail_at(csv.file, row.line, row.fields[static_cast<std::size_t>(cycle_field)].column,
                csv.header[static_cast<std::size_t>(cycle_field)].text,
                fmt::format("cycle {} is beyond the {} cycle(s) of this dataset's protocol",
                            p.cycle, protocol_cycles));
      p.dataset = name;
      p.run = run;
      p.source = fmt::format("{}:{}", csv.file, row.line);
      target.cycles = std::max(target.cycles, p.cycle);
      plan.points.push_back(std::move(p));
    };

    if (type == "cycles") {
      const std::string cycle_column = scalar(file, ds, "cycle_column", where, false, "cycle");
      const int cycle_index = csv.index_of(cycle_column);
      if (cycle_index < 0)
        fail_at(csv.file, csv.header_line, 1, "",
                fmt::format("no column '{}' (the cycle numbers; 'cycle_column' names another); "
                            "columns: {}",
                            cycle_column, csv.header_names()));
      const YAML::Node columns = ds["columns"];
      if (!columns || !columns.IsMap() || columns.size() == 0)
        fail_at(file, columns ? columns : ds, where + ".columns",
                "'columns' must map CSV columns to {quantity, unit, band or relative_band}");
      struct Column {
        int index;
        const Quantity* quantity;
        std::string unit;
        double band = NAN, relative_band = NAN;  // band in canonical units
      };
      std::vector<Column> wanted;
      for (const auto& entry : columns) {
        const std::string column = entry.first.Scalar();
        const std::string key = where + ".columns." + column;
        const int index = csv.index_of(column);
        if (index < 0)
          fail_at(file, entry.first, key,
                  fmt::format("'{}' has no column '{}'; its columns: {}", csv.file, column,
                              csv.header_names()));
        const YAML::Node spec = entry.second;
        if (!spec.IsMap())
          fail_at(file, spec, key, "a map: {quantity, unit, band or relative_band}");
        allow_keys(file, spec, key, {"quantity", "unit", "band", "relative_band"});
        const std::string qname = scalar(file, spec, "quantity", key, true);
        const Quantity* q = find_quantity(qname);
        if (!q)
          fail_at(file, spec["quantity"], key + ".quantity",
                  fmt::format("unknown quantity '{}'; known: {}", qname, quantity_names()));
        Column c{index, q, scalar(file, spec, "unit", key, false, "")};
        if (spec["band"]) {
          try {
            c.band = units::parse_quantity(scalar(file, spec, "band", key, true), q->dimension);
          } catch (const units::UnitError& e) {
            fail_at(file, spec["band"], key + ".band", e.what());
          }
        }
        if (spec["relative_band"]) {
          try {
            c.relative_band = units::parse_quantity(scalar(file, spec, "relative_band", key, true),
                                                    units::Dimension::kDimensionless);
          } catch (const units::UnitError& e) {
            fail_at(file, spec["relative_band"], key + ".relative_band", e.what());
          }
        }
        if (std::isnan(c.band) == std::isnan(c.relative_band))
          fail_at(file, spec, key,
                  "give one of 'band' (+- in the quantity's unit) or "
                  "'relative_band' (+- a fraction of the value, e.g. 10 %)");
        if (!(c.band >= 0 || c.relative_band >= 0))
          fail_at(file, spec, key, "a band must not be negative");
        wanted.push_back(c);
      }
      // only_cycles: the rows of these cycles (e.g. the first cycle of a fade for a fresh-cell
      // fit, without running the whole protocol)
      std::set<int> only;
      if (const YAML::Node o = ds["only_cycles"]) {
        if (!o.IsSequence() || o.size() == 0)
          fail_at(file, o, where + ".only_cycles", "a non-empty list of cycle numbers");
        for (const auto& c : o) {
          const auto v = units::parse_number(c.IsScalar() ? c.Scalar() : "");
          if (!v || *v < 1 || *v != std::floor(*v))
            fail_at(file, c, where + ".only_cycles", "a cycle number (1, 2, ...)");
          only.insert(static_cast<int>(*v));
        }
      }
      int last_cycle = 0;
      for (const CsvRow& row : csv.rows) {
        const int cycle = field_cycle(csv, row, cycle_index);
        if (cycle <= last_cycle)
          fail_at(
              csv.file, row.line, row.fields[static_cast<std::size_t>(cycle_index)].column,
              cycle_column,
              fmt::format("cycle {} after cycle {}: the cycles must increase", cycle, last_cycle));
        last_cycle = cycle;
        if (!only.empty() && only.count(cycle) == 0) continue;
        for (const Column& c : wanted) {
          const CsvField& f = row.fields[static_cast<std::size_t>(c.index)];
          if (f.text.empty()) continue;  // not measured at this cycle
          const std::string column = csv.header[static_cast<std::size_t>(c.index)].text;
          const double value = field_number(csv, row, c.index, std::string(c.quantity->name));
          const double canonical =
              measured_canonical(csv.file, row.line, f.column, column, value, c.unit, *c.quantity);
          const double half = std::isnan(c.band) ? c.relative_band * std::abs(canonical) : c.band;
          MeasuredPoint p;
          p.quantity = c.quantity->name;
          p.unit = c.quantity->display_unit;
          p.cycle = cycle;
          p.measured = to_display(canonical, *c.quantity);
          p.lower = to_display(canonical - half, *c.quantity);
          p.upper = to_display(canonical + half, *c.quantity);
          add_point(std::move(p), row, cycle_index);
        }
      }
    } else if (type == "points") {
      for (auto k : {"cycle_column", "columns", "cycle", "direction", "capacity_column",
                     "voltage_column", "capacity_unit", "band"})
        if (ds[k])
          fail_at(file, ds[k], where + "." + k,
                  fmt::format("'{}' is not a key of a points dataset (each row carries its "
                              "quantity, cycle, value, unit, lower, upper)",
                              k));
      int col[6];
      const char* required[] = {"quantity", "cycle", "value", "unit", "lower", "upper"};
      for (int k = 0; k < 6; ++k) {
        col[k] = csv.index_of(required[k]);
        if (col[k] < 0)
          fail_at(csv.file, csv.header_line, 1, "",
                  fmt::format("a points file needs the columns quantity, cycle, value, unit, "
                              "lower, upper (and may have more); '{}' is missing; columns: {}",
                              required[k], csv.header_names()));
      }
      for (const CsvRow& row : csv.rows) {
        const CsvField& qf = row.fields[static_cast<std::size_t>(col[0])];
        const Quantity* q = find_quantity(qf.text);
        if (!q)
          fail_at(csv.file, row.line, qf.column, "quantity",
                  fmt::format("unknown quantity '{}'; known: {}", qf.text, quantity_names()));
        const int cycle = field_cycle(csv, row, col[1]);
        const std::string unit = row.fields[static_cast<std::size_t>(col[3])].text;
        auto value_of = [&](int c, double open) {
          const CsvField& f = row.fields[static_cast<std::size_t>(c)];
          if (f.text.empty()) return open;
          const double v = field_number(csv, row, c, std::string(q->name));
          return to_display(
              measured_canonical(csv.file, row.line, f.column,
                                 csv.header[static_cast<std::size_t>(c)].text, v, unit, *q),
              *q);
        };
        MeasuredPoint p;
        p.quantity = q->name;
        p.unit = q->display_unit;
        p.cycle = cycle;
        p.measured = value_of(col[2], NAN);
        if (std::isnan(p.measured))
          fail_at(csv.file, row.line, row.fields[static_cast<std::size_t>(col[2])].column, "value",
                  "no value");
        p.lower = value_of(col[4], -kInf);
        p.upper = value_of(col[5], kInf);
        if (std::isinf(p.lower) && std::isinf(p.upper))
          fail_at(csv.file, row.line, row.fields[static_cast<std::size_t>(col[4])].column, "lower",
                  "no band: give 'lower', 'upper' or both");
        if (p.lower > p.upper)
          fail_at(csv.file, row.line, row.fields[static_cast<std::size_t>(col[4])].column, "lower",
                  "'lower' is above 'upper'");
        add_point(std::move(p), row, col[1]);
      }
    } else {  // curve
      for (auto k : {"cycle_column", "columns"})
        if (ds[k])
          fail_at(file, ds[k], where + "." + k,
                  fmt::format("'{}' is not a key of a curve dataset", k));
      const YAML::Node cycle_node = ds["cycle"];
      if (!cycle_node)
        fail_at(file, ds, where, "missing 'cycle' (the cycle the curve was measured in)");
      const auto cycle = units::parse_number(cycle_node.IsScalar() ? cycle_node.Scalar() : "");
      if (!cycle || *cycle < 1 || *cycle != std::floor(*cycle) || *cycle > protocol_cycles)
        fail_at(file, cycle_node, where + ".cycle",
                fmt::format("'cycle' must be a cycle of the protocol (1 to {})", protocol_cycles));
      const std::string direction = scalar(file, ds, "direction", where, false, "discharge");
      if (direction != "discharge" && direction != "charge")
        fail_at(file, ds["direction"], where + ".direction", "'discharge' or 'charge'");
      const std::string qcol = scalar(file, ds, "capacity_column", where, false, "capacity");
      const std::string vcol = scalar(file, ds, "voltage_column", where, false, "voltage");
      const int qi = csv.index_of(qcol), vi = csv.index_of(vcol);
      if (qi < 0 || vi < 0)
        fail_at(file,
                ds[qi < 0 ? "capacity_column" : "voltage_column"]
                    ? ds[qi < 0 ? "capacity_column" : "voltage_column"]
                    : ds,
                where,
                fmt::format("'{}' has no column '{}'; its columns: {}", csv.file,
                            qi < 0 ? qcol : vcol, csv.header_names()));
      const std::string qunit = scalar(file, ds, "capacity_unit", where, false, "mAh/g");
      const Quantity* capacity = find_quantity("discharge_capacity");
      double band = NAN;
      try {
        band = units::parse_quantity(scalar(file, ds, "band", where, true),
                                     units::Dimension::kVoltage);
      } catch (const units::UnitError& e) {
        fail_at(file, ds["band"], where + ".band", e.what());
      }
      MeasuredPoint p;
      p.quantity = "voltage_rms";
      p.unit = "mV";
      p.cycle = static_cast<int>(*cycle);
      p.direction = direction;
      p.measured = 0;
      p.lower = 0;
      p.upper = band * 1e3;
      double last_q = -kInf;
      for (const CsvRow& row : csv.rows) {
        const double qv = field_number(csv, row, qi, "a capacity");
        const double vv = field_number(csv, row, vi, "a voltage in V");
        const double qc =
            measured_canonical(csv.file, row.line, row.fields[static_cast<std::size_t>(qi)].column,
                               qcol, qv, qunit, *capacity);
        if (qc <= last_q)
          fail_at(csv.file, row.line, row.fields[static_cast<std::size_t>(qi)].column, qcol,
                  "the capacities must increase along the curve");
        last_q = qc;
        p.curve_capacity.push_back(qc);
        p.curve_voltage.push_back(vv);
      }
      if (p.curve_capacity.size() < 2)
        fail_at(csv.file, csv.header_line, 1, "", "a curve needs at least two points");
      target.curve_cycles.push_back(p.cycle);
      CsvRow first = csv.rows.front();
      add_point(std::move(p), first, qi);
    }
  }
  if (plan.points.empty())
    fail_at(file, datasets, "datasets", "no measured value to compare (every dataset skipped?)");
  return plan;
}

namespace {

// ---- running ------------------------------------------------------------------------------------

class Collector : public Observer {
 public:
  explicit Collector(RunResult& out) : out_(out) {}
  void on_cycle(const std::vector<CycleRecord>& records) override {
    out_.records.push_back(records.front());
  }
  void on_curve(int cell, const Curve& curve) override {
    if (cell == 0) out_.curves[curve.cycle] = curve;
  }
  bool stop_requested() override { return stop_signal() != 0; }

 private:
  RunResult& out_;
};

RunResult simulate_run(const ValidationRun& run, Backend backend) {
  RunResult result;
  try {
    RunConfig config = run.config;
    // the curves a curve dataset compares (the table of the run is unchanged by this)
    std::set<int> wanted(config.output.curve_cycles.begin(), config.output.curve_cycles.end());
    wanted.insert(run.curve_cycles.begin(), run.curve_cycles.end());
    if (!run.curve_cycles.empty()) {
      if (config.output.curve_cycles.empty()) wanted.insert(1);  // keep the default's first
      config.output.curve_cycles.assign(wanted.begin(), wanted.end());
    }
    Simulation simulation(config, backend);
    Collector collector(result);
    SimulationOptions options;
    options.max_cycles = run.cycles;
    options.backend = backend;
    const SimulationOutcome outcome = simulation.run(collector, options);
    result.outcome = outcome.cells.front();
  } catch (const std::exception& e) {
    result.error = e.what();
    result.outcome.status = "failed";
    result.outcome.reason = e.what();
  }
  return result;
}

}  // namespace

std::vector<RunResult> simulate_runs(const ValidationPlan& plan, int threads, Backend backend,
                                     const std::string& progress_prefix) {
  std::vector<RunResult> results(plan.runs.size());
  threads =
      std::max(1, threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency()));
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t k; (k = next.fetch_add(1)) < plan.runs.size();) {
      const auto start = std::chrono::steady_clock::now();
      results[k] = simulate_run(plan.runs[k], backend);
      if (!progress_prefix.empty())
        fmt::print(stderr, "{}: run {} ({}): {} cycle(s), {} in {:.1f} s\n", progress_prefix, k,
                   plan.runs[k].label, results[k].records.size(), results[k].outcome.status,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  };
  const int workers = std::min<int>(threads, static_cast<int>(plan.runs.size()));
  if (workers <= 1) {
    work();
  } else {
    std::vector<std::thread> pool;
    for (int t = 0; t < workers; ++t) pool.emplace_back(work);
    for (auto& t : pool) t.join();
  }
  return results;
}

namespace {

// The value of a /cycles column (built-in or aging) of a record.
double column_value(const CycleRecord& r, std::string_view column) {
  const auto builtin = cycle_columns();
  for (std::size_t k = 0; k < builtin.size(); ++k)
    if (builtin[k].name == column) return cycle_column_value(r, k);
  const auto& aging = aging_column_specs();
  for (std::size_t k = 0; k < aging.size(); ++k)
    if (aging[k].name == column) return k < r.aging.size() ? r.aging[k] : NAN;
  throw std::logic_error(fmt::format("no column '{}'", column));
}

// RMS difference (V) between a measured curve and the simulated one of `cycle`, at the measured
// capacities; NaN when the simulated curve does not reach the measured capacities.
double curve_rms(const MeasuredPoint& p, const Curve& curve, double active_mass_per_area,
                 double* max_error) {
  // the capacity moved in the direction's steps (mAh/g), from the start of the first such step
  const double sign = p.direction == "discharge" ? 1.0 : -1.0;
  std::vector<double> q, v;
  double moved = 0;
  for (std::size_t i = 0; i < curve.points.size(); ++i) {
    const auto& pt = curve.points[i];
    const bool in_direction = sign * pt.current_density > 0;
    if (i > 0 && in_direction) {
      const auto& prev = curve.points[i - 1];
      if (sign * prev.current_density > 0)
        moved += 0.5 * sign * (pt.current_density + prev.current_density) * (pt.time - prev.time);
    }
    if (in_direction) {
      q.push_back(moved / active_mass_per_area / 3600.0);  // C/m^2 / (kg/m^2) -> mAh/g
      v.push_back(pt.voltage);
    }
  }
  double sum = 0, worst = 0;
  for (std::size_t k = 0; k < p.curve_capacity.size(); ++k) {
    const double x = p.curve_capacity[k];
    const auto hi = std::lower_bound(q.begin(), q.end(), x);
    if (q.empty() || hi == q.end() || x < q.front()) return NAN;
    const std::size_t j = static_cast<std::size_t>(hi - q.begin());
    double sim = v[j];
    if (j > 0 && q[j] > q[j - 1])
      sim = v[j - 1] + (v[j] - v[j - 1]) * (x - q[j - 1]) / (q[j] - q[j - 1]);
    const double d = sim - p.curve_voltage[k];
    sum += d * d;
    worst = std::max(worst, std::abs(d));
  }
  if (max_error) *max_error = worst;
  return std::sqrt(sum / static_cast<double>(p.curve_capacity.size()));
}

std::string shell_quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string shown(double v, const std::string& unit) {
  if (std::isinf(v)) return v > 0 ? "+inf" : "-inf";
  if (std::isnan(v)) return "-";
  return fmt::format("{:.4g}{}{}", v, unit.empty() || unit == "%" ? "" : " ", unit);
}

}  // namespace

Comparison compare_points(const ValidationPlan& plan, const std::vector<RunResult>& results) {
  Comparison c;
  c.simulated.assign(plan.points.size(), NAN);
  c.passed.assign(plan.points.size(), 0);
  c.notes.resize(plan.points.size());
  for (std::size_t i = 0; i < plan.points.size(); ++i) {
    const MeasuredPoint& p = plan.points[i];
    const RunResult& r = results[static_cast<std::size_t>(p.run)];
    const int n = static_cast<int>(r.records.size());
    if (p.quantity == "voltage_rms") {
      const auto curve = r.curves.find(p.cycle);
      if (curve == r.curves.end()) {
        c.notes[i] = "no simulated curve at this cycle";
      } else {
        double worst = NAN;
        const double rms = curve_rms(
            p, curve->second,
            plan.runs[static_cast<std::size_t>(p.run)].config.loading.active_areal_mass, &worst);
        c.simulated[i] = rms * 1e3;
        c.notes[i] = std::isnan(rms) ? "the simulated curve ends before the measured one"
                                     : fmt::format("max |dV| {:.1f} mV", worst * 1e3);
      }
    } else if (p.cycle <= n && !r.records[static_cast<std::size_t>(p.cycle - 1)].failed) {
      const Quantity& q = *find_quantity(p.quantity);
      const CycleRecord& rec = r.records[static_cast<std::size_t>(p.cycle - 1)];
      double canonical = 0;
      if (q.column.empty()) {
        const double first = column_value(r.records.front(), "Discharge capacity [mA.h.g-1]");
        canonical = column_value(rec, "Discharge capacity [mA.h.g-1]") / first;
      } else {
        canonical = column_value(rec, q.column);
      }
      c.simulated[i] = to_display(canonical, q);
    } else {
      c.notes[i] = fmt::format("the run stopped at cycle {}: {}", n, r.outcome.reason);
    }
    if (r.outcome.status == "failed") c.any_failed_run = true;
    c.passed[i] = c.simulated[i] >= p.lower && c.simulated[i] <= p.upper;
  }
  c.passed_count = std::count(c.passed.begin(), c.passed.end(), 1);
  return c;
}

void print_comparison(const ValidationPlan& plan, const Comparison& c, std::FILE* out) {
  fmt::print(out, "# halite validate: {} ({})\n\n", plan.name, plan.data_source);
  fmt::print(out, "| dataset | quantity | cycle | measured | simulated | band | status |\n");
  fmt::print(out, "|---|---|---|---|---|---|---|\n");
  for (std::size_t i = 0; i < plan.points.size(); ++i) {
    const MeasuredPoint& p = plan.points[i];
    fmt::print(out, "| {} | {} | {} | {} | {} | {} to {} | {}{} |\n", p.dataset, p.quantity,
               p.cycle, p.quantity == "voltage_rms" ? "-" : shown(p.measured, p.unit),
               shown(c.simulated[i], p.unit), shown(p.lower, p.unit), shown(p.upper, p.unit),
               c.passed[i] ? "PASS" : "FAIL", c.notes[i].empty() ? "" : " (" + c.notes[i] + ")");
  }
  fmt::print(out, "\n{} of {} inside their bands\n", c.passed_count, plan.points.size());
}

std::unique_ptr<ResultWriter> write_validation_file(const std::string& output, bool overwrite,
                                                    const ValidationPlan& plan,
                                                    const std::vector<RunResult>& results,
                                                    const Comparison& comparison, Backend backend) {
  // every run's table in the standard layout (one cell per run), then /validation
  int max_cycles = 1, max_steps = 1;
  Provenance provenance = run_provenance(plan.runs.front().config, backend);
  provenance.config_name = plan.name;
  provenance.cell_names.clear();
  for (std::size_t k = 0; k < plan.runs.size(); ++k) {
    max_cycles = std::max(max_cycles, static_cast<int>(results[k].records.size()));
    for (const auto& block : plan.runs[k].config.protocol.blocks)
      max_steps = std::max(max_steps, static_cast<int>(block.steps.size()));
    provenance.cell_names.push_back(fmt::format("run_{}", k));
  }
  std::vector<ColumnSpec> extra;
  for (const auto& c : aging_column_specs()) extra.push_back({c.name, c.units, c.description});
  TableLayout layout;
  layout.fixed_cycles = max_cycles;
  layout.rows_per_write = max_cycles;
  auto owned = std::make_unique<ResultWriter>(output, overwrite, static_cast<int>(plan.runs.size()),
                                              provenance, max_steps, extra, layout);
  ResultWriter& writer = *owned;
  for (std::size_t k = 0; k < plan.runs.size(); ++k) {
    const RunResult& r = results[k];
    if (!r.records.empty()) {
      RowBlock block;
      block.cells = {static_cast<int>(k)};
      block.first_cycle = 0;
      for (const auto& rec : r.records) block.records.push_back({rec});
      block.extra.assign(extra.size(), std::vector<double>(r.records.size()));
      for (std::size_t c = 0; c < r.records.size(); ++c)
        for (std::size_t a = 0; a < extra.size() && a < r.records[c].aging.size(); ++a)
          block.extra[a][c] = r.records[c].aging[a];
      block.status = {r.outcome.status};
      block.reason = {r.outcome.reason};
      writer.write_rows(block);
    } else {
      writer.set_cell_status(static_cast<int>(k), r.outcome.status, r.outcome.reason);
    }
    for (const auto& [cycle, curve] : r.curves) writer.write_curve(static_cast<int>(k), curve);
  }
  std::vector<std::string> dataset, quantity, unit, source, note;
  std::vector<double> measured, lower, upper;
  std::vector<std::int64_t> cycle, run;
  for (std::size_t i = 0; i < plan.points.size(); ++i) {
    const MeasuredPoint& p = plan.points[i];
    dataset.push_back(p.dataset);
    quantity.push_back(p.quantity);
    unit.push_back(p.unit);
    source.push_back(p.source);
    note.push_back(comparison.notes[i]);
    measured.push_back(p.quantity == "voltage_rms" ? NAN : p.measured);
    lower.push_back(p.lower);
    upper.push_back(p.upper);
    cycle.push_back(p.cycle);
    run.push_back(p.run);
  }
  std::vector<std::string> labels, configs;
  for (const auto& r : plan.runs) {
    labels.push_back(r.label);
    configs.push_back(r.config.resolved_yaml);
  }
  const std::size_t n = plan.points.size();
  writer.write_strings("/validation/dataset", dataset, "the dataset each point belongs to");
  writer.write_strings("/validation/quantity", quantity, "what is compared");
  writer.write_strings("/validation/unit", unit, "unit of measured, simulated, lower, upper");
  writer.write_int_array("/validation/cycle", cycle, {n}, "", "cycle of the run's protocol");
  writer.write_int_array("/validation/run", run, {n}, "", "row of /cycles (cell) of the run");
  writer.write_array("/validation/measured", measured, {n}, "see unit", "measured value");
  writer.write_array("/validation/simulated", comparison.simulated, {n}, "see unit",
                     "simulated value");
  writer.write_array("/validation/lower", lower, {n}, "see unit", "lower end of the band");
  writer.write_array("/validation/upper", upper, {n}, "see unit", "upper end of the band");
  writer.write_int_array("/validation/pass", comparison.passed, {n}, "", "1 = inside the band");
  writer.write_strings("/validation/source", source, "FILE:LINE of the measured row");
  writer.write_strings("/validation/note", note, "why a point has no simulated value, etc.");
  writer.write_strings("/validation/runs/label", labels, "the datasets of each run");
  writer.write_strings("/validation/runs/resolved_config_yaml", configs,
                       "each run's resolved configuration");
  writer.set_attribute("validation_data", plan.data_source);
  writer.set_attribute("validation_passed", static_cast<std::int64_t>(comparison.passed_count));
  writer.set_attribute("validation_points", static_cast<std::int64_t>(n));
  return owned;
}

void write_plots(const std::string& file, const std::string& directory, const std::string& who) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  const std::filesystem::path script = std::filesystem::path(directory) / "plot_validation.py";
  std::ofstream(script) << build_info::kPlotValidationScript;
  const std::string command =
      fmt::format("python3 {} {} --outdir {}", shell_quoted(script.string()), shell_quoted(file),
                  shell_quoted(directory));
  if (std::system(command.c_str()) != 0)
    fmt::print(stderr,
               "{}: warning: the plots need python3 with h5py and matplotlib (`{}` failed); the "
               "table and {} are complete\n",
               who, command, file);
}

int run_validate(const ValidateOptions& options) {
  ValidationPlan plan = load_validation(options);
  const std::string output = options.output;
  const OutputLock lock(output);
  if (!lock.error().empty()) {
    fmt::print(stderr, "halite: {}\n", lock.error());
    return kExitBadInput;
  }
  std::error_code ec;
  if (!options.overwrite && std::filesystem::exists(std::filesystem::symlink_status(output, ec))) {
    fmt::print(stderr, "halite: {}\n", OutputExistsError(output).what());
    return kExitBadInput;
  }
  for (const auto& run : plan.runs)
    if (const std::string warning = coarse_mesh_warning(run.config.mesh); !warning.empty())
      fmt::print(stderr, "halite validate: warning: {}\n", warning);
  const StopSignals stop_signals;
  const int threads =
      std::max(1, options.threads > 0 ? options.threads
                                      : static_cast<int>(std::thread::hardware_concurrency()));
  if (!options.quiet)
    fmt::print(stderr, "halite validate: {} dataset point(s) of '{}', {} run(s) on {} thread(s)\n",
               plan.points.size(), plan.name, plan.runs.size(),
               std::min<int>(threads, static_cast<int>(plan.runs.size())));
  const std::vector<RunResult> results =
      simulate_runs(plan, threads, options.backend, options.quiet ? "" : "halite validate");
  if (const int signal = stop_signal()) {
    fmt::print(stderr, "halite validate: interrupted by {}; nothing written\n",
               signal_name(signal));
    return 128 + signal;
  }
  const Comparison comparison = compare_points(plan, results);
  print_comparison(plan, comparison, stdout);
  write_validation_file(output, options.overwrite, plan, results, comparison, options.backend)
      ->close();
  if (!options.quiet) fmt::print(stderr, "halite validate: wrote {}\n", output);
  if (!options.plots.empty()) write_plots(output, options.plots, "halite validate");
  if (comparison.any_failed_run) return kExitSolverFailed;
  return comparison.passed_count == static_cast<long>(plan.points.size()) ? kExitOk
                                                                          : kExitOutOfBand;
}

}  // namespace halite
