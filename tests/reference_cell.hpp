// Test fixtures shared by the test files: the reference cell of docs/sources.md (Part A)
// resolved by hand (36 mg/cm2 composite, 7:3, 7 % porosity: 25.2 mg/cm2 CAM,
// 1C = 37.8 A/m2, L = 119 um, eps_AM = 0.442, eps_SE = 0.488), and a random but physically
// plausible cell state.
#pragma once

#include <random>
#include <vector>

#include "host/engine/cycler.hpp"
#include "models/cell.hpp"

namespace halite::testing {

inline models::CellParams reference_params() {
  models::CellParams p;
  p.cathode_thickness = 1.19e-4;
  p.active_volume_fraction = 0.442;
  p.electrolyte_volume_fraction = 0.488;
  return p;
}

inline CellSetup reference_setup() {
  CellSetup s;
  s.name = "reference";
  s.params = reference_params();
  s.one_c_current_density = 37.8;
  s.active_mass_per_area = 0.252;
  s.initial_stoichiometry = 0.98;
  return s;
}

// Stoichiometries in (0.3, 0.95) per particle with shell-to-shell variations of a few per cent,
// potentials near their operating values, a current of either sign, some charge and energy.
inline std::vector<double> random_state(const models::CellLayout& L, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> y(L.size());
  for (int q = 0; q < L.particles(); ++q) {
    const double base = 0.3 + 0.62 * u(rng);
    for (int m = 0; m < L.shells; ++m) y[L.particle_offset(q) + m] = base + 0.03 * u(rng);
    // RSP Li per particle site: a few per cent (used where the exchange is active)
    for (int m = 0; m < L.shells; ++m) y[L.rsp_offset(q) + m] = 0.05 * u(rng);
  }
  for (int i = 0; i < L.nodes; ++i) {
    y[L.phi_e(i)] = -0.7 + 0.05 * u(rng);
    y[L.phi_s(i)] = 3.0 + 0.3 * u(rng);
  }
  y[L.current()] = -40.0 + 80.0 * u(rng);
  y[L.charge()] = 1e4 * u(rng);
  y[L.energy()] = 3e4 * u(rng);
  return y;
}

}  // namespace halite::testing
