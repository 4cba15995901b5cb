// Parameter sweeps: sweep file -> cases -> batches of compatible cases, one Cycler per thread ->
// one HDF5 file with a leading case dimension, written batch by batch (docs/sweep.md).
#include "host/app/sweep.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "halite/build_info.hpp"
#include "host/app/result_writer.hpp"
#include "host/app/run_guards.hpp"
#include "host/app/runner.hpp"
#include "host/app/units.hpp"
#include "host/app/yaml_limits.hpp"
#include "host/engine/aging_report.hpp"
#include "host/engine/cycler.hpp"

namespace halite {

SweepError::SweepError(const std::string& file, int line, int column, const std::string& message)
    : std::runtime_error(line > 0 ? fmt::format("{}:{}:{}: {}", file, line, column, message)
                                  : fmt::format("{}: {}", file, message)),
      file(file),
      line(line),
      column(column) {}

const char* to_string(SweepDesign design) {
  switch (design) {
    case SweepDesign::kList:
      return "list";
    case SweepDesign::kFullFactorial:
      return "full_factorial";
    case SweepDesign::kLatinHypercube:
      return "latin_hypercube";
    case SweepDesign::kSobol:
      return "sobol";
  }
  return "?";
}

namespace {

SweepMark mark_of(const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  if (m.line < 0) return {};
  return {m.line + 1, m.column + 1};
}

[[noreturn]] void fail(const SweepSpec& spec, SweepMark mark, const std::string& message) {
  throw SweepError(spec.file, mark.line, mark.column, message);
}

std::string scalar(const SweepSpec& spec, const YAML::Node& node, const std::string& what) {
  if (!node.IsScalar()) fail(spec, mark_of(node), fmt::format("'{}': expected a value", what));
  return node.Scalar();
}

long long integer(const SweepSpec& spec, const YAML::Node& node, const std::string& what,
                  long long min) {
  const std::string text = scalar(spec, node, what);
  std::size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty())
    fail(spec, mark_of(node), fmt::format("'{}': expected a whole number, got '{}'", what, text));
  if (v < min) fail(spec, mark_of(node), fmt::format("'{}': must be at least {}", what, min));
  return v;
}

// A quantity of a sampled factor bound in `unit` (the bound's own unit, or the factor's `unit:`).
double bound_in_unit(const SweepSpec& spec, const YAML::Node& node, const std::string& what,
                     const std::string& unit) {
  const std::string text = scalar(spec, node, what);
  try {
    const units::WrittenQuantity q = units::split_quantity(text);
    if (q.unit.empty() || q.unit == unit) return q.number;
    if (unit.empty())
      fail(spec, mark_of(node),
           fmt::format("'{}': '{}' has a unit, the other bound none", what, text));
    const units::Unit* from = units::find_unit(q.unit);
    const units::Unit* to = units::find_unit(unit);
    if (!from || !to || from->dimension != to->dimension)
      fail(spec, mark_of(node),
           fmt::format("'{}': unit '{}' cannot be converted to '{}'", what, q.unit, unit));
    return units::from_canonical(units::to_canonical(q.number, *from), *to);
  } catch (const units::UnitError& e) {
    fail(spec, mark_of(node), fmt::format("'{}': {}", what, e.what()));
  }
}

std::string format_value(double v, const std::string& unit) {
  const std::string number = units::format_number(v);
  return unit.empty() ? number : number + " " + unit;
}

const std::set<std::string>& known_top_keys() {
  static const std::set<std::string> keys{"name", "base", "set", "factors", "design"};
  return keys;
}

}  // namespace

SweepSpec parse_sweep(const std::string& text, const std::string& file) {
  if (text.size() > kMaxSweepFileBytes)
    throw SweepError(file, 1, 1,
                     fmt::format("the sweep file is larger than {} MiB", kMaxSweepFileBytes >> 20));
  SweepSpec spec;
  spec.file = file;
  spec.text = text;
  YAML::Node root;
  try {
    reject_yaml_cpp_hang(text);
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw SweepError(file, e.mark.line + 1, e.mark.column + 1, e.msg);
  }
  if (const auto bad = check_yaml_limits(root))
    throw SweepError(file, bad->mark.line + 1, bad->mark.column + 1,
                     "YAML too large or self-referencing: " + bad->what);
  if (!root.IsMap()) fail(spec, mark_of(root), "a sweep file is a map with 'factors' and 'design'");
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    if (!known_top_keys().count(key))
      fail(spec, mark_of(kv.first),
           fmt::format("unknown key '{}' (expected name, base, set, factors, design)", key));
  }
  if (root["name"]) spec.name = scalar(spec, root["name"], "name");
  if (root["base"] && !root["base"].IsNull()) {
    spec.base = scalar(spec, root["base"], "base");
    const std::filesystem::path p(spec.base);
    if (p.is_relative() && file.size() > 0 && file[0] != '<')
      spec.base = (std::filesystem::path(file).parent_path() / p).lexically_normal().string();
  }
  if (const YAML::Node set = root["set"]; set && !set.IsNull()) {
    if (!set.IsSequence()) fail(spec, mark_of(set), "'set': expected a list of \"key=value\"");
    for (const auto& item : set) {
      const std::string s = scalar(spec, item, "set");
      if (s.find('=') == std::string::npos)
        fail(spec, mark_of(item), fmt::format("'set': '{}' is not of the form key=value", s));
      spec.set.push_back(s);
      spec.set_marks.push_back(mark_of(item));
    }
  }
  const YAML::Node factors = root["factors"];
  if (!factors || !factors.IsSequence() || factors.size() == 0)
    fail(spec, factors ? mark_of(factors) : mark_of(root),
         "'factors': expected a non-empty list of {key, values} or {key, min, max}");
  std::set<std::string> seen;
  for (const auto& f : factors) {
    SweepFactor factor;
    factor.mark = mark_of(f);
    if (!f.IsMap()) fail(spec, factor.mark, "a factor is a map {key, values} or {key, min, max}");
    for (const auto& kv : f) {
      static const std::set<std::string> allowed{"key", "values", "min", "max", "unit", "scale"};
      if (!allowed.count(kv.first.Scalar()))
        fail(spec, mark_of(kv.first),
             fmt::format("unknown factor key '{}' (expected key, values, min, max, unit, scale)",
                         kv.first.Scalar()));
    }
    if (!f["key"]) fail(spec, factor.mark, "factor without 'key'");
    factor.key = scalar(spec, f["key"], "key");
    if (factor.key.empty() || factor.key.find('=') != std::string::npos ||
        factor.key.find('/') != std::string::npos)
      fail(spec, mark_of(f["key"]), fmt::format("bad factor key '{}'", factor.key));
    if (!seen.insert(factor.key).second)
      fail(spec, mark_of(f["key"]), fmt::format("factor '{}' is given twice", factor.key));
    const bool has_values = static_cast<bool>(f["values"]);
    const bool has_range = f["min"] || f["max"];
    if (has_values == has_range)
      fail(spec, factor.mark,
           fmt::format("factor '{}': give either 'values' or 'min' and 'max'", factor.key));
    if (has_values) {
      const YAML::Node values = f["values"];
      if (!values.IsSequence() || values.size() == 0)
        fail(spec, mark_of(values),
             fmt::format("factor '{}': 'values' must be a non-empty list", factor.key));
      for (const auto& v : values) {
        if (v.IsScalar()) {
          factor.values.push_back(v.Scalar());
        } else {  // a list or map value (e.g. particle classes): pass it on as flow YAML
          YAML::Emitter out;
          out << YAML::Flow << v;
          factor.values.push_back(out.c_str());
        }
      }
      if (f["unit"] || f["scale"])
        fail(spec, factor.mark,
             fmt::format("factor '{}': 'unit' and 'scale' go with min/max (write units in values)",
                         factor.key));
    } else {
      if (!f["min"] || !f["max"])
        fail(spec, factor.mark, fmt::format("factor '{}': needs both 'min' and 'max'", factor.key));
      factor.sampled = true;
      if (f["unit"]) {
        factor.unit = scalar(spec, f["unit"], "unit");
      } else {  // the unit written with the bounds
        try {
          factor.unit = units::split_quantity(scalar(spec, f["max"], "max")).unit;
          if (factor.unit.empty())
            factor.unit = units::split_quantity(scalar(spec, f["min"], "min")).unit;
        } catch (const units::UnitError& e) {
          fail(spec, mark_of(f["max"]), fmt::format("factor '{}': {}", factor.key, e.what()));
        }
      }
      factor.min = bound_in_unit(spec, f["min"], factor.key + ".min", factor.unit);
      factor.max = bound_in_unit(spec, f["max"], factor.key + ".max", factor.unit);
      if (!(factor.min < factor.max))
        fail(spec, factor.mark, fmt::format("factor '{}': min must be below max", factor.key));
      if (f["scale"]) {
        const std::string s = scalar(spec, f["scale"], "scale");
        if (s == "log")
          factor.log_scale = true;
        else if (s != "linear")
          fail(spec, mark_of(f["scale"]),
               fmt::format("factor '{}': scale '{}' (expected linear or log)", factor.key, s));
      }
      if (factor.log_scale && factor.min <= 0.0)
        fail(spec, factor.mark, fmt::format("factor '{}': a log scale needs min > 0", factor.key));
    }
    spec.factors.push_back(std::move(factor));
  }

  const YAML::Node design = root["design"];
  if (!design)
    fail(spec, mark_of(root), "missing 'design' (list, full_factorial, latin_hypercube, sobol)");
  spec.design_mark = mark_of(design);
  YAML::Node options;
  std::string type;
  if (design.IsScalar()) {
    type = design.Scalar();
  } else if (design.IsMap()) {
    if (!design["type"]) fail(spec, spec.design_mark, "'design': missing 'type'");
    type = scalar(spec, design["type"], "design.type");
    options = design;
    for (const auto& kv : design) {
      static const std::set<std::string> allowed{"type", "n_samples", "seed", "skip"};
      if (!allowed.count(kv.first.Scalar()))
        fail(spec, mark_of(kv.first),
             fmt::format("unknown design key '{}' (expected type, n_samples, seed, skip)",
                         kv.first.Scalar()));
    }
  } else {
    fail(spec, spec.design_mark, "'design': expected a name or a map with 'type'");
  }
  if (type == "list")
    spec.design = SweepDesign::kList;
  else if (type == "full_factorial")
    spec.design = SweepDesign::kFullFactorial;
  else if (type == "latin_hypercube")
    spec.design = SweepDesign::kLatinHypercube;
  else if (type == "sobol")
    spec.design = SweepDesign::kSobol;
  else
    fail(spec, spec.design_mark,
         fmt::format("unknown design '{}' (expected list, full_factorial, latin_hypercube, sobol)",
                     type));
  const bool sampling =
      spec.design == SweepDesign::kLatinHypercube || spec.design == SweepDesign::kSobol;
  if (sampling) {
    if (!options || !options["n_samples"])
      fail(spec, spec.design_mark, fmt::format("design '{}' needs n_samples", type));
    spec.n_samples = static_cast<int>(integer(spec, options["n_samples"], "n_samples", 1));
    // (a million LHS samples ran for minutes before printing anything, ten million ran out of
    // memory)
    if (static_cast<std::size_t>(spec.n_samples) > kMaxSweepCases)
      fail(spec, mark_of(options["n_samples"]),
           fmt::format("n_samples {} is too many: at most {} cases in one sweep", spec.n_samples,
                       kMaxSweepCases));
  } else if (options && options["n_samples"]) {
    fail(spec, mark_of(options["n_samples"]),
         fmt::format("design '{}' takes no n_samples (the values lists give the cases)", type));
  }
  if (options && options["seed"]) {
    if (spec.design != SweepDesign::kLatinHypercube)
      fail(spec, mark_of(options["seed"]),
           fmt::format("design '{}' takes no seed (only latin_hypercube is random)", type));
    spec.seed = static_cast<std::uint64_t>(integer(spec, options["seed"], "seed", 0));
  }
  if (spec.design == SweepDesign::kLatinHypercube && !spec.seed)
    fail(spec, spec.design_mark, "design 'latin_hypercube' needs a seed (for reproducibility)");
  if (options && options["skip"]) {
    if (spec.design != SweepDesign::kSobol)
      fail(spec, mark_of(options["skip"]), "only design 'sobol' takes 'skip'");
    spec.skip = static_cast<int>(integer(spec, options["skip"], "skip", 0));
  }
  if (!sampling)
    for (const auto& f : spec.factors)
      if (f.sampled)
        fail(spec, f.mark,
             fmt::format("factor '{}': design '{}' needs explicit 'values' (min/max ranges are "
                         "sampled by latin_hypercube or sobol)",
                         f.key, type));
  if (spec.design == SweepDesign::kSobol && spec.factors.size() > 10)
    fail(spec, spec.design_mark, "design 'sobol' supports at most 10 factors");
  if (spec.design == SweepDesign::kList)
    for (const auto& f : spec.factors)
      if (f.values.size() != spec.factors[0].values.size())
        fail(spec, f.mark,
             fmt::format("design 'list' zips the factors' values, but '{}' has {} values and '{}' "
                         "has {}",
                         f.key, f.values.size(), spec.factors[0].key,
                         spec.factors[0].values.size()));
  return spec;
}

SweepSpec load_sweep(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_regular_file(path, ec) &&
      std::filesystem::file_size(path, ec) > kMaxSweepFileBytes)
    throw SweepError(path, 1, 1,
                     fmt::format("the sweep file is larger than {} MiB", kMaxSweepFileBytes >> 20));
  std::ifstream in(path);
  if (!in) throw SweepError(path, 0, 0, "cannot read the sweep file");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_sweep(text.str(), path);
}

std::vector<std::vector<double>> latin_hypercube(int n, int dims, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  // Portable: our own uniform in [0, 1) and Fisher-Yates (std::shuffle and the std
  // distributions are implementation-defined).
  auto uniform = [&] { return static_cast<double>(rng() >> 11) * 0x1.0p-53; };
  std::vector<std::vector<double>> points(n, std::vector<double>(dims));
  std::vector<int> perm(n);
  for (int d = 0; d < dims; ++d) {
    for (int i = 0; i < n; ++i) perm[i] = i;
    for (int i = n - 1; i > 0; --i) {
      const int j = static_cast<int>(rng() % static_cast<std::uint64_t>(i + 1));
      std::swap(perm[i], perm[j]);
    }
    for (int i = 0; i < n; ++i) points[i][d] = (perm[i] + uniform()) / n;
  }
  return points;
}

std::vector<std::vector<double>> sobol_points(int n, int dims, int skip) {
  if (dims < 1 || dims > 10) throw std::invalid_argument("sobol_points: 1 to 10 dimensions");
  // Joe & Kuo, new-joe-kuo-6.21201, dimensions 2..10: degree s, coefficients a, initial m.
  struct Dir {
    int s, a;
    std::vector<std::uint32_t> m;
  };
  static const Dir table[] = {
      {1, 0, {1}},
      {2, 1, {1, 3}},
      {3, 1, {1, 3, 1}},
      {3, 2, {1, 1, 1}},
      {4, 1, {1, 1, 3, 3}},
      {4, 4, {1, 3, 5, 13}},
      {5, 2, {1, 1, 5, 5, 17}},
      {5, 4, {1, 1, 5, 5, 5}},
      {5, 7, {1, 1, 7, 11, 19}},
  };
  constexpr int kBits = 32;
  std::vector<std::vector<std::uint32_t>> v(dims, std::vector<std::uint32_t>(kBits + 1));
  for (int k = 1; k <= kBits; ++k) v[0][k] = 1u << (kBits - k);
  for (int d = 1; d < dims; ++d) {
    const Dir& dir = table[d - 1];
    const int s = dir.s;
    for (int k = 1; k <= s && k <= kBits; ++k) v[d][k] = dir.m[k - 1] << (kBits - k);
    for (int k = s + 1; k <= kBits; ++k) {
      v[d][k] = v[d][k - s] ^ (v[d][k - s] >> s);
      for (int j = 1; j < s; ++j)
        if ((dir.a >> (s - 1 - j)) & 1u) v[d][k] ^= v[d][k - j];
    }
  }
  std::vector<std::vector<double>> points;
  points.reserve(n);
  std::vector<std::uint32_t> x(dims, 0);
  // Point i (Gray code order): x_i = x_{i-1} ^ v[c], c = index of the lowest zero bit of i-1.
  for (long i = 1; static_cast<long>(points.size()) < n; ++i) {
    unsigned long c = 1, value = static_cast<unsigned long>(i - 1);
    while (value & 1u) {
      value >>= 1;
      ++c;
    }
    for (int d = 0; d < dims; ++d) x[d] ^= v[d][c];
    if (i < skip) continue;  // point 0 (the origin) is never produced; skip counts it
    std::vector<double> p(dims);
    for (int d = 0; d < dims; ++d) p[d] = static_cast<double>(x[d]) * 0x1.0p-32;
    points.push_back(std::move(p));
  }
  return points;
}

std::vector<SweepCase> generate_cases(const SweepSpec& spec) {
  const int dims = static_cast<int>(spec.factors.size());
  std::vector<std::vector<std::string>> rows;
  switch (spec.design) {
    case SweepDesign::kList: {
      const std::size_t n = spec.factors[0].values.size();
      for (const auto& f : spec.factors)
        if (f.values.size() != n)
          fail(spec, f.mark,
               fmt::format("design 'list': '{}' has {} values, '{}' has {}", f.key, f.values.size(),
                           spec.factors[0].key, n));
      for (std::size_t i = 0; i < n; ++i) {
        std::vector<std::string> row;
        for (const auto& f : spec.factors) row.push_back(f.values[i]);
        rows.push_back(std::move(row));
      }
      break;
    }
    case SweepDesign::kFullFactorial: {
      std::size_t n = 1;  // saturating: the product of many lists overflowed
      for (const auto& f : spec.factors)
        n = f.values.empty() || n <= kMaxSweepCases / f.values.size() ? n * f.values.size()
                                                                      : kMaxSweepCases + 1;
      if (n > kMaxSweepCases)
        fail(spec, spec.design_mark,
             fmt::format("the full factorial has more than {} cases (the product of the value "
                         "lists' lengths): too many for one sweep",
                         kMaxSweepCases));
      for (std::size_t i = 0; i < n; ++i) {  // the first factor varies slowest
        std::vector<std::string> row(dims);
        std::size_t rest = i;
        for (int d = dims - 1; d >= 0; --d) {
          const auto& values = spec.factors[d].values;
          row[d] = values[rest % values.size()];
          rest /= values.size();
        }
        rows.push_back(std::move(row));
      }
      break;
    }
    case SweepDesign::kLatinHypercube:
    case SweepDesign::kSobol: {
      const auto points = spec.design == SweepDesign::kSobol
                              ? sobol_points(spec.n_samples, dims, spec.skip)
                              : latin_hypercube(spec.n_samples, dims, spec.seed.value_or(0));
      for (const auto& p : points) {
        std::vector<std::string> row;
        for (int d = 0; d < dims; ++d) {
          const SweepFactor& f = spec.factors[d];
          const double u = std::clamp(p[d], 0.0, 1.0);
          if (!f.sampled) {  // a list factor: the u-th share of its values
            const std::size_t k =
                std::min(f.values.size() - 1, static_cast<std::size_t>(u * f.values.size()));
            row.push_back(f.values[k]);
          } else if (f.log_scale) {
            row.push_back(format_value(
                std::exp(std::log(f.min) + u * (std::log(f.max) - std::log(f.min))), f.unit));
          } else {
            row.push_back(format_value(f.min + u * (f.max - f.min), f.unit));
          }
        }
        rows.push_back(std::move(row));
      }
      break;
    }
  }
  std::vector<SweepCase> cases;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    SweepCase c;
    c.index = static_cast<int>(i);
    c.overrides = spec.set;
    for (int d = 0; d < dims; ++d) c.overrides.push_back(spec.factors[d].key + "=" + rows[i][d]);
    c.values = std::move(rows[i]);
    cases.push_back(std::move(c));
  }
  return cases;
}

std::vector<RunConfig> resolve_cases(const SweepSpec& spec, const std::vector<SweepCase>& cases) {
  std::vector<RunConfig> configs;
  configs.reserve(cases.size());
  const std::size_t n_set = spec.set.size();
  for (const SweepCase& c : cases) {
    try {
      configs.push_back(load_config(spec.base, c.overrides));
    } catch (const ConfigError& e) {
      if (e.file != "--set" || e.line <= 0) throw;
      const auto k = static_cast<std::size_t>(e.line - 1);
      if (k < n_set)
        fail(spec, spec.set_marks[k], fmt::format("set '{}': {}", spec.set[k], e.what()));
      const auto d = k - n_set;
      if (d < spec.factors.size())
        fail(spec, spec.factors[d].mark,
             fmt::format("factor '{}' (case {}, value '{}'): {}", spec.factors[d].key, c.index,
                         c.values[d], e.what()));
      throw;
    }
  }
  return configs;
}

double value_in_si(const std::string& value) {
  try {
    const units::WrittenQuantity q = units::split_quantity(value);
    if (q.unit.empty()) return q.number;
    if (q.unit == "%") return q.number / 100.0;
    const units::Unit* u = units::find_unit(q.unit);
    if (!u) return std::numeric_limits<double>::quiet_NaN();
    return units::to_canonical(q.number, *u);
  } catch (const std::exception&) {
    return std::numeric_limits<double>::quiet_NaN();
  }
}

// ---- execution -------------------------------------------------------------------------------

namespace {

// The top-level section `name` of a resolved YAML, as text (for grouping compatible cases).
std::string yaml_section(const std::string& yaml, const std::string& name) {
  std::istringstream in(yaml);
  std::string line, out;
  bool inside = false;
  while (std::getline(in, line)) {
    const bool top = !line.empty() && line[0] != ' ' && line[0] != '#';
    if (top) inside = line.rfind(name + ":", 0) == 0;
    if (inside) out += line + "\n";
  }
  return out;
}

// Cases sharing this key can sit in one batch (one Cycler): same mesh, classes, solver, protocol.
std::string batch_key(const RunConfig& c) {
  return fmt::format("{} {} {} {}\n", c.mesh.cathode_nodes, c.mesh.radial_shells,
                     c.mesh.shell_stretch, c.cell.particle_classes) +
         yaml_section(c.resolved_yaml, "solver") + yaml_section(c.resolved_yaml, "protocol");
}

// The record of a cycle a case did not reach (its batch stopped, or its protocol is shorter).
CycleRecord missing_record(int cycle) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  CycleRecord r;
  r.cycle = cycle;
  r.charge_capacity = r.discharge_capacity = r.coulombic_efficiency = nan;
  r.charge_energy = r.discharge_energy = r.lithium_inventory = r.duration = nan;
  r.aging.assign(aging_column_specs().size(), nan);
  r.simulated = false;
  return r;
}

// HALITE_TEST_ABORT_AFTER_BATCHES (tests only, see sweep.hpp); 0 = unset.
int test_abort_after_batches() {
  const char* text = std::getenv("HALITE_TEST_ABORT_AFTER_BATCHES");
  if (!text || !*text) return 0;
  char* end = nullptr;
  const long n = std::strtol(text, &end, 10);
  return *end == '\0' && n > 0 && n < std::numeric_limits<int>::max() ? static_cast<int>(n) : 0;
}

// The sweep's output file: the result table (cases x cycles, fixed width) and /cases, written
// from the worker threads one block at a time under a mutex (one writer, one thread at a time:
// the serial HDF5 library is not thread-safe).
class SweepOutput {
 public:
  SweepOutput(const SweepSpec& spec, const std::vector<SweepCase>& cases,
              const std::vector<RunConfig>& configs, const SweepOptions& options,
              const std::string& backend, int total_cycles, int max_steps, int rows_per_write)
      : total_cycles_(total_cycles),
        writer_(create(spec, cases, configs, options, backend, total_cycles, max_steps,
                       rows_per_write)) {
    try {
      write_cases(spec, cases);
    } catch (...) {
      // Do not leave a file without its /cases table (it would block a rerun).
      try {
        writer_.close();
      } catch (const std::exception&) {
      }
      std::error_code ec;
      std::filesystem::remove(options.output, ec);
      throw;
    }
  }

  // An existing sweep file, opened for writing (halite sweep --resume).
  SweepOutput(ResultWriter writer, int total_cycles)
      : total_cycles_(total_cycles), writer_(std::move(writer)) {}

  int total_cycles() const { return total_cycles_; }
  std::mutex& mutex() { return mutex_; }
  // Under mutex().
  void write(const RowBlock& block) { writer_.write_rows(block); }
  void close() { writer_.close(); }

 private:
  static ResultWriter create(const SweepSpec& spec, const std::vector<SweepCase>& cases,
                             const std::vector<RunConfig>& configs, const SweepOptions& options,
                             const std::string& backend, int total_cycles, int max_steps,
                             int rows_per_write) {
    const int n = static_cast<int>(cases.size());
    std::vector<ColumnSpec> columns;
    for (const auto& c : aging_column_specs()) columns.push_back({c.name, c.units, c.description});
    Provenance provenance;
    provenance.version = build_info::kVersion;
    provenance.git_commit = build_info::kGitCommit;
    provenance.config_name = spec.name.empty() ? "sweep" : spec.name;
    provenance.config_source = spec.file;
    provenance.resolved_config_yaml = configs[0].resolved_yaml;  // case 0; see /cases
    provenance.voltage_reference = to_string(configs[0].protocol.reference);
    provenance.is_reference_cell = false;
    provenance.backend = backend;
    for (int i = 0; i < n; ++i) provenance.cell_names.push_back(fmt::format("case_{}", i));
    provenance.date = iso8601_utc_now();
    return ResultWriter(options.output, options.overwrite, n, std::move(provenance), max_steps,
                        std::move(columns), TableLayout{total_cycles, rows_per_write});
  }

  // The /cases group and the sweep attributes; /cases/status and /cases/failure reason are
  // second names of /cells/status and /cells/failure reason (the same datasets).
  void write_cases(const SweepSpec& spec, const std::vector<SweepCase>& cases) {
    const std::size_t n = cases.size();
    writer_.set_attribute("sweep_yaml", spec.text);
    writer_.set_attribute("sweep_design", to_string(spec.design));
    writer_.set_attribute("sweep_base", spec.base.empty() ? "<embedded reference>" : spec.base);
    if (spec.seed) writer_.set_attribute("sweep_seed", static_cast<std::int64_t>(*spec.seed));
    if (spec.design == SweepDesign::kLatinHypercube || spec.design == SweepDesign::kSobol)
      writer_.set_attribute("sweep_n_samples", static_cast<std::int64_t>(spec.n_samples));
    std::vector<std::int64_t> index(n);
    for (std::size_t i = 0; i < n; ++i) index[i] = cases[i].index;
    writer_.write_int_array("/cases/index", index, {}, "-", "the case index (row of /cycles)");
    std::vector<std::string> factor_names;
    for (std::size_t d = 0; d < spec.factors.size(); ++d) {
      const SweepFactor& f = spec.factors[d];
      factor_names.push_back(f.key);
      std::vector<std::string> values(n);
      std::vector<double> si(n);
      bool numeric = true;
      std::string si_unit;
      for (std::size_t i = 0; i < n; ++i) {
        values[i] = cases[i].values[d];
        si[i] = value_in_si(values[i]);
        numeric = numeric && std::isfinite(si[i]);
        if (i == 0 && numeric) {
          const units::WrittenQuantity q = units::split_quantity(values[i]);
          const units::Unit* u =
              q.unit.empty() || q.unit == "%" ? nullptr : units::find_unit(q.unit);
          si_unit = u ? std::string(units::canonical_unit(u->dimension)) : "";
        }
      }
      writer_.write_strings("/cases/" + f.key, values,
                            "value of factor " + f.key + " in every case, as written");
      if (numeric)
        writer_.write_array("/cases/" + f.key + " [SI]", si, {}, si_unit,
                            "value of factor " + f.key + " in every case, in SI");
    }
    writer_.write_strings("/cases/factors", factor_names, "the factor keys, in sweep-file order");
    writer_.add_link("/cells/status", "/cases/status");
    writer_.add_link("/cells/failure reason", "/cases/failure reason");
    std::vector<std::string> overrides(n);
    for (std::size_t i = 0; i < n; ++i) {
      for (const auto& o : cases[i].overrides)
        overrides[i] += (overrides[i].empty() ? "" : "\n") + o;
    }
    writer_.write_strings("/cases/overrides", overrides,
                          "every override of the case (base + set + factors), one per line");
  }

  int total_cycles_;
  ResultWriter writer_;
  std::mutex mutex_;
};

// A failure to write the output (stored, then rethrown by run_sweep); unwinds a Cycler::run.
struct OutputFailed {};
struct DiskNearlyFull {};  // thrown at a cycle boundary when DiskGuard::low()

struct Batch {
  std::vector<int> cases;  // indices into the case list, ascending
  std::string error;       // a batch-wide failure (exception)
  int cycles = 0, integrated = 0, skipped = 0, failed = 0;
  double seconds = 0.0;
};

// Collects one batch's records and hands them to `sink` (the output file, or the coordinator
// rank) in blocks of whole cycles.
class BatchWriter {
 public:
  BatchWriter(std::function<void(const RowBlock&)> sink, int total_cycles, const Batch& batch,
              int block_records)
      : sink_(std::move(sink)),
        total_cycles_(total_cycles),
        batch_(batch),
        block_cycles_(std::max<std::size_t>(
            1, static_cast<std::size_t>(std::max(1, block_records)) / batch.cases.size())),
        failure_(batch.cases.size()) {}

  // One cycle of every case of the batch (Cycler::run's on_cycle); writes a block when enough
  // cycles are pending. Call add() and finish() under the output mutex.
  void add(const std::vector<CycleRecord>& records) {
    for (std::size_t k = 0; k < records.size(); ++k)
      if (records[k].failed && failure_[k].empty()) failure_[k] = records[k].failure;
    pending_.push_back(records);
    if (pending_.size() >= block_cycles_) write(false, "");
  }
  // The batch ended (error: what stopped it, "" = it ran to its end): the remaining records, the
  // cycles it did not reach, and the final statuses. Returns how many of its cases failed.
  int finish(const std::string& error) {
    const std::size_t rows = batch_.cases.size();
    const auto total = static_cast<std::size_t>(total_cycles_);
    while (written_ + pending_.size() < total) {
      if (pending_.size() >= block_cycles_) write(false, "");
      pending_.emplace_back(rows, missing_record(static_cast<int>(written_ + pending_.size()) + 1));
    }
    write(true, error);
    int failed = 0;
    for (std::size_t k = 0; k < rows; ++k) failed += failure_[k].empty() && error.empty() ? 0 : 1;
    return failed;
  }

 private:
  void write(bool final, const std::string& error) {
    const std::size_t rows = batch_.cases.size();
    const std::size_t aging = aging_column_specs().size();
    RowBlock block;
    block.cells = batch_.cases;
    block.first_cycle = static_cast<int>(written_);
    block.extra.assign(aging, std::vector<double>(pending_.size() * rows));
    for (std::size_t c = 0; c < pending_.size(); ++c)
      for (std::size_t k = 0; k < rows; ++k)
        for (std::size_t e = 0; e < aging; ++e)
          block.extra[e][c * rows + k] = e < pending_[c][k].aging.size()
                                             ? pending_[c][k].aging[e]
                                             : std::numeric_limits<double>::quiet_NaN();
    if (final) {
      for (std::size_t k = 0; k < rows; ++k) {
        const std::string& why = failure_[k].empty() ? error : failure_[k];
        block.status.push_back(why.empty() ? "completed" : "failed");
        block.reason.push_back(why);
      }
    } else if (written_ == 0) {
      block.status.assign(rows, "running");
      block.reason.assign(rows, "");
    }
    const std::size_t count = pending_.size();
    block.records = std::move(pending_);
    pending_.clear();
    sink_(block);
    written_ += count;
  }

  std::function<void(const RowBlock&)> sink_;
  int total_cycles_;
  const Batch& batch_;
  std::size_t block_cycles_;
  std::vector<std::vector<CycleRecord>> pending_;  // [cycle][case of the batch], not written yet
  std::vector<std::string> failure_;               // first failure per case of the batch
  std::size_t written_ = 0;                        // cycles of the batch in the file
};

// Integrates one batch as the sweep does everywhere (one Cycler, skipping, retries); every cycle's
// records go to on_cycle, and on_boundary may throw to stop at a cycle boundary. Sets the batch's
// cycle counts; throws what the Cycler or the callbacks throw.
void compute_batch(Batch& batch, const std::vector<RunConfig>& configs,
                   const std::vector<int>& case_cycles, const SweepOptions& options,
                   const std::function<void(const std::vector<CycleRecord>&)>& on_cycle,
                   const std::function<void(const CycleBoundary&)>& on_boundary) {
  // Benchmark hook (bench/mpi_sweep.sh): cases that compute nothing, every cycle an empty
  // record, to time the coordinator's dispatching and writing alone.
  if (const char* trivial = std::getenv("HALITE_BENCH_TRIVIAL_CASES");
      trivial != nullptr && std::string(trivial) == "1") {
    for (int c = 1; c <= case_cycles[batch.cases[0]]; ++c)
      on_cycle(std::vector<CycleRecord>(batch.cases.size(), missing_record(c)));
    return;
  }
  const RunConfig& first = configs[batch.cases[0]];
  std::vector<CellSetup> setups;
  for (int i : batch.cases) {
    setups.push_back(cell_setup_from_config(configs[i]));
    setups.back().name = fmt::format("case_{}", i);
  }
  const models::CellLayout layout = first.mesh.layout(first.cell.particle_classes);
  Cycler cycler(std::move(setups), layout, first.solver, first.protocol, options.backend);
  RunControl control;
  control.retries = std::max(0, options.retries);
  control.on_boundary = on_boundary;
  cycler.run(
      case_cycles[batch.cases[0]],
      [&](const std::vector<CycleRecord>& records) {
        ++batch.cycles;
        on_cycle(records);
      },
      nullptr, nullptr, CycleSkipping{!options.no_skip, options.skip_tolerance}, control);
  batch.integrated = cycler.integrated_cycles();
  batch.skipped = cycler.skipped_cycles();
}

// The progress line of a finished batch, with the time the rest should take at the rate so far.
void print_batch_done(int done, std::size_t total, std::size_t cases, int first_case,
                      const SweepBatchReport& r, const std::string& where,
                      std::chrono::steady_clock::time_point start) {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double left = done > 0 ? elapsed / done * (double(total) - done) : 0.0;
  fmt::print(stderr,
             "halite sweep: batch {}/{} done{} ({} case(s) from case {}, {} cycle(s), {} "
             "integrated, {} extrapolated, {} failed) in {:.1f} s; about {:.0f} s left\n",
             done, total, where, cases, first_case, r.cycles, r.integrated, r.skipped, r.failed,
             r.seconds, left);
}

// halite sweep --resume: checks that options.resume is a sweep result of this sweep text and
// cycle count, then opens it for writing into `output`; `done` is true for every case already
// completed or failed. Returns kExitOk, or kExitBadInput after a one-line message (the file
// untouched).
int open_for_resume(const SweepSpec& spec, const std::vector<RunConfig>& configs,
                    const SweepOptions& options, const std::string& backend, int total_cycles,
                    std::optional<SweepOutput>& output, std::vector<bool>& done) {
  const std::string& path = options.resume;
  auto refuse = [&](const std::string& why) {
    fmt::print(stderr, "halite sweep: cannot resume {}: {}\n", path, why);
    return kExitBadInput;
  };
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return refuse("no such file (a sweep that never created it starts with -o FILE.h5)");
  std::string stored_yaml;
  try {
    stored_yaml = read_string_attribute(path, "/", "sweep_yaml");
  } catch (const std::exception&) {
    return refuse("it is not a halite sweep result (no root attribute sweep_yaml)");
  }
  if (stored_yaml != spec.text)
    return refuse(fmt::format(
        "the sweep file changed since {} was written ({} {}); give the sweep file of the "
        "interrupted sweep",
        path, spec.file, yaml_difference(stored_yaml, spec.text)));
  double stored_cycles = 0.0;
  try {
    stored_cycles = read_numeric_attribute(path, "/cycles", "fixed_cycles");
  } catch (const std::exception&) {
    return refuse("it was written by an older halite (no attribute fixed_cycles on /cycles)");
  }
  if (stored_cycles != total_cycles)
    return refuse(fmt::format(
        "it holds {} cycle(s) per case, these options give {}; give the --cycles of the "
        "interrupted sweep",
        stored_cycles, total_cycles));
  const std::size_t n = configs.size();
  std::vector<std::string> status;
  try {
    status = read_string_dataset(path, "/cases/status");
    if (read_string_attribute(path, "/", "resolved_config_yaml") != configs[0].resolved_yaml)
      return refuse(
          fmt::format("the configuration of case 0 differs from the one stored in {} (the base "
                      "configuration changed?); give the configuration of the interrupted sweep",
                      path));
  } catch (const std::exception& e) {
    return refuse(fmt::format("it is not a complete halite sweep result ({})", e.what()));
  }
  if (status.size() != n)
    return refuse(fmt::format("it holds {} case(s), the sweep file gives {}", status.size(), n));
  done.assign(n, false);
  for (std::size_t i = 0; i < n; ++i) done[i] = status[i] == "completed" || status[i] == "failed";
  std::vector<ColumnSpec> columns;
  for (const auto& c : aging_column_specs()) columns.push_back({c.name, c.units, c.description});
  try {
    ResultWriter writer = ResultWriter::open_existing(path, columns);
    if (!writer.fixed_table() || writer.cells() != static_cast<int>(n) ||
        writer.cycles() != total_cycles)
      return refuse("its /cycles table does not have the shape of the sweep");
    // A sweep resumed on another backend lists them in the order they ran (as halite run).
    const std::string stored = writer.provenance().backend;
    const std::string last =
        stored.find(',') == std::string::npos ? stored : stored.substr(stored.rfind(',') + 1);
    if (last != backend) writer.set_attribute("backend", stored + "," + backend);
    output.emplace(std::move(writer), total_cycles);
  } catch (const std::exception& e) {
    return refuse(e.what());
  }
  return kExitOk;
}

}  // namespace

std::vector<int> similarity_order(const std::vector<SweepCase>& cases, std::vector<int> members) {
  const std::size_t m = members.size();
  if (m < 3 || cases.empty()) return members;
  const std::size_t dims = cases[static_cast<std::size_t>(members.front())].values.size();
  if (dims == 0) return members;
  // Rank of every member's value per factor, scaled to [0, 2^bits).
  const int bits = static_cast<int>(std::min<std::size_t>(16, 63 / dims));
  std::vector<std::uint64_t> code(m, 0);
  std::vector<std::vector<std::uint64_t>> quantised(m, std::vector<std::uint64_t>(dims, 0));
  for (std::size_t d = 0; d < dims; ++d) {
    std::vector<std::size_t> by_value(m);
    std::iota(by_value.begin(), by_value.end(), std::size_t{0});
    auto value = [&](std::size_t i) -> const std::string& {
      return cases[static_cast<std::size_t>(members[i])].values[d];
    };
    std::stable_sort(by_value.begin(), by_value.end(), [&](std::size_t a, std::size_t b) {
      const double x = value_in_si(value(a)), y = value_in_si(value(b));
      if (std::isfinite(x) && std::isfinite(y)) return x < y;
      if (std::isfinite(x) != std::isfinite(y)) return std::isfinite(x);
      return value(a) < value(b);
    });
    const double scale = double((std::uint64_t{1} << bits) - 1) / double(m - 1);
    for (std::size_t r = 0; r < m; ++r)
      quantised[by_value[r]][d] = static_cast<std::uint64_t>(std::llround(double(r) * scale));
  }
  for (std::size_t i = 0; i < m; ++i)  // interleave the bits, most significant first
    for (int b = bits - 1; b >= 0; --b)
      for (std::size_t d = 0; d < dims; ++d)
        code[i] = (code[i] << 1) | ((quantised[i][d] >> b) & 1u);
  std::vector<std::size_t> order(m);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return code[a] < code[b]; });
  std::vector<int> out(m);
  for (std::size_t i = 0; i < m; ++i) out[i] = members[order[i]];
  return out;
}

namespace {

// Batches run at once (--threads; default: the hardware threads), at least one.
int sweep_threads(const SweepOptions& options) {
  if (options.threads <= 0 && options.cluster != nullptr) return 1;  // a rank: one core or GPU
  const int threads =
      options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, threads);
}

// The backends the batches of `plan` run on, for the terminal and the file's backend attribute:
// the requested one, or with auto what it resolved to per batch ("cpu", "cuda" or "cpu+cuda").
std::string plan_backend_label(const std::vector<std::vector<int>>& plan, Backend requested) {
  if (requested != Backend::kAuto) return backend_name(requested);
  bool cpu = false, cuda = false;
  for (const auto& batch : plan)
    (resolve_backend(requested, static_cast<int>(batch.size())) == Backend::kCuda ? cuda : cpu) =
        true;
  return cpu && cuda ? "cpu+cuda" : cuda ? "cuda" : "cpu";
}

// Cycles one case runs: its protocol, cut at --cycles.
int case_cycle_count(const RunConfig& config, const SweepOptions& options) {
  const int protocol_cycles = config.protocol.total_cycles();
  return options.max_cycles > 0 ? std::min(options.max_cycles, protocol_cycles) : protocol_cycles;
}

}  // namespace

std::vector<std::vector<int>> plan_batches(const std::vector<RunConfig>& configs,
                                           const SweepOptions& options,
                                           const std::vector<SweepCase>* cases) {
  const int n = static_cast<int>(configs.size());
  const int threads = sweep_threads(options);
  // Group compatible cases (first-seen order).
  std::vector<std::string> keys;
  std::vector<std::vector<int>> groups;
  for (int i = 0; i < n; ++i) {
    const std::string key = batch_key(configs[i]);
    const auto it = std::find(keys.begin(), keys.end(), key);
    if (it == keys.end()) {
      keys.push_back(key);
      groups.push_back({i});
    } else {
      groups[static_cast<std::size_t>(it - keys.begin())].push_back(i);
    }
  }
  // Split every group into `parts` batches of even size.
  std::vector<std::vector<int>> batches;
  for (auto g : groups) {
    if (cases && options.similar_batches && cases->size() == configs.size())
      g = similarity_order(*cases, std::move(g));
    const int size = static_cast<int>(g.size());
    int parts = 1;
    if (options.batch_size > 0) {
      parts = (size + options.batch_size - 1) / options.batch_size;
    } else if (options.batch_size == 0) {
      parts = std::min(threads, size);
    } else if (resolve_backend(options.backend, size) == Backend::kCuda) {
      // (auto: a group of at least kAutoCudaMinimumCells cases, where a device can be used)
      parts = std::max((size + kMaxCudaBatch - 1) / kMaxCudaBatch,
                       std::min(threads, size / kMinCudaGroup));
    } else {
      parts = size;  // cpu: one case per batch
    }
    parts = std::max(1, parts);
    for (int p = 0, begin = 0; p < parts; ++p) {
      const int end = begin + size / parts + (p < size % parts ? 1 : 0);
      batches.emplace_back(g.begin() + begin, g.begin() + end);
      std::sort(batches.back().begin(), batches.back().end());  // rows ascending in the file
      begin = end;
    }
  }
  return batches;
}

int print_sweep_plan(const SweepSpec& spec, const std::vector<SweepCase>& cases,
                     const std::vector<RunConfig>& configs, const SweepOptions& options,
                     std::FILE* out) {
  if (cases.empty() || cases.size() != configs.size())
    throw std::invalid_argument("print_sweep_plan: no cases, or not one configuration per case");
  if (const std::string why = backend_unavailable_reason(options.backend); !why.empty()) {
    fmt::print(stderr, "halite sweep: --backend {}: {}\n", backend_name(options.backend), why);
    return kExitBadInput;
  }
  const int n = static_cast<int>(cases.size());
  const int threads = sweep_threads(options);
  const auto plan = plan_batches(configs, options, &cases);
  int cycles = 0;
  for (const auto& config : configs) cycles = std::max(cycles, case_cycle_count(config, options));
  fmt::print(out,
             "halite sweep --dry-run: {}{} case(s) ({} design), {} batch(es) on {} thread(s), "
             "backend {}, up to {} cycle(s) per case; nothing is computed or written\n\n",
             spec.name.empty() ? "" : "'" + spec.name + "': ", n, to_string(spec.design),
             plan.size(), std::min<int>(threads, static_cast<int>(plan.size())),
             plan_backend_label(plan, options.backend), cycles);
  fmt::print(out, "| case |");
  for (const auto& factor : spec.factors) fmt::print(out, " {} |", factor.key);
  fmt::print(out, "\n|---|");
  for (std::size_t k = 0; k < spec.factors.size(); ++k) fmt::print(out, "---|");
  fmt::print(out, "\n");
  for (const auto& c : cases) {
    fmt::print(out, "| {} |", c.index);
    for (const auto& value : c.values) fmt::print(out, " {} |", value);
    fmt::print(out, "\n");
  }
  fmt::print(
      out,
      "\nbatches (backend in parentheses, then case indices; each batch is one integrator, run "
      "by one thread):\n");
  for (std::size_t b = 0; b < plan.size(); ++b)
    fmt::print(out, "  batch {} ({}): {}\n", b,
               backend_name(resolve_backend(options.backend, static_cast<int>(plan[b].size()))),
               fmt::join(plan[b], " "));
  return kExitOk;
}

int run_sweep(const SweepSpec& spec, const std::vector<SweepCase>& cases,
              const std::vector<RunConfig>& configs, const SweepOptions& options) {
  if (cases.empty() || cases.size() != configs.size())
    throw std::invalid_argument("run_sweep: no cases, or not one configuration per case");
  if (const std::string why = backend_unavailable_reason(options.backend); !why.empty()) {
    fmt::print(stderr, "halite sweep: --backend {}: {}\n", backend_name(options.backend), why);
    return kExitBadInput;
  }
  const bool resuming = !options.resume.empty();
  const std::string& output_path = resuming ? options.resume : options.output;
  const OutputLock lock(output_path);
  if (!lock.error().empty()) {
    fmt::print(stderr, "halite: {}\n", lock.error());
    return kExitBadInput;
  }
  std::error_code ec;
  if (!resuming && !options.overwrite &&
      std::filesystem::exists(std::filesystem::symlink_status(options.output, ec))) {
    fmt::print(stderr, "halite: {}\n", OutputExistsError(options.output).what());
    return kExitBadInput;
  }
  const int n = static_cast<int>(cases.size());
  const int threads = sweep_threads(options);

  std::vector<std::vector<int>> plan = plan_batches(configs, options, &cases);
  const std::string backend = plan_backend_label(plan, options.backend);
  std::size_t largest = 1;
  for (const auto& cases_of_batch : plan) largest = std::max(largest, cases_of_batch.size());
  int max_steps = 1, total_cycles = 0;
  std::vector<int> case_cycles(n);
  for (int i = 0; i < n; ++i) {
    for (const auto& block : configs[i].protocol.blocks)
      max_steps = std::max<int>(max_steps, static_cast<int>(block.steps.size()));
    case_cycles[i] = case_cycle_count(configs[i], options);
    total_cycles = std::max(total_cycles, case_cycles[i]);
  }
  // A mesh coarser than the converged default is a warning, as in `halite run` (the mesh may be
  // a factor, so cases can differ): the first such case and how many there are.
  {
    int coarse = 0, first_coarse = -1;
    for (int i = 0; i < n; ++i) {
      if (coarse_mesh_warning(configs[i].mesh).empty()) continue;
      if (coarse++ == 0) first_coarse = i;
    }
    if (coarse > 0)
      fmt::print(stderr, "halite sweep: warning: {} of {} case(s), the first case {}: {}\n", coarse,
                 n, first_coarse, coarse_mesh_warning(configs[first_coarse].mesh));
  }
  // "2 thread(s)", or under MPI "3 rank(s) (rank 0: 1 thread(s))"
  auto where = [&](int local_threads) {
    if (options.cluster == nullptr) return fmt::format("{} thread(s)", local_threads);
    return fmt::format("{} rank(s) (rank 0: {} thread(s))", options.cluster->size(), local_threads);
  };
  std::vector<Batch> batches;
  std::optional<SweepOutput> output;
  if (resuming) {
    // Everything is checked before the file is opened for writing: a refused resume leaves it
    // as it was.
    std::vector<bool> done_before;
    if (const int code =
            open_for_resume(spec, configs, options, backend, total_cycles, output, done_before);
        code != kExitOk)
      return code;
    // The full sweep's batches less the cases already finished: every batch that still has to
    // run is the batch an uninterrupted sweep ran (a batch's statuses are written together).
    for (auto& cases_of_batch : plan) {
      std::erase_if(cases_of_batch,
                    [&](int i) { return done_before[static_cast<std::size_t>(i)]; });
      if (!cases_of_batch.empty()) batches.emplace_back().cases = std::move(cases_of_batch);
    }
    const auto done = std::count(done_before.begin(), done_before.end(), true);
    const int workers = std::min<int>(threads, static_cast<int>(batches.size()));
    if (!options.quiet)
      fmt::print(stderr,
                 "halite sweep: resuming {}: {} of {} case(s) already done (completed or failed), "
                 "{} to run in {} batch(es) on {}, backend {}, {} cycle(s)\n",
                 output_path, done, n, n - done, batches.size(), where(workers), backend,
                 total_cycles);
  } else {
    for (auto& cases_of_batch : plan) batches.emplace_back().cases = std::move(cases_of_batch);
    const int workers = std::min<int>(threads, static_cast<int>(batches.size()));
    if (!options.quiet)
      fmt::print(stderr, "halite sweep: {} case(s), {} batch(es) on {}, backend {}, {} cycle(s)\n",
                 n, batches.size(), where(workers), backend, total_cycles);
    // The file first, with every case "not run": from here on, every finished batch is in it.
    try {
      output.emplace(spec, cases, configs, options, backend, total_cycles, max_steps,
                     static_cast<int>(largest));
    } catch (const OutputExistsError& e) {  // created by someone else meanwhile
      fmt::print(stderr, "halite: {}\n", e.what());
      return kExitBadInput;
    }
  }
  const int workers = std::min<int>(threads, static_cast<int>(batches.size()));
  SweepOutput& out = *output;
  const int abort_after = test_abort_after_batches();

  // Execute: a pool of threads takes batches in order; each batch has its own Cycler and writes
  // its rows as it goes (BatchWriter).
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  // SIGINT/SIGTERM/SIGHUP: every batch stops at its next cycle boundary; finished cases stay
  // completed, cut ones stay "running" (results in part) and --resume runs them again.
  const StopSignals stop_signals;
  std::atomic<int> interrupted{0};
  // A nearly full disk stops every batch at its next cycle boundary, as a signal does, while
  // there is still room to write the statuses (DiskGuard; the run's check, issue 12).
  DiskGuard disk(output_path);
  std::mutex disk_mutex;
  std::atomic<bool> disk_stop{false};
  auto disk_low = [&] {
    const std::lock_guard<std::mutex> hold(disk_mutex);
    return disk.low();
  };
  std::exception_ptr output_error;
  int done = 0, failed_cases = 0;
  const auto start = std::chrono::steady_clock::now();
  // A batch is in the file (called under the output mutex): the counts, the progress line and
  // the crash test hook.
  auto batch_finished = [&](const Batch& batch, const std::string& where) {
    ++done;
    failed_cases += batch.failed;
    if (!options.quiet)
      print_batch_done(done, batches.size(), batch.cases.size(), batch.cases.front(),
                       {batch.failed, batch.cycles, batch.integrated, batch.skipped, batch.seconds},
                       where, start);
    if (abort_after > 0 && done == abort_after) {
      fmt::print(stderr,
                 "halite sweep: HALITE_TEST_ABORT_AFTER_BATCHES={}: ending the process as a crash "
                 "would (test hook)\n",
                 abort_after);
      std::_Exit(137);
    }
  };
  auto worker = [&] {
    for (std::size_t k; !stop && !stop_signal() && (k = next.fetch_add(1)) < batches.size();) {
      Batch& batch = batches[k];
      const auto t0 = std::chrono::steady_clock::now();
      // Writes under the output mutex; a write error stops the sweep.
      auto guarded = [&](auto&& write) {
        std::lock_guard<std::mutex> lock(out.mutex());
        try {
          write();
        } catch (...) {
          if (!output_error) output_error = std::current_exception();
          stop = true;
          throw OutputFailed{};
        }
      };
      BatchWriter rows([&](const RowBlock& block) { out.write(block); }, out.total_cycles(), batch,
                       options.block_records);
      try {
        compute_batch(
            batch, configs, case_cycles, options,
            [&](const std::vector<CycleRecord>& records) { guarded([&] { rows.add(records); }); },
            [&](const CycleBoundary& boundary) {
              if (const int signal = stop_signal()) throw Interrupted{signal};
              if (!boundary.end_of_run && disk_low()) throw DiskNearlyFull{};
            });
      } catch (const OutputFailed&) {
        return;
      } catch (const Interrupted& signal) {
        interrupted = signal.signal;
        stop = true;
        return;
      } catch (const DiskNearlyFull&) {
        disk_stop = true;
        stop = true;
        return;
      } catch (const std::exception& e) {
        batch.error = e.what();
      }
      try {
        guarded([&] {
          batch.failed = rows.finish(batch.error);
          batch.seconds =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          batch_finished(batch, options.cluster ? " on rank 0" : "");
        });
      } catch (const OutputFailed&) {
        return;
      }
    }
  };
  // Multi-process sweep: this main thread coordinates the other ranks (SweepCluster) while the
  // pool computes rank 0's share; batches come from the same queue (next).
  bool workers_unaccounted = false;
  auto coordinate = [&](SweepCluster& cluster) {
    int asking = cluster.size() - 1;       // worker ranks that have not been told to stop
    std::map<int, std::size_t> in_flight;  // worker rank -> its batch
    std::optional<std::chrono::steady_clock::time_point> stopping_since;
    SweepCluster::Message m;
    while (asking > 0) {
      if (!cluster.poll(&m)) {
        // Stopping (a signal, a full disk, a write error): the workers got the signal too, or
        // finish their batch and ask; a worker that says nothing for a minute is given up (the
        // job is then ended with MPI_Abort once the file is closed).
        if (stop || stop_signal()) {
          const auto now = std::chrono::steady_clock::now();
          if (!stopping_since) stopping_since = now;
          if (now - *stopping_since > std::chrono::seconds(60)) {
            workers_unaccounted = true;
            break;
          }
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
      switch (m.kind) {
        case SweepCluster::Message::Kind::kRequest: {
          std::size_t k = batches.size();
          if (!stop && !stop_signal()) k = next.fetch_add(1);
          if (k < batches.size()) {
            in_flight[m.source] = k;
            cluster.assign(m.source, batches[k].cases);
          } else {
            cluster.assign(m.source, {});
            --asking;
          }
          break;
        }
        case SweepCluster::Message::Kind::kBlock: {
          std::lock_guard<std::mutex> lock(out.mutex());
          if (output_error) break;
          try {
            out.write(m.block);
          } catch (...) {
            output_error = std::current_exception();
            stop = true;
          }
          break;
        }
        case SweepCluster::Message::Kind::kBatchDone: {
          std::lock_guard<std::mutex> lock(out.mutex());
          const auto it = in_flight.find(m.source);
          if (it == in_flight.end()) break;
          Batch& batch = batches[it->second];
          in_flight.erase(it);
          batch.failed = m.report.failed;
          batch.cycles = m.report.cycles;
          batch.integrated = m.report.integrated;
          batch.skipped = m.report.skipped;
          batch.seconds = m.report.seconds;
          batch_finished(batch, fmt::format(" on rank {}", m.source));
          break;
        }
        case SweepCluster::Message::Kind::kGone:
          in_flight.erase(m.source);
          --asking;
          if (m.signal != 0 && interrupted == 0) interrupted = m.signal;
          stop = true;
          break;
      }
    }
  };
  {
    std::vector<std::thread> pool;
    for (int t = 0; t < workers; ++t) pool.emplace_back(worker);
    if (options.cluster != nullptr) coordinate(*options.cluster);
    for (auto& t : pool) t.join();
  }
  if (output_error) std::rethrow_exception(output_error);
  out.close();
  if (workers_unaccounted) {
    fmt::print(stderr,
               "halite sweep: a worker rank did not answer within 60 s of the stop; every "
               "finished case is in {}; ending the job (--resume {} continues it)\n",
               output_path, output_path);
    options.cluster->abort(kExitOther);
  }
  if (disk_stop) {
    fmt::print(stderr,
               "halite sweep: stopped: the disk is nearly full: {} bytes free on {} (halite stops "
               "below {} bytes, HALITE_MIN_FREE_BYTES) after {} of {} batch(es); every finished "
               "case is in {}: free some space and continue with `halite sweep` and the same "
               "SWEEP and options plus --resume {}\n",
               disk.free_at_stop(), disk.directory(), disk.margin(), done, batches.size(),
               output_path, output_path);
    return kExitOther;
  }
  const int signal = interrupted ? interrupted.load() : stop_signal();
  if (signal != 0) {
    fmt::print(stderr,
               "halite sweep: interrupted by {} after {} of {} batch(es); every finished case is "
               "in {}: continue with `halite sweep` and the same SWEEP and options plus --resume "
               "{}\n",
               signal_name(signal), done, batches.size(), output_path, output_path);
    return 128 + signal;
  }
  if (!options.quiet) {
    std::size_t ran = 0;
    for (const Batch& batch : batches) ran += batch.cases.size();
    fmt::print(stderr,
               "halite sweep: {} case(s) x {} cycle(s) written to {} ({} failed) in {:.1f} s\n",
               ran, total_cycles, output_path, failed_cases,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return kExitOk;
}

int run_sweep_worker(const std::vector<SweepCase>& cases, const std::vector<RunConfig>& configs,
                     const SweepOptions& options) {
  if (options.cluster == nullptr || options.cluster->rank() == 0)
    throw std::invalid_argument("run_sweep_worker: not a worker rank of a multi-process sweep");
  if (cases.empty() || cases.size() != configs.size())
    throw std::invalid_argument("run_sweep_worker: no cases, or not one configuration per case");
  SweepCluster& cluster = *options.cluster;
  const int n = static_cast<int>(cases.size());
  std::vector<int> case_cycles(n);
  int total_cycles = 0;
  for (int i = 0; i < n; ++i) {
    case_cycles[i] = case_cycle_count(configs[i], options);
    total_cycles = std::max(total_cycles, case_cycles[i]);
  }
  // Test hook (tests only): this rank ends like a crash after its N-th batch.
  int crash_after = 0;
  if (const char* rank = std::getenv("HALITE_TEST_CRASH_RANK");
      rank != nullptr && std::atoi(rank) == cluster.rank())
    if (const char* after = std::getenv("HALITE_TEST_CRASH_AFTER_BATCHES"))
      crash_after = std::max(0, std::atoi(after));
  const StopSignals stop_signals;
  // Stopped by a signal, a worker tells rank 0 and ends with 0: rank 0 reports the interruption
  // (and exits 128 + signal); a worker's non-zero exit would make the launcher kill rank 0 before
  // it has written the statuses and closed the file.
  for (int sent = 0;;) {
    if (const int signal = stop_signal()) {
      cluster.send_gone(signal);
      return kExitOk;
    }
    Batch batch;
    batch.cases = cluster.request();
    if (batch.cases.empty()) return kExitOk;
    for (int i : batch.cases)
      if (i < 0 || i >= n)
        throw std::runtime_error(
            fmt::format("rank {}: case {} assigned, the sweep has {} cases", cluster.rank(), i, n));
    const auto t0 = std::chrono::steady_clock::now();
    BatchWriter rows([&](const RowBlock& block) { cluster.send_block(block); }, total_cycles, batch,
                     options.block_records);
    try {
      compute_batch(
          batch, configs, case_cycles, options,
          [&](const std::vector<CycleRecord>& records) { rows.add(records); },
          [&](const CycleBoundary&) {
            if (const int signal = stop_signal()) throw Interrupted{signal};
          });
    } catch (const Interrupted& signal) {
      cluster.send_gone(signal.signal);  // the batch stays "running": --resume runs it again
      return kExitOk;
    } catch (const std::exception& e) {
      batch.error = e.what();
    }
    SweepBatchReport report;
    report.failed = rows.finish(batch.error);
    report.cycles = batch.cycles;
    report.integrated = batch.integrated;
    report.skipped = batch.skipped;
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    cluster.send_batch_done(report);
    if (crash_after > 0 && ++sent == crash_after) {
      fmt::print(stderr,
                 "halite sweep: rank {}: HALITE_TEST_CRASH_AFTER_BATCHES={}: ending the process "
                 "as a crash would (test hook)\n",
                 cluster.rank(), crash_after);
      std::_Exit(137);
    }
  }
}

}  // namespace halite
