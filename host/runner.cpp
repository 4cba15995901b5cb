// `halite run`: the protocol over the configured cell, per-cycle results appended to HDF5 and
// flushed after every cycle, progress on stderr.
#include "host/runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <set>

#include <fmt/format.h>

#include "halite/build_info.hpp"
#include "host/aging_report.hpp"
#include "host/cycler.hpp"
#include "host/result_writer.hpp"

namespace halite {

namespace {

// Cycles whose full voltage curves are stored: the configured list, or by default the first and
// the last cycle and every cycle of the blocks after the first (the rate test).
std::set<int> curve_cycles(const RunConfig& config, int total_cycles) {
  std::set<int> cycles;
  if (!config.output.curve_cycles.empty()) {
    for (int c : config.output.curve_cycles)
      if (c >= 1 && c <= total_cycles) cycles.insert(c);
    return cycles;
  }
  cycles.insert(1);
  cycles.insert(total_cycles);
  int first_of_block = 1;
  for (std::size_t b = 0; b < config.protocol.blocks.size(); ++b) {
    const int n = config.protocol.blocks[b].repeat;
    if (b > 0)
      for (int c = first_of_block; c < first_of_block + n && c <= total_cycles; ++c)
        cycles.insert(c);
    first_of_block += n;
  }
  return cycles;
}

class Progress {
 public:
  Progress(bool quiet, int total) : quiet_(quiet), tty_(isatty(2)), total_(total) {
    start_ = last_ = std::chrono::steady_clock::now();
  }
  void update(const CycleRecord& r, double first_discharge) {
    if (quiet_) return;
    const auto now = std::chrono::steady_clock::now();
    const double since_last = std::chrono::duration<double>(now - last_).count();
    const bool final = r.cycle == total_;
    // On a terminal: redraw at most 10 times a second. Otherwise: a line every 5 s and the last.
    if (!final && since_last < (tty_ ? 0.1 : 5.0) && r.cycle != 1) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double eta = elapsed / r.cycle * (total_ - r.cycle);
    const double retention = first_discharge > 0 ? r.discharge_capacity / first_discharge : NAN;
    const std::string line = fmt::format(
        "cycle {:>5}/{}  discharge {:7.2f} mAh/g  retention {:6.2f} %  CE {:7.4f}  "
        "elapsed {:6.1f} s  ETA {:6.1f} s",
        r.cycle, total_, r.discharge_capacity, 100.0 * retention, r.coulombic_efficiency, elapsed,
        eta);
    if (tty_)
      std::fprintf(stderr, "\r%s%s", line.c_str(), final ? "\n" : "");
    else
      std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
  }
  void finish() {
    if (!quiet_ && tty_) std::fprintf(stderr, "\n");
  }

 private:
  bool quiet_, tty_;
  int total_;
  std::chrono::steady_clock::time_point start_, last_;
};

}  // namespace

int run_job(const RunConfig& config, const RunOptions& options) {
  const int protocol_cycles = config.protocol.total_cycles();
  const int total_cycles =
      options.max_cycles > 0 ? std::min(options.max_cycles, protocol_cycles) : protocol_cycles;
  int max_steps = 1;
  for (const auto& block : config.protocol.blocks)
    max_steps = std::max<int>(max_steps, static_cast<int>(block.steps.size()));

  Provenance provenance;
  provenance.version = build_info::kVersion;
  provenance.git_commit = build_info::kGitCommit;
  provenance.config_name = config.name;
  provenance.config_source = config.source;
  provenance.resolved_config_yaml = config.resolved_yaml;
  provenance.voltage_reference = to_string(config.protocol.reference);
  provenance.active_mass_per_area = config.loading.active_areal_mass;
  provenance.is_reference_cell = config.source == "<embedded reference>";
  provenance.cell_names = {config.name};

  std::unique_ptr<ResultWriter> writer;
  try {
    std::vector<ColumnSpec> columns;
    for (const auto& c : aging_column_specs()) columns.push_back({c.name, c.units, c.description});
    writer = std::make_unique<ResultWriter>(options.output, options.overwrite, 1, provenance,
                                            max_steps, columns);
  } catch (const OutputExistsError& e) {
    std::fprintf(stderr, "halite: %s\n", e.what());
    return kExitBadInput;
  }

  const auto wanted = curve_cycles(config, total_cycles);
  const models::CellLayout layout{config.mesh.cathode_nodes, config.cell.particle_classes,
                                  config.mesh.radial_shells};
  Progress progress(options.quiet, total_cycles);
  double first_discharge = NAN;
  int exit_code = kExitOk;
  try {
    Cycler cycler({cell_setup_from_config(config)}, layout, config.solver, config.protocol);
    cycler.run(
        total_cycles,
        [&](const std::vector<CycleRecord>& records) {
          std::vector<std::vector<double>> extra(aging_column_specs().size(),
                                                 std::vector<double>(records.size()));
          for (std::size_t c = 0; c < records.size(); ++c)
            for (std::size_t k = 0; k < records[c].aging.size(); ++k) extra[k][c] = records[c].aging[k];
          writer->append_cycle(records, extra);
          if (std::isnan(first_discharge)) first_discharge = records[0].discharge_capacity;
          progress.update(records[0], first_discharge);
          if (records[0].failed) throw IntegrationError(records[0].failure, 0, -1);
        },
        [&](int cycle) { return wanted.count(cycle) > 0; },
        [&](int cell, const Curve& curve) { writer->write_curve(cell, curve); },
        CycleSkipping{!options.no_skip, options.skip_tolerance});
    if (!options.quiet)
      std::fprintf(stderr, "halite: %d cycle(s) integrated, %d extrapolated\n",
                   cycler.integrated_cycles(), cycler.skipped_cycles());
    writer->set_cell_status(0, "completed");
  } catch (const IntegrationError& e) {
    progress.finish();
    writer->set_cell_status(0, "failed", e.what());
    std::fprintf(stderr, "halite: solver failed after %d finished cycle(s): %s\n",
                 writer->cycles(), e.what());
    std::fprintf(stderr, "halite: every finished cycle is in %s\n", options.output.c_str());
    exit_code = kExitSolverFailed;
  }
  writer->close();
  if (exit_code == kExitOk && !options.quiet)
    std::fprintf(stderr, "halite: %d cycle(s) written to %s (voltages vs %s)\n", writer->cycles(),
                 options.output.c_str(), to_string(config.protocol.reference));
  return exit_code;
}

}  // namespace halite
