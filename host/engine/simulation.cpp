#include "host/engine/simulation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

namespace halite {

namespace {

bool same_protocol(const Protocol& a, const Protocol& b) {
  if (a.reference != b.reference || a.blocks.size() != b.blocks.size()) return false;
  for (std::size_t k = 0; k < a.blocks.size(); ++k) {
    const Block &x = a.blocks[k], &y = b.blocks[k];
    if (x.repeat != y.repeat || x.steps.size() != y.steps.size()) return false;
    for (std::size_t s = 0; s < x.steps.size(); ++s) {
      const Step &p = x.steps[s], &q = y.steps[s];
      if (p.mode != q.mode || p.c_rate != q.c_rate || p.current_density != q.current_density ||
          p.voltage != q.voltage || p.until.size() != q.until.size())
        return false;
      for (std::size_t e = 0; e < p.until.size(); ++e)
        if (p.until[e].kind != q.until[e].kind || p.until[e].value != q.until[e].value ||
            p.until[e].in_c_rate != q.until[e].in_c_rate)
          return false;
    }
  }
  return true;
}

bool same_solver(const SolverConfig& a, const SolverConfig& b) {
  return a.relative_tolerance == b.relative_tolerance &&
         a.absolute_tolerance_stoichiometry == b.absolute_tolerance_stoichiometry &&
         a.absolute_tolerance_potential == b.absolute_tolerance_potential &&
         a.absolute_tolerance_current == b.absolute_tolerance_current &&
         a.absolute_tolerance_charge == b.absolute_tolerance_charge && a.max_step == b.max_step &&
         a.max_steps_per_step == b.max_steps_per_step;
}

std::vector<CellSetup> setups(const std::vector<RunConfig>& configs) {
  if (configs.empty()) throw std::invalid_argument("a simulation needs at least one cell");
  std::vector<CellSetup> cells;
  for (const auto& c : configs) {
    const auto& first = configs.front();
    if (c.mesh.cathode_nodes != first.mesh.cathode_nodes ||
        c.mesh.radial_shells != first.mesh.radial_shells ||
        c.mesh.shell_stretch != first.mesh.shell_stretch ||
        c.cell.particle_classes != first.cell.particle_classes)
      throw std::invalid_argument("cell '" + c.name +
                                  "': every cell of a batch needs the same mesh and particle "
                                  "classes");
    if (!same_protocol(c.protocol, first.protocol))
      throw std::invalid_argument("cell '" + c.name +
                                  "': every cell of a batch needs the same protocol");
    if (!same_solver(c.solver, first.solver))
      throw std::invalid_argument("cell '" + c.name +
                                  "': every cell of a batch needs the same solver options");
    cells.push_back(cell_setup_from_config(c));
  }
  return cells;
}

// Thrown from the boundary callback when the observer asks to stop.
struct StopRequested {};

}  // namespace

bool SimulationOutcome::all_completed() const {
  return std::all_of(cells.begin(), cells.end(), [](const CellOutcome& c) {
    return c.status == "completed" || c.status == "completed_with_warnings";
  });
}

Simulation::Simulation(std::vector<RunConfig> configs, Backend backend)
    : configs_(std::move(configs)),
      cycler_(setups(configs_),
              configs_.front().mesh.layout(configs_.front().cell.particle_classes),
              configs_.front().solver, configs_.front().protocol, backend) {}

int Simulation::total_cycles(int max_cycles) const {
  const int protocol_cycles = configs_.front().protocol.total_cycles();
  return max_cycles > 0 ? std::min(max_cycles, protocol_cycles) : protocol_cycles;
}

std::set<int> Simulation::curve_cycles(int total_cycles) const {
  const RunConfig& config = configs_.front();
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

SimulationOutcome Simulation::run(Observer& observer, const SimulationOptions& options,
                                  const CycleCursor* start) {
  const int total = total_cycles(options.max_cycles);
  const int n = cells();
  const auto wanted = curve_cycles(total);
  SimulationOutcome outcome;
  outcome.cells.assign(static_cast<std::size_t>(n), {});

  // Physical sanity: a cycle of a block that moves charge but moves almost none (below 1 % of
  // the capacity that defines 1C, charge and discharge together) is a result to doubt, not a
  // silent success: 20C, a 2 mm cathode or an SE at 1e-8 S/cm gave 0 mAh/g in every cycle with
  // status "completed". Such a cell ends "completed_with_warnings".
  std::vector<bool> moves_charge;  // per cycle of the protocol (index cycle - 1)
  for (const auto& block : configs_.front().protocol.blocks) {
    bool moves = false;
    for (const auto& step : block.steps) moves = moves || step.mode != StepMode::kRest;
    moves_charge.insert(moves_charge.end(), static_cast<std::size_t>(block.repeat), moves);
  }
  std::vector<int> empty_cycles(n, 0), first_empty_cycle(n, 0);
  std::vector<double> first_discharge(n, NAN);

  const int first_cycle = start ? start->cycle + 1 : 1;
  const auto started = std::chrono::steady_clock::now();
  const int integrated_before = cycler_.integrated_cycles();
  const int skipped_before = cycler_.skipped_cycles();
  const int retried_before = cycler_.retried_cycles();

  RunControl control;
  control.retries = std::max(0, options.retries);
  control.start = start;
  control.on_boundary = [&](const CycleBoundary& boundary) {
    observer.on_boundary(boundary);
    if (observer.stop_requested()) throw StopRequested{};
  };
  auto on_cycle = [&](const std::vector<CycleRecord>& records) {
    observer.on_cycle(records);
    for (int c = 0; c < n; ++c) {
      const CycleRecord& r = records[static_cast<std::size_t>(c)];
      // The first cycle a run sees may be a resumed one: retention is then measured from it.
      if (std::isnan(first_discharge[c])) first_discharge[c] = r.discharge_capacity;
      if (r.failed && outcome.cells[c].status != "failed") outcome.cells[c] = {"failed", r.failure};
      const bool moves = r.cycle >= 1 && r.cycle <= static_cast<int>(moves_charge.size()) &&
                         moves_charge[static_cast<std::size_t>(r.cycle - 1)];
      const double nothing_moved = 0.01 * configs_[c].loading.reference_specific_capacity;
      if (!r.failed && moves && !(r.charge_capacity + r.discharge_capacity >= nothing_moved))
        if (empty_cycles[c]++ == 0) first_empty_cycle[c] = r.cycle;
    }
    const CycleRecord& r = records.front();
    outcome.last_cycle = r.cycle;
    ProgressReport p;
    p.cycle = r.cycle;
    p.total_cycles = total;
    p.first_cycle = first_cycle;
    p.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    p.eta_s = p.elapsed_s / std::max(1, r.cycle - first_cycle + 1) * (total - r.cycle);
    p.discharge_capacity = r.discharge_capacity;
    p.retention = first_discharge[0] > 0 ? r.discharge_capacity / first_discharge[0] : NAN;
    p.coulombic_efficiency = r.coulombic_efficiency;
    observer.on_progress(p);
  };
  try {
    cycler_.run(
        total, on_cycle, [&](int cycle) { return wanted.count(cycle) > 0; },
        [&](int cell, const Curve& curve) { observer.on_curve(cell, curve); },
        CycleSkipping{options.skipping, options.skip_tolerance}, control);
  } catch (const StopRequested&) {
    outcome.interrupted = true;
    for (auto& c : outcome.cells)
      if (c.status != "failed")
        c = {"interrupted",
             fmt::format("stopped at the boundary after cycle {}", outcome.last_cycle)};
  } catch (const IntegrationError& e) {
    for (auto& c : outcome.cells)
      if (c.status != "failed") c = {"failed", e.what()};
  }
  for (int c = 0; c < n; ++c)
    if (empty_cycles[c] > 0 && outcome.cells[c].status == "completed")
      outcome.cells[c] = {
          "completed_with_warnings",
          fmt::format("{} cycle(s) moved almost no charge (charge + discharge below {:.3g} mAh/g, "
                      "1 % of the capacity that defines 1C), the first of them cycle {}: check "
                      "the rate, loading and conductivities",
                      empty_cycles[c], 0.01 * configs_[c].loading.reference_specific_capacity,
                      first_empty_cycle[c])};
  outcome.integrated_cycles = cycler_.integrated_cycles() - integrated_before;
  outcome.extrapolated_cycles = cycler_.skipped_cycles() - skipped_before;
  outcome.retried_cycles = cycler_.retried_cycles() - retried_before;
  return outcome;
}

}  // namespace halite
