// GPU benchmark of the protocol engine: batches of reference cells cycled through the main block of
// the reference protocol by Cycler::integrate_cycle (full integration, no cycle skipping) on the
// CUDA backend, and the same cells on the CPU backend on all host cores, in the same run. Prints
// completed cell-cycles/s, cell-steps/s, the GPU/CPU ratio, the share of the memory-bandwidth
// floor of docs/gpu.md and the heterogeneity penalty, with the issue's targets. The `## summary`
// table comes last (bench/gpu_check.sh prints from there to the end). It measures and prints; it
// asserts nothing, and exits 0 unless the arguments are bad.
//
//   bench_gpu [--batches 1,64,1024,8192] [--cycles N] [--threads T] [--cpu-max-cells M]
//             [--hetero B] [--mesh NX,NR] [--budget S]
//
// Stretch. Every batch starts from the pristine cells and runs one warm-up cycle (not timed: it
// pays for module loading and first launches, and starts from the pristine state), then N timed
// cycles (--cycles, default 2) of the protocol's first block: 1C charge to 4.3 V, 15 min hold at
// 4.3 V, 1C discharge to 2.7 V. Every cell ends every protocol step on its own root; the step
// lasts until the slowest cell has ended it.
//
// cell-cycles/s: cycles completed by cells that had not failed, over the wall time of the timed
// cycles. cell-steps/s: IDA steps summed over the cells that were active (not frozen), over the
// same time. In a homogeneous batch every cell ends every step at the same root, so each cell is
// active in every step of the batch: cells x batch steps. In a heterogeneous batch a cell counts
// its own steps: the IDA steps it takes for the same cycles when integrated alone (CPU, measured
// in this run for every cell type). Steps that the batch takes for other cells' events while a
// cell is still active are not counted as that cell's work: they are the cost of batching it.
//
// CPU. The cells are split into T slices (--threads, default all hardware threads; at most one
// slice per cell), each one Cycler(Backend::kCpu) on its own thread. All slices run the warm-up,
// then all start the timed cycles together; the wall time runs until the last slice finishes.
// With --cpu-max-cells M, a larger batch is measured on the CPU with its first M cells (same mix
// of cell types): once every thread has cells, the CPU's cell-cycles/s on T threads does not
// depend on the batch size, so the rate of M cells stands for the batch.
//
// Heterogeneous batch (--hetero B, default the largest batch; 0: none): 64 cell types, areal
// loading 0.7-1.3x the reference (8 levels, set through the configuration's loading.areal_mass,
// so that the cathode thickness, the 1C current and the active mass follow) times C-rate
// 0.5-2C (8 geometric levels; the cell's 1C current is scaled, so the block's "1C" steps run at
// that rate). Their cut-offs and hold ends fall at different times. Cell c has type c mod 64, in
// a Latin-square order: each group of cells 8k..8k+7 spans all 8 loadings and all 8 rates, so
// every warp holds a full mix. Penalty =
// 1 - (heterogeneous cell-cycles/s) / (homogeneous cell-cycles/s) at the same batch size.
//
// --budget S: no measurement starts after S seconds, and the timed cycles of a measurement are
// cut (to at least 1) when its warm-up cycle says they would run past S; what was skipped or cut
// is printed. The summary is then still printed within the caller's timeout.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/gpu_integrator.hpp"
#include "cuda/register_backend.hpp"
#include "halite/build_info.hpp"
#include "host/config.hpp"
#include "host/cycler.hpp"
#include "host/integrator.hpp"
#include "models/aging.hpp"
#include "models/structured_solve.hpp"

namespace {

using halite::Backend;
using halite::CellSetup;
using halite::Cycler;
using halite::CycleRecord;
using halite::RunConfig;
namespace models = halite::models;

// The issue's targets, at the largest batch on an H200.
constexpr double kH200Bandwidth = 4.3e12;  // B/s, measured on the H200 (docs/gpu.md)
constexpr double kTargetFloorShare = 0.30;
constexpr double kTargetCellSteps = 3e6;  // cell-steps/s
constexpr double kTargetRatio = 15.0;     // GPU / CPU cell-cycles/s
constexpr double kTargetPenalty = 0.25;

constexpr int kLoadingLevels = 8, kRateLevels = 8;

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// --- arguments ---------------------------------------------------------------------------------

struct Args {
  std::vector<int> batches{1, 64, 1024, 8192};
  int cycles = 2;
  int threads = 0;        // 0: hardware_concurrency
  int cpu_max_cells = 0;  // 0: no cap
  int hetero = -1;        // -1: the largest batch; 0: none
  int nx = 0, nr = 0;     // 0: from the configuration
  double budget = 0;      // s; 0: none
};

bool parse_count(const std::string& s, int min, int* out) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || v < min || v > 10000000) return false;
  *out = int(v);
  return true;
}

bool parse_count_list(const std::string& s, std::vector<int>* out) {
  out->clear();
  std::size_t pos = 0;
  for (;;) {
    const std::size_t comma = s.find(',', pos);
    int v = 0;
    if (!parse_count(s.substr(pos, comma == std::string::npos ? comma : comma - pos), 1, &v))
      return false;
    out->push_back(v);
    if (comma == std::string::npos) return true;
    pos = comma + 1;
  }
}

bool parse_args(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) return false;
    const std::string v = argv[++i];
    bool ok = false;
    if (k == "--batches") {
      ok = parse_count_list(v, &a->batches);
    } else if (k == "--cycles") {
      ok = parse_count(v, 1, &a->cycles);
    } else if (k == "--threads") {
      ok = parse_count(v, 1, &a->threads);
    } else if (k == "--cpu-max-cells") {
      ok = parse_count(v, 1, &a->cpu_max_cells);
    } else if (k == "--hetero") {
      ok = parse_count(v, 0, &a->hetero);
    } else if (k == "--mesh") {
      const auto comma = v.find(',');
      ok = comma != std::string::npos && parse_count(v.substr(0, comma), 1, &a->nx) &&
           parse_count(v.substr(comma + 1), 1, &a->nr);
    } else if (k == "--budget") {
      char* end = nullptr;
      a->budget = std::strtod(v.c_str(), &end);
      ok = !v.empty() && *end == '\0' && a->budget > 0;
    }
    if (!ok) return false;
  }
  return true;
}

void usage(const char* argv0) {
  std::fprintf(
      stderr,
      "usage: %s [--batches 1,64,1024,8192] [--cycles N] [--threads T] [--cpu-max-cells M]\n"
      "          [--hetero B] [--mesh NX,NR] [--budget S]\n"
      "  --batches L        batch sizes of reference cells (homogeneous batches)\n"
      "  --cycles N         timed cycles of protocol block 1 after 1 warm-up cycle (default 2)\n"
      "  --threads T        CPU backend threads (default: all hardware threads)\n"
      "  --cpu-max-cells M  measure larger batches on the CPU with their first M cells\n"
      "  --hetero B         heterogeneous batch size (default: the largest batch; 0: none)\n"
      "  --mesh NX,NR       cathode finite volumes, radial shells (default: configuration)\n"
      "  --budget S         start no measurement after S seconds; cut timed cycles to fit\n"
      "See the comment at the top of bench/bench_gpu.cu for the definitions.\n",
      argv0);
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// --- memory-bandwidth floor (docs/gpu.md) -------------------------------------------------------

// How often each part runs per IDA step: measured by wrapping the host batch vector's ops in an IDA
// set-up identical to the integrators' (docs/gpu.md, "Memory-bandwidth floor"). The floor is kept
// fixed at these counts so that runs compare; the rows print each run's own residuals, Jacobians,
// factorisations and Newton iterations per step next to them.
struct CallsPerStep {
  double vector_touches = 77.2;  // n-vector reads + writes by IDA's vector ops
  double residuals = 1.14;
  double jacobians = 0.37;
  double factorizations = 0.66;
  double solves = 1.10;  // = Newton iterations
};

// Bytes that must move per cell-step in the present design, each array read or written once with
// perfect streaming (the fewest bytes the kernels as designed can move).
struct Floor {
  double vector_ops = 0, residual = 0, jacobian = 0, factorization = 0, solve = 0;
  double total() const { return vector_ops + residual + jacobian + factorization + solve; }
  double cell_steps_per_s() const { return kH200Bandwidth / total(); }
};

struct CellBytes {
  double vec, params, coeffs, jac, factors, pivots, jac_solve, factors_solve;
};

CellBytes cell_bytes(const models::CellLayout& L) {
  const double n = L.size(), P = L.particles(), S = L.shells, X = L.x_size(), N = L.nodes;
  CellBytes b{};
  b.vec = 8 * n;
  b.params = sizeof(models::CellParams);
  b.coeffs = P * sizeof(models::ParticleCoefficients);
  b.jac = 8.0 * models::cell_jacobian_size(L);    // P(5S+2) + X^2 + XN doubles
  b.factors = 8.0 * models::cell_factor_size(L);  // P(4S+3) + X^2 doubles
  b.pivots = 4 * X;
  b.jac_solve = 8 * (P * 2 * S + X * N);            // sup and dj/dx of each particle, mean coupling
  b.factors_solve = 8 * (P * (4 * S + 1) + X * X);  // all factors but alpha, beta
  return b;
}

Floor bandwidth_floor(const models::CellLayout& L, const CallsPerStep& k) {
  const CellBytes b = cell_bytes(L);
  Floor f;
  f.vector_ops = k.vector_touches * b.vec;
  // y, y' read, F written; the last residual point copied (read + write) for the Jacobian
  f.residual = k.residuals * (5 * b.vec + b.params + b.coeffs);
  f.jacobian = k.jacobians * (b.vec + b.params + b.coeffs + b.jac);
  f.factorization = k.factorizations * (b.jac + b.factors + b.pivots + b.params);
  f.solve = k.solves * (2 * b.vec + b.jac_solve + b.factors_solve + b.params);
  return f;
}

void print_floor(const models::CellLayout& L) {
  const CellBytes b = cell_bytes(L);
  const CallsPerStep k;
  const Floor f = bandwidth_floor(L, k);
  std::printf(
      "## memory-bandwidth floor per cell-step (docs/gpu.md)\n"
      "n = %d unknowns, P = %d particles, S = %d shells, X = %d x-unknowns, N = %d nodes; "
      "n-vector = 8n = %.0f B; params = %.0f B (CellParams), coeffs = P x %zu = %.0f B "
      "(ParticleCoefficients)\n",
      L.size(), L.particles(), L.shells, L.x_size(), L.nodes, b.vec, b.params,
      sizeof(models::ParticleCoefficients), b.coeffs);
  std::printf("%-14s %-76s %9s %11s\n", "part", "bytes per call", "calls/step", "B/cell-step");
  std::printf("%-14s %-76s %9s %11.0f\n", "vector ops",
              "77.2 n-vector reads+writes per step (measured on the host vector)", "-",
              f.vector_ops);
  std::printf("%-14s %-76s %9.2f %11.0f\n", "residual",
              ("y, y' read, F written, last point copied: 5*8n + params + coeffs = " +
               std::to_string(int(5 * b.vec + b.params + b.coeffs)))
                  .c_str(),
              k.residuals, f.residual);
  std::printf("%-14s %-76s %9.2f %11.0f\n", "jacobian",
              ("y, params, coeffs read; J (P(5S+2)+X^2+XN doubles) written = " +
               std::to_string(int(b.vec + b.params + b.coeffs + b.jac)))
                  .c_str(),
              k.jacobians, f.jacobian);
  std::printf("%-14s %-76s %9.2f %11.0f\n", "factorisation",
              ("J read, factors (P(4S+3)+X^2) + pivots written, CellParams = " +
               std::to_string(int(b.jac + b.factors + b.pivots + b.params)))
                  .c_str(),
              k.factorizations, f.factorization);
  std::printf("%-14s %-76s %9.2f %11.0f\n", "solve",
              ("b, x; J parts (2SP+XN); factors (P(4S+1)+X^2); CellParams = " +
               std::to_string(int(2 * b.vec + b.jac_solve + b.factors_solve + b.params)))
                  .c_str(),
              k.solves, f.solve);
  CallsPerStep fused = k;
  fused.vector_touches = 20;
  const Floor ff = bandwidth_floor(L, fused);
  std::printf(
      "total %.0f B per cell-step -> floor at %.1f TB/s (H200): %.3g cell-steps/s; "
      "%.0f %% of it: %.3g cell-steps/s\n"
      "(with IDA's vector ops fused down to 20 n-vector touches: %.0f B, %.3g cell-steps/s)\n\n",
      f.total(), kH200Bandwidth / 1e12, f.cell_steps_per_s(), 100 * kTargetFloorShare,
      kTargetFloorShare * f.cell_steps_per_s(), ff.total(), ff.cell_steps_per_s());
}

// --- measurements ------------------------------------------------------------------------------

struct Budget {
  double start = now();
  double seconds = 0;  // 0: none
  bool spent() const { return seconds > 0 && now() - start > seconds; }
  // Timed cycles that fit in what is left, given the wall time of one (the warm-up) cycle.
  int cycles_that_fit(int wanted, double per_cycle) const {
    if (seconds <= 0 || per_cycle <= 0) return wanted;
    const double left = seconds - (now() - start);
    return std::clamp(int(left / per_cycle), 1, wanted);
  }
};

struct Bench {
  RunConfig config;
  models::CellLayout layout;
  int cycles = 2;
  int threads = 1;
  Budget budget;
};

// Each cell's own IDA steps per timed cycle, for heterogeneous batches: cell c has type
// c % by_type.size(), and by_type[type][k] is its steps in timed cycle k when integrated alone.
// Empty: a homogeneous batch (every cell active in every batch step).
struct OwnSteps {
  std::vector<std::vector<long>> by_type;
};

struct Measurement {
  std::string note;             // why it was not measured, or a failure
  int cells = 0;                // cells integrated
  int cycles = 0;               // timed cycles
  double warmup = 0, wall = 0;  // s
  double cell_cycles = 0;       // completed by cells that had not failed
  double cell_steps = 0;        // active cell-steps (see the top of the file)
  double batch_steps = NAN;     // IDA steps per cycle of the batch (CPU: mean over slices)
  // per IDA step (GPU batch, or CPU slice 0): residuals, linear-solver setups, factorisations,
  // Newton iterations; GPU only: device vector-op launches and host-synchronising reductions
  double residuals = NAN, jacobians = NAN, factorizations = NAN, newton = NAN;
  double launches = NAN, syncs = NAN;
  bool cut = false;          // fewer timed cycles than asked for (--budget)
  int failed = 0;            // cells failed by the end
  std::string failure;       // the first one's reason
  double q_discharge = NAN;  // cell 1, last timed cycle, mAh/g
  bool measured() const { return note.empty() && wall > 0; }
  double cycles_per_s() const { return measured() ? cell_cycles / wall : NAN; }
  double steps_per_s() const { return measured() ? cell_steps / wall : NAN; }
};

// Adds the timed cycles of cells [first, first + records.size()) of a batch.
void tally(const std::vector<std::vector<CycleRecord>>& cycles, int first, const OwnSteps& own,
           Measurement* m) {
  for (std::size_t k = 0; k < cycles.size(); ++k)
    for (std::size_t c = 0; c < cycles[k].size(); ++c) {
      const CycleRecord& r = cycles[k][c];
      if (r.failed) continue;
      m->cell_cycles += 1;
      m->cell_steps += own.by_type.empty()
                           ? double(r.stats.steps)
                           : double(own.by_type[(first + c) % own.by_type.size()][k]);
    }
  if (cycles.empty()) return;
  for (const CycleRecord& r : cycles.back())
    if (r.failed && ++m->failed == 1) m->failure = r.failure;
  if (first == 0 && !cycles.back().empty()) m->q_discharge = cycles.back()[0].discharge_capacity;
}

// IDA counters of a Cycler's integrator, for per-step ratios over the timed cycles.
struct Counters {
  long steps = 0, residuals = 0, jacobians = 0, factorizations = 0, newton = 0;
  long launches = 0, syncs = 0;
  bool device = false;  // the counters above come from the CUDA backend's vectors
  static Counters of(Cycler& cycler) {
    auto& in = cycler.integrator();
    const halite::SolverStats s = in.stats();
    Counters c{s.steps, s.residual_evals, s.jacobian_evals, in.factorizations(), s.nonlinear_iters};
    // The device vector's counters (kernel launches and synchronising reductions) are diagnostics
    // of the CUDA backend only.
    if (auto* gpu = dynamic_cast<halite::cuda::GpuBatchIntegrator*>(&in)) {
      c.launches = gpu->vectors().kernel_launches;
      c.syncs = gpu->vectors().reductions;
      c.device = true;
    }
    return c;
  }
};

void set_per_step(const Counters& a, const Counters& b, Measurement* m) {
  const double steps = double(b.steps - a.steps);
  if (steps <= 0) return;
  m->residuals = double(b.residuals - a.residuals) / steps;
  m->jacobians = double(b.jacobians - a.jacobians) / steps;
  m->factorizations = double(b.factorizations - a.factorizations) / steps;
  m->newton = double(b.newton - a.newton) / steps;
  if (a.device && b.device) {
    m->launches = double(b.launches - a.launches) / steps;
    m->syncs = double(b.syncs - a.syncs) / steps;
  }
}

std::string what(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown exception";
  }
}

// Runs f(k) for k in [0, jobs) on min(threads, jobs) threads, dynamically assigned; returns the
// first exception's text ("" if none).
std::string parallel_for(int jobs, int threads, const std::function<void(int)>& f) {
  std::atomic<int> next{0};
  std::vector<std::exception_ptr> errors(jobs);
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, std::min(threads, jobs)); ++t)
    pool.emplace_back([&] {
      for (int k = next++; k < jobs; k = next++) {
        try {
          f(k);
        } catch (...) {
          errors[k] = std::current_exception();
        }
      }
    });
  for (auto& t : pool) t.join();
  for (const auto& e : errors)
    if (e) return what(e);
  return "";
}

Measurement run_gpu(const Bench& b, const std::vector<CellSetup>& cells, const OwnSteps& own) {
  Measurement m;
  m.cells = int(cells.size());
  if (b.budget.spent()) {
    m.note = "skipped: time budget spent";
    return m;
  }
  try {
    Cycler cycler(cells, b.layout, b.config.solver, b.config.protocol, Backend::kCuda);
    const halite::Block& block = cycler.protocol().blocks.at(0);
    double t0 = now();
    cycler.integrate_cycle(block, 1);
    HALITE_CUDA_CHECK(cudaDeviceSynchronize());
    m.warmup = now() - t0;
    m.cycles = b.budget.cycles_that_fit(b.cycles, m.warmup);
    m.cut = m.cycles < b.cycles;
    std::vector<std::vector<CycleRecord>> records;
    const Counters before = Counters::of(cycler);
    t0 = now();
    for (int k = 0; k < m.cycles; ++k) records.push_back(cycler.integrate_cycle(block, k + 2));
    HALITE_CUDA_CHECK(cudaDeviceSynchronize());
    m.wall = now() - t0;
    const Counters after = Counters::of(cycler);
    m.batch_steps = double(after.steps - before.steps) / m.cycles;
    set_per_step(before, after, &m);
    tally(records, 0, own, &m);
  } catch (const std::exception& e) {
    m.note = std::string("FAILED: ") + e.what();
  }
  return m;
}

Measurement run_cpu(const Bench& b, const std::vector<CellSetup>& cells, const OwnSteps& own) {
  Measurement m;
  const int n = int(cells.size());
  m.cells = n;
  if (b.budget.spent()) {
    m.note = "skipped: time budget spent";
    return m;
  }
  const int slices = std::max(1, std::min(b.threads, n));
  std::vector<int> first(slices + 1, 0);  // slice k: cells [first[k], first[k + 1])
  for (int k = 0; k < slices; ++k) first[k + 1] = first[k] + n / slices + (k < n % slices);
  std::vector<std::unique_ptr<Cycler>> cyclers(slices);
  std::vector<std::vector<std::vector<CycleRecord>>> records(slices);
  std::vector<Counters> before(slices), after(slices);

  // Build every slice's Cycler and run its warm-up cycle, all slices at once.
  double t0 = now();
  std::string error = parallel_for(slices, slices, [&](int k) {
    cyclers[k] = std::make_unique<Cycler>(
        std::vector<CellSetup>(cells.begin() + first[k], cells.begin() + first[k + 1]), b.layout,
        b.config.solver, b.config.protocol, Backend::kCpu);
    cyclers[k]->integrate_cycle(cyclers[k]->protocol().blocks.at(0), 1);
  });
  m.warmup = now() - t0;
  if (error.empty()) {
    m.cycles = b.budget.cycles_that_fit(b.cycles, m.warmup);
    m.cut = m.cycles < b.cycles;
    t0 = now();
    error = parallel_for(slices, slices, [&](int k) {
      before[k] = Counters::of(*cyclers[k]);
      for (int c = 0; c < m.cycles; ++c)
        records[k].push_back(
            cyclers[k]->integrate_cycle(cyclers[k]->protocol().blocks.at(0), c + 2));
      after[k] = Counters::of(*cyclers[k]);
    });
    m.wall = now() - t0;
  }
  if (!error.empty()) {
    m.note = "FAILED: " + error;
    return m;
  }
  m.batch_steps = 0;
  for (int k = 0; k < slices; ++k) {
    tally(records[k], first[k], own, &m);
    m.batch_steps += double(after[k].steps - before[k].steps) / m.cycles / slices;
  }
  set_per_step(before[0], after[0], &m);
  return m;
}

// --- cell types --------------------------------------------------------------------------------

std::vector<CellSetup> homogeneous_cells(const RunConfig& config, int count) {
  std::vector<CellSetup> cells(count, halite::cell_setup_from_config(config));
  for (int c = 0; c < count; ++c) cells[c].name += " #" + std::to_string(c + 1);
  return cells;
}

double loading_factor(int level) {
  return 0.7 + 0.6 * level / (kLoadingLevels - 1);
}
double rate_factor(int level) {
  return 0.5 * std::pow(4.0, double(level) / (kRateLevels - 1));
}

// The 64 cell types of the heterogeneous batch. Type t has loading level t % 8 and rate level
// (5 (t % 8) + t / 8) % 8: a Latin square, so each group of types 8k..8k+7 covers all loadings
// and all rates, and the 64 types are all 64 pairs.
std::vector<CellSetup> heterogeneous_types(const RunConfig& config) {
  // loading.areal_mass is in kg/m^2 in the resolved configuration; 1 kg/m^2 = 100 mg/cm^2.
  const double reference_mg_cm2 = config.loading.areal_mass * 100.0;
  std::vector<CellSetup> by_loading;
  for (int i = 0; i < kLoadingLevels; ++i) {
    char set[96];
    std::snprintf(set, sizeof set, "loading.areal_mass=%.6g mg/cm2",
                  loading_factor(i) * reference_mg_cm2);
    by_loading.push_back(halite::cell_setup_from_config(halite::load_config("", {set})));
  }
  std::vector<CellSetup> types;
  for (int t = 0; t < kLoadingLevels * kRateLevels; ++t) {
    const int i = t % kLoadingLevels, j = (5 * i + t / kLoadingLevels) % kRateLevels;
    CellSetup s = by_loading[i];
    s.one_c_current_density *= rate_factor(j);
    char name[64];
    std::snprintf(name, sizeof name, "loading %.2fx, %.2fC", loading_factor(i), rate_factor(j));
    s.name = name;
    types.push_back(s);
  }
  return types;
}

std::vector<CellSetup> heterogeneous_cells(const std::vector<CellSetup>& types, int count) {
  std::vector<CellSetup> cells;
  for (int c = 0; c < count; ++c) {
    cells.push_back(types[c % types.size()]);
    cells.back().name += " #" + std::to_string(c + 1);
  }
  return cells;
}

// Every type integrated alone on the CPU (one single-cell Cycler per type, types spread over the
// threads): each type's own IDA steps per timed cycle, and what the CPU does when it runs these
// cells one at a time instead of batched.
struct TypesAlone {
  std::string note;
  OwnSteps own;
  double cell_cycles_per_s = NAN;  // types x cycles / (sum of timed-cycle times / threads used)
  long min_steps = 0, max_steps = 0;
  double mean_steps = NAN;                    // per cycle, over the types
  double min_duration = 0, max_duration = 0;  // s of cell clock per cycle
};

TypesAlone run_types_alone(const Bench& b, const std::vector<CellSetup>& types) {
  TypesAlone out;
  if (b.budget.spent()) {
    out.note = "skipped: time budget spent";
    return out;
  }
  const int n = int(types.size());
  out.own.by_type.assign(n, std::vector<long>(b.cycles, 0));
  std::vector<double> time(n, 0.0), duration(n, 0.0);
  std::vector<std::string> failure(n);
  const std::string error = parallel_for(n, b.threads, [&](int t) {
    Cycler cycler({types[t]}, b.layout, b.config.solver, b.config.protocol, Backend::kCpu);
    const halite::Block& block = cycler.protocol().blocks.at(0);
    cycler.integrate_cycle(block, 1);
    for (int k = 0; k < b.cycles; ++k) {
      const double t0 = now();
      const CycleRecord r = cycler.integrate_cycle(block, k + 2).at(0);
      time[t] += now() - t0;
      out.own.by_type[t][k] = r.stats.steps;
      duration[t] = std::max(duration[t], r.duration);
      if (r.failed && failure[t].empty()) failure[t] = types[t].name + ": " + r.failure;
    }
  });
  for (const auto& f : failure)
    if (!f.empty() && out.note.empty()) out.note = "a type failed alone: " + f;
  if (!error.empty()) out.note = "FAILED: " + error;
  double sum_time = 0, sum_steps = 0;
  out.min_steps = out.own.by_type[0][0];
  out.min_duration = duration[0];
  for (int t = 0; t < n; ++t) {
    sum_time += time[t];
    for (long s : out.own.by_type[t]) {
      sum_steps += double(s);
      out.min_steps = std::min(out.min_steps, s);
      out.max_steps = std::max(out.max_steps, s);
    }
    out.min_duration = std::min(out.min_duration, duration[t]);
    out.max_duration = std::max(out.max_duration, duration[t]);
  }
  out.mean_steps = sum_steps / (double(n) * b.cycles);
  const int used = std::max(1, std::min(b.threads, n));
  out.cell_cycles_per_s = double(n) * b.cycles / (sum_time / used);
  return out;
}

// --- output ------------------------------------------------------------------------------------

// A number for a table cell: "-" where there is none (no GPU, a run not measured).
std::string num(double v, const char* format = "%.4g", const char* unit = "") {
  if (!std::isfinite(v)) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, format, v);
  return buf + std::string(unit);
}

void print_row_header() {
  std::printf("%-6s %-6s %-4s %6s %4s %9s %8s %8s %11s %12s %6s %6s %6s %6s %6s %8s %8s\n", "batch",
              "mix", "side", "cells", "cyc", "steps/cyc", "warmup_s", "wall_s", "cell-cyc/s",
              "cell-steps/s", "failed", "res/st", "jac/st", "fac/st", "nl/st", "vecop/st",
              "sync/st");
}

void print_row(int batch, const char* mix, const char* side, const Measurement& m) {
  std::printf("%-6d %-6s %-4s %6d ", batch, mix, side, m.cells);
  if (!m.measured()) {
    std::printf("%s\n", m.note.empty() ? "not measured" : m.note.c_str());
    return;
  }
  std::printf("%4d %9.1f %8.3f %8.3f %11.4g %12.4g %6d %6.2f %6.2f %6.2f %6.2f %8s %8s\n", m.cycles,
              m.batch_steps, m.warmup, m.wall, m.cycles_per_s(), m.steps_per_s(), m.failed,
              m.residuals, m.jacobians, m.factorizations, m.newton, num(m.launches, "%.1f").c_str(),
              num(m.syncs, "%.2f").c_str());
  if (m.cut) std::printf("       timed cycles cut to %d by the time budget\n", m.cycles);
  if (m.failed > 0) std::printf("       first failed cell: %s\n", m.failure.c_str());
  std::fflush(stdout);
}

// PASS/MISS; "n/a" without a value; marked "*" when measured on a device the target is not for.
std::string status(double value, double target, bool at_least, bool target_device) {
  if (std::isnan(value)) return "n/a";
  const std::string s = (at_least ? value >= target : value <= target) ? "PASS" : "MISS";
  return target_device ? s : s + "*";
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
  halite::cuda::register_cuda_backend();

  Bench b;
  b.config = halite::load_config("");
  if (args.nx > 0) b.config.mesh.cathode_nodes = args.nx;
  if (args.nr > 0) b.config.mesh.radial_shells = args.nr;
  b.layout = {b.config.mesh.cathode_nodes, b.config.cell.particle_classes,
              b.config.mesh.radial_shells};
  b.cycles = args.cycles;
  b.threads =
      args.threads > 0 ? args.threads : std::max(1, int(std::thread::hardware_concurrency()));
  b.budget.seconds = args.budget;
  const int largest = *std::max_element(args.batches.begin(), args.batches.end());
  const int hetero = args.hetero < 0 ? largest : args.hetero;

  const std::string gpu_reason = halite::backend_unavailable_reason(Backend::kCuda);
  const bool gpu = gpu_reason.empty();
  std::string device = "none";
  bool h200 = false;
  if (gpu) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess) {
      device = std::string(prop.name) + ", " + std::to_string(prop.multiProcessorCount) + " SMs, " +
               std::to_string(prop.totalGlobalMem >> 20) + " MiB";
      h200 = device.find("H200") != std::string::npos;
    }
  }

  std::string command = argv[0];
  for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
  std::printf("# halite bench_gpu\n");
  std::printf("command: %s\n", command.c_str());
  std::printf("build: halite %s, commit %s\n", halite::build_info::kVersion,
              halite::build_info::kGitCommit);
  std::printf("gpu: %s\n", device.c_str());
  if (!gpu) std::printf("no CUDA device: GPU columns skipped (%s)\n", gpu_reason.c_str());
  std::printf("cpu: %s; CPU backend on %d threads (one Cycler per slice of the batch)\n",
              cpu_model().c_str(), b.threads);
  std::printf("cell: %s; mesh nodes=%d classes=%d shells=%d -> %d unknowns per cell\n",
              b.config.name.c_str(), b.layout.nodes, b.layout.classes, b.layout.shells,
              b.layout.size());
  std::printf("cycle: protocol block 1:");
  for (const auto& s : b.config.protocol.blocks.at(0).steps) std::printf(" %s;", s.text.c_str());
  std::printf(
      "\nstretch: 1 warm-up cycle (not timed), then %d timed cycle%s per batch; "
      "Cycler::integrate_cycle, every cycle integrated (no skipping); rtol %g\n",
      b.cycles, b.cycles == 1 ? "" : "s", b.config.solver.relative_tolerance);
  if (args.cpu_max_cells > 0)
    std::printf(
        "cpu cells: batches above %d cells are measured on the CPU with their first %d cells "
        "(the CPU's cell-cycles/s on %d threads does not depend on the batch once every "
        "thread has cells)\n",
        args.cpu_max_cells, args.cpu_max_cells, b.threads);
  if (args.budget > 0) std::printf("budget: %.0f s\n", args.budget);
  std::printf(
      "columns: steps/cyc = batch IDA steps per cycle (CPU: mean over slices); cell-steps/s = "
      "active cell-steps (bench_gpu.cu, top); per IDA step: res = residuals, jac = Jacobian "
      "evaluations, fac = factorisations, nl = Newton iterations (GPU batch, CPU slice 1), "
      "vecop = device vector-op launches, sync = host-synchronising reductions (GPU)\n\n");
  print_floor(b.layout);
  const Floor floor = bandwidth_floor(b.layout, {});

  struct Row {
    int batch;
    Measurement gpu, cpu;
  };
  auto cpu_count = [&](int batch) {
    return args.cpu_max_cells > 0 ? std::min(batch, args.cpu_max_cells) : batch;
  };

  std::printf("## homogeneous batches (reference cells)\n");
  print_row_header();
  std::vector<Row> rows;
  for (const int batch : args.batches) {
    Row row{batch, {}, {}};
    const std::vector<CellSetup> cells = homogeneous_cells(b.config, batch);
    if (gpu) {
      row.gpu = run_gpu(b, cells, {});
      print_row(batch, "homo", "gpu", row.gpu);
    }
    row.cpu =
        run_cpu(b, std::vector<CellSetup>(cells.begin(), cells.begin() + cpu_count(batch)), {});
    print_row(batch, "homo", "cpu", row.cpu);
    rows.push_back(std::move(row));
  }

  // Heterogeneous batch: first each cell type alone (its own steps per cycle), then the batch.
  Row het{hetero, {}, {}};
  TypesAlone alone;
  if (hetero > 0) {
    const std::vector<CellSetup> all_types = heterogeneous_types(b.config);
    const std::vector<CellSetup> types(
        all_types.begin(), all_types.begin() + std::min<std::size_t>(hetero, all_types.size()));
    std::printf("\n## heterogeneous batch of %d cells: %zu types, loading %.2f-%.2fx, %.2f-%.2fC\n",
                hetero, types.size(), loading_factor(0), loading_factor(kLoadingLevels - 1),
                rate_factor(0), rate_factor(kRateLevels - 1));
    alone = run_types_alone(b, types);
    if (!alone.note.empty()) std::printf("types alone (CPU): %s\n", alone.note.c_str());
    if (alone.note.empty() || alone.note.rfind("a type failed", 0) == 0) {
      std::printf(
          "types alone (CPU, one single-cell Cycler each): own IDA steps per cycle %ld-%ld "
          "(mean %.1f); cycle %.0f-%.0f s of cell clock; CPU one cell at a time: %.4g "
          "cell-cycles/s on %d threads\n",
          alone.min_steps, alone.max_steps, alone.mean_steps, alone.min_duration,
          alone.max_duration, alone.cell_cycles_per_s,
          std::max(1, std::min<int>(b.threads, int(types.size()))));
      const std::vector<CellSetup> cells = heterogeneous_cells(types, hetero);
      print_row_header();
      if (gpu) {
        het.gpu = run_gpu(b, cells, alone.own);
        print_row(hetero, "hetero", "gpu", het.gpu);
      }
      het.cpu = run_cpu(b, std::vector<CellSetup>(cells.begin(), cells.begin() + cpu_count(hetero)),
                        alone.own);
      print_row(hetero, "hetero", "cpu", het.cpu);
    }
  }

  // ---------------------------------------------------------------------------------------------
  std::printf(
      "\n## summary (%d timed cycle%s of block 1 per cell; CPU backend on %d threads; "
      "gpu: %s)\n",
      b.cycles, b.cycles == 1 ? "" : "s", b.threads,
      gpu ? device.c_str() : "none, GPU columns skipped");
  std::printf("%-7s %-6s %11s %11s %8s %12s %12s %8s %9s %9s\n", "batch", "mix", "gpu_cyc/s",
              "cpu_cyc/s", "gpu/cpu", "gpu_steps/s", "cpu_steps/s", "%floor", "cpu_cells",
              "|dQ|mAh/g");
  auto summary_row = [&](const Row& r, const char* mix) {
    const double g = r.gpu.cycles_per_s(), c = r.cpu.cycles_per_s();
    std::printf("%-7d %-6s %11s %11s %8s %12s %12s %8s %9d %9s\n", r.batch, mix, num(g).c_str(),
                num(c).c_str(), num(g / c, "%.3g").c_str(), num(r.gpu.steps_per_s()).c_str(),
                num(r.cpu.steps_per_s()).c_str(),
                num(100 * r.gpu.steps_per_s() / floor.cell_steps_per_s(), "%.3g").c_str(),
                r.cpu.cells, num(std::fabs(r.gpu.q_discharge - r.cpu.q_discharge), "%.2g").c_str());
  };
  const Row* top = nullptr;   // the largest homogeneous batch
  const Row* same = nullptr;  // the homogeneous batch of the heterogeneous batch's size
  for (const Row& r : rows) {
    summary_row(r, "homo");
    if (r.batch == largest) top = &r;
    if (r.batch == hetero) same = &r;
  }
  double penalty_gpu = NAN, penalty_gpu_steps = NAN, penalty_cpu = NAN;
  if (hetero > 0) {
    summary_row(het, "hetero");
    if (same) {
      penalty_gpu = 1 - het.gpu.cycles_per_s() / same->gpu.cycles_per_s();
      penalty_gpu_steps = 1 - het.gpu.steps_per_s() / same->gpu.steps_per_s();
      penalty_cpu = 1 - het.cpu.cycles_per_s() / same->cpu.cycles_per_s();
    }
    std::printf(
        "heterogeneity penalty at B=%d (1 - hetero/homo)%s: gpu %s in cell-cycles/s, %s in "
        "active cell-steps/s; cpu (batched slices) %s in cell-cycles/s\n"
        "  batch IDA steps per cycle, hetero / homo: gpu %s / %s, cpu %s / %s; own steps per "
        "cycle of the types alone: mean %s\n"
        "  cpu, one cell per Cycler (no batching): %s cell-cycles/s\n",
        hetero, same ? "" : " (no homogeneous batch of this size: add it to --batches)",
        num(100 * penalty_gpu, "%.3g", " %").c_str(),
        num(100 * penalty_gpu_steps, "%.3g", " %").c_str(),
        num(100 * penalty_cpu, "%.3g", " %").c_str(), num(het.gpu.batch_steps, "%.0f").c_str(),
        num(same ? same->gpu.batch_steps : NAN, "%.0f").c_str(),
        num(het.cpu.batch_steps, "%.0f").c_str(),
        num(same ? same->cpu.batch_steps : NAN, "%.0f").c_str(),
        num(alone.mean_steps, "%.1f").c_str(), num(alone.cell_cycles_per_s).c_str());
  }
  std::printf(
      "%%floor = gpu cell-steps/s / (%.1f TB/s / %.0f B per cell-step); |dQ| = |GPU - CPU| "
      "discharge capacity of cell 1 in the last timed cycle (mAh/g)\n",
      kH200Bandwidth / 1e12, floor.total());

  const double top_share = top ? top->gpu.steps_per_s() / floor.cell_steps_per_s() : NAN;
  const double top_steps = top ? top->gpu.steps_per_s() : NAN;
  const double top_ratio = top ? top->gpu.cycles_per_s() / top->cpu.cycles_per_s() : NAN;
  std::printf("targets at the largest batch (B=%d%s), for an H200%s:\n", largest,
              hetero > 0 ? (", heterogeneous B=" + std::to_string(hetero)).c_str() : "",
              !gpu    ? " (no GPU: n/a)"
              : !h200 ? " (* = measured on another GPU, against the H200's targets)"
                      : "");
  std::printf("%-44s %12s %12s %7s\n", "target", "value", "target", "status");
  std::printf("%-44s %12s %11.0f%% %7s\n", "gpu cell-steps/s, share of bandwidth floor",
              num(100 * top_share, "%.3g", "%").c_str(), 100 * kTargetFloorShare,
              status(top_share, kTargetFloorShare, true, h200).c_str());
  std::printf("%-44s %12s %12.3g %7s\n", "gpu cell-steps/s", num(top_steps).c_str(),
              kTargetCellSteps, status(top_steps, kTargetCellSteps, true, h200).c_str());
  std::printf("%-44s %12s %11.0fx %7s\n", "gpu/cpu cell-cycles/s",
              num(top_ratio, "%.3g", "x").c_str(), kTargetRatio,
              status(top_ratio, kTargetRatio, true, h200).c_str());
  std::printf("%-44s %12s %11.0f%% %7s\n", "heterogeneity penalty, gpu cell-cycles/s",
              num(100 * penalty_gpu, "%.3g", "%").c_str(), 100 * kTargetPenalty,
              status(penalty_gpu, kTargetPenalty, false, h200).c_str());
  return 0;
}
