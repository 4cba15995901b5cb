#include "host/app/fit.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "host/app/checkpoint.hpp"
#include "host/app/config.hpp"
#include "host/app/run_guards.hpp"
#include "host/app/runner.hpp"
#include "host/app/units.hpp"
#include "host/app/validate.hpp"
#include "host/app/yaml_input.hpp"
#include "host/app/yaml_limits.hpp"

#ifdef HALITE_WITH_NLOPT
#include <nlopt.h>
#endif

namespace halite {

#ifndef HALITE_WITH_NLOPT
bool fit_available() {
  return false;
}
int run_fit(const FitOptions&) {
  std::fprintf(stderr,
               "halite fit: this halite was built without NLopt (Debian: libnlopt-dev); rebuild "
               "with it to fit\n");
  return kExitBadInput;
}
}  // namespace halite
#else

bool fit_available() {
  return true;
}

namespace {

constexpr double kChi2Interval = 3.841458820694124;  // chi^2(1) quantile 0.95
constexpr double kFailedResidual = 1e3;              // a point without a simulated value

[[noreturn]] void fail_at(const std::string& file, const YAML::Node& node, const std::string& key,
                          const std::string& message) {
  fail_at_node(file, node, key, message);
}

// ---- FIT.yaml -----------------------------------------------------------------------------------

struct Parameter {
  std::string key;   // config key
  std::string unit;  // unit text written after the number in --set ("" = none)
  bool log = false;
  double min = 0, max = 0, start = 0;  // natural values (in `unit`)
  bool has_prior = false;
  double prior_mean = 0, prior_sigma = 0;  // mean natural, sigma in the fitted coordinate t
  // fitted coordinate t = log10(x) or x; u = (t - t_min) / (t_max - t_min) in [0, 1]
  double t_min() const { return log ? std::log10(min) : min; }
  double t_span() const { return (log ? std::log10(max) : max) - t_min(); }
  double t_of(double x) const { return log ? std::log10(x) : x; }
  double x_of_t(double t) const { return log ? std::pow(10.0, t) : t; }
  double x_of_u(double u) const { return x_of_t(t_min() + u * t_span()); }
  double u_of_x(double x) const { return (t_of(x) - t_min()) / t_span(); }
  std::string set(double x) const {
    return fmt::format("{}={:.17g}{}{}", key, x, unit.empty() ? "" : " ", unit);
  }
};

struct FitSpec {
  std::string name;
  std::string data;  // DATA.yaml path ("" = the reference cell's data)
  std::map<std::string, double> weights;
  std::map<std::string, std::pair<int, int> > weight_marks;  // where each weight is written
  std::vector<Parameter> parameters;
  int starts = 1, max_evaluations = 200, profile_points = 4, seed = 1;
  double tolerance = 1e-4;
  bool profiles = true;
  std::string text;  // FIT.yaml as read (for the journal's identity)
};

std::string read_text(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw ConfigError(path, 0, 0, "", "no such file (FIT.yaml)");
  if (std::filesystem::file_size(path, ec) > kMaxConfigBytes)
    throw ConfigError(path, 1, 1, "", "larger than 1 MiB");
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string scalar(const std::string& file, const YAML::Node& map, const std::string& key,
                   const std::string& where) {
  const YAML::Node node = map[key];
  if (!node) fail_at(file, map, where, fmt::format("missing '{}'", key));
  if (!node.IsScalar())
    fail_at(file, node, where.empty() ? key : where + "." + key, "must be a single value");
  return node.Scalar();
}

double number(const std::string& file, const YAML::Node& map, const std::string& key,
              const std::string& where) {
  const std::string text = scalar(file, map, key, where);
  const auto v = units::parse_number(text);
  if (!v)
    fail_at(file, map[key], where + "." + key,
            fmt::format("'{}' is not a number (give the unit once, in 'unit')", text));
  return *v;
}

FitSpec load_fit(const std::string& path) {
  FitSpec spec;
  spec.text = read_text(path);
  YAML::Node root;
  try {
    reject_yaml_cpp_hang(spec.text);
    root = YAML::Load(spec.text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(path, e.mark.line + 1, e.mark.column + 1, "", "malformed YAML: " + e.msg);
  }
  if (const auto bad = check_yaml_limits(root))
    throw ConfigError(path, bad->mark.line + 1, bad->mark.column + 1, "",
                      "YAML too large or self-referencing: " + bad->what);
  if (!root.IsMap()) throw ConfigError(path, 1, 1, "", "the top level must be a map");
  allow_keys(path, root, "", {"name", "data", "weights", "parameters", "optimizer"});
  spec.name = root["name"] ? scalar(path, root, "name", "") : "fit";
  if (root["data"]) {
    const std::filesystem::path data(scalar(path, root, "data", ""));
    spec.data = (data.is_absolute() ? data : std::filesystem::path(path).parent_path() / data)
                    .lexically_normal()
                    .string();
  }
  if (const YAML::Node weights = root["weights"]) {
    if (!weights.IsMap()) fail_at(path, weights, "weights", "a map: dataset name -> weight");
    for (const auto& w : weights) {
      const auto v = units::parse_number(w.second.IsScalar() ? w.second.Scalar() : "");
      if (!v || *v < 0)
        fail_at(path, w.second, "weights." + w.first.Scalar(), "a weight is a number >= 0");
      spec.weights[w.first.Scalar()] = *v;
      spec.weight_marks[w.first.Scalar()] = {w.first.Mark().line + 1, w.first.Mark().column + 1};
    }
  }
  const YAML::Node params = root["parameters"];
  if (!params || !params.IsSequence() || params.size() == 0)
    fail_at(path, params ? params : root, "parameters",
            "'parameters' must be a non-empty list of {key, min, max, ...}");
  for (std::size_t i = 0; i < params.size(); ++i) {
    const YAML::Node p = params[i];
    const std::string where = fmt::format("parameters[{}]", i);
    if (!p.IsMap()) fail_at(path, p, where, "a map: {key, unit, min, max, scale, start, prior}");
    allow_keys(path, p, where, {"key", "unit", "min", "max", "scale", "start", "prior"});
    Parameter par;
    par.key = scalar(path, p, "key", where);
    for (const auto& other : spec.parameters)
      if (other.key == par.key)
        fail_at(path, p["key"], where + ".key", fmt::format("'{}' is fitted twice", par.key));
    par.unit = p["unit"] ? scalar(path, p, "unit", where) : "";
    par.min = number(path, p, "min", where);
    par.max = number(path, p, "max", where);
    const std::string scale = p["scale"] ? scalar(path, p, "scale", where) : "linear";
    if (scale != "linear" && scale != "log")
      fail_at(path, p["scale"], where + ".scale", "'linear' or 'log'");
    par.log = scale == "log";
    if (!(par.min < par.max)) fail_at(path, p["max"], where + ".max", "'max' must exceed 'min'");
    if (par.log && par.min <= 0)
      fail_at(path, p["min"], where + ".min", "a log-scale parameter needs min > 0");
    par.start = p["start"] ? number(path, p, "start", where) : par.x_of_u(0.5);
    if (par.start < par.min || par.start > par.max)
      fail_at(path, p["start"], where + ".start", "'start' must lie within [min, max]");
    if (const YAML::Node prior = p["prior"]) {
      if (!prior.IsMap()) fail_at(path, prior, where + ".prior", "a map: {mean, sigma}");
      allow_keys(path, prior, where + ".prior", {"mean", "sigma"});
      par.has_prior = true;
      par.prior_mean = number(path, prior, "mean", where + ".prior");
      par.prior_sigma = number(path, prior, "sigma", where + ".prior");
      if (par.prior_sigma <= 0 || (par.log && par.prior_mean <= 0))
        fail_at(path, prior, where + ".prior",
                "sigma > 0 (in decades for a log-scale parameter) and, on a log scale, mean > 0");
    }
    spec.parameters.push_back(par);
  }
  if (const YAML::Node opt = root["optimizer"]) {
    if (!opt.IsMap()) fail_at(path, opt, "optimizer", "a map");
    allow_keys(path, opt, "optimizer",
               {"starts", "max_evaluations", "tolerance", "seed", "profiles", "profile_points"});
    auto integer = [&](const char* key, int lo, int hi, int& out) {
      if (!opt[key]) return;
      const double v = number(path, opt, key, "optimizer");
      if (v < lo || v > hi || v != std::floor(v))
        fail_at(path, opt[key], std::string("optimizer.") + key,
                fmt::format("a whole number from {} to {}", lo, hi));
      out = static_cast<int>(v);
    };
    integer("starts", 1, 64, spec.starts);
    integer("max_evaluations", 5, 100000, spec.max_evaluations);
    integer("profile_points", 1, 20, spec.profile_points);
    integer("seed", 0, 1 << 30, spec.seed);
    if (opt["tolerance"]) {
      spec.tolerance = number(path, opt, "tolerance", "optimizer");
      if (!(spec.tolerance > 0 && spec.tolerance < 1))
        fail_at(path, opt["tolerance"], "optimizer.tolerance", "between 0 and 1");
    }
    if (opt["profiles"]) {
      const std::string v = scalar(path, opt, "profiles", "optimizer");
      if (v != "true" && v != "false")
        fail_at(path, opt["profiles"], "optimizer.profiles", "true or false");
      spec.profiles = v == "true";
    }
  }
  return spec;
}

// ---- the objective ------------------------------------------------------------------------------

// The residual of one point in units of its band (two-sided: half the band's width; one-sided:
// zero inside, the distance to the bound over the distance of the measured value from it, or 5 %
// of the bound, outside). A point without a simulated value costs kFailedResidual.
double point_residual(const MeasuredPoint& p, double simulated) {
  if (std::isnan(simulated)) return kFailedResidual;
  if (p.quantity == "voltage_rms") return simulated / p.upper;
  const bool lower = std::isfinite(p.lower), upper = std::isfinite(p.upper);
  if (lower && upper) return (simulated - p.measured) / (0.5 * (p.upper - p.lower));
  if (lower) {
    if (simulated >= p.lower) return 0.0;
    const double scale = std::max(std::abs(p.measured - p.lower), 0.05 * std::abs(p.lower));
    return (simulated - p.lower) / std::max(scale, 1e-300);
  }
  if (simulated <= p.upper) return 0.0;
  const double scale = std::max(std::abs(p.measured - p.upper), 0.05 * std::abs(p.upper));
  return (simulated - p.upper) / std::max(scale, 1e-300);
}

struct Evaluation {
  double chi2 = 0;
  std::vector<double> residuals;  // weighted, then the priors
};

// Bit-exact text of a double (hexadecimal floating point) and back.
std::string hex(double v) {
  return fmt::format("{:a}", v);
}
double unhex(const std::string& s) {
  return std::strtod(s.c_str(), nullptr);
}

class Objective {
 public:
  Objective(const FitSpec& spec, const FitOptions& options, std::string journal_path,
            std::uint64_t identity)
      : spec_(spec),
        options_(options),
        journal_path_(std::move(journal_path)),
        identity_(identity) {}

  // Reads a journal of the same fit (--resume); returns the evaluations it held.
  std::size_t load_journal() {
    std::ifstream in(journal_path_);
    std::string line;
    if (!std::getline(in, line)) return 0;
    if (line != header())
      throw ConfigError(journal_path_, 1, 1, "",
                        "this journal belongs to another fit (FIT.yaml, its data, CONFIG or "
                        "--set differ): run the fit again with --overwrite");
    const std::size_t k = spec_.parameters.size();
    while (std::getline(in, line)) {
      std::istringstream fields(line);
      std::vector<std::string> f;
      for (std::string w; fields >> w;) f.push_back(w);
      if (f.size() < k + 2 || f.back() != "end") break;  // a line cut by the kill
      std::vector<double> u(k);
      for (std::size_t j = 0; j < k; ++j) u[j] = unhex(f[j]);
      Evaluation e;
      e.chi2 = unhex(f[k]);
      for (std::size_t j = k + 1; j + 1 < f.size(); ++j) e.residuals.push_back(unhex(f[j]));
      cache_[key(u)] = e;
    }
    return cache_.size();
  }
  void start_journal(bool keep) {
    journal_.open(journal_path_, keep ? std::ios::app : std::ios::trunc);
    if (!journal_) throw std::runtime_error("cannot write the fit journal " + journal_path_);
    if (!keep) journal_ << header() << "\n" << std::flush;
  }

  std::vector<std::string> sets(const std::vector<double>& u) const {
    std::vector<std::string> out = options_.overrides;
    for (std::size_t j = 0; j < u.size(); ++j)
      out.push_back(spec_.parameters[j].set(spec_.parameters[j].x_of_u(u[j])));
    return out;
  }
  ValidationPlan plan(const std::vector<double>& u) const {
    ValidateOptions v;
    v.config = options_.config;
    v.data = spec_.data;
    v.overrides = sets(u);
    for (const auto& [dataset, weight] : spec_.weights)
      if (weight == 0.0) v.skip_datasets.push_back(dataset);  // not run at all
    return load_validation(v);
  }

  // chi^2 at u (cached; evaluated with `threads` threads for its runs).
  Evaluation evaluate(const std::vector<double>& u, int threads) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (const auto hit = cache_.find(key(u)); hit != cache_.end()) return hit->second;
    }
    const ValidationPlan p = plan(u);
    const auto results = simulate_runs(p, threads, options_.backend, "");
    if (const int signal = stop_signal()) throw Interrupted{signal};
    const Comparison c = compare_points(p, results);
    Evaluation e;
    for (std::size_t i = 0; i < p.points.size(); ++i) {
      const auto w = spec_.weights.find(p.points[i].dataset);
      const double weight = w == spec_.weights.end() ? 1.0 : w->second;
      e.residuals.push_back(std::sqrt(weight) * point_residual(p.points[i], c.simulated[i]));
    }
    for (std::size_t j = 0; j < u.size(); ++j) {
      const Parameter& par = spec_.parameters[j];
      if (par.has_prior)
        e.residuals.push_back((par.t_of(par.x_of_u(u[j])) - par.t_of(par.prior_mean)) /
                              par.prior_sigma);
    }
    for (double r : e.residuals) e.chi2 += r * r;
    const std::lock_guard<std::mutex> lock(mutex_);
    cache_[key(u)] = e;
    std::string line;
    for (double x : u) line += hex(x) + " ";
    line += hex(e.chi2);
    for (double r : e.residuals) line += " " + hex(r);
    journal_ << line << " end\n" << std::flush;
    ++evaluations_;
    if (e.chi2 < best_) best_ = e.chi2;
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    if (!options_.quiet) {
      std::string where;
      for (std::size_t j = 0; j < u.size(); ++j)
        where += fmt::format("{}{} = {:.5g}", j ? ", " : "", spec_.parameters[j].key,
                             spec_.parameters[j].x_of_u(u[j]));
      // the optimiser stops when it converges, at the latest after its budget (then Fisher)
      const int budget =
          spec_.starts * spec_.max_evaluations + 2 * static_cast<int>(spec_.parameters.size());
      fmt::print(stderr,
                 "halite fit: evaluation {} ({:.0f} s, {:.1f} s each; at most ~{:.0f} s more "
                 "before the profiles): chi2 {:.6g} (best {:.6g}) at {}\n",
                 evaluations_, elapsed, elapsed / evaluations_,
                 std::max(0, budget - evaluations_) * elapsed / evaluations_, e.chi2, best_, where);
    }
    return e;
  }
  std::size_t cached() const { return cache_.size(); }

 private:
  std::string header() const { return fmt::format("halite-fit-journal 1 {:016x}", identity_); }
  static std::string key(const std::vector<double>& u) {
    std::string k;
    for (double x : u) k += hex(x) + " ";
    return k;
  }
  const FitSpec& spec_;
  const FitOptions& options_;
  std::string journal_path_;
  std::uint64_t identity_;
  std::mutex mutex_;
  std::map<std::string, Evaluation> cache_;
  std::ofstream journal_;
  int evaluations_ = 0;  // in this session
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  double best_ = std::numeric_limits<double>::infinity();
};

// ---- NLopt (C API, RAII) ------------------------------------------------------------------------

class Nlopt {
 public:
  Nlopt(nlopt_algorithm algorithm, unsigned n) : opt_(nlopt_create(algorithm, n)) {
    if (!opt_) throw std::runtime_error("nlopt_create failed");
  }
  ~Nlopt() { nlopt_destroy(opt_); }
  Nlopt(const Nlopt&) = delete;
  Nlopt& operator=(const Nlopt&) = delete;
  nlopt_opt get() const { return opt_; }

 private:
  nlopt_opt opt_;
};

// Minimises f over the unit box in the coordinates `free` of u (the others held), from u.
// Returns the best chi^2; u holds the best point. Exceptions thrown by f (Interrupted, ...)
// stop NLopt and are rethrown.
double minimise(const std::function<double(const std::vector<double>&)>& f, std::vector<double>& u,
                const std::vector<int>& free, int max_evaluations, double tolerance) {
  if (free.empty()) return f(u);
  struct Context {
    const std::function<double(const std::vector<double>&)>* f;
    std::vector<double>* u;
    const std::vector<int>* free;
    std::exception_ptr error;
    nlopt_opt opt;
  } context{&f, &u, &free, nullptr, nullptr};
  const unsigned n = static_cast<unsigned>(free.size());
  Nlopt opt(n >= 2 ? NLOPT_LN_BOBYQA : NLOPT_LN_COBYLA, n);
  context.opt = opt.get();
  std::vector<double> lo(n, 0.0), hi(n, 1.0), x(n), step(n, 0.1);
  for (unsigned j = 0; j < n; ++j) x[j] = u[static_cast<std::size_t>(free[j])];
  nlopt_set_lower_bounds(opt.get(), lo.data());
  nlopt_set_upper_bounds(opt.get(), hi.data());
  nlopt_set_initial_step(opt.get(), step.data());
  nlopt_set_xtol_rel(opt.get(), tolerance);
  nlopt_set_ftol_rel(opt.get(), tolerance);
  nlopt_set_maxeval(opt.get(), max_evaluations);
  auto callback = [](unsigned n, const double* x, double*, void* data) -> double {
    auto* c = static_cast<Context*>(data);
    try {
      std::vector<double> v = *c->u;
      for (unsigned j = 0; j < n; ++j) v[static_cast<std::size_t>((*c->free)[j])] = x[j];
      return (*c->f)(v);
    } catch (...) {
      // stop NLopt; minimise() rethrows
      c->error = std::current_exception();
      nlopt_force_stop(c->opt);
      return HUGE_VAL;
    }
  };
  nlopt_set_min_objective(opt.get(), callback, &context);
  double best = HUGE_VAL;
  nlopt_optimize(opt.get(), x.data(), &best);
  if (context.error) std::rethrow_exception(context.error);
  for (unsigned j = 0; j < n; ++j) u[static_cast<std::size_t>(free[j])] = x[j];
  return best;
}

// (J^T J)^-1 by Gauss-Jordan with partial pivoting; false when singular (pivot below
// 1e-12 of the largest diagonal).
bool invert(std::vector<std::vector<double> > a, std::vector<std::vector<double> >& inverse) {
  const std::size_t n = a.size();
  inverse.assign(n, std::vector<double>(n, 0.0));
  for (std::size_t i = 0; i < n; ++i) inverse[i][i] = 1.0;
  double scale = 0;
  for (std::size_t i = 0; i < n; ++i) scale = std::max(scale, std::abs(a[i][i]));
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t pivot = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::abs(a[r][c]) > std::abs(a[pivot][c])) pivot = r;
    if (!(std::abs(a[pivot][c]) > 1e-12 * scale)) return false;
    std::swap(a[c], a[pivot]);
    std::swap(inverse[c], inverse[pivot]);
    const double d = a[c][c];
    for (std::size_t k = 0; k < n; ++k) {
      a[c][k] /= d;
      inverse[c][k] /= d;
    }
    for (std::size_t r = 0; r < n; ++r) {
      if (r == c) continue;
      const double m = a[r][c];
      for (std::size_t k = 0; k < n; ++k) {
        a[r][k] -= m * a[c][k];
        inverse[r][k] -= m * inverse[c][k];
      }
    }
  }
  return true;
}

template <class F>
void parallel_for(std::size_t n, int threads, const F& f) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < n;) {
      try {
        f(i);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next = n;
      }
    }
  };
  const int workers = std::max(1, std::min<int>(threads, static_cast<int>(n)));
  std::vector<std::thread> pool;
  for (int t = 1; t < workers; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

struct Profile {
  std::vector<double> t, chi2;   // fitted coordinate, profile chi^2 (sorted by t)
  double low = NAN, high = NAN;  // 95 % interval in t (NaN: open on that side)
  bool low_at_bound = false, high_at_bound = false;
};

std::string natural(const Parameter& p, double x) {
  return fmt::format("{:.4g}{}{}", x, p.unit.empty() ? "" : " ", p.unit);
}

}  // namespace

int run_fit(const FitOptions& options) {
  const FitSpec spec = load_fit(options.fit);
  const std::size_t k = spec.parameters.size();
  const int threads =
      std::max(1, options.threads > 0 ? options.threads
                                      : static_cast<int>(std::thread::hardware_concurrency()));
  const std::string output = options.output;
  const std::string journal_path = output + ".evaluations";
  const OutputLock lock(output);
  if (!lock.error().empty()) {
    fmt::print(stderr, "halite: {}\n", lock.error());
    return kExitBadInput;
  }
  std::error_code ec;
  if (!options.resume && !options.overwrite &&
      (std::filesystem::exists(output, ec) || std::filesystem::exists(journal_path, ec))) {
    fmt::print(stderr,
               "halite fit: {} or its journal {} exists: give --overwrite to start again or "
               "--resume to continue\n",
               output, journal_path);
    return kExitBadInput;
  }
  if (options.resume && !std::filesystem::exists(journal_path, ec)) {
    fmt::print(stderr, "halite fit: cannot resume: no journal {}\n", journal_path);
    return kExitBadInput;
  }

  // The data and every parameter at its start must make a valid configuration (errors located
  // in FIT.yaml, DATA.yaml or the CSVs before anything runs).
  std::vector<double> u0(k);
  for (std::size_t j = 0; j < k; ++j) u0[j] = spec.parameters[j].u_of_x(spec.parameters[j].start);
  // the fit's identity: FIT.yaml, the resolved configurations at the start, the data
  Fnv1a identity;
  identity.add(spec.text);
  Objective objective(spec, options, journal_path, 0);
  {
    ValidationPlan start = objective.plan(u0);
    for (const auto& [dataset, mark] : spec.weight_marks)
      if (std::find(start.dataset_names.begin(), start.dataset_names.end(), dataset) ==
          start.dataset_names.end())
        throw ConfigError(options.fit, mark.first, mark.second, "weights." + dataset,
                          fmt::format("no dataset named '{}' in the data", dataset));
    // (the configurations by their hash without comments: the header names the build's commit)
    for (const auto& run : start.runs)
      identity.add(fmt::format("{:016x}", config_hash(run.config.resolved_yaml)));
    for (const auto& p : start.points) {
      identity.add(p.dataset + p.quantity + p.source);
      identity.add(p.measured);
      identity.add(p.lower);
      identity.add(p.upper);
    }
    if (const std::string warning = coarse_mesh_warning(start.runs.front().config.mesh);
        !warning.empty())
      fmt::print(stderr, "halite fit: warning: {}\n", warning);
  }
  Objective journal(spec, options, journal_path, identity.value);
  if (options.resume) {
    const std::size_t n = journal.load_journal();
    if (!options.quiet) fmt::print(stderr, "halite fit: resuming with {} evaluation(s)\n", n);
  }
  journal.start_journal(options.resume);

  const StopSignals stop_signals;
  try {
    // 1. the starts: the given start, then a Latin hypercube in the unit box (seeded)
    std::vector<std::vector<double> > starts{u0};
    std::mt19937_64 rng(static_cast<std::uint64_t>(spec.seed));
    const int extra = spec.starts - 1;
    std::vector<std::vector<double> > cells(k);
    for (std::size_t j = 0; j < k; ++j) {
      for (int s = 0; s < extra; ++s) cells[j].push_back((s + 0.5) / extra);
      std::shuffle(cells[j].begin(), cells[j].end(), rng);
    }
    for (int s = 0; s < extra; ++s) {
      std::vector<double> u(k);
      for (std::size_t j = 0; j < k; ++j) u[j] = cells[j][static_cast<std::size_t>(s)];
      starts.push_back(u);
    }
    const int per_start = std::max(1, threads / static_cast<int>(starts.size()));
    std::vector<std::vector<double> > found(starts.size());
    std::vector<double> found_chi2(starts.size());
    std::vector<int> all(k);
    for (std::size_t j = 0; j < k; ++j) all[j] = static_cast<int>(j);
    parallel_for(starts.size(), threads, [&](std::size_t s) {
      std::vector<double> u = starts[s];
      found_chi2[s] = minimise(
          [&](const std::vector<double>& v) { return journal.evaluate(v, per_start).chi2; }, u, all,
          spec.max_evaluations, spec.tolerance);
      found[s] = u;
    });
    std::size_t best_start = 0;
    for (std::size_t s = 1; s < starts.size(); ++s)
      if (found_chi2[s] < found_chi2[best_start]) best_start = s;
    std::vector<double> best = found[best_start];
    const Evaluation at_best = journal.evaluate(best, threads);
    const std::size_t m = at_best.residuals.size();

    // 2. Fisher: central differences of the residuals in the fitted coordinates t
    const double h = 1e-3;
    std::vector<std::vector<double> > jac(m, std::vector<double>(k, 0.0));
    std::vector<std::vector<double> > plus(k), minus(k);
    std::vector<double> step(k);
    parallel_for(2 * k, threads, [&](std::size_t i) {
      const std::size_t j = i / 2;
      std::vector<double> u = best;
      // one-sided at a bound
      const double up = std::min(1.0, best[j] + h), down = std::max(0.0, best[j] - h);
      u[j] = i % 2 == 0 ? up : down;
      (i % 2 == 0 ? plus : minus)[j] = journal.evaluate(u, 1).residuals;
      if (i % 2 == 0) step[j] = (up - down) * spec.parameters[j].t_span();
    });
    for (std::size_t j = 0; j < k; ++j)
      for (std::size_t r = 0; r < m; ++r) jac[r][j] = (plus[j][r] - minus[j][r]) / step[j];
    std::vector<std::vector<double> > fisher(k, std::vector<double>(k, 0.0)), covariance;
    for (std::size_t a = 0; a < k; ++a)
      for (std::size_t b = 0; b < k; ++b)
        for (std::size_t r = 0; r < m; ++r) fisher[a][b] += jac[r][a] * jac[r][b];
    const bool regular = invert(fisher, covariance);
    std::vector<double> sigma(k, NAN);
    std::vector<std::vector<double> > correlation(k, std::vector<double>(k, NAN));
    if (regular) {
      for (std::size_t j = 0; j < k; ++j) sigma[j] = std::sqrt(std::max(covariance[j][j], 0.0));
      for (std::size_t a = 0; a < k; ++a)
        for (std::size_t b = 0; b < k; ++b)
          correlation[a][b] = covariance[a][b] / (sigma[a] * sigma[b]);
    }

    // 3. profiles: each parameter stepped away from the optimum on both sides, the others
    // re-optimised, until chi^2 rises by the 95 % quantile or the bound is reached
    std::vector<Profile> profiles(k);
    if (spec.profiles) {
      std::vector<std::vector<std::pair<double, double> > > sides(2 * k);
      parallel_for(2 * k, threads, [&](std::size_t i) {
        const std::size_t j = i / 2;
        const double direction = i % 2 == 0 ? -1.0 : 1.0;
        const Parameter& par = spec.parameters[j];
        // steps of one Fisher sigma (at most 1/4 of the range; 1/10 without a Fisher sigma)
        double du = regular ? sigma[j] / par.t_span() : 0.1;
        du = std::clamp(std::isfinite(du) ? du : 0.1, 1e-6, 0.25);
        std::vector<int> others;
        for (std::size_t o = 0; o < k; ++o)
          if (o != j) others.push_back(static_cast<int>(o));
        std::vector<double> u = best;
        for (int step_index = 1; step_index <= spec.profile_points; ++step_index) {
          const double target = best[j] + direction * du * step_index;
          u[j] = std::clamp(target, 0.0, 1.0);
          const double chi2 =
              minimise([&](const std::vector<double>& v) { return journal.evaluate(v, 1).chi2; }, u,
                       others, std::max(20, spec.max_evaluations / 4), spec.tolerance);
          sides[i].push_back({u[j], chi2});
          if (chi2 - at_best.chi2 > kChi2Interval || target <= 0.0 || target >= 1.0) break;
        }
      });
      for (std::size_t j = 0; j < k; ++j) {
        const Parameter& par = spec.parameters[j];
        Profile& pr = profiles[j];
        auto crossing = [&](const std::vector<std::pair<double, double> >& side, double& at,
                            bool& bound) {
          double prev_u = best[j], prev_d = 0.0;
          for (const auto& [u, chi2] : side) {
            const double d = chi2 - at_best.chi2;
            if (d > kChi2Interval) {
              // linear in sqrt(delta chi^2): exact for a quadratic profile
              const double f = (std::sqrt(kChi2Interval) - std::sqrt(std::max(prev_d, 0.0))) /
                               (std::sqrt(d) - std::sqrt(std::max(prev_d, 0.0)));
              at = par.t_min() + (prev_u + f * (u - prev_u)) * par.t_span();
              return;
            }
            prev_u = u;
            prev_d = d;
          }
          bound = !side.empty() && (side.back().first <= 0.0 || side.back().first >= 1.0);
        };
        crossing(sides[2 * j], pr.low, pr.low_at_bound);
        crossing(sides[2 * j + 1], pr.high, pr.high_at_bound);
        std::vector<std::pair<double, double> > points;
        for (int side = 0; side < 2; ++side)
          for (const auto& [u, chi2] : sides[2 * j + side])
            points.push_back({par.t_min() + u * par.t_span(), chi2});
        points.push_back({par.t_min() + best[j] * par.t_span(), at_best.chi2});
        std::sort(points.begin(), points.end());
        for (const auto& [t, chi2] : points) {
          pr.t.push_back(t);
          pr.chi2.push_back(chi2);
        }
      }
    }

    // 4. warnings
    std::vector<std::string> warnings;
    if (!regular)
      warnings.push_back(
          "the Fisher matrix is singular: some combination of the parameters does not change "
          "the fitted values (not identifiable from these data)");
    for (std::size_t a = 0; a < k; ++a) {
      const Parameter& par = spec.parameters[a];
      if (best[a] < 1e-3 || best[a] > 1 - 1e-3)
        warnings.push_back(fmt::format("{} sits on its bound ({}): widen the range or hold it",
                                       par.key, natural(par, par.x_of_u(best[a]))));
      for (std::size_t b = a + 1; b < k; ++b)
        if (regular && std::abs(correlation[a][b]) > 0.95)
          warnings.push_back(
              fmt::format("{} and {} are correlated ({:+.3f}): they trade off "
                          "against each other and are not identifiable apart",
                          par.key, spec.parameters[b].key, correlation[a][b]));
      if (spec.profiles && ((std::isnan(profiles[a].low) && profiles[a].low_at_bound) ||
                            (std::isnan(profiles[a].high) && profiles[a].high_at_bound)))
        warnings.push_back(
            fmt::format("{}: the profile stays within the 95 % level up to a "
                        "bound (flat profile): not identifiable on that side",
                        par.key));
    }

    // 5. the best point's runs, the files, the report
    const ValidationPlan plan = journal.plan(best);
    const auto results = simulate_runs(plan, threads, options.backend, "");
    if (const int signal = stop_signal()) throw Interrupted{signal};
    const Comparison comparison = compare_points(plan, results);
    auto writer = write_validation_file(output, true, plan, results, comparison, options.backend);
    std::vector<std::string> keys, units_text;
    std::vector<double> best_x, fisher_low, fisher_high, profile_low, profile_high, sigma_t;
    for (std::size_t j = 0; j < k; ++j) {
      const Parameter& par = spec.parameters[j];
      const double t = par.t_min() + best[j] * par.t_span();
      keys.push_back(par.key);
      units_text.push_back(par.unit);
      best_x.push_back(par.x_of_t(t));
      sigma_t.push_back(sigma[j]);
      fisher_low.push_back(par.x_of_t(t - 1.96 * sigma[j]));
      fisher_high.push_back(par.x_of_t(t + 1.96 * sigma[j]));
      profile_low.push_back(par.x_of_t(profiles[j].low));
      profile_high.push_back(par.x_of_t(profiles[j].high));
    }
    std::vector<double> corr_flat, cov_flat;
    for (std::size_t a = 0; a < k; ++a)
      for (std::size_t b = 0; b < k; ++b) {
        corr_flat.push_back(correlation[a][b]);
        cov_flat.push_back(regular ? covariance[a][b] : NAN);
      }
    writer->write_strings("/fit/parameters/key", keys, "fitted configuration keys");
    writer->write_strings("/fit/parameters/unit", units_text, "unit of the values");
    writer->write_array("/fit/parameters/best", best_x, {k}, "see unit", "the optimum");
    writer->write_array("/fit/parameters/fisher_sigma", sigma_t, {k}, "fitted coordinate",
                        "standard deviation in t = log10(x) (log scale) or x (linear)");
    writer->write_array("/fit/parameters/fisher_low", fisher_low, {k}, "see unit", "95 % (Fisher)");
    writer->write_array("/fit/parameters/fisher_high", fisher_high, {k}, "see unit",
                        "95 % (Fisher)");
    writer->write_array("/fit/parameters/profile_low", profile_low, {k}, "see unit",
                        "95 % (profile likelihood); NaN = open");
    writer->write_array("/fit/parameters/profile_high", profile_high, {k}, "see unit",
                        "95 % (profile likelihood); NaN = open");
    writer->write_array("/fit/correlation", corr_flat, {k, k}, "", "correlation matrix");
    writer->write_array("/fit/covariance", cov_flat, {k, k}, "fitted coordinate",
                        "(J^T J)^-1 in t");
    writer->write_array("/fit/residuals", at_best.residuals, {m}, "band half widths",
                        "weighted residuals at the optimum (then the priors)");
    for (std::size_t j = 0; j < k; ++j) {
      std::vector<double> x;
      for (double t : profiles[j].t) x.push_back(spec.parameters[j].x_of_t(t));
      writer->write_array(fmt::format("/fit/profiles/{}/value", j), x, {x.size()}, units_text[j],
                          keys[j]);
      writer->write_array(fmt::format("/fit/profiles/{}/chi2", j), profiles[j].chi2, {x.size()}, "",
                          "profile chi^2");
    }
    writer->write_strings("/fit/warnings",
                          warnings.empty() ? std::vector<std::string>{""} : warnings,
                          "identifiability warnings");
    writer->set_attribute("fit_chi2", fmt::format("{:.17g}", at_best.chi2));
    writer->set_attribute("fit_evaluations", static_cast<std::int64_t>(journal.cached()));
    writer->close();

    // the best configuration, as a file `halite run` accepts
    const std::filesystem::path stem = std::filesystem::path(output).replace_extension("");
    const std::string best_yaml = stem.string() + "_best.yaml";
    const RunConfig best_config = load_config(options.config, journal.sets(best));
    std::ofstream(best_yaml) << "# halite fit " << options.fit << ": the best parameters\n"
                             << best_config.resolved_yaml;

    std::string report;
    report += fmt::format("# halite fit: {}\n\n", spec.name);
    report +=
        fmt::format("chi^2 = {:.6g} at the optimum ({} residuals; {} evaluations, {} start(s))\n\n",
                    at_best.chi2, m, journal.cached(), starts.size());
    report +=
        "| parameter | best | 95 % (Fisher) | 95 % (profile) | start |\n|---|---|---|---|---|\n";
    for (std::size_t j = 0; j < k; ++j) {
      const Parameter& par = spec.parameters[j];
      auto end = [&](double x, bool at_bound) {
        return std::isnan(x) ? (at_bound ? std::string("bound") : std::string("open"))
                             : natural(par, x);
      };
      report += fmt::format(
          "| {} | {} | {} | {} | {} |\n", par.key, natural(par, best_x[j]),
          regular ? natural(par, fisher_low[j]) + " - " + natural(par, fisher_high[j]) : "singular",
          spec.profiles ? end(profile_low[j], profiles[j].low_at_bound) + " - " +
                              end(profile_high[j], profiles[j].high_at_bound)
                        : "not computed",
          natural(par, par.start));
    }
    report += "\nCorrelation matrix:\n\n|";
    for (std::size_t j = 0; j < k; ++j) report += " | " + spec.parameters[j].key;
    report += " |\n|---|";
    for (std::size_t j = 0; j < k; ++j) report += "---|";
    report += "\n";
    for (std::size_t a = 0; a < k; ++a) {
      report += "| " + spec.parameters[a].key;
      for (std::size_t b = 0; b < k; ++b) report += fmt::format(" | {:+.3f}", correlation[a][b]);
      report += " |\n";
    }
    report += "\n";
    for (const auto& w : warnings) report += "**Warning:** " + w + "\n\n";
    report += fmt::format("Best configuration: {}. Files: {} (runs, /validation, /fit), {}.\n\n",
                          best_yaml, output, journal_path);
    std::ofstream(stem.string() + ".md") << report;
    std::fputs(report.c_str(), stdout);
    print_comparison(plan, comparison, stdout);
    if (!options.plots.empty()) write_plots(output, options.plots, "halite fit");
    return comparison.any_failed_run ? kExitSolverFailed : kExitOk;
  } catch (const Interrupted& signal) {
    fmt::print(stderr,
               "halite fit: interrupted by {}; {} evaluation(s) are in {}: continue with the same "
               "command plus --resume\n",
               signal_name(signal.signal), journal.cached(), journal_path);
    return 128 + signal.signal;
  }
}

}  // namespace halite
#endif
