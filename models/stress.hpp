// Diffusion-induced stress in an elastic sphere and the stress-coupled Li flux.
// Tension is positive. Closed forms: Zhang, Shyy & Sastry, JES 154, A910 (2007); derivation of
// sigma_h in docs/model.md.
#pragma once

#include "models/constants.hpp"
#include "models/dual.hpp"
#include "models/params.hpp"

namespace halite::models {

// 2 Omega E / (9 (1 - nu)) in Pa per (mol/m^3): sigma_h = this * (c_mean - c(r)).
HALITE_HD inline double hydrostatic_stress_coefficient(const CellParams& p) {
  return 2.0 * p.partial_molar_volume * p.young_modulus / (9.0 * (1.0 - p.poisson_ratio));
}

// Diffusion-induced hydrostatic stress (Pa) at a point where the stoichiometry is x, in a free
// sphere whose volume-averaged stoichiometry is x_mean.
template <class T, class U>
HALITE_HD T diffusion_hydrostatic_stress(const CellParams& p, const U& x_mean, const T& x) {
  return hydrostatic_stress_coefficient(p) * p.max_concentration * (x_mean - x);
}

// Total hydrostatic stress: diffusion-induced part plus the uniform stack-pressure compression.
template <class T, class U>
HALITE_HD T hydrostatic_stress(const CellParams& p, const U& x_mean, const T& x) {
  return diffusion_hydrostatic_stress(p, x_mean, x) - p.hydrostatic_stack_pressure();
}

// Radial and hoop stress (Pa) of the free sphere, written with two volume averages:
// mean_inside = (3/r^3) int_0^r x r'^2 dr' (inside radius r) and x_mean (whole sphere):
//   sigma_r = 2 Omega E c_max / (9 (1 - nu)) (x_mean - mean_inside)
//   sigma_t =   Omega E c_max / (9 (1 - nu)) (2 x_mean + mean_inside - 3 x)
template <class T>
HALITE_HD T radial_stress(const CellParams& p, double x_mean, const T& mean_inside) {
  return 2.0 * p.partial_molar_volume * p.young_modulus * p.max_concentration /
         (9.0 * (1.0 - p.poisson_ratio)) * (x_mean - mean_inside);
}
template <class T>
HALITE_HD T hoop_stress(const CellParams& p, double x_mean, const T& mean_inside, const T& x) {
  return p.partial_molar_volume * p.young_modulus * p.max_concentration /
         (9.0 * (1.0 - p.poisson_ratio)) * (2.0 * x_mean + mean_inside - 3.0 * x);
}

// Stress-coupled Li flux (stoichiometry units, m/s; multiply by c_max for mol/m^2/s) through a
// face between two points a distance dr apart, outward positive:
//   N = -D(x_f) [ dx/dr - (Omega c_max x_f / RT) d(sigma_h)/dr ],
// with sigma_h evaluated at both points from the closed form (not folded into a multiplier).
template <class T>
HALITE_HD T stress_coupled_flux(const CellParams& p, const T& diffusivity, const T& x_inner,
                                const T& x_outer, const T& sigma_inner, const T& sigma_outer,
                                double dr) {
  // J/c_max = -D (dx/dr - (Omega x / RT) d(sigma_h)/dr), with x at the face.
  const T x_face = 0.5 * (x_inner + x_outer);
  const double omega_over_rt = p.partial_molar_volume / (kGasConstant * p.temperature);
  return -diffusivity *
         ((x_outer - x_inner) - omega_over_rt * x_face * (sigma_outer - sigma_inner)) * (1.0 / dr);
}

}  // namespace halite::models
