#include "host/cpu/batch_model.hpp"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

namespace halite {

BatchModel::BatchModel(std::vector<models::CellParams> params, models::CellLayout layout)
    : params_(std::move(params)), layout_(layout) {
  if (params_.empty()) throw std::invalid_argument("a batch needs at least one cell");
  if (layout_.nodes < 1 || layout_.shells < 1 || layout_.classes < 1 ||
      layout_.classes > models::kMaxParticleClasses)
    throw std::invalid_argument("invalid mesh: nodes, shells >= 1 and 1 <= classes <= 8");
  for (const auto& p : params_)
    if (p.particle_classes != layout_.classes)
      throw std::invalid_argument("every cell of a batch must have the layout's particle classes");
  const int b = cells();
  controls_.resize(b);
  mask_ = std::make_shared<BatchMask>(b);
  frozen_.assign(b, 0);
  failure_.assign(b, {});
  frozen_state_.assign(static_cast<std::size_t>(b) * per_cell(), 0.0);
  scratch_.assign(models::cell_scratch_size(layout_), 0.0);
  const std::size_t particles = std::size_t(b) * layout_.particles();
  aging_.assign(particles, {});
  coefficients_.assign(particles, {});
  accumulators_.assign(particles, {});
  for (int c = 0; c < b; ++c) {
    for (int q = 0; q < layout_.particles(); ++q) {
      aging(c, q).crack_length = params_[c].initial_crack_length;
      // CAM never connected at assembly: isolated from the start, outside the Li balance
      aging(c, q).isolated_fraction = params_[c].inactive_fraction;
    }
    refresh_coefficients(c);
  }
}

void BatchModel::refresh_coefficients(int cell) {
  for (int q = 0; q < layout_.particles(); ++q)
    coefficients_[std::size_t(cell) * layout_.particles() + q] =
        models::particle_coefficients(params_[cell], q % layout_.classes, aging(cell, q));
}

double BatchModel::per_site_to_area(int cell, int cls) const {
  const auto& p = params_[cell];
  return p.active_volume_fraction * p.particle_volume_weight[cls] * p.cathode_thickness /
         layout_.nodes * p.max_concentration;
}

void BatchModel::sample_aging(double t, const double* y) {
  const auto& L = layout_;
  for (int c = 0; c < cells(); ++c) {
    if (frozen_[c]) continue;
    const double* yc = y + std::size_t(c) * L.size();
    for (int q = 0; q < L.particles(); ++q)
      models::sample_particle_aging(params_[c], aging(c, q), yc + L.particle_offset(q), L.radial(),
                                    t, accumulators_[std::size_t(c) * L.particles() + q]);
  }
}

std::vector<double> BatchModel::finish_aging_step(double* y) {
  const auto& L = layout_;
  std::vector<double> max_hoop(cells(), -1e300);
  for (int c = 0; c < cells(); ++c) {
    double* yc = y + std::size_t(c) * L.size();
    for (int q = 0; q < L.particles(); ++q) {
      auto& acc = accumulators_[std::size_t(c) * L.particles() + q];
      if (acc.started && !failed(c)) {
        models::advance_particle_aging(params_[c], q % L.classes, L.radial(), aging(c, q), acc,
                                       yc + L.particle_offset(q), yc + L.rsp_offset(q));
        max_hoop[c] = std::max(max_hoop[c], acc.max_hoop);
      }
      acc = {};
    }
    refresh_coefficients(c);
  }
  return max_hoop;
}

double BatchModel::cathode_lithium_capacity(int cell) const {
  std::vector<double> ones(layout_.size(), 1.0);
  return models::cathode_lithium(params_[cell], layout_, ones.data(), coefficients(cell));
}

double BatchModel::rsp_lithium(int cell) const {
  double total = 0.0;
  for (int q = 0; q < layout_.particles(); ++q)
    total += aging(cell, q).rsp_lithium * per_site_to_area(cell, q % layout_.classes);
  return total;
}

double BatchModel::stranded_lithium(int cell) const {
  double total = 0.0;
  for (int q = 0; q < layout_.particles(); ++q)
    total += aging(cell, q).stranded_lithium * per_site_to_area(cell, q % layout_.classes);
  return total;
}

double BatchModel::total_lithium(int cell, const double* y) const {
  return cathode_lithium(cell, y) + models::cathode_rsp_lithium(params_[cell], layout_, y) +
         stranded_lithium(cell);
}

double BatchModel::rsp_lithium(int cell, const double* y) const {
  return models::cathode_rsp_lithium(params_[cell], layout_, y);
}

void BatchModel::freeze(int cell, const double* y_cell) {
  ++frozen_revision_;
  frozen_[cell] = 1;
  mask_->set_active(cell, false);
  std::copy(y_cell, y_cell + per_cell(), frozen_state_.begin() + std::size_t(cell) * per_cell());
}

void BatchModel::thaw_all() {
  ++frozen_revision_;
  for (int c = 0; c < cells(); ++c) {
    if (failed(c)) continue;
    frozen_[c] = 0;
    mask_->set_active(c, true);
  }
}

void BatchModel::fail(int cell, const std::string& reason, const double* y_cell) {
  freeze(cell, y_cell);
  failure_[cell] = reason.empty() ? "failed" : reason;
}

int BatchModel::residual(const double* y, const double* ydot, double* res) {
  const int n = per_cell();
  nonfinite_.clear();
  nonfinite_component_.clear();
  for (int c = 0; c < cells(); ++c) {
    const std::size_t off = std::size_t(c) * n;
    if (frozen_[c]) {
      const double* yf = frozen_state_.data() + off;
      for (int i = 0; i < n; ++i) res[off + i] = y[off + i] - yf[i];
      continue;
    }
    models::cell_residual(params_[c], layout_, controls_[c], y + off, ydot + off, res + off,
                          scratch_.data(), coefficients(c));
    for (int i = 0; i < n; ++i)
      if (!std::isfinite(res[off + i])) {
        nonfinite_.push_back(c);
        nonfinite_component_.push_back(i);
        break;
      }
  }
  return nonfinite_.empty() ? 0 : 1;
}

void BatchModel::initial_guess(int cell, double x0, double* y) const {
  const auto& p = params_[cell];
  const auto& L = layout_;
  // layered shells at x0, RSP Li empty (a fresh cell has no RSP)
  for (int i = 0; i < L.x_offset(); ++i) y[i] = i < L.rsp_offset(0) ? x0 : 0.0;
  const double current =
      controls_[cell].mode == models::ControlMode::kCurrent ? controls_[cell].current_density : 0.0;
  const double phi_e = models::separator_interface_potential(p, current);
  const double sigma = models::hydrostatic_stress(p, x0, x0);
  const double phi_s =
      phi_e + models::ocp_nmc(p, x0) + p.partial_molar_volume / models::kFaraday * sigma;
  for (int i = 0; i < L.nodes; ++i) {
    y[L.phi_e(i)] = phi_e;
    y[L.phi_s(i)] = phi_s;
  }
  y[L.current()] = current;
  y[L.charge()] = 0.0;
  y[L.energy()] = 0.0;
}

void BatchModel::differential_id(double* id) const {
  const auto& L = layout_;
  for (int i = 0; i < L.size(); ++i) id[i] = 0.0;
  for (int i = 0; i < L.x_offset(); ++i) id[i] = 1.0;
  id[L.charge()] = 1.0;
  id[L.energy()] = 1.0;
}

void BatchModel::absolute_tolerances(double atol_x, double atol_phi, double atol_current,
                                     double atol_charge, double* atol) const {
  const auto& L = layout_;
  for (int i = 0; i < L.x_offset(); ++i) atol[i] = atol_x;
  for (int i = 0; i < L.nodes; ++i) atol[L.phi_e(i)] = atol[L.phi_s(i)] = atol_phi;
  atol[L.current()] = atol_current;
  atol[L.charge()] = atol[L.energy()] = atol_charge;
}

std::string BatchModel::describe_component(int index) const {
  const auto& L = layout_;
  if (index < 0 || index >= L.size()) return fmt::format("component {} (out of range)", index);
  if (index >= L.rsp_offset(0) && index < L.x_offset()) {
    const int q = (index - L.rsp_offset(0)) / L.shells, shell = index % L.shells;
    return fmt::format("n_RS (Li in the rock-salt phase) at cathode node {}, class {}, shell {}",
                       q / L.classes + 1, q % L.classes + 1, shell + 1);
  }
  if (index < L.x_offset()) {
    const int q = index / L.shells, shell = index % L.shells;
    return fmt::format("x_s (Li stoichiometry) at cathode node {}, class {}, shell {}",
                       q / L.classes + 1, q % L.classes + 1, shell + 1);
  }
  const int local = index - L.x_offset();
  if (local == L.local_current()) return "applied current density I";
  if (local == L.local_charge()) return "step charge Q";
  if (local == L.local_energy()) return "step energy E";
  const int node = local / 2;
  return fmt::format("{} at cathode node {}",
                     local % 2 == 0 ? "phi_e (SE potential)" : "phi_s (solid potential)", node + 1);
}

double BatchModel::cell_voltage(int cell, const double* y) const {
  return models::cell_terminal_voltage(params_[cell], layout_, y);
}

double BatchModel::cathode_lithium(int cell, const double* y) const {
  return models::cathode_lithium(params_[cell], layout_, y, coefficients(cell));
}

}  // namespace halite
