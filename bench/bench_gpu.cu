// GPU benchmark of the protocol engine: batches of reference cells cycled through the main block of
// the reference protocol by Cycler::integrate_cycle (full integration, no cycle skipping) on the
// CUDA backend, as one IDA instance and as G groups of IDA instances, and the same cells on the
// CPU backend on all host cores, in the same run. Prints completed cell-cycles/s, cell-steps/s,
// the GPU/CPU ratio, the share of the memory-bandwidth floor of docs/gpu.md and the heterogeneity
// penalty, with the issue's targets. The `## summary` table comes last (bench/gpu_check.sh prints
// from there to the end). It measures and prints; it asserts nothing, and exits 0 unless the
// arguments are bad.
//
//   bench_gpu [--batches 1,64,1024,8192] [--cycles N] [--groups G] [--threads T]
//             [--cpu-max-cells M] [--hetero B] [--mesh NX,NR] [--budget S]
//
// Stretch. Every measurement starts from the pristine cells and runs one warm-up cycle (not
// timed: it pays for module loading and first launches, and starts from the pristine state), then
// N timed cycles (--cycles, default 2) of the protocol's first block: 1C charge to 4.3 V, 15 min
// hold at 4.3 V, 1C discharge to 2.7 V. Every cell ends every protocol step on its own root; the
// step lasts, for each IDA instance, until its slowest cell has ended it.
//
// Instances. A measurement splits its batch into K contiguous slices of (nearly) equal size, each
// one Cycler (its own IDA instance; on the GPU also its own stream and SUNContext) driven by its
// own host thread. All slices build and run the warm-up cycle together, then all start the timed
// cycles together; the wall time runs until the last slice finishes. GPU: K = 1 (single
// instance), and K = G (--groups, default 16; 1: no grouped runs) for batches of at least 2G
// cells: the groups' kernels overlap through their streams and IDA's host logic runs on G host
// threads. CPU: K = T (--threads, default all hardware threads; at most one slice per cell). With
// --cpu-max-cells M, a larger batch is measured on the CPU with M of its cells (the same mix of
// cell types): once every thread has cells, the CPU's cell-cycles/s on T threads does not depend
// on the batch size, so the rate of M cells stands for the batch.
//
// cell-cycles/s: cycles completed by cells that had not failed, over the wall time of the timed
// cycles. cell-steps/s: IDA steps summed over the cells that were active (not frozen), over the
// same time. In a homogeneous batch every cell ends every step at the same root, so each cell is
// active in every step of its instance: cells x the instance's steps. In a heterogeneous batch a
// cell counts its own steps: the IDA steps it takes for the same cycles when integrated alone
// (CPU, measured in this run for every cell type). Steps that an instance takes for other cells'
// events while a cell is still active are not counted as that cell's work: they are the cost of
// batching it.
//
// Heterogeneous batch (--hetero B, default the largest batch; 0: none): 64 cell types, areal
// loading 0.7-1.3x the reference (8 levels, set through the configuration's loading.areal_mass,
// so that the cathode thickness, the 1C current and the active mass follow) times C-rate
// 0.5-2C (8 geometric levels; the cell's 1C current is scaled, so the block's "1C" steps run at
// that rate). Their cut-offs and hold ends fall at different times. Two orders of the same cells:
//  - mixed (the single GPU instance, and the CPU for reference): cell c has type c mod 64, in a
//    Latin-square order: each run of cells 8k..8k+7 spans all 8 loadings and all 8 rates, so
//    every warp and every slice holds a full mix;
//  - sorted (the GPU groups and the CPU's slices): by (C-rate, loading), so that cells whose
//    protocol events fall at similar times share an instance. With 64 types in 16 groups, a group
//    holds 4 types of one C-rate and neighbouring loadings (the 1C current follows the loading,
//    so the C-rate sets the step ends).
// Penalty = 1 - (heterogeneous cell-cycles/s) / (homogeneous cell-cycles/s) at the same batch
// size, for the single instance and for the groups; the target is judged on the faster
// heterogeneous configuration against the faster homogeneous one (the summary names both).
//
// --budget S: no measurement starts after S seconds, and the timed cycles of a measurement are
// cut (to at least 1) when its warm-up cycle says they would run past S; what was skipped or cut
// is printed. The summary is then still printed within the caller's timeout.
#include <algorithm>
#include <array>
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

#include "bench/machine.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/gpu_integrator.hpp"
#include "cuda/profiling/event_phase_timer.hpp"
#include "cuda/register_backend.hpp"
#include "halite/build_info.hpp"
#include "host/app/config.hpp"
#include "host/engine/cycler.hpp"
#include "host/engine/integrator.hpp"
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
  int groups = 16;        // GPU IDA instances of the grouped runs; 1: single instance only
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
    } else if (k == "--groups") {
      ok = parse_count(v, 1, &a->groups);
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
      "usage: %s [--batches 1,64,1024,8192] [--cycles N] [--groups G] [--threads T]\n"
      "          [--cpu-max-cells M] [--hetero B] [--mesh NX,NR] [--budget S]\n"
      "  --batches L        batch sizes of reference cells (homogeneous batches)\n"
      "  --cycles N         timed cycles of protocol block 1 after 1 warm-up cycle (default 2)\n"
      "  --groups G         GPU: also run batches of >= 2G cells as G IDA instances, one per\n"
      "                     group of (sorted) cells, stream and host thread (default 16; 1: no)\n"
      "  --threads T        CPU backend threads (default: all hardware threads)\n"
      "  --cpu-max-cells M  measure larger batches on the CPU with their first M cells\n"
      "  --hetero B         heterogeneous batch size (default: the largest batch; 0: none)\n"
      "  --mesh NX,NR       cathode finite volumes, radial shells (default: configuration)\n"
      "  --budget S         start no measurement after S seconds; cut timed cycles to fit\n"
      "See the comment at the top of bench/bench_gpu.cu for the definitions.\n",
      argv0);
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

// The cells of a measurement and, for a heterogeneous batch, each cell's type: its index into
// OwnSteps::by_type (empty: a homogeneous batch, every cell active in every step of its instance).
struct Batch {
  std::vector<CellSetup> cells;
  std::vector<int> type;
  int size() const { return int(cells.size()); }
};

// Each cell type's own IDA steps per timed cycle, for heterogeneous batches: by_type[type][k] is
// the steps of a cell of that type in timed cycle k when integrated alone.
struct OwnSteps {
  std::vector<std::vector<long>> by_type;
};

struct Measurement {
  std::string note;             // why it was not measured, or a failure
  int cells = 0;                // cells integrated
  int instances = 0;            // IDA instances (GPU groups, CPU slices), one host thread each
  int cycles = 0;               // timed cycles
  double warmup = 0, wall = 0;  // s
  double cell_cycles = 0;       // completed by cells that had not failed
  double cell_steps = 0;        // active cell-steps (see the top of the file)
  // IDA steps per cycle of an instance: mean and largest over the instances
  double batch_steps = NAN, max_batch_steps = NAN;
  // per IDA step, over all instances: residuals, linear-solver setups, factorisations, Newton
  // iterations; GPU only: kernel launches and host synchronisations, all of them
  double residuals = NAN, jacobians = NAN, factorizations = NAN, newton = NAN;
  double launches = NAN, syncs = NAN;
  // --profile measurements: device milliseconds and launches per phase over the timed cycles
  // (cudaEvent pairs around every launch, all instances summed), and the IDA steps they took
  bool profiled = false;
  std::array<double, halite::cuda::PhaseTimer::kPhases> phase_ms{};
  std::array<long, halite::cuda::PhaseTimer::kPhases> phase_launches{};
  double profiled_steps = 0;
  bool cut = false;          // fewer timed cycles than asked for (--budget)
  int failed = 0;            // cells failed by the end
  std::string failure;       // the first one's reason
  double q_discharge = NAN;  // first cell of type 0 (homogeneous: cell 1), last timed cycle, mAh/g
  bool measured() const { return note.empty() && wall > 0; }
  double cycles_per_s() const { return measured() ? cell_cycles / wall : NAN; }
  double steps_per_s() const { return measured() ? cell_steps / wall : NAN; }
};

// Adds the timed cycles of cells [first, first + records.size()) of a batch.
void tally(const std::vector<std::vector<CycleRecord>>& cycles, const Batch& batch, int first,
           const OwnSteps& own, Measurement* m) {
  for (std::size_t k = 0; k < cycles.size(); ++k)
    for (std::size_t c = 0; c < cycles[k].size(); ++c) {
      const CycleRecord& r = cycles[k][c];
      if (r.failed) continue;
      m->cell_cycles += 1;
      m->cell_steps += batch.type.empty() ? double(r.stats.steps)
                                          : double(own.by_type[batch.type[first + c]][k]);
    }
  if (cycles.empty()) return;
  for (std::size_t c = 0; c < cycles.back().size(); ++c) {
    const CycleRecord& r = cycles.back()[c];
    if (r.failed && ++m->failed == 1) m->failure = r.failure;
    const int cell = first + int(c);
    const bool reference = batch.type.empty() ? cell == 0 : batch.type[cell] == 0;
    if (reference && std::isnan(m->q_discharge)) m->q_discharge = r.discharge_capacity;
  }
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
    // Every kernel launch and host synchronisation of the CUDA backend (vector ops, reductions,
    // model and solver kernels, root values, uploads): diagnostics of that backend only.
    if (auto* gpu = dynamic_cast<halite::cuda::GpuBatchIntegrator*>(&in)) {
      const auto d = gpu->device_counters();
      c.launches = d.launches;
      c.syncs = d.synchronizations;
      c.device = true;
    }
    return c;
  }
  // Adds b - a.
  void add_difference(const Counters& a, const Counters& b) {
    steps += b.steps - a.steps;
    residuals += b.residuals - a.residuals;
    jacobians += b.jacobians - a.jacobians;
    factorizations += b.factorizations - a.factorizations;
    newton += b.newton - a.newton;
    launches += b.launches - a.launches;
    syncs += b.syncs - a.syncs;
  }
};

void set_per_step(const Counters& d, Measurement* m) {
  const double steps = double(d.steps);
  if (steps <= 0) return;
  m->residuals = double(d.residuals) / steps;
  m->jacobians = double(d.jacobians) / steps;
  m->factorizations = double(d.factorizations) / steps;
  m->newton = double(d.newton) / steps;
  if (d.device) {
    m->launches = double(d.launches) / steps;
    m->syncs = double(d.syncs) / steps;
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

// The batch as `instances` contiguous slices (at most one per cell), each one Cycler on `backend`
// driven by its own host thread (see "Instances" at the top of the file).
// profile: time every launch of the timed cycles per phase with cudaEvents (GPU only; it costs
// host time, so the profile is a measurement of its own).
Measurement run_batch(const Bench& b, const Batch& batch, const OwnSteps& own, Backend backend,
                      int instances, bool profile = false) {
  Measurement m;
  const int n = batch.size();
  m.cells = n;
  if (b.budget.spent()) {
    m.note = "skipped: time budget spent";
    return m;
  }
  const int slices = std::clamp(instances, 1, std::max(1, n));
  m.instances = slices;
  std::vector<int> first(slices + 1, 0);  // slice k: cells [first[k], first[k + 1])
  for (int k = 0; k < slices; ++k) first[k + 1] = first[k] + n / slices + (k < n % slices);
  std::vector<std::unique_ptr<Cycler>> cyclers(slices);
  std::vector<std::vector<std::vector<CycleRecord>>> records(slices);
  std::vector<Counters> before(slices), after(slices);
  std::vector<std::unique_ptr<halite::cuda::EventPhaseTimer>> timers(slices);
  auto device_integrator = [&](int k) {
    return dynamic_cast<halite::cuda::GpuBatchIntegrator*>(&cyclers[k]->integrator());
  };
  // Every kernel of a slice runs on its integrator's stream, and integrate_cycle returns with the
  // records on the host; the device-wide sync only makes sure nothing is left in flight.
  auto synchronize = [&] {
    if (backend == Backend::kCuda) HALITE_CUDA_CHECK(cudaDeviceSynchronize());
  };

  std::string error;
  try {
    // Build every slice's Cycler and run its warm-up cycle, all slices at once.
    double t0 = now();
    error = parallel_for(slices, slices, [&](int k) {
      cyclers[k] =
          std::make_unique<Cycler>(std::vector<CellSetup>(batch.cells.begin() + first[k],
                                                          batch.cells.begin() + first[k + 1]),
                                   b.layout, b.config.solver, b.config.protocol, backend);
      cyclers[k]->integrate_cycle(cyclers[k]->protocol().blocks.at(0), 1);
    });
    if (error.empty()) synchronize();
    m.warmup = now() - t0;
    if (error.empty()) {
      m.cycles = b.budget.cycles_that_fit(b.cycles, m.warmup);
      m.cut = m.cycles < b.cycles;
      for (int k = 0; k < slices; ++k) before[k] = Counters::of(*cyclers[k]);
      if (profile && backend == Backend::kCuda)
        for (int k = 0; k < slices; ++k)
          if (auto* gpu = device_integrator(k)) {
            timers[k] = std::make_unique<halite::cuda::EventPhaseTimer>();
            gpu->set_phase_timer(timers[k].get());
          }
      t0 = now();
      error = parallel_for(slices, slices, [&](int k) {
        const halite::Block& block = cyclers[k]->protocol().blocks.at(0);
        for (int c = 0; c < m.cycles; ++c)
          records[k].push_back(cyclers[k]->integrate_cycle(block, c + 2));
      });
      if (error.empty()) synchronize();
      m.wall = now() - t0;
    }
  } catch (const std::exception& e) {
    if (error.empty()) error = e.what();
  }
  if (!error.empty()) {
    m.note = "FAILED: " + error;
    return m;
  }
  Counters total;
  total.device = backend == Backend::kCuda;
  m.batch_steps = m.max_batch_steps = 0;
  for (int k = 0; k < slices; ++k) {
    after[k] = Counters::of(*cyclers[k]);
    total.device = total.device && after[k].device;
    total.add_difference(before[k], after[k]);
    tally(records[k], batch, first[k], own, &m);
    const double steps = double(after[k].steps - before[k].steps) / m.cycles;
    m.batch_steps += steps / slices;
    m.max_batch_steps = std::max(m.max_batch_steps, steps);
  }
  set_per_step(total, &m);
  for (int k = 0; k < slices; ++k) {
    if (!timers[k]) continue;
    device_integrator(k)->set_phase_timer(nullptr);
    const auto ms = timers[k]->milliseconds();
    for (int p = 0; p < halite::cuda::PhaseTimer::kPhases; ++p) {
      m.phase_ms[p] += ms[p];
      m.phase_launches[p] += timers[k]->launches()[p];
    }
    m.profiled = true;
  }
  m.profiled_steps = double(total.steps);
  return m;
}

// --- cell types --------------------------------------------------------------------------------

Batch homogeneous_cells(const RunConfig& config, int count) {
  Batch batch;
  batch.cells.assign(count, halite::cell_setup_from_config(config));
  for (int c = 0; c < count; ++c) batch.cells[c].name += " #" + std::to_string(c + 1);
  return batch;
}

double loading_factor(int level) {
  return 0.7 + 0.6 * level / (kLoadingLevels - 1);
}
double rate_factor(int level) {
  return 0.5 * std::pow(4.0, double(level) / (kRateLevels - 1));
}

// Type t of the heterogeneous batch has loading level t % 8 and rate level (5 (t % 8) + t / 8) % 8:
// a Latin square, so each run of types 8k..8k+7 covers all loadings and all rates, and the 64
// types are all 64 pairs.
int loading_level(int type) {
  return type % kLoadingLevels;
}
int rate_level(int type) {
  return (5 * loading_level(type) + type / kLoadingLevels) % kRateLevels;
}

// The 64 cell types of the heterogeneous batch.
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
    const int i = loading_level(t), j = rate_level(t);
    CellSetup s = by_loading[i];
    s.one_c_current_density *= rate_factor(j);
    char name[64];
    std::snprintf(name, sizeof name, "loading %.2fx, %.2fC", loading_factor(i), rate_factor(j));
    s.name = name;
    types.push_back(s);
  }
  return types;
}

// `count` cells in the mixed order: cell c has type c % types.size().
Batch heterogeneous_cells(const std::vector<CellSetup>& types, int count) {
  Batch batch;
  for (int c = 0; c < count; ++c) {
    const int t = c % int(types.size());
    batch.cells.push_back(types[t]);
    batch.cells.back().name += " #" + std::to_string(c + 1);
    batch.type.push_back(t);
  }
  return batch;
}

// The same cells sorted by (C-rate, loading) level of their type, stably: contiguous slices then
// hold cells whose protocol events fall at similar times. Type 0 (the lowest loading and rate)
// comes first, as in the mixed order.
Batch sorted_by_type(const Batch& batch) {
  std::vector<int> order(batch.size());
  for (int c = 0; c < batch.size(); ++c) order[c] = c;
  auto key = [&](int c) {
    const int t = batch.type[c];
    return rate_level(t) * kLoadingLevels + loading_level(t);
  };
  std::stable_sort(order.begin(), order.end(), [&](int a, int c) { return key(a) < key(c); });
  Batch sorted;
  for (const int c : order) {
    sorted.cells.push_back(batch.cells[c]);
    sorted.type.push_back(batch.type[c]);
  }
  return sorted;
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
  std::printf("%-6s %-8s %-4s %6s %4s %4s %9s %8s %8s %8s %11s %12s %6s %6s %6s %6s %6s %8s %8s\n",
              "batch", "mix", "side", "cells", "inst", "cyc", "steps/cyc", "max/cyc", "warmup_s",
              "wall_s", "cell-cyc/s", "cell-steps/s", "failed", "res/st", "jac/st", "fac/st",
              "nl/st", "launch/st", "sync/st");
}

void print_row(int batch, const char* mix, const char* side, const Measurement& m) {
  std::printf("%-6d %-8s %-4s %6d ", batch, mix, side, m.cells);
  if (!m.measured()) {
    std::printf("%s\n", m.note.empty() ? "not measured" : m.note.c_str());
    return;
  }
  std::printf("%4d %4d %9.1f %8.0f %8.3f %8.3f %11.4g %12.4g %6d %6.2f %6.2f %6.2f %6.2f %8s %8s\n",
              m.instances, m.cycles, m.batch_steps, m.max_batch_steps, m.warmup, m.wall,
              m.cycles_per_s(), m.steps_per_s(), m.failed, m.residuals, m.jacobians,
              m.factorizations, m.newton, num(m.launches, "%.1f").c_str(),
              num(m.syncs, "%.2f").c_str());
  if (m.cut) std::printf("       timed cycles cut to %d by the time budget\n", m.cycles);
  if (m.failed > 0) std::printf("       first failed cell: %s\n", m.failure.c_str());
  std::fflush(stdout);
}

// Where the device time of a profiled measurement goes, per IDA step of its instances.
void print_profile(int batch, const Measurement& m) {
  if (!m.profiled || m.profiled_steps <= 0) {
    std::printf("not profiled: %s\n", m.note.empty() ? "no GPU measurement" : m.note.c_str());
    return;
  }
  const double steps = m.profiled_steps;
  double busy = 0.0;
  long launches = 0;
  for (int p = 0; p < halite::cuda::PhaseTimer::kPhases; ++p) {
    busy += m.phase_ms[p];
    launches += m.phase_launches[p];
  }
  std::printf(
      "batch %d, %d instance(s), %d timed cycle(s), %.0f IDA steps; wall %.3f s, device "
      "busy %.3f s (kernels; events around every launch)\n",
      batch, m.instances, m.cycles, steps, m.wall, busy / 1e3);
  std::printf("%-16s %12s %14s %14s %10s\n", "phase", "launches/st", "device_us/st", "us/launch",
              "%busy");
  for (int p = 0; p < halite::cuda::PhaseTimer::kPhases; ++p) {
    const double n = double(m.phase_launches[p]);
    std::printf("%-16s %12.2f %14.1f %14s %10.1f\n",
                halite::cuda::phase_name(static_cast<halite::cuda::DevicePhase>(p)), n / steps,
                1e3 * m.phase_ms[p] / steps,
                num(n > 0 ? 1e3 * m.phase_ms[p] / n : NAN, "%.1f").c_str(),
                busy > 0 ? 100.0 * m.phase_ms[p] / busy : 0.0);
  }
  const double wall_us = 1e6 * m.wall / steps * m.instances;  // per step of one instance
  std::printf("%-16s %12.2f %14.1f %14s %10s\n", "all kernels", double(launches) / steps,
              1e3 * busy / steps, "", "100");
  std::printf(
      "%-16s %12s %14.1f %14s %10s  (wall per step x instances - device busy: IDA's host "
      "logic, launch and sync latency)\n",
      "host and gaps", "", wall_us - 1e3 * busy / steps, "", "");
  std::printf("per step: %s launches, %s host syncs (bench counters, all kinds)\n",
              num(m.launches, "%.2f").c_str(), num(m.syncs, "%.2f").c_str());
}

// What the contiguous slices of a sorted heterogeneous batch hold: "T types, R C-rates" (ranges
// over the slices), with the slicing of run_batch.
std::string slice_mix(const Batch& batch, int instances) {
  const int n = batch.size(), slices = std::clamp(instances, 1, std::max(1, n));
  int min_types = n, max_types = 0, min_rates = n, max_rates = 0;
  for (int k = 0, first = 0; k < slices; ++k) {
    const int last = first + n / slices + (k < n % slices);
    std::vector<bool> type(kLoadingLevels * kRateLevels, false), rate(kRateLevels, false);
    for (int c = first; c < last; ++c) {
      type[batch.type[c]] = true;
      rate[rate_level(batch.type[c])] = true;
    }
    const int t = int(std::count(type.begin(), type.end(), true));
    const int r = int(std::count(rate.begin(), rate.end(), true));
    min_types = std::min(min_types, t), max_types = std::max(max_types, t);
    min_rates = std::min(min_rates, r), max_rates = std::max(max_rates, r);
    first = last;
  }
  auto range = [](int a, int b) {
    return a == b ? std::to_string(a) : std::to_string(a) + "-" + std::to_string(b);
  };
  return std::to_string(slices) + " slices of " + range(n / slices, (n + slices - 1) / slices) +
         " cells, " + range(min_types, max_types) + " types and " + range(min_rates, max_rates) +
         " C-rate" + (max_rates == 1 ? "" : "s") + " each";
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
  b.layout = b.config.mesh.layout(b.config.cell.particle_classes);
  b.cycles = args.cycles;
  b.threads =
      args.threads > 0 ? args.threads : std::max(1, int(std::thread::hardware_concurrency()));
  b.budget.seconds = args.budget;
  const int largest = *std::max_element(args.batches.begin(), args.batches.end());
  const int hetero = args.hetero < 0 ? largest : args.hetero;
  const int groups = args.groups;
  // Whether a batch is also run as G groups on the GPU.
  auto grouped = [&](int batch) { return groups > 1 && batch >= 2 * groups; };

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
  if (groups > 1)
    std::printf(
        "gpu instances: every batch as one IDA instance; batches of >= %d cells also as %d "
        "groups (one Cycler, IDA instance, stream and host thread each; heterogeneous cells "
        "sorted by type)\n",
        2 * groups, groups);
  else
    std::printf("gpu instances: every batch as one IDA instance (--groups 1)\n");
  std::printf("cpu: %s; CPU backend on %d threads (one Cycler per slice of the batch)\n",
              halite::bench::cpu_model().c_str(), b.threads);
  std::printf("cell: %s; mesh nodes=%d classes=%d shells=%d -> %d unknowns per cell\n",
              b.config.name.c_str(), b.layout.nodes, b.layout.classes, b.layout.shells,
              b.layout.size());
  std::printf("cycle: protocol block 1:");
  for (const auto& s : b.config.protocol.blocks.at(0).steps) std::printf(" %s;", s.text.c_str());
  std::printf(
      "\nstretch: 1 warm-up cycle (not timed), then %d timed cycle%s per measurement; "
      "Cycler::integrate_cycle, every cycle integrated (no skipping); rtol %g\n",
      b.cycles, b.cycles == 1 ? "" : "s", b.config.solver.relative_tolerance);
  if (args.cpu_max_cells > 0)
    std::printf(
        "cpu cells: batches above %d cells are measured on the CPU with %d of their cells (the "
        "first in the mixed order; the CPU's cell-cycles/s on %d threads does not depend on the "
        "batch once every thread has cells)\n",
        args.cpu_max_cells, args.cpu_max_cells, b.threads);
  if (args.budget > 0) std::printf("budget: %.0f s\n", args.budget);
  std::printf(
      "columns: inst = IDA instances (GPU groups, CPU slices), one host thread each; steps/cyc, "
      "max/cyc = IDA steps per cycle of an instance, mean and largest over the instances; "
      "cell-steps/s = active cell-steps (bench_gpu.cu, top); per IDA step over all instances: "
      "res = residuals, jac = Jacobian evaluations, fac = factorisations, nl = Newton "
      "iterations, launch = kernel launches, sync = host synchronisations (all kinds) "
      "(GPU); mix: homo = reference cells, het/mix = heterogeneous in the mixed order, "
      "het/sort = heterogeneous sorted by (C-rate, loading)\n\n");
  print_floor(b.layout);
  const Floor floor = bandwidth_floor(b.layout, {});

  // One batch size: the GPU as one IDA instance and as groups, and the CPU. In the heterogeneous
  // row the single instance and cpu_mixed take the cells in the mixed order, the groups and cpu
  // sorted by type.
  struct Row {
    int batch = 0;
    Measurement single, grouped, cpu, cpu_mixed;
  };
  auto cpu_count = [&](int batch) {
    return args.cpu_max_cells > 0 ? std::min(batch, args.cpu_max_cells) : batch;
  };

  std::printf("## homogeneous batches (reference cells)\n");
  print_row_header();
  std::vector<Row> rows;
  for (const int batch : args.batches) {
    Row row;
    row.batch = batch;
    if (gpu) {
      const Batch cells = homogeneous_cells(b.config, batch);
      row.single = run_batch(b, cells, {}, Backend::kCuda, 1);
      print_row(batch, "homo", "gpu", row.single);
      if (grouped(batch)) {
        row.grouped = run_batch(b, cells, {}, Backend::kCuda, groups);
        print_row(batch, "homo", "gpu", row.grouped);
      }
    }
    row.cpu =
        run_batch(b, homogeneous_cells(b.config, cpu_count(batch)), {}, Backend::kCpu, b.threads);
    print_row(batch, "homo", "cpu", row.cpu);
    rows.push_back(std::move(row));
  }

  // Where the GPU time goes: the largest homogeneous batch once more, one instance, every launch
  // timed with cudaEvents (a measurement of its own: the events cost host time).
  Measurement profile;
  if (gpu) {
    std::printf(
        "\n## where the GPU time goes (largest homogeneous batch, one instance, events "
        "around every launch)\n");
    profile =
        run_batch(b, homogeneous_cells(b.config, largest), {}, Backend::kCuda, 1, /*profile=*/true);
    print_profile(largest, profile);
  }

  // Heterogeneous batch: first each cell type alone (its own steps per cycle), then the batch.
  Row het;
  het.batch = hetero;
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
      const Batch mixed = heterogeneous_cells(types, hetero);
      const Batch sorted = sorted_by_type(mixed);
      const Batch cpu_mixed = heterogeneous_cells(types, cpu_count(hetero));
      const Batch cpu_sorted = sorted_by_type(cpu_mixed);
      if (grouped(hetero)) std::printf("gpu groups: %s\n", slice_mix(sorted, groups).c_str());
      std::printf("cpu, sorted: %s; mixed: %s\n", slice_mix(cpu_sorted, b.threads).c_str(),
                  slice_mix(cpu_mixed, b.threads).c_str());
      print_row_header();
      // The groups first: under a tight --budget, the slow single instance is the one skipped.
      if (gpu && grouped(hetero)) {
        het.grouped = run_batch(b, sorted, alone.own, Backend::kCuda, groups);
        print_row(hetero, "het/sort", "gpu", het.grouped);
      }
      if (gpu) {
        het.single = run_batch(b, mixed, alone.own, Backend::kCuda, 1);
        print_row(hetero, "het/mix", "gpu", het.single);
      }
      het.cpu = run_batch(b, cpu_sorted, alone.own, Backend::kCpu, b.threads);
      print_row(hetero, "het/sort", "cpu", het.cpu);
      het.cpu_mixed = run_batch(b, cpu_mixed, alone.own, Backend::kCpu, b.threads);
      print_row(hetero, "het/mix", "cpu", het.cpu_mixed);
    }
  }

  // ---------------------------------------------------------------------------------------------
  std::printf(
      "\n## summary (%d timed cycle%s of block 1 per cell; CPU backend on %d threads; "
      "gpu: %s)\n",
      b.cycles, b.cycles == 1 ? "" : "s", b.threads,
      gpu ? device.c_str() : "none, GPU columns skipped");
  const Row* top = nullptr;   // the largest homogeneous batch
  const Row* same = nullptr;  // the homogeneous batch of the heterogeneous batch's size
  for (const Row& r : rows) {
    if (r.batch == largest) top = &r;
    if (r.batch == hetero) same = &r;
  }
  // 1 - hetero/homo in cell-cycles/s and in active cell-steps/s.
  auto penalty = [](const Measurement& h, const Measurement& o) {
    return std::pair{1 - h.cycles_per_s() / o.cycles_per_s(),
                     1 - h.steps_per_s() / o.steps_per_s()};
  };
  const Measurement none;
  const Measurement& homo_single = same ? same->single : none;
  const Measurement& homo_grouped = same ? same->grouped : none;
  const Measurement& homo_cpu = same ? same->cpu : none;
  // The targets first (a cut-off output still has them), then the tables they come from.
  // The faster GPU configuration of a batch (by cell-cycles/s) and its name.
  auto faster = [&](const Measurement& single, const Measurement& in_groups) {
    const double s = single.cycles_per_s(), g = in_groups.cycles_per_s();
    if (std::isfinite(g) && !(s >= g))
      return std::pair<const Measurement*, std::string>{&in_groups,
                                                        std::to_string(groups) + " groups"};
    return std::pair<const Measurement*, std::string>{&single,
                                                      std::isfinite(s) ? "single instance" : "-"};
  };
  const auto [top_gpu, top_config] = top ? faster(top->single, top->grouped)
                                         : std::pair<const Measurement*, std::string>{&none, "-"};
  const auto [het_gpu, het_config] = faster(het.single, het.grouped);
  const auto [same_gpu, same_config] = faster(homo_single, homo_grouped);
  const double top_share = top_gpu->steps_per_s() / floor.cell_steps_per_s();
  const double top_steps = top_gpu->steps_per_s();
  const double top_ratio = top ? top_gpu->cycles_per_s() / top->cpu.cycles_per_s() : NAN;
  const double best_penalty = penalty(*het_gpu, *same_gpu).first;
  const std::string penalty_config =
      het_config == "-" ? "-" : "het: " + het_config + ", homo: " + same_config;
  std::printf(
      "targets at the largest batch (B=%d%s), for an H200%s; each from the faster GPU "
      "configuration (the penalty: the faster heterogeneous one against the faster homogeneous "
      "one):\n",
      largest, hetero > 0 ? (", heterogeneous B=" + std::to_string(hetero)).c_str() : "",
      !gpu    ? " (no GPU: n/a)"
      : !h200 ? " (* = measured on another GPU, against the H200's targets)"
              : "");
  std::printf("%-44s %12s %12s %7s  %s\n", "target", "value", "target", "status", "configuration");
  std::printf("%-44s %12s %11.0f%% %7s  %s\n", "gpu cell-steps/s, share of bandwidth floor",
              num(100 * top_share, "%.3g", "%").c_str(), 100 * kTargetFloorShare,
              status(top_share, kTargetFloorShare, true, h200).c_str(), top_config.c_str());
  std::printf("%-44s %12s %12.3g %7s  %s\n", "gpu cell-steps/s", num(top_steps).c_str(),
              kTargetCellSteps, status(top_steps, kTargetCellSteps, true, h200).c_str(),
              top_config.c_str());
  std::printf("%-44s %12s %11.0fx %7s  %s\n", "gpu/cpu cell-cycles/s",
              num(top_ratio, "%.3g", "x").c_str(), kTargetRatio,
              status(top_ratio, kTargetRatio, true, h200).c_str(), top_config.c_str());
  std::printf("%-44s %12s %11.0f%% %7s  %s\n", "heterogeneity penalty, gpu cell-cycles/s",
              num(100 * best_penalty, "%.3g", "%").c_str(), 100 * kTargetPenalty,
              status(best_penalty, kTargetPenalty, false, h200).c_str(), penalty_config.c_str());

  std::printf("%-7s %-8s %8s %11s %11s %8s %12s %12s %8s %9s %9s\n", "batch", "mix", "gpu_inst",
              "gpu_cyc/s", "cpu_cyc/s", "gpu/cpu", "gpu_steps/s", "cpu_steps/s", "%floor",
              "cpu_cells", "|dQ|mAh/g");
  auto summary_row = [&](int batch, const char* mix, int instances, const Measurement& g,
                         const Measurement& c) {
    const double gc = g.cycles_per_s(), cc = c.cycles_per_s();
    std::printf("%-7d %-8s %8s %11s %11s %8s %12s %12s %8s %9d %9s\n", batch, mix,
                instances > 0 ? std::to_string(instances).c_str() : "-", num(gc).c_str(),
                num(cc).c_str(), num(gc / cc, "%.3g").c_str(), num(g.steps_per_s()).c_str(),
                num(c.steps_per_s()).c_str(),
                num(100 * g.steps_per_s() / floor.cell_steps_per_s(), "%.3g").c_str(), c.cells,
                num(std::fabs(g.q_discharge - c.q_discharge), "%.2g").c_str());
  };
  for (const Row& r : rows) {
    summary_row(r.batch, "homo", 1, r.single, r.cpu);
    if (grouped(r.batch)) summary_row(r.batch, "homo", groups, r.grouped, r.cpu);
  }
  if (hetero > 0) {
    summary_row(hetero, "het/mix", 1, het.single, het.cpu_mixed);
    summary_row(hetero, "het/sort", grouped(hetero) ? groups : 0, het.grouped, het.cpu);
  }
  std::printf(
      "%%floor = gpu cell-steps/s / (%.1f TB/s / %.0f B per cell-step); |dQ| = |GPU - CPU| "
      "discharge capacity of the first cell of type 0 (homo: cell 1) in the last timed cycle "
      "(mAh/g); cpu_cyc/s of het/mix: the CPU's slices in the mixed order, of het/sort: sorted\n",
      kH200Bandwidth / 1e12, floor.total());

  // IDA steps per cycle of an instance: "mean (largest)".
  auto steps = [](const Measurement& m) {
    return num(m.batch_steps, "%.0f") + " (" + num(m.max_batch_steps, "%.0f") + ")";
  };
  if (hetero > 0) {
    std::printf(
        "heterogeneity penalty at B=%d, 1 - hetero/homo in cell-cycles/s (in active "
        "cell-steps/s)%s; IDA steps per cycle of an instance, mean (largest), hetero / homo:\n",
        hetero, same ? "" : " (no homogeneous batch of this size: add it to --batches)");
    auto line = [&](const char* what, const Measurement& h, const Measurement& o) {
      const auto [cycles, cell_steps] = penalty(h, o);
      std::printf("  %-40s %8s (%s); steps %s / %s\n", what,
                  num(100 * cycles, "%.3g", " %").c_str(),
                  num(100 * cell_steps, "%.3g", " %").c_str(), steps(h).c_str(), steps(o).c_str());
    };
    line("gpu, single instance, mixed order", het.single, homo_single);
    const std::string g = "gpu, " + std::to_string(groups) + " groups, sorted by type";
    if (grouped(hetero)) line(g.c_str(), het.grouped, homo_grouped);
    const std::string c = "cpu, " + std::to_string(het.cpu.instances) + " slices, ";
    line((c + "sorted by type").c_str(), het.cpu, homo_cpu);
    line((c + "mixed order").c_str(), het.cpu_mixed, homo_cpu);
    std::printf(
        "  own steps per cycle of the types alone: mean %s; cpu, one cell per Cycler (no "
        "batching): %s cell-cycles/s\n",
        num(alone.mean_steps, "%.1f").c_str(), num(alone.cell_cycles_per_s).c_str());
  }
  if (groups > 1) {
    std::printf("grouping itself, homogeneous, gpu %d groups / single instance, cell-cycles/s:",
                groups);
    bool any = false;
    for (const Row& r : rows)
      if (grouped(r.batch)) {
        std::printf(" B=%d %s;", r.batch,
                    num(r.grouped.cycles_per_s() / r.single.cycles_per_s(), "%.3g", "x").c_str());
        any = true;
      }
    std::printf("%s\n", any ? "" : " no batch of that size");
  }

  return 0;
}
