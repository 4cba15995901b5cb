// Transport properties: Li diffusivity in NMC, electronic conductivity of carbon-free NMC,
// effective (Bruggeman) conductivities of the composite.
#pragma once

#include "models/dual.hpp"
#include "models/params.hpp"
#include "models/tables.hpp"

namespace halite::models {

// O'Regan et al., Electrochim. Acta 425, 140700 (2022), PyBaMM nmc_LGM50_diffusivity_ORegan2022:
// D = 2.7 * 10^(-13.96 - 0.9231 g1 - 0.4066 g2 - 0.993 g3) m^2/s, Gaussians in x.
template <class T>
HALITE_HD T diffusivity_oregan2022(const T& x) {
  const T a = x - 0.3216, b = x - 0.4532, c = x - 0.8098;
  const T log10_d = -13.96 - 0.9231 * exp(-(a * a) * (1.0 / 0.002534)) -
                    0.4066 * exp(-(b * b) * (1.0 / 0.003926)) -
                    0.993 * exp(-(c * c) * (1.0 / 0.09924));
  return 2.7 * exp(2.302585092994046 * log10_d);
}

#ifndef __CUDA_ARCH__
// (host) diffusivity_oregan2022's table (models/tables.hpp), built on first use.
inline const HermiteTable& diffusivity_oregan2022_table() {
  static const HermiteTable table([](const auto& x) { return diffusivity_oregan2022(x); });
  return table;
}
#endif

// D(x) of the configured model; the O'Regan shape from its table on the host.
template <class T>
HALITE_HD T solid_diffusivity(const CellParams& p, const T& x) {
  if (p.diffusivity_model == DiffusivityModel::kConstant) return T(p.diffusivity_constant);
#ifndef __CUDA_ARCH__
  return p.diffusivity_scale * diffusivity_oregan2022_table()(clamp_value(x, 0.0, 1.0));
#else
  return p.diffusivity_scale * diffusivity_oregan2022(clamp_value(x, 0.0, 1.0));
#endif
}

// Electronic conductivity of NMC (S/m) vs mean stoichiometry: logistic in log10(sigma) from
// sigma_delithiated (x << x_m) to sigma_lithiated (x -> 1), after Amin & Chiang, JES 163, A1512
// (2016) (docs/sources.md §1f).
template <class T>
HALITE_HD T nmc_electronic_conductivity(const CellParams& p, const T& x_mean) {
  const double lo = ::log10(p.sigma_lithiated), hi = ::log10(p.sigma_delithiated);
  const T s = 1.0 / (1.0 + exp((x_mean - p.sigma_transition_x) * (1.0 / p.sigma_transition_width)));
  return exp(2.302585092994046 * (lo + (hi - lo) * s));
}

// Effective electronic conductivity of the carbon-free composite (Bruggeman on the NMC phase).
template <class T>
HALITE_HD T effective_electronic_conductivity(const CellParams& p, const T& x_mean) {
  return nmc_electronic_conductivity(p, x_mean) *
         ::pow(p.active_volume_fraction, p.bruggeman_solid);
}

// Effective ionic conductivity of the SE in the composite (Bruggeman).
HALITE_HD inline double effective_ionic_conductivity(const CellParams& p) {
  return p.electrolyte_conductivity * ::pow(p.electrolyte_volume_fraction, p.bruggeman_electrolyte);
}

// Harmonic mean for a face between two control volumes of equal width.
template <class T>
HALITE_HD T face_conductivity(const T& left, const T& right) {
  return 2.0 * left * right / (left + right);
}

}  // namespace halite::models
