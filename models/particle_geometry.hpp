// Radial geometry of a particle shared by the electrochemistry (cell.hpp) and the aging
// (aging.hpp): uniform shells, volume weights, the mean and the surface stoichiometry.
#pragma once

#include "models/hd.hpp"

namespace halite::models {

// Volume fraction of shell m in the particle: the weight of x_m in the particle mean.
HALITE_HD inline double shell_volume_fraction(int m, int shells) {
  const double a = m + 1.0, b = m;
  return (a * a * a - b * b * b) / (double(shells) * shells * shells);
}
// Mean stoichiometry of one particle (volume average over shells).
HALITE_HD inline double particle_mean_stoichiometry(const double* x, int shells) {
  double s = 0.0;
  for (int m = 0; m < shells; ++m) s += shell_volume_fraction(m, shells) * x[m];
  return s;
}

// Surface stoichiometry: linear extrapolation of the two outer shells to r = R (second order).
template <class T>
HALITE_HD T surface_stoichiometry(const T& x_inner, const T& x_outer, int shells) {
  if (shells < 2) return x_outer;
  return 1.5 * x_outer - 0.5 * x_inner;
}

}  // namespace halite::models
