// Host tables of the NMC open-circuit potential and Li diffusivity on x in [0, 1]: cubic Hermite
// interpolation on 4096 uniform intervals of the closed forms in models/ocp.hpp and
// models/transport.hpp (values and exact derivatives, the latter by forward-mode AD), built once
// per process on first use.
//
// Why: with the RSP exchange every radial shell needs U(x) in every residual and Jacobian, and
// every face D(x): three tanh, two exp per shell and four exp per face, about a quarter of a
// cycle's CPU time. A table lookup is a few multiplies. Accuracy (Tables.*): U within 2e-9 V
// of the closed form, D within 1e-8 relative, both derivatives with them; the interpolant is C1,
// so Newton sees a smooth function. The device keeps the closed forms (tables would need device
// memory per process; the GPU computes transcendentals at full rate).
#pragma once

#ifndef __CUDA_ARCH__
#include <vector>
#endif

#include "models/dual.hpp"

namespace halite::models {

#ifndef __CUDA_ARCH__

class HermiteTable {
 public:
  static constexpr int kIntervals = 4096;

  // Samples f and its derivative at the kIntervals + 1 uniform nodes of [0, 1].
  template <class F>
  explicit HermiteTable(F f) : nodes_(2 * (kIntervals + 1)) {
    for (int i = 0; i <= kIntervals; ++i) {
      const Dual<1> r = f(Dual<1>::variable(static_cast<double>(i) / kIntervals, 0));
      nodes_[2 * i] = r.v;
      nodes_[2 * i + 1] = r.d[0];
    }
  }

  // The interpolant at x in [0, 1] (the residual's call: no derivative).
  double operator()(double x) const {
    double s;
    const double* node = locate(x, s);
    return interpolate(node, s);
  }
  // ... and with its derivative (the Jacobian's call).
  template <int N>
  Dual<N> operator()(const Dual<N>& x) const {
    double s;
    const double* node = locate(x.v, s);
    const double slope = 6.0 * s * (s - 1.0) * (node[0] - node[2]) * kIntervals +
                         (1.0 - 4.0 * s + 3.0 * s * s) * node[1] +
                         (3.0 * s * s - 2.0 * s) * node[3];
    return chain(x, interpolate(node, s), slope);
  }

 private:
  // The interval's first node (value, derivative, then the next node's) and the local
  // coordinate s in [0, 1] of x within it.
  const double* locate(double x, double& s) const {
    const double t = x * kIntervals;
    int i = static_cast<int>(t);
    if (i >= kIntervals) i = kIntervals - 1;
    if (i < 0) i = 0;
    s = t - i;
    return nodes_.data() + 2 * i;
  }
  // Cubic Hermite basis on the interval (derivatives scaled by its width 1/kIntervals).
  static double interpolate(const double* node, double s) {
    const double h = 1.0 / kIntervals, s2 = s * s, one_minus = 1.0 - s;
    return (1.0 + 2.0 * s) * one_minus * one_minus * node[0] +
           s * one_minus * one_minus * node[1] * h + s2 * (3.0 - 2.0 * s) * node[2] +
           s2 * (s - 1.0) * node[3] * h;
  }

  std::vector<double> nodes_;  // value, derivative of each node, interleaved
};

#endif  // __CUDA_ARCH__

}  // namespace halite::models
