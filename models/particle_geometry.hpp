// Radial geometry of a particle shared by the electrochemistry (cell.hpp) and the aging
// (aging.hpp): shells graded toward the surface, volume weights, the mean and the surface
// stoichiometry.
#pragma once

#include "models/hd.hpp"

namespace halite::models {

// Radial finite-volume mesh of one particle, in units of its radius. Face m (m = 0..N) sits at
//   rho_m = (1 + kappa) s / (1 + kappa s),   s = m/N,
// a smooth (rational) map of the uniform mesh: shells are (1 + kappa)^2 times thinner at the
// surface than at the centre, where the concentration gradients of a slow-diffusing particle are
// steep. kappa = 0 is the uniform mesh. Because the map is fixed and smooth, refining N at fixed
// kappa keeps the scheme's second order (docs/model.md, "Radial finite volumes").
struct RadialMesh {
  int shells = 10;
  double stretch = 0.0;  // kappa

  HALITE_HD double face(int m) const {
    const double s = double(m) / shells;
    return (1.0 + stretch) * s / (1.0 + stretch * s);
  }
  // Shell m's nodal point: the mid-radius of the shell.
  HALITE_HD double centre(int m) const { return 0.5 * (face(m) + face(m + 1)); }
  // Volume fraction of shell m: the weight of x_m in the particle mean (sums to 1).
  HALITE_HD double volume_fraction(int m) const {
    const double a = face(m + 1), b = face(m);
    return a * a * a - b * b * b;
  }
};

// Mean stoichiometry of one particle (volume average over shells).
HALITE_HD inline double particle_mean_stoichiometry(const double* x, const RadialMesh& mesh) {
  double s = 0.0;
  for (int m = 0; m < mesh.shells; ++m) s += mesh.volume_fraction(m) * x[m];
  return s;
}

// Weight of the outer shell in the surface extrapolation: x_s = x_o + w (x_o - x_i), the line
// through the two outer nodal points evaluated at r = R (w = 1/2 on the uniform mesh).
HALITE_HD inline double surface_extrapolation_weight(const RadialMesh& mesh) {
  const int n = mesh.shells;
  if (n < 2) return 0.0;
  const double outer = mesh.centre(n - 1), inner = mesh.centre(n - 2);
  return (1.0 - outer) / (outer - inner);
}

// Surface stoichiometry: linear extrapolation of the two outer shells to r = R (second order).
template <class T>
HALITE_HD T surface_stoichiometry(const T& x_inner, const T& x_outer, const RadialMesh& mesh) {
  if (mesh.shells < 2) return x_outer;
  const double w = surface_extrapolation_weight(mesh);
  return (1.0 + w) * x_outer - w * x_inner;
}

}  // namespace halite::models
