// GPU benchmark: batches of reference cells integrated over a fixed stretch of protocol on the
// GPU backend (cuda/gpu_integrator.hpp) and on the CPU backend (host/batch_integrator.hpp) on
// all cores, in the same run. Prints cell-steps/s, cell-cycles/s and the GPU/CPU ratio; the
// summary table comes last. It measures and prints; it asserts nothing.
//
//   bench_gpu [--batches 1,64,1024,8192] [--seconds S] [--threads T] [--mesh NX,NR]
//             [--cpu-max-cells N] [--repeat R]
//
// Stretch: the reference cell of the embedded configuration, from its pristine state (uniform
// initial stoichiometry), 1C constant-current charge for S seconds (default 600 s): IDAReInit +
// IDACalcIC + the IDA steps to t = S, exactly what a protocol step costs. No cut-off is reached.
// CPU: the batch is split into T slices (default: all hardware threads), each slice one
// BatchModel + BatchIntegrator on its own thread, all started together; the time is the wall time
// until the last slice finishes. With --cpu-max-cells N, larger batches are measured on the CPU
// with N cells and the rate is reported as such (the CPU rate per cell does not depend on B).
// cell-cycles/s = cell-steps/s / (IDA steps of one full 1C CCCV cycle of the reference cell,
// measured with the CPU Cycler in the same run: the GPU takes the same steps within a few %).
// Every stretch runs R times (default 3) from the same state; the fastest run is reported (the
// first GPU run also pays for module loading and first-launch costs).
// Columns (GPU rows): vecops/step = kernel launches of the device N_Vector per IDA step (the
// residual, Jacobian, factor and solve kernels come on top, ~4 per Newton iteration);
// norms/step = reductions copied back to the host per step (each one a synchronisation).
// Without a CUDA device, only the CPU columns are measured.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/gpu_integrator.hpp"
#include "halite/build_info.hpp"
#include "host/batch_integrator.hpp"
#include "host/config.hpp"
#include "host/cycler.hpp"

namespace {

using halite::BatchIntegrator;
using halite::BatchModel;
using halite::CellSetup;
using halite::RunConfig;
using halite::SolverConfig;
namespace models = halite::models;

double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Args {
  std::vector<int> batches{1, 64, 1024, 8192};
  double seconds = 600.0;
  int threads = 0;  // 0: hardware_concurrency
  int nx = 0, nr = 0;
  int cpu_max_cells = 0;  // 0: no cap
  int repeat = 3;         // the stretch is run this many times per batch; the fastest counts
};

bool parse_int_list(const std::string& s, std::vector<int>* out) {
  out->clear();
  std::size_t pos = 0;
  while (pos < s.size()) {
    const std::size_t comma = s.find(',', pos);
    const std::string item =
        s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < 1) return false;
    out->push_back(int(v));
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return !out->empty();
}

bool parse_args(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (arg == "--batches") {
      const char* v = next();
      if (!v || !parse_int_list(v, &a->batches)) return false;
    } else if (arg == "--seconds") {
      const char* v = next();
      if (!v || (a->seconds = std::atof(v)) <= 0) return false;
    } else if (arg == "--threads") {
      const char* v = next();
      if (!v || (a->threads = std::atoi(v)) < 1) return false;
    } else if (arg == "--repeat") {
      const char* v = next();
      if (!v || (a->repeat = std::atoi(v)) < 1) return false;
    } else if (arg == "--cpu-max-cells") {
      const char* v = next();
      if (!v || (a->cpu_max_cells = std::atoi(v)) < 1) return false;
    } else if (arg == "--mesh") {
      const char* v = next();
      if (!v || std::sscanf(v, "%d,%d", &a->nx, &a->nr) != 2 || a->nx < 1 || a->nr < 1)
        return false;
    } else {
      return false;
    }
  }
  return true;
}

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--batches 1,64,1024,8192] [--seconds S] [--threads T] [--mesh NX,NR]\n"
               "          [--cpu-max-cells N] [--repeat R]\n",
               argv0);
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// The stretch for one batch: model + initial state.
struct Stretch {
  const RunConfig* config;
  models::CellLayout layout;
  CellSetup setup;
  double seconds;
};

void prepare(const Stretch& s, BatchModel& model, std::vector<double>& y) {
  const int n = model.per_cell();
  y.assign(std::size_t(model.cells()) * n, 0.0);
  for (int c = 0; c < model.cells(); ++c) {
    model.control(c) = {models::ControlMode::kCurrent, -s.setup.one_c_current_density, 0.0};
    model.initial_guess(c, s.setup.initial_stoichiometry, y.data() + std::size_t(c) * n);
  }
}

struct Result {
  bool ran = false;
  std::string failure;
  int cells = 0;   // cells measured
  long steps = 0;  // IDA steps of the batch (CPU: summed per slice as cells * steps)
  double cell_steps = 0;
  double wall = 0;     // s
  double voltage = 0;  // cell 0 at the end
  long launches = 0, reductions = 0;
};

Result run_gpu(const Stretch& s, int cells, int repeat) {
  Result r;
  r.cells = cells;
  try {
    BatchModel model(std::vector<models::CellParams>(cells, s.setup.params), s.layout);
    std::vector<double> y;
    prepare(s, model, y);
    halite::cuda::GpuBatchIntegrator gpu(model, s.config->solver);
    for (int rep = 0; rep < repeat; ++rep) {
      gpu.set_state(y.data());
      HALITE_CUDA_CHECK(cudaDeviceSynchronize());
      const long launches0 = gpu.vectors().kernel_launches;
      const long reductions0 = gpu.vectors().reductions, steps0 = gpu.stats().steps;
      const double t0 = wall_seconds();
      gpu.restart(0.0);
      gpu.advance_to(s.seconds);
      HALITE_CUDA_CHECK(cudaDeviceSynchronize());
      const double wall = wall_seconds() - t0;
      if (rep == 0 || wall < r.wall) {
        r.wall = wall;
        r.steps = gpu.stats().steps - steps0;
        r.cell_steps = double(cells) * double(r.steps);
        r.launches = gpu.vectors().kernel_launches - launches0;
        r.reductions = gpu.vectors().reductions - reductions0;
      }
    }
    std::vector<double> yend(y.size());
    gpu.get_state(yend.data());
    r.voltage = model.cell_voltage(0, yend.data());
    r.ran = true;
  } catch (const std::exception& e) {
    r.failure = e.what();
  }
  return r;
}

Result run_cpu(const Stretch& s, int cells, int threads, int repeat) {
  Result r;
  r.cells = cells;
  const int slices = std::max(1, std::min(threads, cells));
  std::vector<long> steps(slices, 0);
  std::vector<double> voltage(slices, 0.0);
  std::vector<std::string> failure(slices);
  std::vector<int> slice_cells(slices, cells / slices);
  for (int k = 0; k < cells % slices; ++k) ++slice_cells[k];
  // Build every slice first (allocation is not what we measure), then start them together.
  std::vector<std::unique_ptr<BatchModel>> slice_models(slices);
  std::vector<std::unique_ptr<BatchIntegrator>> integrators(slices);
  std::vector<std::vector<double>> y0(slices);
  for (int k = 0; k < slices; ++k) {
    slice_models[k] = std::make_unique<BatchModel>(
        std::vector<models::CellParams>(slice_cells[k], s.setup.params), s.layout);
    prepare(s, *slice_models[k], y0[k]);
    integrators[k] = std::make_unique<BatchIntegrator>(*slice_models[k], s.config->solver);
  }
  for (int rep = 0; rep < repeat; ++rep) {
    const double t0 = wall_seconds();
    std::vector<std::thread> pool;
    for (int k = 0; k < slices; ++k)
      pool.emplace_back([&, k] {
        try {
          BatchIntegrator& in = *integrators[k];
          std::copy(y0[k].begin(), y0[k].end(), in.y());
          const long steps0 = in.stats().steps;
          in.restart(0.0, nullptr);
          double t = 0.0;
          while (t < s.seconds) {
            const int flag = in.step(s.seconds, &t);
            if (flag < 0) throw std::runtime_error("IDASolve flag " + std::to_string(flag));
          }
          steps[k] = in.stats().steps - steps0;
          voltage[k] = slice_models[k]->cell_voltage(0, in.cell_state(0));
        } catch (const std::exception& e) {
          failure[k] = e.what();
        }
      });
    for (auto& t : pool) t.join();
    const double wall = wall_seconds() - t0;
    if (rep == 0 || wall < r.wall) {
      r.wall = wall;
      r.cell_steps = 0;
      for (int k = 0; k < slices; ++k) r.cell_steps += double(slice_cells[k]) * double(steps[k]);
      r.steps = steps[0];
    }
  }
  for (int k = 0; k < slices; ++k)
    if (!failure[k].empty() && r.failure.empty()) r.failure = failure[k];
  r.voltage = voltage[0];
  r.ran = r.failure.empty();
  return r;
}

// IDA steps of one full cycle (the protocol's first block, after one warm-up cycle) of the
// reference cell on the CPU backend.
long steps_per_cycle(const RunConfig& config, const models::CellLayout& layout) {
  halite::Cycler cycler({halite::cell_setup_from_config(config)}, layout, config.solver,
                        config.protocol);
  const auto& steps = cycler.protocol().blocks.at(0).steps;
  long per_cycle = 0;
  for (int k = 0; k < 2; ++k) {
    const long before = cycler.integrator().stats().steps;
    for (std::size_t st = 0; st < steps.size(); ++st) cycler.run_step(steps[st], int(st));
    per_cycle = cycler.integrator().stats().steps - before;
  }
  return per_cycle;
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
  const int threads =
      args.threads > 0 ? args.threads : std::max(1, int(std::thread::hardware_concurrency()));

  RunConfig config = halite::load_config("");
  if (args.nx > 0) config.mesh.cathode_nodes = args.nx;
  if (args.nr > 0) config.mesh.radial_shells = args.nr;
  const models::CellLayout layout{config.mesh.cathode_nodes, config.cell.particle_classes,
                                  config.mesh.radial_shells};
  const Stretch stretch{&config, layout, halite::cell_setup_from_config(config), args.seconds};

  const int devices = halite::cuda::device_count();
  std::string device = "none (GPU columns not measured)";
  if (devices > 0) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
      device = std::string(prop.name) + ", " + std::to_string(prop.multiProcessorCount) + " SMs, " +
               std::to_string(prop.totalGlobalMem >> 20) + " MiB";
  }

  std::printf("# halite bench_gpu\n");
  std::printf("build: halite %s, commit %s\n", halite::build_info::kVersion,
              halite::build_info::kGitCommit);
  std::printf("device: %s\n", device.c_str());
  std::printf("cpu: %s, %d threads for the CPU backend\n", cpu_model().c_str(), threads);
  std::printf("cell: %s; mesh nodes=%d classes=%d shells=%d -> %d unknowns per cell\n",
              config.name.c_str(), layout.nodes, layout.classes, layout.shells, layout.size());
  std::printf(
      "stretch: 1C CC charge (%.3g A/m^2) for %.0f s from x0 = %.3f, IDACalcIC included; "
      "rtol %g\n",
      stretch.setup.one_c_current_density, args.seconds, stretch.setup.initial_stoichiometry,
      config.solver.relative_tolerance);

  const double t_cycle0 = wall_seconds();
  const long cycle_steps = steps_per_cycle(config, layout);
  std::printf("reference cycle (protocol block 1, CPU Cycler): %ld IDA steps (%.1f ms)\n\n",
              cycle_steps, 1e3 * (wall_seconds() - t_cycle0));

  struct Row {
    int batch;
    Result gpu, cpu;
  };
  std::vector<Row> rows;
  std::printf("%-7s %-4s %8s %10s %8s %14s %12s %11s %11s %s\n", "batch", "side", "cells",
              "ida_steps", "wall_s", "cell_steps/s", "cell_cyc/s", "vecops/step", "norms/step",
              "V_end(cell 1)");
  for (const int b : args.batches) {
    Row row{b, {}, {}};
    if (devices > 0) row.gpu = run_gpu(stretch, b, args.repeat);
    const int cpu_cells = args.cpu_max_cells > 0 ? std::min(b, args.cpu_max_cells) : b;
    row.cpu = run_cpu(stretch, cpu_cells, threads, args.repeat);
    for (const auto* r : {&row.gpu, &row.cpu}) {
      const char* side = r == &row.gpu ? "gpu" : "cpu";
      if (!r->ran) {
        std::printf("%-7d %-4s %s\n", b, side,
                    r->failure.empty() ? "not measured" : ("FAILED: " + r->failure).c_str());
        continue;
      }
      const double rate = r->cell_steps / r->wall;
      const double per_step = r->steps > 0 ? 1.0 / double(r->steps) : 0.0;
      std::printf("%-7d %-4s %8d %10ld %8.4f %14.4g %12.4g %11.1f %11.1f %.6f\n", b, side, r->cells,
                  r->steps, r->wall, rate, rate / double(cycle_steps),
                  double(r->launches) * per_step, double(r->reductions) * per_step, r->voltage);
    }
    std::fflush(stdout);
    rows.push_back(std::move(row));
  }

  std::printf("\n## summary (cell-steps/s and cell-cycles/s; ratio = GPU / CPU on %d threads)\n",
              threads);
  std::printf("%-7s %14s %14s %12s %12s %8s %12s\n", "batch", "gpu_steps/s", "cpu_steps/s",
              "gpu_cyc/s", "cpu_cyc/s", "ratio", "|dV| V");
  for (const auto& row : rows) {
    const double g = row.gpu.ran ? row.gpu.cell_steps / row.gpu.wall : NAN;
    const double c = row.cpu.ran ? row.cpu.cell_steps / row.cpu.wall : NAN;
    const double dv =
        row.gpu.ran && row.cpu.ran ? std::fabs(row.gpu.voltage - row.cpu.voltage) : NAN;
    std::printf("%-7d %14.4g %14.4g %12.4g %12.4g %8.3g %12.3g\n", row.batch, g, c,
                g / double(cycle_steps), c / double(cycle_steps), g / c, dv);
  }
  return 0;
}
