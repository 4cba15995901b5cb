// Long-cycling benchmark: the reference cell's full protocol (4001 x 1C CCCV, then 0.2C, 3C,
// 1C) integrated cycle by cycle and with adaptive cycle skipping, in one invocation.
// Prints wall and CPU time of each, their ratio, the integrated cycles, and the largest
// difference in retention over all cycles and in the rate-test capacities. Asserts nothing.
//
// usage: bench_long [--cycles N] [--skip-tolerance T] [--set key=value ...]
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "bench/machine.hpp"
#include "host/app/config.hpp"
#include "host/engine/cycler.hpp"

using namespace halite;

namespace {

using halite::bench::cpu_seconds;

struct Result {
  std::vector<CycleRecord> table;
  int integrated = 0;
  double wall = 0, cpu = 0;
};

Result run(const RunConfig& config, int cycles, const CycleSkipping& skipping) {
  const models::CellLayout layout = config.mesh.layout(config.cell.particle_classes);
  Cycler cycler({cell_setup_from_config(config)}, layout, config.solver, config.protocol);
  Result r;
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = cpu_seconds();
  cycler.run(
      cycles, [&](const std::vector<CycleRecord>& rec) { r.table.push_back(rec[0]); }, nullptr,
      nullptr, skipping);
  r.cpu = cpu_seconds() - c0;
  r.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.integrated = cycler.integrated_cycles();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int cycles = -1;
  double tolerance = CycleSkipping{}.tolerance;
  std::vector<std::string> sets;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--cycles") && i + 1 < argc)
      cycles = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--skip-tolerance") && i + 1 < argc)
      tolerance = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--set") && i + 1 < argc)
      sets.push_back(argv[++i]);
    else {
      std::fprintf(stderr, "usage: bench_long [--cycles N] [--skip-tolerance T] [--set k=v]...\n");
      return 2;
    }
  }
  const auto config = load_config("", sets);
  std::printf("# bench_long: reference cell, full protocol%s\n# machine: %s\n# command:",
              cycles > 0 ? " (shortened)" : "", halite::bench::cpu_model().c_str());
  for (int i = 0; i < argc; ++i) std::printf(" %s", argv[i]);
  std::printf("\n");
  CycleSkipping skip;
  skip.enabled = true;
  skip.tolerance = tolerance;
  const Result skipped = run(config, cycles, skip);
  const Result full = run(config, cycles, CycleSkipping{});

  const std::size_t n = std::min(full.table.size(), skipped.table.size());
  double worst_retention = 0.0;
  int worst_cycle = 0;
  const double qf = full.table[0].discharge_capacity, qs = skipped.table[0].discharge_capacity;
  for (std::size_t k = 0; k < n; ++k) {
    const double d =
        std::fabs(full.table[k].discharge_capacity / qf - skipped.table[k].discharge_capacity / qs);
    if (d > worst_retention) worst_retention = d, worst_cycle = static_cast<int>(k) + 1;
  }
  // the rate test: every cycle after the first block
  const int aging_cycles = config.protocol.blocks.front().repeat;
  double worst_rate = 0.0;
  for (std::size_t k = aging_cycles; k < n; ++k)
    worst_rate = std::max(
        worst_rate,
        std::fabs(skipped.table[k].discharge_capacity / full.table[k].discharge_capacity - 1.0));

  std::printf("\n%-44s %14s %14s\n", "", "every cycle", "skipping");
  std::printf("%-44s %14.2f %14.2f\n", "wall time [s]", full.wall, skipped.wall);
  std::printf("%-44s %14.2f %14.2f\n", "CPU time [s]", full.cpu, skipped.cpu);
  std::printf("%-44s %14d %14d\n", "integrated cycles", full.integrated, skipped.integrated);
  std::printf("%-44s %14zu %14zu\n", "cycles in the table", full.table.size(),
              skipped.table.size());
  std::printf("%-44s %14.1f\n", "speed-up (wall, every cycle / skipping)",
              full.wall / skipped.wall);
  std::printf("%-44s %14.1f\n", "integrated-cycle ratio",
              double(full.integrated) / skipped.integrated);
  std::printf("%-44s %14.3f  (cycle %d)\n", "max retention difference [pp]", 100 * worst_retention,
              worst_cycle);
  std::printf("%-44s %14.3f\n", "max rate-test capacity difference [%]", 100 * worst_rate);
  std::printf("%-44s %14.3f %14.3f\n", "retention at the last aging cycle",
              full.table[std::min<std::size_t>(aging_cycles, n) - 2].discharge_capacity / qf,
              skipped.table[std::min<std::size_t>(aging_cycles, n) - 2].discharge_capacity / qs);
  std::printf(
      "\ntargets (issue): retention difference <= 0.5 pp, rate test within 1 %%, "
      ">= 40x fewer integrated cycles, skipped 4000-cycle run <= 3 s on one core\n");
  return 0;
}
