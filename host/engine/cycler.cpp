#include "host/engine/cycler.hpp"

#include <fmt/format.h>
#include <ida/ida.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <stdexcept>

#include "host/engine/aging_report.hpp"

namespace halite {

namespace {

// A step that has not ended after this long is a protocol error for that cell.
constexpr double kMaxStepDuration = 500.0 * 3600.0;  // s
constexpr double kCoulombsPerMilliampHour = 3.6;

models::StepEnd step_end_kind(Termination::Kind kind) {
  switch (kind) {
    case Termination::Kind::kVoltage:
      return models::StepEnd::kVoltage;
    case Termination::Kind::kCurrent:
      return models::StepEnd::kCurrent;
    case Termination::Kind::kTime:
      return models::StepEnd::kTime;
    case Termination::Kind::kCapacity:
      return models::StepEnd::kCapacity;
  }
  return models::StepEnd::kTime;
}

const char* termination_name(Termination::Kind kind) {
  switch (kind) {
    case Termination::Kind::kVoltage:
      return "voltage";
    case Termination::Kind::kCurrent:
      return "current";
    case Termination::Kind::kTime:
      return "time";
    case Termination::Kind::kCapacity:
      return "capacity";
  }
  return "?";
}

}  // namespace

CellSetup cell_setup_from_config(const RunConfig& config) {
  CellSetup s;
  s.name = config.name;
  s.params = config.cell;
  s.one_c_current_density = config.loading.one_c_current_density;
  s.active_mass_per_area = config.loading.active_areal_mass;
  s.initial_stoichiometry = config.initial_stoichiometry;
  return s;
}

Cycler::Cycler(std::vector<CellSetup> cells, models::CellLayout layout, const SolverConfig& solver,
               Protocol protocol, Backend backend)
    : cells_(std::move(cells)),
      protocol_(std::move(protocol)),
      solver_config_(solver),
      backend_(resolve_backend(backend, static_cast<int>(cells_.size()))) {
  std::vector<models::CellParams> params;
  for (const auto& c : cells_) {
    if (!(c.one_c_current_density > 0.0) || !(c.active_mass_per_area > 0.0))
      throw std::invalid_argument("cell '" + c.name + "': 1C current and active mass must be > 0");
    params.push_back(c.params);
  }
  model_ = std::make_unique<BatchModel>(std::move(params), layout);
  integrator_ = make_integrator(backend_, *model_, solver);
  clock_.assign(cells_.size(), 0.0);
  max_hoop_.assign(cells_.size(), -1e300);
  loss_reference_.assign(cells_.size(), {});
  loss_reference_set_.assign(cells_.size(), false);
  for (int c = 0; c < this->cells(); ++c)
    model_->initial_guess(c, cells_[c].initial_stoichiometry, integrator_->cell_state(c));
}

double Cycler::reference_offset(int cell) const {
  return protocol_.reference == VoltageReference::kLithium ? cells_[cell].params.anode_ocp : 0.0;
}

double Cycler::reference_voltage(int cell, const double* y) const {
  return model_->cell_voltage(cell, y) + reference_offset(cell);
}

double Cycler::per_area_per_gram(int cell) const {
  return kCoulombsPerMilliampHour * cells_[cell].active_mass_per_area * 1000.0;
}

double Cycler::specific_capacity(int cell, double charge) const {
  return charge / per_area_per_gram(cell);
}

std::vector<StepOutcome> Cycler::run_step(const Step& step, int step_index,
                                          std::vector<Curve>* curves) {
  const int b = cells();
  const auto& L = model_->layout();
  std::vector<StepOutcome> outcome(b);

  // Where each cell stands (consistent for the previous step's control): the start of a
  // continuation if the new control is too far for Newton on the initial condition.
  std::vector<models::CellControl> previous(b);
  std::vector<double> previous_voltage, previous_current, observed_voltage, observed_current;
  integrator_->terminal_observables(&previous_voltage, &previous_current);
  for (int c = 0; c < b; ++c)
    previous[c] = {models::ControlMode::kCurrent, previous_current[c], 0.0};

  // Controls of every cell for this step.
  for (int c = 0; c < b; ++c) {
    auto& ctrl = model_->control(c);
    const double magnitude =
        step.c_rate > 0.0 ? step.c_rate * cells_[c].one_c_current_density : step.current_density;
    switch (step.mode) {
      case StepMode::kChargeCurrent:
        ctrl = {models::ControlMode::kCurrent, -magnitude, 0.0};
        break;
      case StepMode::kDischargeCurrent:
        ctrl = {models::ControlMode::kCurrent, magnitude, 0.0};
        break;
      case StepMode::kHoldVoltage:
        ctrl = {models::ControlMode::kVoltage, 0.0, step.voltage - reference_offset(c)};
        break;
      case StepMode::kRest:
        ctrl = {models::ControlMode::kCurrent, 0.0, 0.0};
        break;
    }
  }
  model_->thaw_all();

  // Start of the step: Q and E count from zero; the current guess follows the new control.
  // Parked cells (ahead of the batch after their own jumps, see run()) sit the cycle out:
  // frozen where they stand.
  double* y = integrator_->y();
  for (int c = 0; c < b; ++c) {
    double* yc = y + std::size_t(c) * L.size();
    if (is_parked(c)) {
      if (!model_->failed(c)) model_->freeze(c, yc);
      continue;
    }
    yc[L.charge()] = 0.0;
    yc[L.energy()] = 0.0;
    if (model_->control(c).mode == models::ControlMode::kCurrent)
      yc[L.current()] = model_->control(c).current_density;
  }

  const double t0 = time_;
  const int terms = static_cast<int>(step.until.size());
  const int roots_per_cell = terms + 1;  // + the safety limit on step duration
  // The step's end conditions as root functions (models/termination.hpp), thresholds in SI per
  // cell. Direction of voltage conditions: rising on charge, falling on discharge; for hold and
  // rest the side the cell starts on (decided after the consistent initialisation).
  StepRoots step_roots;
  step_roots.t0 = t0;
  for (const auto& term : step.until) step_roots.kinds.push_back(step_end_kind(term.kind));
  step_roots.kinds.push_back(models::StepEnd::kTime);
  step_roots.thresholds.resize(std::size_t(b) * roots_per_cell);
  step_roots.voltage_direction.assign(b, 0.0);
  step_roots.voltage_offset.resize(b);
  for (int c = 0; c < b; ++c) {
    double* thr = step_roots.thresholds.data() + std::size_t(c) * roots_per_cell;
    for (int k = 0; k < terms; ++k) {
      const auto& term = step.until[k];
      thr[k] = term.value;
      if (term.kind == Termination::Kind::kCurrent && term.in_c_rate)
        thr[k] = term.value * cells_[c].one_c_current_density;
      if (term.kind == Termination::Kind::kCapacity)  // mAh/g -> C/m^2
        thr[k] = term.value * per_area_per_gram(c);
    }
    thr[terms] = kMaxStepDuration;
    step_roots.voltage_offset[c] = reference_offset(c);
  }

  auto fail_cell = [&](int c, const std::string& why) {
    const double* yc = integrator_->read_cell(c);
    model_->fail(c, why, yc);
    outcome[c].ended_by = "failed";
  };

  // The state at the end of the previous step is consistent for the previous control. When the
  // new control is far from it (a 3C charge after a discharge), Newton on the initial condition
  // can fail from that guess; then walk the control there in stages (continuation), each stage
  // starting from the consistent state of the one before.
  std::vector<models::CellControl> target(b);
  for (int c = 0; c < b; ++c) {
    target[c] = model_->control(c);
    if (target[c].mode == models::ControlMode::kVoltage)
      previous[c] = {models::ControlMode::kVoltage, 0.0, previous_voltage[c]};
  }
  auto restart_with_continuation = [&](double t_start) {
    try {
      integrator_->restart(t_start, &step_roots);
      return;
    } catch (const IntegrationError&) {
      if (integrator_->nonfinite_residual()) throw;  // bad numbers, not a bad guess
    }
    constexpr int kStages = 16;
    for (int stage = 1; stage <= kStages; ++stage) {
      const double f = double(stage) / kStages;
      for (int c = 0; c < b; ++c) {
        auto& ctrl = model_->control(c);
        ctrl = target[c];
        ctrl.current_density = previous[c].current_density +
                               f * (target[c].current_density - previous[c].current_density);
        if (target[c].mode == models::ControlMode::kVoltage)
          ctrl.cell_voltage =
              previous[c].cell_voltage + f * (target[c].cell_voltage - previous[c].cell_voltage);
      }
      integrator_->restart(t_start, &step_roots);  // throws if a stage fails
    }
  };

  auto restart = [&](double t_start) {
    for (;;) {
      try {
        restart_with_continuation(t_start);
        return;
      } catch (const IntegrationError& e) {
        const int c = e.cell;
        const std::string reason =
            fmt::format("step {} '{}' at its start: {}", step_index + 1, step.text, e.what());
        if (c < 0) throw IntegrationError(reason, c, e.flag);
        fail_cell(c, reason);
        if (model_->active_cells() == 0) return;
      }
    }
  };

  auto record_point = [&](double t) {
    if (!curves) return;
    integrator_->terminal_observables(&observed_voltage, &observed_current);
    for (int c = 0; c < b; ++c) {
      if (model_->frozen(c)) continue;
      (*curves)[c].points.push_back({clock_[c] + (t - t0),
                                     observed_voltage[c] + reference_offset(c), observed_current[c],
                                     step_index});
    }
  };

  std::vector<long> frozen_at_step(b, 0);
  auto end_cell = [&](int c, double t, const std::string& reason) {
    if (track_frozen_drift_) frozen_at_step[c] = integrator_->stats().steps;
    const double* yc = integrator_->read_cell(c);
    outcome[c].ended_by = reason;
    outcome[c].duration = t - t0;
    outcome[c].charge = yc[L.charge()];
    outcome[c].energy = yc[L.energy()];
    model_->freeze(c, yc);
  };

  // Cells that failed earlier in the run do not take part, nor do parked cells.
  for (int c = 0; c < b; ++c) {
    if (model_->failed(c))
      outcome[c].ended_by = "failed";
    else if (is_parked(c))
      outcome[c].ended_by = "parked";
  }

  restart(t0);
  // Decide voltage directions and end cells whose condition already holds at the start.
  {
    integrator_->terminal_observables(&observed_voltage, &observed_current);
    for (int c = 0; c < b; ++c) {
      if (model_->frozen(c)) continue;
      const double v = observed_voltage[c] + reference_offset(c);
      double dir = 1.0;
      if (step.mode == StepMode::kDischargeCurrent) dir = -1.0;
      if (step.mode == StepMode::kHoldVoltage || step.mode == StepMode::kRest)
        for (const auto& term : step.until)
          if (term.kind == Termination::Kind::kVoltage) dir = v < term.value ? 1.0 : -1.0;
      step_roots.voltage_direction[c] = dir;
    }
    integrator_->update_roots();
    integrator_->sample_aging(t0);
    std::vector<double> g(std::size_t(b) * roots_per_cell);
    integrator_->root_values(t0, g.data());
    bool any = false;
    record_point(t0);
    for (int c = 0; c < b; ++c) {
      if (model_->frozen(c)) continue;
      for (int k = 0; k < terms; ++k)
        if (g[std::size_t(c) * roots_per_cell + k] <= 0.0) {
          end_cell(c, t0, termination_name(step.until[k].kind));
          any = true;
          break;
        }
    }
    if (any && model_->active_cells() > 0) restart(t0);
  }

  double t = t0;
  long steps_taken = 0;
  while (model_->active_cells() > 0) {
    if (++steps_taken > solver_config_.max_steps_per_step) {
      // IDA in one-step mode never counts against its own mxstep: enforce the budget here.
      int blamed = -1;
      const std::string why = integrator_->describe_failure("IDASolve", IDA_TOO_MUCH_WORK, &blamed);
      for (int c = 0; c < b; ++c)
        if (!model_->frozen(c))
          fail_cell(c, fmt::format("step {} '{}' needed more than {} IDA steps (solver "
                                   "max_steps_per_step) at t = {:.6g} s: {}",
                                   step_index + 1, step.text, solver_config_.max_steps_per_step,
                                   t - t0, why));
      break;
    }
    const int flag = integrator_->step(t0 + kMaxStepDuration * 1.01, &t);
    if (flag == IDA_ROOT_RETURN) {
      const auto& found = integrator_->roots_found();
      record_point(t);
      integrator_->sample_aging(t);
      for (int c = 0; c < b; ++c) {
        if (model_->frozen(c)) continue;
        for (int k = 0; k < roots_per_cell; ++k)
          if (found[std::size_t(c) * roots_per_cell + k] != 0) {
            if (k == terms)
              fail_cell(c, fmt::format("step {} '{}' did not end within {:.0f} h", step_index + 1,
                                       step.text, kMaxStepDuration / 3600.0));
            else
              end_cell(c, t, termination_name(step.until[k].kind));
            break;
          }
      }
    } else if (flag < 0) {
      int c = -1;
      const std::string why = integrator_->describe_failure("IDASolve", flag, &c);
      const std::string reason =
          fmt::format("step {} '{}' at t = {:.6g} s: {}", step_index + 1, step.text, t - t0, why);
      if (c < 0) throw IntegrationError(reason, -1, flag);
      fail_cell(c, reason);
      if (model_->active_cells() == 0) break;
      restart(t);
    } else {
      record_point(t);
      if (flag >= 0) integrator_->sample_aging(t);
      // The first return after a root hands back the step IDA had already taken before the
      // cell froze; every step taken after the freeze must leave the cell where it was.
      const long steps_now = track_frozen_drift_ ? integrator_->stats().steps : 0;
      if (track_frozen_drift_)
        for (int c = 0; c < b; ++c) {
          if (!model_->frozen(c) || model_->failed(c) || steps_now <= frozen_at_step[c]) continue;
          const double* yc = integrator_->cell_state(c);
          const double* yf = model_->frozen_state(c);
          for (int i = 0; i < L.size(); ++i)
            frozen_drift_ =
                std::max(frozen_drift_, std::fabs(yc[i] - yf[i]) / std::max(1.0, std::fabs(yf[i])));
        }
      if (flag == IDA_TSTOP_RETURN)
        for (int c = 0; c < b; ++c)
          if (!model_->frozen(c)) fail_cell(c, "step exceeded its maximum duration");
    }
  }
  time_ = t;
  // Pin every cell to the state it was frozen at (IDA's interpolated output at the last root is
  // not exactly the frozen state of cells that ended earlier).
  for (int c = 0; c < b; ++c) {
    const double* yf = model_->frozen_state(c);
    std::copy(yf, yf + L.size(), integrator_->cell_state(c));
    clock_[c] += outcome[c].duration;
  }
  // RSP Li at the end of the step's integration (before the slow-state update moves Li between
  // the pools): its change over discharge steps is the RSP's share of the discharge capacity
  rsp_lithium_step_end_.resize(b);
  for (int c = 0; c < b; ++c)
    rsp_lithium_step_end_[c] = model_->rsp_lithium(c, integrator_->cell_state(c));
  // Slow states advance once per protocol step (models/aging.hpp, slow-fast splitting).
  integrator_->collect_aging();
  const auto hoop = model_->finish_aging_step(integrator_->y());
  for (int c = 0; c < b; ++c) max_hoop_[c] = std::max(max_hoop_[c], hoop[c]);
  return outcome;
}

std::vector<CycleRecord> Cycler::integrate_cycle(const Block& block, int cycle,
                                                 std::vector<Curve>* curves) {
  const int b = cells();
  std::vector<CycleRecord> records(b);
  const SolverStats before = integrator_->stats();
  std::fill(max_hoop_.begin(), max_hoop_.end(), -1e300);
  rsp_lithium_step_end_.assign(b, 0.0);
  std::vector<double> rsp_taken_up(b, 0.0);  // mol/m^2 over the discharge steps
  for (int s = 0; s < static_cast<int>(block.steps.size()); ++s) {
    std::vector<double> rsp_start(b);
    for (int c = 0; c < b; ++c) rsp_start[c] = model_->rsp_lithium(c, integrator_->cell_state(c));
    const auto outcome = run_step(block.steps[s], s, curves);
    for (int c = 0; c < b; ++c) {
      auto& r = records[c];
      if (outcome[c].charge > 0.0) rsp_taken_up[c] += rsp_lithium_step_end_[c] - rsp_start[c];
      r.step_end_times.push_back(r.duration + outcome[c].duration);
      r.duration += outcome[c].duration;
      const double cap = specific_capacity(c, outcome[c].charge);
      // energy in the protocol's voltage reference: the Li-In anode's OCP is constant, so
      // int I V_ref dt = int I V_cell dt + U_anode * Q (mWh/g)
      const double energy =
          (outcome[c].energy + reference_offset(c) * outcome[c].charge) / per_area_per_gram(c);
      if (cap > 0.0)
        r.discharge_capacity += cap;
      else
        r.charge_capacity -= cap;
      if (outcome[c].charge > 0.0)
        r.discharge_energy += energy;
      else
        r.charge_energy -= energy;
    }
  }
  const SolverStats after = integrator_->stats();
  for (int c = 0; c < b; ++c) {
    auto& r = records[c];
    r.cycle = cycle;
    r.coulombic_efficiency = r.charge_capacity > 0.0 ? r.discharge_capacity / r.charge_capacity
                                                     : std::numeric_limits<double>::quiet_NaN();
    r.lithium_inventory = model_->cathode_lithium(c, integrator_->cell_state(c));
    r.stats.steps = after.steps - before.steps;
    r.stats.residual_evals = after.residual_evals - before.residual_evals;
    r.stats.jacobian_evals = after.jacobian_evals - before.jacobian_evals;
    r.stats.nonlinear_iters = after.nonlinear_iters - before.nonlinear_iters;
    r.stats.error_test_fails = after.error_test_fails - before.error_test_fails;
    r.stats.nonlinear_conv_fails = after.nonlinear_conv_fails - before.nonlinear_conv_fails;
    r.aging = aging_summary(*model_, c, integrator_->cell_state(c), max_hoop_[c]);
    const double layered = r.aging[2];  // "Mean layered fraction"
    const double dead = dead_lithium(*model_, c);
    const double rsp_share = specific_capacity(c, models::kFaraday * rsp_taken_up[c]);
    if (!loss_reference_set_[c] && !is_parked(c)) {
      loss_reference_[c] = {r.discharge_capacity, layered, dead, rsp_share};
      loss_reference_set_[c] = true;
    }
    add_loss_split(r.aging, loss_reference_[c], r.discharge_capacity, layered, dead, rsp_share,
                   specific_capacity(c, models::kFaraday));
    r.aging.push_back(rsp_share);
    r.failed = model_->failed(c);
    r.failure = model_->failure(c);
  }
  return records;
}

// ---------------------------------------------------------------------------------------------
// Cycle skipping (adaptive inter-cycle extrapolation, after Sulzer et al., JES 168, 120531
// (2021)). The slow state of a cell at the start of a cycle, S = (shell stoichiometries, aging
// states), drifts by dS per cycle. From three consecutive integrated cycles the controller knows
// dS and its change d2S; extrapolating k cycles linearly errs by about k(k+1)/2 |d2S|, which it
// keeps below the tolerance in a weighted max norm. Jumps never cross a block boundary, a cycle
// whose curve is stored, or the last cycles of a block. Every cell of a batch jumps on its own
// (Cycler::run keeps a position per cell within a block; a cell far ahead sits cycles out), so a
// batch integrates about as many cycles as its most demanding cell and each cell's table is the
// one it gets alone. Skipped cycles are reported by interpolation with Simulated = 0.

std::vector<double> Cycler::slow_state(int cell) const {
  const auto& L = model_->layout();
  std::vector<double> s;
  s.reserve(std::size_t(L.particles()) * 7 + 1);
  for (int q = 0; q < L.particles(); ++q) {
    const auto& a = model_->aging(cell, q);
    s.insert(s.end(), {a.rsp_fraction, a.rsp_lithium, a.crack_length, a.isolated_fraction,
                       a.stranded_lithium, a.layer_thickness, a.oxygen_released});
  }
  // last: the total Li of the cathode (reported, not extrapolated: see set_slow_state)
  s.push_back(model_->total_lithium(cell, integrator_->cell_state(cell)));
  return s;
}

std::vector<double> Cycler::slow_state_scale(int cell) const {
  const auto& L = model_->layout();
  const auto& p = cells_[cell].params;
  std::vector<double> w;
  for (int q = 0; q < L.particles(); ++q) {
    // A crack's error is measured on half the radius, and on its own length once it is longer:
    // Paris-law growth accelerates with the length (da/dN ~ a^(m/2)) and compounds into the
    // isolated fraction (an LHS case at 412 MPa lagged the full run by 1 pp of retention with
    // the whole radius as the scale and linear jumps; 0.1 pp with this and second-order jumps).
    const double radius = p.particle_radius[q % L.classes];
    const double crack_scale = std::max(model_->aging(cell, q).crack_length, 0.5 * radius);
    w.insert(w.end(), {1.0, 1.0, crack_scale, 1.0, 1.0, 1e-6, p.max_concentration});
  }
  w.push_back(model_->total_lithium(cell, integrator_->cell_state(cell)));
  return w;
}

void Cycler::set_slow_state(int cell, const std::vector<double>& s) {
  const auto& L = model_->layout();
  std::size_t k = 0;
  double* y = integrator_->cell_state(cell);
  for (int q = 0; q < L.particles(); ++q) {
    auto& a = model_->aging(cell, q);
    const double f0 = a.rsp_fraction;
    a.rsp_fraction = std::clamp(s[k++], 0.0, 0.999);
    ++k;  // rsp_lithium: a report of the RSP Li in the DAE state, refreshed at every step end
    // RSP formed over the jump takes over the Li of the layered volume it replaces up to its
    // capacity; the layered shells keep the last integrated cycle's stoichiometry (the RSP's Li
    // is part of the DAE state, not extrapolated)
    const double psi = a.isolated_fraction;
    models::convert_layered_to_rsp_keep_stoichiometry(
        cells_[cell].params, L.radial(), (a.rsp_fraction - f0) * (1.0 - psi),
        y + L.particle_offset(q), y + L.rsp_offset(q));
    a.rsp_lithium = models::particle_rsp_lithium(y + L.rsp_offset(q), L.radial());
    a.crack_length = std::max(s[k++], 0.0);
    a.isolated_fraction = std::clamp(s[k++], 0.0, 0.999);
    a.stranded_lithium = std::max(s[k++], 0.0);
    a.layer_thickness = std::max(s[k++], 0.0);
    a.oxygen_released = std::max(s[k++], 0.0);
  }
  model_->refresh_aging_coefficients(cell);
  // The shell stoichiometries are not extrapolated: the fast state at the start of a cycle is
  // set by the kinetics of the previous discharge (the Li-In anode is an unlimited reservoir that
  // refills the cathode as far as kinetics allow), so the state of the last integrated cycle is
  // the right one to land with. (The last element of s, the total Li, is informational.)
  (void)k;
}

namespace {

// The record of a skipped cycle between a (the last cycle before the jump) and b (the landing
// cycle); net is its share of the cathode's Li change in the jump itself, as a capacity (mAh/g,
// positive = Li in). The landing cycle starts from the fast state before the jump and its net
// charge already carries the jump's drift of the end-of-discharge state (several normal cycles'
// worth): interpolating the charge or the CE between a and b counted that again in every skipped
// cycle (the reference run's table implied 6 mol/m^2 of Li leaving the cathode, not 0.36). So the
// discharge capacity (the fade) is interpolated and the charge is set for the cycle to pass net:
// summed over the table, discharge - charge is the change of the cathode's Li.
CycleRecord interpolate_record(const CycleRecord& a, const CycleRecord& b, double w, int cycle,
                               double net) {
  auto lerp = [w](double u, double v) { return u + w * (v - u); };
  CycleRecord r = b;
  r.cycle = cycle;
  r.charge_capacity = lerp(a.charge_capacity, b.charge_capacity);
  r.discharge_capacity = lerp(a.discharge_capacity, b.discharge_capacity);
  // (a block without a charge step has no charge to adjust)
  if (r.charge_capacity > 0.0) r.charge_capacity = std::max(r.discharge_capacity - net, 0.0);
  r.coulombic_efficiency = r.charge_capacity > 0.0 ? r.discharge_capacity / r.charge_capacity
                                                   : std::numeric_limits<double>::quiet_NaN();
  r.charge_energy = lerp(a.charge_energy, b.charge_energy);
  r.discharge_energy = lerp(a.discharge_energy, b.discharge_energy);
  r.lithium_inventory = lerp(a.lithium_inventory, b.lithium_inventory);
  r.duration = lerp(a.duration, b.duration);
  for (std::size_t i = 0; i < r.step_end_times.size() && i < a.step_end_times.size(); ++i)
    r.step_end_times[i] = lerp(a.step_end_times[i], b.step_end_times[i]);
  for (std::size_t i = 0; i < r.aging.size() && i < a.aging.size(); ++i)
    r.aging[i] = lerp(a.aging[i], b.aging[i]);
  r.stats = {};
  r.simulated = false;
  r.failed = a.failed;
  r.failure = a.failure;
  return r;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// State at a cycle boundary: save, restore (checkpoints, retries).

CyclerState Cycler::save_state(const CycleCursor& cursor) const {
  const auto& L = model_->layout();
  const int b = cells();
  CyclerState s;
  s.cursor = cursor;
  s.time = time_;
  s.cells = b;
  s.per_cell = L.size();
  s.particles = L.particles();
  s.clock = clock_;
  const double* y = integrator_->y();
  s.y.assign(y, y + std::size_t(b) * L.size());
  s.aging.reserve(std::size_t(b) * L.particles());
  for (int c = 0; c < b; ++c)
    for (int q = 0; q < L.particles(); ++q) s.aging.push_back(model_->aging(c, q));
  for (int c = 0; c < b; ++c) s.failure.push_back(model_->failure(c));
  s.loss_reference = loss_reference_;
  for (int c = 0; c < b; ++c) s.loss_reference_set.push_back(loss_reference_set_[c] ? 1 : 0);
  s.skip_history = skip_history_;
  s.last_records = last_records_;
  s.integrated_cycles = integrated_cycles_;
  s.skipped_cycles = skipped_cycles_;
  return s;
}

namespace {

// An anchor of n slow-state values is 2n + 2 numbers: the drift measured before the jump (n),
// the curvature that jump used (n), the baseline in cycles over which that curvature was
// measured (0: a three-cycle estimate, too noisy to difference again), and the baseline of the
// next curvature estimate (cycles since that drift; grows by one per cycle without a jump).
// After a jump the history of slow states starts with an anchor.
bool anchored(const std::vector<std::vector<double>>& h) {
  return h.size() > 1 && h.front().size() == 2 * h.back().size() + 2;
}

// The anchor of that layout.
std::vector<double> make_anchor(const std::vector<double>& drift,
                                const std::vector<double>& curvature, double curvature_baseline,
                                double baseline) {
  std::vector<double> a = drift;
  a.insert(a.end(), curvature.begin(), curvature.end());
  a.push_back(curvature_baseline);
  a.push_back(baseline);
  return a;
}

}  // namespace

void Cycler::rebuild(const CyclerState& s) {
  const auto layout = model_->layout();
  const int b = cells();
  if (s.cells != b || s.per_cell != layout.size() || s.particles != layout.particles() ||
      s.clock.size() != std::size_t(b) || s.y.size() != std::size_t(b) * layout.size() ||
      s.aging.size() != std::size_t(b) * layout.particles() || s.failure.size() != std::size_t(b) ||
      s.loss_reference.size() != std::size_t(b) || s.loss_reference_set.size() != std::size_t(b) ||
      (!s.skip_history.empty() && s.skip_history.size() != std::size_t(b)) ||
      (!s.last_records.empty() && s.last_records.size() != std::size_t(b)))
    throw std::invalid_argument(fmt::format(
        "saved state of {} cell(s) x {} values, {} particles does not fit this run ({} cell(s) x "
        "{} values, {} particles)",
        s.cells, s.per_cell, s.particles, b, layout.size(), layout.particles()));
  std::vector<models::CellParams> params;
  for (int c = 0; c < b; ++c) params.push_back(model_->params(c));
  integrator_.reset();  // it refers to the model
  model_ = std::make_unique<BatchModel>(std::move(params), layout);
  integrator_ = make_integrator(backend_, *model_, solver_config_);
  std::copy(s.y.begin(), s.y.end(), integrator_->y());
  for (int c = 0; c < b; ++c) {
    for (int q = 0; q < layout.particles(); ++q)
      model_->aging(c, q) = s.aging[std::size_t(c) * layout.particles() + q];
    model_->refresh_aging_coefficients(c);
    if (!s.failure[c].empty()) model_->fail(c, s.failure[c], integrator_->cell_state(c));
  }
  clock_ = s.clock;
  time_ = s.time;
  loss_reference_ = s.loss_reference;
  for (int c = 0; c < b; ++c) loss_reference_set_[c] = s.loss_reference_set[c] != 0;
  skip_history_ = s.skip_history;
  if (skip_history_.size() != std::size_t(b)) skip_history_.assign(b, {});
  // A checkpoint of format 2 or 3 holds anchors of n + 1 numbers (drift, baseline): the same
  // drift and baseline with no earlier curvature to difference.
  for (auto& h : skip_history_)
    if (h.size() > 1 && h.front().size() == h.back().size() + 1) {
      const std::size_t n = h.back().size();
      const std::vector<double> drift(h.front().begin(), h.front().begin() + n);
      h.front() = make_anchor(drift, std::vector<double>(n, 0.0), 0.0, h.front().back());
    }
  last_records_ = s.last_records;
  integrated_cycles_ = s.integrated_cycles;
  skipped_cycles_ = s.skipped_cycles;
}

void Cycler::restore_state(const CyclerState& state) {
  // A checkpoint with a valid checksum can still hold values no run writes (issue 12: such a
  // state was applied after the output had already been cut back): checked before anything
  // changes, so the caller can refuse with the file untouched.
  check_cursor(state.cursor);
  const auto finite = [](const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); });
  };
  if (!std::isfinite(state.time) || !finite(state.y) || !finite(state.clock) ||
      std::any_of(state.clock.begin(), state.clock.end(), [](double t) { return t < 0.0; }))
    throw std::invalid_argument("saved state holds a non-finite value or a negative clock");
  if (state.integrated_cycles < 0 || state.skipped_cycles < 0 ||
      state.integrated_cycles > state.cursor.cycle + 1)
    throw std::invalid_argument(fmt::format("saved state counts {} integrated cycle(s) at cycle {}",
                                            state.integrated_cycles, state.cursor.cycle));
  rebuild(state);
}

// ---------------------------------------------------------------------------------------------

// How far one cell may jump after the cycle it just integrated (at most max_jump cycles), and
// the drift and curvature of its slow state to extrapolate with (see Cycler::run).
Cycler::JumpPlan Cycler::plan_jump(int c, const std::vector<std::vector<double>>& h, int max_jump,
                                   double tolerance) const {
  int jump = max_jump;
  // After a jump the history starts with an anchor (see anchored()): the drift before the jump
  // and the number of cycles between that drift and the one measured on the second cycle after
  // the landing. The change of drift over that long baseline estimates the curvature with far
  // less noise than three consecutive cycles, and the change of that curvature from the one
  // the jump used estimates the third derivative.
  const auto now = slow_state(c);
  const std::size_t n = now.size();
  const auto& s1 = h[h.size() - 1];  // start of this cycle
  const auto& s0 = h[h.size() - 2];  // start of the one before
  const bool long_baseline = anchored(h);
  const std::vector<double>* anchor = long_baseline ? &h.front() : nullptr;
  const double baseline = long_baseline ? anchor->back() : 1.0;
  const double previous_baseline = long_baseline ? (*anchor)[2 * n] : 0.0;
  // the measured curvature: the mean over the baseline, centred baseline/2 before the drift
  const auto curvature = [&](std::size_t i) {
    const double short_d2 = (now[i] - s1[i]) - (s1[i] - s0[i]);
    if (!long_baseline) return short_d2;
    return ((now[i] - s1[i]) - (*anchor)[i]) / baseline;
  };
  const auto scale = slow_state_scale(c);
  double second = 0.0, second_crack = 0.0, third_max = 0.0, k_series = double(jump);
  std::vector<double> drift(n), bend(n, 0.0), measured(n, 0.0), third(n, 0.0);
  // Third order only from two long-baseline curvatures: their centres are
  // (baseline + previous_baseline)/2 cycles apart.
  const bool use_third = long_baseline && previous_baseline > 0.0;
  // Third order for the RSP fraction and what follows it (oxygen, layer); not for the crack
  // states (crack length, isolated fraction, stranded Li): Paris-law growth accelerates as a
  // power of the length, an error feeds its own growth, and a Taylor series fitted to the past
  // lags it (the crack-driven test case lost 0.19 pp with third-order crack jumps at 1e-3,
  // 0.10 pp with second-order ones).
  const auto set_bend = [&](std::size_t i, bool third_order) {
    measured[i] = curvature(i);
    bend[i] = measured[i];
    if (use_third && third_order) {
      third[i] = (measured[i] - (*anchor)[n + i]) / (0.5 * (baseline + previous_baseline));
      bend[i] += third[i] * 0.5 * baseline;  // the curvature at the drift's centre
    }
  };
  for (std::size_t i = 0; i < n; ++i) {
    drift[i] = now[i] - s1[i];
    // The Li held in the RSP is slaved to the layered phase (the exchange relaxes it
    // within a step) and alternates from cycle to cycle: extrapolate its two-cycle mean
    // drift and leave it out of the error estimate.
    if (i < n - 1 && i % 7 == 1) {
      drift[i] = 0.5 * (now[i] - s0[i]);
      continue;
    }
    // Oxygen released and the transition layer follow the RSP fraction one to one
    // (dn_O ∝ df, dδ ∝ dn_O): their error is the RSP fraction's, which is estimated.
    if (i + 1 < n && (i % 7 == 5 || i % 7 == 6)) {
      set_bend(i, true);
      continue;
    }
    // The total Li is not extrapolated (see set_slow_state): the shell stoichiometries at
    // a cycle start are set by the previous discharge's kinetics, not by the inventory.
    if (i + 1 == n) {
      drift[i] = 0.5 * (now[i] - s0[i]);
      continue;
    }
    const bool crack_state = i % 7 != 0;
    set_bend(i, !crack_state);
    if (crack_state) {
      second_crack = std::max(second_crack, std::fabs(bend[i]) / scale[i]);
    } else {
      second = std::max(second, std::fabs(bend[i]) / scale[i]);
      third_max = std::max(third_max, std::fabs(third[i]) / scale[i]);
      // The Taylor series is trusted only while its third-order term stays below half the
      // second-order one, (2k + 1)/6 |d3S| <= |d2S| / 2.
      if (third[i] != 0.0) k_series = std::min(k_series, 1.5 * std::fabs(bend[i] / third[i]) - 0.5);
    }
    // and stay where a linear extrapolation is credible: no state moves by more than
    // 50x the tolerance in one jump
    const double cap = 50.0 * tolerance * scale[i] / std::fabs(drift[i]);
    if (i + 1 < n && cap < jump) jump = static_cast<int>(cap);
  }
  // The largest k with k (k + 1) / 2 * curvature_max <= bound.
  const auto second_order_jump = [&](double curvature_max, double bound) {
    return curvature_max > 0.0
               ? std::floor(0.5 * (std::sqrt(1.0 + 8.0 * bound / curvature_max) - 1.0))
               : double(jump);
  };
  // Second order: the second-order term is the error bound, k (k + 1) / 2 * second <= tolerance.
  double k_allowed = second_order_jump(second, tolerance);
  if (use_third && third_max > 0.0) {
    // Third order: the third-order term is the bound, k (k + 1)(2k + 1) / 12 * third <=
    // tolerance, within the series' range (k_series) and with the second-order term held to
    // kSecondOrderTermCap tolerances; never shorter than the second-order jump.
    int k = 1;
    while (k < jump && double(k + 1) * (k + 2) * (2 * k + 3) / 12.0 * third_max <= tolerance) ++k;
    const double k_third = std::min({double(k), std::floor(k_series),
                                     second_order_jump(second, kSecondOrderTermCap * tolerance)});
    k_allowed = std::max(k_allowed, k_third);
  }
  // The crack states at second order, within a third of the tolerance: an error in a crack's
  // length feeds its own growth.
  k_allowed = std::min(k_allowed, second_order_jump(second_crack, tolerance / kCrackTolerance));
  // A jump at most doubles the last one (its baseline): the first third-order estimate rests on
  // two curvatures only, and a sudden long jump would also interpolate the skipped rows over a
  // span the estimate has not seen.
  if (long_baseline) k_allowed = std::min(k_allowed, 2.0 * baseline);
  jump = std::min(jump, static_cast<int>(std::max(0.0, k_allowed)));
  return {jump,
          std::move(drift),
          std::move(bend),
          std::move(third),
          std::move(measured),
          long_baseline ? baseline : 0.0};
}

// One cycle, integrated again from its start with tighter settings while it fails: retry k
// with relative tolerance / 10^k, max step / 4^k and step budget * 4^k (RunControl::retries).
std::vector<CycleRecord> Cycler::integrate_with_retries(const Block& block, int cycle_number,
                                                        std::vector<Curve>* curves,
                                                        const CycleCursor& here, int retries) {
  const int b = cells();
  const SolverConfig base_solver = solver_config_;
  if (retries <= 0) return integrate_cycle(block, cycle_number, curves);
  const CyclerState at_start = save_state(here);
  std::vector<bool> failed_before(b);
  for (int c = 0; c < b; ++c) failed_before[c] = model_->failed(c);
  auto back_to_base_settings = [&] {
    if (solver_config_.relative_tolerance == base_solver.relative_tolerance &&
        solver_config_.max_step == base_solver.max_step &&
        solver_config_.max_steps_per_step == base_solver.max_steps_per_step)
      return;
    solver_config_ = base_solver;
    rebuild(save_state(here));
  };
  for (int attempt = 0;; ++attempt) {
    try {
      auto records = integrate_cycle(block, cycle_number, curves);
      bool new_failure = false;
      for (int c = 0; c < b; ++c)
        new_failure = new_failure || (records[c].failed && !failed_before[c]);
      if (!new_failure || attempt == retries) {
        if (new_failure)
          for (int c = 0; c < b; ++c) {
            if (!records[c].failed || failed_before[c]) continue;
            records[c].failure = fmt::format("cycle {} failed after {} retries: {}", cycle_number,
                                             attempt, records[c].failure);
            const std::vector<double> yc(integrator_->cell_state(c),
                                         integrator_->cell_state(c) + model_->per_cell());
            model_->fail(c, records[c].failure, yc.data());
          }
        back_to_base_settings();
        return records;
      }
    } catch (const IntegrationError& e) {
      if (attempt == retries) {
        solver_config_ = base_solver;
        throw IntegrationError(
            fmt::format("cycle {} failed after {} retries: {}", cycle_number, attempt, e.what()),
            e.cell, e.flag);
      }
    }
    ++retried_cycles_;
    const double k = attempt + 1;
    solver_config_ = base_solver;
    solver_config_.relative_tolerance = base_solver.relative_tolerance * std::pow(10.0, -k);
    solver_config_.max_step = base_solver.max_step * std::pow(4.0, -k);
    solver_config_.max_steps_per_step =
        static_cast<long>(double(base_solver.max_steps_per_step) * std::pow(4.0, k));
    rebuild(at_start);
    if (curves)
      for (auto& cv : *curves) cv.points.clear();
  }
}

void Cycler::check_cursor(const CycleCursor& start) const {
  const int blocks = static_cast<int>(protocol_.blocks.size());
  int before = 0;  // cycles of the blocks before start.block
  for (int k = 0; k < std::min(start.block, blocks); ++k) before += protocol_.blocks[k].repeat;
  const bool within = start.block < blocks
                          ? start.repetition <= protocol_.blocks[start.block].repeat
                          : start.block == blocks && start.repetition == 0;
  const bool valid = start.block >= 0 && start.repetition >= 0 && within &&
                     start.cycle == before + start.repetition;
  if (!valid)
    throw std::invalid_argument(
        fmt::format("cycle cursor (block {}, repetition {}, cycle {}) does not fit the protocol",
                    start.block + 1, start.repetition, start.cycle));
}

void Cycler::run(int max_cycles,
                 const std::function<void(const std::vector<CycleRecord>&)>& on_cycle,
                 const std::function<bool(int)>& want_curve,
                 const std::function<void(int, const Curve&)>& on_curve,
                 const CycleSkipping& skipping, const RunControl& control) {
  const int b = cells();
  const int blocks = static_cast<int>(protocol_.blocks.size());
  CycleCursor start;
  if (control.start) {
    check_cursor(*control.start);
    start = *control.start;
  } else {
    integrated_cycles_ = 0;
  }
  int cycle = start.cycle;
  // The last block that has cycles: its last cycle ends the run.
  int last_block = -1;
  for (int k = 0; k < blocks; ++k)
    if (protocol_.blocks[k].repeat > 0) last_block = k;

  // Within a block every cell keeps its own position (repetitions done, integrated or skipped)
  // and makes its own jumps: a batch integrates a cycle for the cells that are not ahead, and a
  // cell more than kLead repetitions ahead of the slowest one sits the cycle out (parked). Rows
  // are handed to on_cycle in cycle order once every cell has its record for the cycle.
  parked_.assign(b, 0);
  const int lead = skipping.max_jump + 2;
  for (int bi = start.block; bi < blocks; ++bi) {
    const auto& block = protocol_.blocks[bi];
    int rep = 0;
    // Resuming after a finished cycle of this block: the skipping controller's memory comes
    // from the restored state, and the loop enters at the jump decisions that followed that
    // cycle.
    bool at_boundary = false;
    if (control.start && bi == start.block && start.repetition > 0) {
      rep = start.repetition;
      at_boundary = true;
      if (skip_history_.size() != std::size_t(b)) skip_history_.assign(b, {});
    } else {
      // history of the slow state at the starts of consecutive integrated cycles of this block
      skip_history_.assign(b, {});
    }
    if (last_records_.size() != std::size_t(b)) last_records_.assign(b, {});
    auto& history = skip_history_;
    const int block_first = cycle - rep;  // cycles before this block
    // repetitions a cell may reach in this block
    const int limit = max_cycles > 0 ? std::min(block.repeat, std::max(0, max_cycles - block_first))
                                     : block.repeat;
    std::vector<int> pos(b, rep);              // repetitions done per cell (integrated or skipped)
    int emitted = rep;                         // repetitions handed to on_cycle (all cells)
    std::vector<int> pending(b, 0);            // skipped cycles whose records wait for the landing
    std::vector<CycleRecord> before_jump(b);   // each cell's last record before its jump
    std::vector<double> jump_lithium(b, 0.0);  // change of the cathode's Li in it (mol/m^2)
    std::vector<std::deque<CycleRecord>> ready(b);  // records not yet handed out, in order

    // One cell's jump decision after it integrated a cycle (or at a resumed boundary).
    auto decide_jump = [&](int c) {
      auto& h = history[c];
      if (!skipping.enabled || model_->failed(c) || h.size() < 3) return;
      const int cycle_c = block_first + pos[c];  // the cell's last finished cycle
      // Largest jump within the block, before any stored curve, leaving the final cycles.
      int jump = std::min(skipping.max_jump, block.repeat - pos[c] - skipping.final_cycles);
      if (max_cycles > 0) jump = std::min(jump, max_cycles - cycle_c - 1);
      for (int k = 1; k <= jump; ++k)
        if (want_curve && want_curve(cycle_c + k)) {
          jump = k - 1;
          break;
        }
      const JumpPlan plan = plan_jump(c, h, jump, skipping.tolerance);
      jump = plan.jump;
      const std::vector<double>& drift = plan.drift;
      const std::vector<double>& bend = plan.bend;
      const std::vector<double>& third = plan.third;
      if (jump < 2) {
        // No jump this cycle. Keep (or start) an anchor so that the next estimate compares the
        // drift over a baseline one cycle longer: per-cycle increments carry integration noise
        // (a crack's Paris-law increment goes with a power of the stress), which a baseline of
        // one cycle cannot tell from curvature.
        if (anchored(h)) {
          h.front().back() += 1.0;
        } else {
          // no curvature before it to difference
          h.insert(h.begin(), make_anchor(drift, std::vector<double>(drift.size(), 0.0), 0.0, 1.0));
        }
        return;
      }
      // Jump: extrapolate the cell's slow state, S + k dS + k(k+1)/2 d2S + k(k+1)(2k+1)/12 d3S
      // (the sum of k increments dS + j d2S + j^2/2 d3S: the drift grows or shrinks along the
      // jump, and its curvature changes too; a linear step would lag an accelerating fade by up
      // to the tolerance at every jump, a second-order one with the curvature measured over the
      // last jump by its third-order term, and those errors add up over a life). The error
      // bound is in plan_jump. The clock advances with it.
      auto state = slow_state(c);
      const double k = jump;
      for (std::size_t i = 0; i < state.size(); ++i)
        state[i] += k * drift[i] + 0.5 * k * (k + 1.0) * bend[i] +
                    k * (k + 1.0) * (2.0 * k + 1.0) / 12.0 * third[i];
      // The extrapolation moves the cathode's Li without passing charge (the aging states move,
      // the shell stoichiometries do not): the skipped cycles' records carry that change.
      const double lithium_before = model_->total_lithium(c, integrator_->cell_state(c));
      set_slow_state(c, state);
      jump_lithium[c] = model_->total_lithium(c, integrator_->cell_state(c)) - lithium_before;
      clock_[c] += jump * last_records_[c].duration;
      h.assign(1, make_anchor(drift, plan.measured, plan.measured_baseline, jump + 2.0));
      before_jump[c] = last_records_[c];
      pending[c] = jump;
      pos[c] += jump;
    };

    // Hands out every row that all cells have (failed cells repeat their last record).
    auto emit_rows = [&] {
      for (;;) {
        const int k = emitted + 1;
        const int cycle_k = block_first + k;
        bool complete = true, any_real = false;
        for (int c = 0; c < b && complete; ++c) {
          const bool has = !ready[c].empty() && ready[c].front().cycle == cycle_k;
          any_real = any_real || has;
          if (!has && !model_->failed(c)) complete = false;
        }
        if (!complete || !any_real || k > limit) return;
        std::vector<CycleRecord> row(b);
        for (int c = 0; c < b; ++c) {
          if (!ready[c].empty() && ready[c].front().cycle == cycle_k) {
            row[c] = std::move(ready[c].front());
            ready[c].pop_front();
          } else {  // a failed cell: frozen, its last record again
            row[c] = last_records_[c];
            row[c].cycle = cycle_k;
            row[c].stats = {};
            row[c].failed = true;
            row[c].failure = model_->failure(c);
          }
        }
        on_cycle(row);
        ++emitted;
        cycle = block_first + emitted;
        skipped_cycles_ = std::max(0, cycle - integrated_cycles_);
      }
    };
    auto alive = [&](int c) { return !model_->failed(c); };

    for (;;) {
      if (!at_boundary) {
        // who integrates: the cells not done with the block that are not too far ahead
        int slowest = std::numeric_limits<int>::max();
        for (int c = 0; c < b; ++c)
          if (alive(c) && pos[c] < limit) slowest = std::min(slowest, pos[c]);
        if (slowest == std::numeric_limits<int>::max()) break;  // block done (or max_cycles)
        for (int c = 0; c < b; ++c)
          parked_[c] = (alive(c) && (pos[c] >= limit || pos[c] > slowest + lead)) ? 1 : 0;
        bool curves_wanted = false;
        for (int c = 0; c < b; ++c) {
          if (!alive(c) || parked_[c]) continue;
          history[c].push_back(slow_state(c));
          // the controller looks at the last three starts only (plus the anchor a jump left,
          // see decide_jump): bounded memory
          const bool anch = anchored(history[c]);
          if (history[c].size() > (anch ? 4u : 3u))
            history[c].erase(history[c].begin() + (anch ? 1 : 0));
          curves_wanted = curves_wanted || (want_curve && want_curve(block_first + pos[c] + 1));
        }
        const CycleCursor here{bi, slowest, block_first + slowest};
        std::vector<Curve> curves(b);
        for (int c = 0; c < b; ++c) curves[c].cycle = block_first + pos[c] + 1;
        std::vector<bool> takes_part(b);
        for (int c = 0; c < b; ++c) takes_part[c] = alive(c) && !parked_[c];
        auto records =
            integrate_with_retries(block, block_first + slowest + 1,
                                   curves_wanted ? &curves : nullptr, here, control.retries);
        ++integrated_cycles_;
        std::vector<int> integrated;  // cells that took part and are still alive
        for (int c = 0; c < b; ++c) {
          if (!takes_part[c]) continue;
          ++pos[c];
          CycleRecord record = std::move(records[c]);
          record.cycle = block_first + pos[c];
          // the records of skipped cycles, interpolated between the cycles around the jump,
          // each passing an equal share of the jump's Li change
          const double net =
              pending[c] > 0 ? specific_capacity(c, models::kFaraday * jump_lithium[c]) / pending[c]
                             : 0.0;
          for (int j = 0; j < pending[c]; ++j) {
            const double w = double(j + 1) / (pending[c] + 1);
            ready[c].push_back(
                interpolate_record(before_jump[c], record, w, record.cycle - pending[c] + j, net));
          }
          pending[c] = 0;
          ready[c].push_back(record);
          if (curves_wanted && on_curve && want_curve(record.cycle)) on_curve(c, curves[c]);
          last_records_[c] = std::move(record);
          if (alive(c)) integrated.push_back(c);
        }
        std::fill(parked_.begin(), parked_.end(), 0);
        emit_rows();
        bool any_alive = false;
        for (int c = 0; c < b; ++c) any_alive = any_alive || alive(c);
        if (!any_alive) return;  // every cell has failed: nothing left to integrate
        bool aligned = true;
        for (int c = 0; c < b; ++c)
          aligned = aligned && (!alive(c) || (pos[c] == emitted && ready[c].empty()));
        if (aligned && control.on_boundary) {
          CycleBoundary boundary;
          boundary.cursor = {bi, emitted, cycle};
          boundary.end_of_block = emitted == block.repeat;
          boundary.end_of_run = (max_cycles > 0 && cycle >= max_cycles) ||
                                (bi == last_block && emitted == block.repeat);
          control.on_boundary(boundary);
        }
        if (max_cycles > 0 && cycle >= max_cycles) return;
        for (int c : integrated) decide_jump(c);
      } else {
        at_boundary = false;
        for (int c = 0; c < b; ++c)
          if (alive(c)) decide_jump(c);
      }
    }
    emit_rows();
    if (max_cycles > 0 && cycle >= max_cycles) return;
  }
}

}  // namespace halite
