// Forward-mode automatic differentiation with a fixed number of seeds. The Jacobian of every
// residual is exact (analytic, to round-off) because each physics function is written once as a
// template and evaluated on Dual numbers; no finite differences and no second hand-written copy.
#pragma once

#include <cmath>

#include "models/hd.hpp"

namespace halite::models {

template <int N>
struct Dual {
  double v = 0.0;
  double d[N] = {};

  HALITE_HD Dual() = default;
  HALITE_HD Dual(double value) : v(value) {}  // NOLINT: constants promote implicitly
  HALITE_HD static Dual variable(double value, int seed) {
    Dual r(value);
    r.d[seed] = 1.0;
    return r;
  }
};

// value() gives the plain number of a double or a Dual, so templates can branch on values.
HALITE_HD inline double value(double x) {
  return x;
}
template <int N>
HALITE_HD double value(const Dual<N>& x) {
  return x.v;
}

template <int N>
HALITE_HD Dual<N> chain(const Dual<N>& a, double f, double dfda) {
  Dual<N> r(f);
  for (int i = 0; i < N; ++i) r.d[i] = dfda * a.d[i];
  return r;
}

template <int N>
HALITE_HD Dual<N> operator+(const Dual<N>& a, const Dual<N>& b) {
  Dual<N> r(a.v + b.v);
  for (int i = 0; i < N; ++i) r.d[i] = a.d[i] + b.d[i];
  return r;
}
template <int N>
HALITE_HD Dual<N> operator-(const Dual<N>& a, const Dual<N>& b) {
  Dual<N> r(a.v - b.v);
  for (int i = 0; i < N; ++i) r.d[i] = a.d[i] - b.d[i];
  return r;
}
template <int N>
HALITE_HD Dual<N> operator-(const Dual<N>& a) {
  return chain(a, -a.v, -1.0);
}
template <int N>
HALITE_HD Dual<N> operator*(const Dual<N>& a, const Dual<N>& b) {
  Dual<N> r(a.v * b.v);
  for (int i = 0; i < N; ++i) r.d[i] = a.d[i] * b.v + a.v * b.d[i];
  return r;
}
template <int N>
HALITE_HD Dual<N> operator/(const Dual<N>& a, const Dual<N>& b) {
  const double inv = 1.0 / b.v;
  Dual<N> r(a.v * inv);
  for (int i = 0; i < N; ++i) r.d[i] = (a.d[i] - r.v * b.d[i]) * inv;
  return r;
}
template <int N>
HALITE_HD Dual<N> operator+(const Dual<N>& a, double b) {
  Dual<N> r = a;
  r.v += b;
  return r;
}
template <int N>
HALITE_HD Dual<N> operator+(double a, const Dual<N>& b) {
  return b + a;
}
template <int N>
HALITE_HD Dual<N> operator-(const Dual<N>& a, double b) {
  return a + (-b);
}
template <int N>
HALITE_HD Dual<N> operator-(double a, const Dual<N>& b) {
  return chain(b, a - b.v, -1.0);
}
template <int N>
HALITE_HD Dual<N> operator*(const Dual<N>& a, double b) {
  return chain(a, a.v * b, b);
}
template <int N>
HALITE_HD Dual<N> operator*(double a, const Dual<N>& b) {
  return chain(b, a * b.v, a);
}
template <int N>
HALITE_HD Dual<N> operator/(const Dual<N>& a, double b) {
  return chain(a, a.v / b, 1.0 / b);
}
template <int N>
HALITE_HD Dual<N> operator/(double a, const Dual<N>& b) {
  const double r = a / b.v;
  return chain(b, r, -r / b.v);
}
template <int N>
HALITE_HD Dual<N>& operator+=(Dual<N>& a, const Dual<N>& b) {
  a = a + b;
  return a;
}
template <int N>
HALITE_HD Dual<N>& operator-=(Dual<N>& a, const Dual<N>& b) {
  a = a - b;
  return a;
}

template <int N>
HALITE_HD Dual<N> exp(const Dual<N>& a) {
  const double e = ::exp(a.v);
  return chain(a, e, e);
}
template <int N>
HALITE_HD Dual<N> log(const Dual<N>& a) {
  return chain(a, ::log(a.v), 1.0 / a.v);
}
template <int N>
HALITE_HD Dual<N> sqrt(const Dual<N>& a) {
  const double s = ::sqrt(a.v);
  return chain(a, s, 0.5 / s);
}
// tanh from one exp on the host: glibc's tanh (through expm1) cost about three exps, and the NMC
// OCP takes three tanh per radial shell in every residual (about a fifth of a cycle's CPU time).
// For |a| >= 1/4 the form (1 - e)/(1 + e), e = exp(-2|a|), is within a few ulp of tanh; closer to
// 0 it would lose relative accuracy (1 - e cancels), so ::tanh is kept there. The device keeps
// its own tanh.
HALITE_HD inline double tanh_by_exp(double a) {
#ifdef __CUDA_ARCH__
  return ::tanh(a);
#else
  const double magnitude = a < 0.0 ? -a : a;
  if (magnitude < 0.25) return ::tanh(a);
  const double e = ::exp(-2.0 * magnitude);
  const double t = (1.0 - e) / (1.0 + e);
  return a < 0.0 ? -t : t;
#endif
}

template <int N>
HALITE_HD Dual<N> tanh(const Dual<N>& a) {
  const double t = tanh_by_exp(a.v);
  return chain(a, t, 1.0 - t * t);
}
template <int N>
HALITE_HD Dual<N> sinh(const Dual<N>& a) {
  return chain(a, ::sinh(a.v), ::cosh(a.v));
}
template <int N>
HALITE_HD Dual<N> asinh(const Dual<N>& a) {
  return chain(a, ::asinh(a.v), 1.0 / ::sqrt(a.v * a.v + 1.0));
}
template <int N>
HALITE_HD Dual<N> pow(const Dual<N>& a, double p) {
  const double r = ::pow(a.v, p);
  return chain(a, r, p * ::pow(a.v, p - 1.0));
}

// Plain-double versions with the same names so templates call exp(x) for both types.
HALITE_HD inline double exp(double a) {
  return ::exp(a);
}
HALITE_HD inline double log(double a) {
  return ::log(a);
}
HALITE_HD inline double sqrt(double a) {
  return ::sqrt(a);
}
HALITE_HD inline double tanh(double a) {
  return tanh_by_exp(a);
}
HALITE_HD inline double sinh(double a) {
  return ::sinh(a);
}
HALITE_HD inline double asinh(double a) {
  return ::asinh(a);
}
HALITE_HD inline double pow(double a, double p) {
  return ::pow(a, p);
}

// Clamp a stoichiometry into (lo, hi) keeping the derivative where it is inside, zero outside.
template <class T>
HALITE_HD T clamp_value(const T& x, double lo, double hi) {
  if (value(x) < lo) return T(lo);
  if (value(x) > hi) return T(hi);
  return x;
}

}  // namespace halite::models
