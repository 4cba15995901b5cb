// Open-circuit potentials (V vs Li+/Li). x = Li stoichiometry of Li_x(Ni0.7Co0.2Mn0.1)O2.
#pragma once

#include "models/dual.hpp"
#include "models/params.hpp"
#include "models/tables.hpp"

namespace halite::models {

// NMC811 (LG M50) fit, Chen et al., JES 167, 080534 (2020); PyBaMM nmc_LGM50_ocp_Chen2020.
template <class T>
HALITE_HD T ocp_chen2020_nmc811(const T& x) {
  return -0.8090 * x + 4.4875 - 0.0428 * tanh(18.5138 * (x - 0.5542)) -
         17.7326 * tanh(15.7890 * (x - 0.3117)) + 17.5842 * tanh(15.9308 * (x - 0.3120));
}

// End-of-discharge knee of the Mohtat et al. (2020) NMC532 fit: -0.5623e-4 exp(109.451 x -
// 100.006).
template <class T>
HALITE_HD T ocp_lithiation_knee(const T& x) {
  return -0.5623e-4 * exp(109.451 * x - 100.006);
}

// The quintic of the Mohtat et al. (2020) NMC532 fit (PyBaMM NMC_ocp_PeymanMPM), without the
// knee.
template <class T>
HALITE_HD T ocp_mohtat2020_quintic(const T& x) {
  const T x2 = x * x;
  const T x3 = x2 * x;
  return 4.3452 - 1.6518 * x + 1.6225 * x2 - 2.0843 * x3 + 3.5146 * x2 * x2 - 2.2166 * x3 * x2;
}

// NMC532 fit, Mohtat et al. (2020); PyBaMM NMC_ocp_PeymanMPM: the quintic plus the knee.
template <class T>
HALITE_HD T ocp_mohtat2020_nmc532(const T& x) {
  return ocp_mohtat2020_quintic(x) + ocp_lithiation_knee(x);
}

// NMC721: no published fit exists. Interpolate linearly in Ni content between NMC532 (Ni 0.5)
// and NMC811 (Ni 0.8), weight (0.7 - 0.5)/(0.8 - 0.5) = 2/3 on NMC811, and keep the knee at full
// weight: every measured NMC OCP plunges as x -> 1 (the Sturm/Zhuo NMC811 table reads 3.02 V at
// x = 1) while the Chen fit has no knee; without it nothing stops x_s from passing 1
// (docs/model.md).
template <class T>
HALITE_HD T ocp_nmc721_blend(const T& x) {
  // (the knee once: it is the blend's only exponential, evaluated in every shell's exchange)
  return (2.0 / 3.0) * ocp_chen2020_nmc811(x) + (1.0 / 3.0) * ocp_mohtat2020_quintic(x) +
         ocp_lithiation_knee(x);
}

// The configured fit's closed form.
template <class T>
HALITE_HD T ocp_nmc_closed_form(const CellParams& p, const T& x) {
  switch (p.ocp_fit) {
    case NmcOcpFit::kChen2020Nmc811:
      return ocp_chen2020_nmc811(x);
    case NmcOcpFit::kMohtat2020Nmc532:
      return ocp_mohtat2020_nmc532(x);
    case NmcOcpFit::kNmc721Blend:
    default:
      return ocp_nmc721_blend(x);
  }
}

#ifndef __CUDA_ARCH__
// (host) The table of each OCP fit (models/tables.hpp), all built on first use (about 1 ms), from
// the one closed-form dispatch above.
inline const HermiteTable& nmc_ocp_table(NmcOcpFit fit) {
  const auto table_of = [](NmcOcpFit f) {
    CellParams p;
    p.ocp_fit = f;
    return HermiteTable([p](const auto& x) { return ocp_nmc_closed_form(p, x); });
  };
  static const HermiteTable tables[] = {table_of(NmcOcpFit::kNmc721Blend),
                                        table_of(NmcOcpFit::kChen2020Nmc811),
                                        table_of(NmcOcpFit::kMohtat2020Nmc532)};
  const int index = static_cast<int>(fit);
  return tables[index >= 0 && index < 3 ? index : 0];  // (as the dispatch: unknown = blend)
}
#endif

// The NMC OCP of the configured fit: on the host from its table inside [0, 1], the closed form
// outside it (Newton iterates may step past the bounds) and on the device.
template <class T>
HALITE_HD T ocp_nmc(const CellParams& p, const T& x) {
#ifndef __CUDA_ARCH__
  const double at = value(x);
  if (at >= 0.0 && at <= 1.0) return nmc_ocp_table(p.ocp_fit)(x);
#endif
  return ocp_nmc_closed_form(p, x);
}

}  // namespace halite::models
