// Interfacial kinetics: Butler-Volmer at the NMC | SE contact and at the Li-In | SE interface.
// Sign: a positive reaction current is oxidation (Li leaves the solid into the electrolyte).
#pragma once

#include "models/constants.hpp"
#include "models/dual.hpp"
#include "models/params.hpp"

namespace halite::models {

// Butler-Volmer: j = i0 [exp(alpha f eta) - exp(-(1 - alpha) f eta)], f = F/RT.
template <class T, class U>
HALITE_HD T butler_volmer(const U& exchange_current, const T& overpotential, double alpha,
                          double thermal_voltage) {
  const T a = overpotential * (1.0 / thermal_voltage);
  if (alpha == 0.5) {  // symmetric: one exponential instead of two (the hot path)
    const T e = exp(0.5 * a);
    return exchange_current * (e - 1.0 / e);
  }
  return exchange_current * (exp(alpha * a) - exp(-(1.0 - alpha) * a));
}

// NMC exchange-current density (A/m^2 of contact area) for a solid electrolyte with fixed Li+
// concentration (t+ = 1): i0 = i0_mid (x/0.5)^(1-alpha) ((1-x)/0.5)^alpha, docs/sources.md §1e.
// alpha is the anodic coefficient, so the cathodic one is 1 - alpha and mass action (Bard &
// Faulkner eq. 3.4.10) gives i0 ~ c_R^(1-alpha) c_O^alpha with c_R = x (occupied sites) and
// c_O = 1 - x (vacancies): with an ideal OCP the anodic branch is then first order in x and the
// cathodic one in 1 - x. Swapping the exponents breaks this whenever alpha != 0.5.
template <class T>
HALITE_HD T nmc_exchange_current(const CellParams& p, const T& x_surface) {
  const T x = clamp_value(x_surface, 1e-9, 1.0 - 1e-9);
  const double a = p.transfer_coefficient;
  return p.exchange_current_mid * pow(2.0 * x, 1.0 - a) * pow(2.0 * (1.0 - x), a);
}

// Li-In anode overpotential for a given current density (A/m^2, positive = oxidation at the
// anode = discharge of the cell): the inverse of a symmetric Butler-Volmer law.
template <class T>
HALITE_HD T anode_overpotential(const CellParams& p, const T& current_density) {
  return 2.0 * p.thermal_voltage() * asinh(current_density * (0.5 / p.anode_exchange_current));
}

}  // namespace halite::models
