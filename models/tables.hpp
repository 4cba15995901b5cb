// Host tables of the NMC open-circuit potential and Li diffusivity on x in [0, 1]: cubic Hermite
// interpolation on 4096 uniform intervals of the closed forms in models/ocp.hpp and
// models/transport.hpp (values and exact derivatives, the latter by forward-mode AD), built once
// per process on first use.
//
// Why: with the RSP exchange every radial shell needs U(x) in every residual and Jacobian, and
// every face D(x): three tanh, two exp per shell and four exp per face, about a quarter of a
// cycle's CPU time. A table lookup is a few multiplies. Accuracy (TablesTest.*): U within 2e-9 V
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

  // Value and derivative of the interpolant at x in [0, 1].
  void evaluate(double x, double& f, double& dfdx) const {
    const double t = x * kIntervals;
    int i = static_cast<int>(t);
    if (i >= kIntervals) i = kIntervals - 1;
    if (i < 0) i = 0;
    const double s = t - i, h = 1.0 / kIntervals;
    const double* node = nodes_.data() + 2 * i;
    const double y0 = node[0], m0 = node[1] * h, y1 = node[2], m1 = node[3] * h;
    const double s2 = s * s, one_minus = 1.0 - s;
    f = (1.0 + 2.0 * s) * one_minus * one_minus * y0 + s * one_minus * one_minus * m0 +
        s2 * (3.0 - 2.0 * s) * y1 + s2 * (s - 1.0) * m1;
    dfdx = (6.0 * s * (s - 1.0) * (y0 - y1) + (1.0 - 4.0 * s + 3.0 * s2) * m0 +
            (3.0 * s2 - 2.0 * s) * m1) *
           kIntervals;
  }

  double operator()(double x) const {
    double f, dfdx;
    evaluate(x, f, dfdx);
    return f;
  }
  template <int N>
  Dual<N> operator()(const Dual<N>& x) const {
    double f, dfdx;
    evaluate(x.v, f, dfdx);
    return chain(x, f, dfdx);
  }

 private:
  std::vector<double> nodes_;  // value, derivative of each node, interleaved
};

#endif  // __CUDA_ARCH__

}  // namespace halite::models
