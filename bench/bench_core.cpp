// Core-engine benchmark: CPU and wall time of full 1C CCCV cycles and of the 1C discharge alone
// for the reference cell (embedded configuration), with the IDA work counters per cycle and the
// issue's targets (<= 10 ms per full cycle, <= 9 us per state per 1C discharge) side by side.
// It only measures and prints; it asserts nothing and always exits 0 unless the arguments are bad.
//
//   bench_core [--cycles N] [--mesh NX,NR] [--batch B]
//
// Every cycle is driven step by step through Cycler::run_step on the steps of the protocol's
// first block (0 charge, 1 CV hold, 2 discharge), so the full-cycle time and the discharge time
// come from the same cycles. One warm-up cycle (from the pristine state) is not counted.
// With --batch B > 1, B identical cells are also run in one batch in the same process and the
// per-cell time is compared with the single-cell run.
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "bench/machine.hpp"
#include "halite/build_info.hpp"
#include "host/app/config.hpp"
#include "host/engine/cycler.hpp"

using namespace halite;

namespace {

using halite::bench::cpu_seconds;

constexpr double kTargetCycleMs = 10.0;          // ms CPU per full 1C CCCV cycle
constexpr double kTargetStateDischargeUs = 9.0;  // us CPU per state per 1C discharge (published)

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Args {
  int cycles = 20;
  int nx = 0, nr = 0;  // 0: from the configuration
  int batch = 1;
};

void usage(const char* argv0) {
  std::fprintf(
      stderr,
      "usage: %s [--cycles N] [--mesh NX,NR] [--batch B]\n"
      "  --cycles N    measured 1C CCCV cycles after one warm-up cycle (default 20)\n"
      "  --mesh NX,NR  cathode finite volumes, radial shells (default: embedded config)\n"
      "  --batch B     also run B identical cells in one batch (per-cell time vs single)\n",
      argv0);
}

bool parse_int(const std::string& s, int* out) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < 1 || v > 1000000) return false;
  *out = int(v);
  return true;
}

bool parse_args(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "-h" || k == "--help") return false;
    if (i + 1 >= argc) return false;
    const std::string v = argv[++i];
    if (k == "--cycles") {
      if (!parse_int(v, &a->cycles)) return false;
    } else if (k == "--batch") {
      if (!parse_int(v, &a->batch)) return false;
    } else if (k == "--mesh") {
      const auto comma = v.find(',');
      if (comma == std::string::npos) return false;
      if (!parse_int(v.substr(0, comma), &a->nx) || !parse_int(v.substr(comma + 1), &a->nr))
        return false;
    } else {
      return false;
    }
  }
  return true;
}

std::string command_line(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    if (i) s += ' ';
    s += argv[i];
  }
  return s;
}

int cpuinfo_processors() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  int n = 0;
  while (std::getline(f, line))
    if (line.rfind("processor", 0) == 0) ++n;
  return n;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&t));
  return buf;
}

// One measured cycle: CPU/wall per step and the batch-wide IDA counters of the whole cycle.
struct CycleSample {
  double cpu[3] = {0, 0, 0}, wall[3] = {0, 0, 0};  // s, per step (charge, hold, discharge)
  SolverStats stats;                               // whole cycle
  SolverStats discharge_stats;                     // step 2 only
  long factorizations = 0;
  double charge_capacity = 0, discharge_capacity = 0;  // mAh/g, cell 0
  bool failed = false;
  std::string failure;
  double cpu_cycle() const { return cpu[0] + cpu[1] + cpu[2]; }
  double wall_cycle() const { return wall[0] + wall[1] + wall[2]; }
};

SolverStats minus(const SolverStats& a, const SolverStats& b) {
  SolverStats d;
  d.steps = a.steps - b.steps;
  d.residual_evals = a.residual_evals - b.residual_evals;
  d.jacobian_evals = a.jacobian_evals - b.jacobian_evals;
  d.nonlinear_iters = a.nonlinear_iters - b.nonlinear_iters;
  d.error_test_fails = a.error_test_fails - b.error_test_fails;
  d.nonlinear_conv_fails = a.nonlinear_conv_fails - b.nonlinear_conv_fails;
  return d;
}

struct Series {
  int cells = 1;
  int unknowns_per_cell = 0;
  std::vector<CycleSample> cycles;  // measured cycles (warm-up excluded)
  bool failed = false;
  std::string failure;
};

// Runs 1 warm-up + n measured cycles of the protocol's first block on `cells` identical cells.
Series run_series(const RunConfig& config, const models::CellLayout& layout, int cells, int n) {
  Series out;
  out.cells = cells;
  std::vector<CellSetup> setups(cells, cell_setup_from_config(config));
  for (int c = 0; c < cells; ++c) setups[c].name += " #" + std::to_string(c + 1);
  Cycler cycler(setups, layout, config.solver, config.protocol);
  out.unknowns_per_cell = cycler.model().per_cell();
  const auto& steps = cycler.protocol().blocks.at(0).steps;
  const int nsteps = std::min<int>(3, static_cast<int>(steps.size()));
  for (int k = 0; k <= n; ++k) {
    CycleSample s;
    const SolverStats before = cycler.integrator().stats();
    const long f_before = cycler.integrator().factorizations();
    SolverStats before_discharge;
    for (int st = 0; st < nsteps; ++st) {
      if (st == 2) before_discharge = cycler.integrator().stats();
      const double c0 = cpu_seconds(), w0 = wall_seconds();
      std::vector<StepOutcome> outcome;
      try {
        outcome = cycler.run_step(steps[st], st);
      } catch (const std::exception& e) {
        s.failed = true;
        s.failure = e.what();
      }
      s.cpu[st] = cpu_seconds() - c0;
      s.wall[st] = wall_seconds() - w0;
      if (s.failed) break;
      if (st == 2) s.discharge_stats = minus(cycler.integrator().stats(), before_discharge);
      for (int c = 0; c < cells; ++c)
        if (outcome[c].ended_by == "failed" && !s.failed) {
          s.failed = true;
          s.failure = "cell " + std::to_string(c + 1) + ": " + cycler.model().failure(c);
        }
      const double cap = cycler.specific_capacity(0, outcome[0].charge);
      if (cap > 0)
        s.discharge_capacity += cap;
      else
        s.charge_capacity -= cap;
    }
    s.stats = minus(cycler.integrator().stats(), before);
    s.factorizations = cycler.integrator().factorizations() - f_before;
    if (k > 0) out.cycles.push_back(s);
    if (s.failed) {
      out.failed = true;
      out.failure = (k == 0 ? "warm-up cycle: " : "cycle " + std::to_string(k) + ": ") + s.failure;
      break;
    }
  }
  return out;
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

double minimum(const std::vector<double>& v) {
  return v.empty() ? NAN : *std::min_element(v.begin(), v.end());
}

template <class F>
std::vector<double> collect(const Series& s, F f) {
  std::vector<double> v;
  for (const auto& c : s.cycles) v.push_back(f(c));
  return v;
}

void print_cycles(const char* label, const Series& s) {
  std::printf("%-8s %5s %9s %9s %9s %9s %7s %9s %9s %8s %9s %5s %5s %9s %9s\n", "run", "cycle",
              "cpu_ms", "wall_ms", "chg_ms", "dis_ms", "steps", "res_evals", "jac_evals", "factors",
              "nl_iters", "etf", "ncf", "q_chg", "q_dis");
  int k = 0;
  for (const auto& c : s.cycles) {
    ++k;
    std::printf("%-8s %5d %9.3f %9.3f %9.3f %9.3f %7ld %9ld %9ld %8ld %9ld %5ld %5ld %9.3f %9.3f\n",
                label, k, 1e3 * c.cpu_cycle(), 1e3 * c.wall_cycle(), 1e3 * c.cpu[0], 1e3 * c.cpu[2],
                c.stats.steps, c.stats.residual_evals, c.stats.jacobian_evals, c.factorizations,
                c.stats.nonlinear_iters, c.stats.error_test_fails, c.stats.nonlinear_conv_fails,
                c.charge_capacity, c.discharge_capacity);
  }
}

void print_metric(const char* name, const std::vector<double>& v, double target) {
  const double med = median(v), mn = minimum(v);
  if (target > 0)
    std::printf("%-34s %12.4f %12.4f %10.3f %9.3f %-6s\n", name, med, mn, target, med / target,
                med <= target ? "PASS" : "MISS");
  else
    std::printf("%-34s %12.4f %12.4f %10s %9s %-6s\n", name, med, mn, "-", "-", "-");
}

void print_summary(const Series& s, double per_cell_divisor) {
  const double d = per_cell_divisor;
  const int n = s.unknowns_per_cell;
  std::printf("%-34s %12s %12s %10s %9s %-6s\n", "metric", "median", "min", "target", "ratio",
              "status");
  print_metric("cpu_ms_per_cycle", collect(s, [&](auto& c) { return 1e3 * c.cpu_cycle() / d; }),
               kTargetCycleMs);
  print_metric("wall_ms_per_cycle", collect(s, [&](auto& c) { return 1e3 * c.wall_cycle() / d; }),
               0);
  print_metric("cpu_ms_charge_cc", collect(s, [&](auto& c) { return 1e3 * c.cpu[0] / d; }), 0);
  print_metric("cpu_ms_hold_cv", collect(s, [&](auto& c) { return 1e3 * c.cpu[1] / d; }), 0);
  print_metric("cpu_ms_discharge_1c", collect(s, [&](auto& c) { return 1e3 * c.cpu[2] / d; }), 0);
  print_metric("wall_ms_discharge_1c", collect(s, [&](auto& c) { return 1e3 * c.wall[2] / d; }), 0);
  print_metric("cpu_us_per_state_discharge_1c",
               collect(s, [&](auto& c) { return 1e6 * c.cpu[2] / d / n; }),
               kTargetStateDischargeUs);
  print_metric("steps_per_cycle", collect(s, [](auto& c) { return double(c.stats.steps); }), 0);
  print_metric("res_evals_per_cycle",
               collect(s, [](auto& c) { return double(c.stats.residual_evals); }), 0);
  print_metric("jac_evals_per_cycle",
               collect(s, [](auto& c) { return double(c.stats.jacobian_evals); }), 0);
  print_metric("factorizations_per_cycle",
               collect(s, [](auto& c) { return double(c.factorizations); }), 0);
  print_metric("nl_iters_per_cycle",
               collect(s, [](auto& c) { return double(c.stats.nonlinear_iters); }), 0);
  print_metric("err_test_fails_per_cycle",
               collect(s, [](auto& c) { return double(c.stats.error_test_fails); }), 0);
  print_metric("steps_discharge_1c",
               collect(s, [](auto& c) { return double(c.discharge_stats.steps); }), 0);
  print_metric("res_evals_discharge_1c",
               collect(s, [](auto& c) { return double(c.discharge_stats.residual_evals); }), 0);
  print_metric("jac_evals_discharge_1c",
               collect(s, [](auto& c) { return double(c.discharge_stats.jacobian_evals); }), 0);
  print_metric(
      "cpu_us_per_res_eval_incl",
      collect(s, [&](auto& c) { return 1e6 * c.cpu_cycle() / d / c.stats.residual_evals; }), 0);
  print_metric("cpu_us_per_step_incl",
               collect(s, [&](auto& c) { return 1e6 * c.cpu_cycle() / d / c.stats.steps; }), 0);
}

void print_sanity(const char* label, const Series& s) {
  if (s.cycles.empty()) {
    std::printf("sanity %-6s: no measured cycle\n", label);
    return;
  }
  const auto& c = s.cycles.back();
  std::printf(
      "sanity %-6s: last cycle (%zu) charge %.3f mAh/g, discharge %.3f mAh/g (cell 1), CE %.6f%s\n",
      label, s.cycles.size(), c.charge_capacity, c.discharge_capacity,
      c.charge_capacity > 0 ? c.discharge_capacity / c.charge_capacity : NAN,
      c.failed ? " [FAILED]" : "");
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "-h" || std::string(argv[i]) == "--help") {
      usage(argv[0]);
      return 0;
    }
  if (!parse_args(argc, argv, &args)) {
    usage(argv[0]);
    return 2;
  }

  // One core: pin the (single-threaded) process to the CPU it starts on.
  int pinned = -1;
  {
    const int cpu = sched_getcpu();
    cpu_set_t set;
    CPU_ZERO(&set);
    if (cpu >= 0) {
      CPU_SET(cpu, &set);
      if (sched_setaffinity(0, sizeof set, &set) == 0) pinned = cpu;
    }
  }

  RunConfig config = load_config("");
  if (args.nx > 0) config.mesh.cathode_nodes = args.nx;
  if (args.nr > 0) config.mesh.radial_shells = args.nr;
  const models::CellLayout layout = config.mesh.layout(config.cell.particle_classes);
  const auto& steps = config.protocol.blocks.at(0).steps;

  std::printf("# halite bench_core\n");
  std::printf("command: %s\n", command_line(argc, argv).c_str());
  std::printf("machine: %s | %d logical CPUs in /proc/cpuinfo, %ld online | %s\n",
              halite::bench::cpu_model().c_str(), cpuinfo_processors(),
              sysconf(_SC_NPROCESSORS_ONLN),
              pinned >= 0 ? ("pinned to CPU " + std::to_string(pinned)).c_str() : "not pinned");
  std::printf("date: %s\n", utc_now().c_str());
#ifdef NDEBUG
  const char* build = "NDEBUG";
#else
  const char* build = "assertions ON (not a Release build)";
#endif
  std::printf("build: halite %s, commit %s, %s, compiler %s\n", build_info::kVersion,
              build_info::kGitCommit, build, __VERSION__);
  std::printf("cell: %s (%s)\n", config.name.c_str(), config.source.c_str());
  std::printf("mesh: nodes=%d classes=%d shells=%d -> unknowns_per_cell=%d\n", layout.nodes,
              layout.classes, layout.shells, layout.size());
  std::printf("protocol (block 1):");
  for (std::size_t i = 0; i < steps.size(); ++i)
    std::printf(" [%zu] %s;", i, steps[i].text.c_str());
  std::printf("\n");
  std::printf("solver: rtol=%g max_step=%g s\n", config.solver.relative_tolerance,
              config.solver.max_step);
  std::printf(
      "timing: CPU = getrusage(RUSAGE_SELF) user+sys, wall = steady_clock; "
      "1 warm-up cycle, %d measured cycles; PASS/MISS on the median\n",
      args.cycles);
  std::printf(
      "columns: *_ms = CPU ms unless wall_*; q_* = mAh/g of active material; "
      "counters are batch-wide IDA totals per cycle\n\n");

  const Series single = run_series(config, layout, 1, args.cycles);
  std::printf("## per cycle, single cell (batch 1)\n");
  print_cycles("single", single);
  if (single.failed) std::printf("FAILED: %s\n", single.failure.c_str());
  std::printf("\n## summary, single cell (batch 1), %zu cycles\n", single.cycles.size());
  print_summary(single, 1.0);
  std::printf("\n");
  print_sanity("single", single);

  if (args.batch > 1) {
    const Series batch = run_series(config, layout, args.batch, args.cycles);
    std::printf("\n## per cycle, batch %d (times are for the whole batch)\n", args.batch);
    print_cycles("batch", batch);
    if (batch.failed) std::printf("FAILED: %s\n", batch.failure.c_str());
    std::printf("\n## summary, batch %d, per cell (batch time / %d; counters batch-wide)\n",
                args.batch, args.batch);
    print_summary(batch, double(args.batch));
    const double s_cyc = median(collect(single, [](auto& c) { return c.cpu_cycle(); }));
    const double b_cyc = median(collect(batch, [](auto& c) { return c.cpu_cycle(); }));
    const double s_dis = median(collect(single, [](auto& c) { return c.cpu[2]; }));
    const double b_dis = median(collect(batch, [](auto& c) { return c.cpu[2]; }));
    const double s_res =
        median(collect(single, [](auto& c) { return c.cpu_cycle() / c.stats.residual_evals; }));
    const double b_res =
        median(collect(batch, [](auto& c) { return c.cpu_cycle() / c.stats.residual_evals; }));
    std::printf("\n## batch overhead (medians; ratio = (batch / B) / single, 1 = no overhead)\n");
    std::printf("%-34s %12s %12s %9s\n", "metric", "single", "batch/B", "ratio");
    std::printf("%-34s %12.4f %12.4f %9.3f\n", "cpu_ms_per_cycle", 1e3 * s_cyc,
                1e3 * b_cyc / args.batch, b_cyc / args.batch / s_cyc);
    std::printf("%-34s %12.4f %12.4f %9.3f\n", "cpu_ms_discharge_1c", 1e3 * s_dis,
                1e3 * b_dis / args.batch, b_dis / args.batch / s_dis);
    std::printf("%-34s %12.4f %12.4f %9.3f\n", "cpu_us_per_res_eval_per_cell", 1e6 * s_res,
                1e6 * b_res / args.batch, b_res / args.batch / s_res);
    std::printf("\n");
    print_sanity("batch", batch);
  }
  return 0;
}
