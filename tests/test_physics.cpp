// Verification of the particle physics in models/: stress-coupled flux, closed-form hydrostatic
// stress, and the radial finite-volume scheme against the analytic series solution.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "models/cell.hpp"
#include "models/structured_solve.hpp"
#include "tests/reference_cell.hpp"

using namespace halite::models;
using halite::testing::reference_params;

TEST(StressCoupledFlux, ReducesToFickWhenPartialMolarVolumeIsZero) {
  CellParams p = reference_params();
  p.partial_molar_volume = 0.0;
  const double dr = 1e-7, d = 3e-15;
  for (double xa : {0.1, 0.5, 0.93})
    for (double xb : {0.2, 0.55, 0.99}) {
      const double flux = stress_coupled_flux(p, d, xa, xb, hydrostatic_stress(p, 0.6, xa),
                                              hydrostatic_stress(p, 0.6, xb), dr);
      EXPECT_DOUBLE_EQ(flux, -d * (xb - xa) / dr);
    }
}

TEST(StressCoupledFlux, EqualsEnhancedFickForTheElasticSphere) {
  // With sigma_h = k c_max (x_mean - x): N = -D (1 + Omega k c_max x_f / RT) dx/dr exactly.
  const CellParams p = reference_params();
  const double dr = 2e-7, d = 4e-15;
  const double theta = p.partial_molar_volume * hydrostatic_stress_coefficient(p) *
                       p.max_concentration / (kGasConstant * p.temperature);
  for (double xa : {0.3, 0.7})
    for (double xb : {0.35, 0.95}) {
      const double xf = 0.5 * (xa + xb);
      const double flux = stress_coupled_flux(p, d, xa, xb, hydrostatic_stress(p, 0.5, xa),
                                              hydrostatic_stress(p, 0.5, xb), dr);
      EXPECT_NEAR(flux, -d * (1.0 + theta * xf) * (xb - xa) / dr, 1e-13 * std::fabs(flux));
    }
  // Stress drives Li from compressed (dilute) to tensile regions: the enhancement is > 1.
  EXPECT_GT(theta, 0.1);
}

TEST(HydrostaticStress, MatchesClosedFormFromQuadratureOfTheProfile) {
  const CellParams p = reference_params();
  const double radius = 2.5e-6;
  auto profile = [&](double r) {
    const double s = r / radius;
    return 0.6 + 0.25 * s * s - 0.1 * s * s * s * s;
  };
  // Volume averages by composite Simpson quadrature on a fine grid.
  auto mean_inside = [&](double r) {
    const int n = 4000;
    const double h = r / n;
    double s = 0.0;
    for (int i = 0; i <= n; ++i) {
      const double ri = i * h;
      const double w = (i == 0 || i == n) ? 1.0 : (i % 2 ? 4.0 : 2.0);
      s += w * profile(ri) * ri * ri;
    }
    return 3.0 / (r * r * r) * s * h / 3.0;
  };
  const double x_mean = mean_inside(radius);
  for (double frac : {0.1, 0.35, 0.6, 0.85, 1.0}) {
    const double r = frac * radius;
    const double x = profile(r);
    const double inside = mean_inside(r);
    const double sr = radial_stress(p, x_mean, inside);
    const double st = hoop_stress(p, x_mean, inside, x);
    const double sh_from_components = (sr + 2.0 * st) / 3.0;
    const double sh_closed = diffusion_hydrostatic_stress(p, x_mean, x);
    EXPECT_NEAR(sh_from_components, sh_closed, 1e-9 * std::fabs(sh_closed) + 1e-3);
  }
  // A free surface carries no radial traction.
  EXPECT_NEAR(radial_stress(p, x_mean, mean_inside(radius)), 0.0, 1e-3);
  // Stack pressure adds a uniform compression and nothing else.
  EXPECT_DOUBLE_EQ(hydrostatic_stress(p, 0.5, 0.4) - diffusion_hydrostatic_stress(p, 0.5, 0.4),
                   -p.hydrostatic_stack_pressure());
}

namespace {

// Analytic solution for a sphere of radius a, initial x0, constant inward flux q (x-units m/s):
// Crank, The Mathematics of Diffusion (1975), eq. 6.59 with the roots of a cot a = 1.
double sphere_constant_flux(double r, double t, double a, double d, double x0, double q) {
  const double tau = d * t / (a * a);
  double series = 0.0;
  for (int n = 1; n <= 400; ++n) {
    // root of tan(alpha) = alpha in (n pi, (n + 1/2) pi), by bisection (Newton jumps branches)
    double lo = n * kPi + 1e-12, hi = (n + 0.5) * kPi - 1e-12;
    for (int it = 0; it < 200; ++it) {
      const double mid = 0.5 * (lo + hi);
      (std::tan(mid) - mid < 0.0 ? lo : hi) = mid;
    }
    const double alpha = 0.5 * (lo + hi);
    series += std::sin(alpha * r / a) / (alpha * alpha * std::sin(alpha)) *
              std::exp(-alpha * alpha * tau);
  }
  return x0 + q * a / d * (3.0 * tau + r * r / (2.0 * a * a) - 0.3 - 2.0 * a / r * series);
}

// Max error of the radial FV scheme (Crank-Nicolson in time with steps far below the spatial
// error) against the analytic solution at the shell centres.
double radial_scheme_error(int shells, double stretch = 0.0) {
  const RadialMesh mesh{shells, stretch};
  CellParams p = reference_params();
  p.partial_molar_volume = 0.0;  // Fick: the analytic solution is for constant D
  p.diffusivity_model = DiffusivityModel::kConstant;
  p.diffusivity_constant = 5e-15;
  const double a = 2.5e-6, d = p.diffusivity_constant, x0 = 0.5;
  const double q = 0.2 * a / (3.0 * 1000.0);  // inward flux: +0.2 in mean x per 1000 s
  const double t_end = 0.1 * a * a / d;       // D t / a^2 = 0.1
  // BDF2 (L-stable, so the stiff modes excited by the flux switched on at t = 0 are damped;
  // Crank-Nicolson would carry them as an error floor), started by one implicit Euler step.
  const int steps = 20000;
  const double dt = t_end / steps;
  std::vector<double> x(shells, x0), x_old(shells, x0), zero(shells, 0.0), g(shells), rhs(shells);
  std::vector<double> block(8 * shells + 2, 0.0), euler(5 * shells + 3), bdf2(5 * shells + 3);
  particle_transport_rows(p, mesh, a, x.data(), zero.data(), x0, g.data(), block.data());
  const double surface = face_area_over_volume(shells - 1, shells - 1, mesh, a);
  EXPECT_TRUE(factor_particle(shells, 1.0 / dt, block.data(), euler.data()));
  EXPECT_TRUE(factor_particle(shells, 1.5 / dt, block.data(), bdf2.data()));
  for (int s = 0; s < steps; ++s) {
    for (int m = 0; m < shells; ++m)
      rhs[m] = s == 0 ? x[m] / dt : (4.0 * x[m] - x_old[m]) / (2.0 * dt);
    rhs[shells - 1] += surface * q;  // inward flux enters the outer shell
    x_old = x;
    solve_particle(shells, block.data(), s == 0 ? euler.data() : bdf2.data(), rhs.data(), x.data());
  }
  double worst = 0.0;
  for (int m = 0; m < shells; ++m) {
    const double r = mesh.centre(m) * a;
    worst = std::max(worst, std::fabs(x[m] - sphere_constant_flux(r, t_end, a, d, x0, q)));
  }
  // Li balance: the mean rose by exactly the integrated surface flux (conservative scheme).
  const double mean = particle_mean_stoichiometry(x.data(), mesh);
  EXPECT_NEAR(mean - x0, 3.0 * q * t_end / a, 1e-12);
  return worst;
}

}  // namespace

TEST(RadialDiffusion, MatchesAnalyticSeriesAndConvergesAtSecondOrder) {
  const double e10 = radial_scheme_error(10);
  const double e20 = radial_scheme_error(20);
  const double e40 = radial_scheme_error(40);
  const double q = 0.2 * 2.5e-6 / 3000.0, excursion = q * 2.5e-6 / 5e-15;  // scale of the profile
  std::printf("radial max error: N_r=10 %.3e, 20 %.3e, 40 %.3e\n", e10, e20, e40);
  EXPECT_LT(e40, 2e-3 * excursion) << "e10 " << e10 << " e20 " << e20 << " e40 " << e40;
  const double order1 = std::log2(e10 / e20), order2 = std::log2(e20 / e40);
  EXPECT_GE(order1, 1.8) << e10 << " " << e20;
  EXPECT_GE(order2, 1.8) << e20 << " " << e40;
}

TEST(RadialDiffusion, GradedMeshConvergesToTheAnalyticSolution) {
  // The default mesh is graded toward the surface (kappa = 6). Refined at fixed kappa it
  // converges to Crank's series; measured orders 2.0 (10 -> 20 shells) and 1.6 (20 -> 40: the
  // nodal points sit at shell mid-radii, first-order at faces of unequal neighbours, second
  // order overall only asymptotically). The mesh-convergence study of the full model is in
  // docs/validation.md.
  const double e10 = radial_scheme_error(10, 6.0);
  const double e20 = radial_scheme_error(20, 6.0);
  const double e40 = radial_scheme_error(40, 6.0);
  std::printf("graded radial max error: N_r=10 %.3e, 20 %.3e, 40 %.3e\n", e10, e20, e40);
  EXPECT_GE(std::log2(e10 / e20), 1.8) << e10 << " " << e20;
  EXPECT_GE(std::log2(e20 / e40), 1.5) << e20 << " " << e40;
  const double q = 0.2 * 2.5e-6 / 3000.0, excursion = q * 2.5e-6 / 5e-15;
  EXPECT_LT(e40, 2e-3 * excursion);
  // volume fractions of the graded mesh sum to one, faces are increasing, thinner outside
  const RadialMesh mesh{20, 6.0};
  double sum = 0.0;
  for (int m = 0; m < 20; ++m) {
    sum += mesh.volume_fraction(m);
    EXPECT_GT(mesh.face(m + 1), mesh.face(m));
    if (m > 0) EXPECT_LT(mesh.face(m + 1) - mesh.face(m), mesh.face(m) - mesh.face(m - 1));
  }
  EXPECT_NEAR(sum, 1.0, 1e-14);
  EXPECT_GT((mesh.face(1) - mesh.face(0)) / (mesh.face(20) - mesh.face(19)), 25.0);
}

TEST(Kinetics, ButlerVolmerIsOddAroundEquilibriumForSymmetricTransfer) {
  const double vt = 0.0257;
  EXPECT_DOUBLE_EQ(butler_volmer(2.0, 0.0, 0.5, vt), 0.0);
  EXPECT_NEAR(butler_volmer(2.0, 0.05, 0.5, vt), -butler_volmer(2.0, -0.05, 0.5, vt), 1e-14);
  // Linear regime: j = i0 eta / (RT/F)
  EXPECT_NEAR(butler_volmer(2.0, 1e-6, 0.5, vt), 2.0 * 1e-6 / vt, 1e-12);
}

TEST(Kinetics, ExchangeCurrentGivesFirstOrderMassActionBranchesForAnyTransferCoefficient) {
  // With an ideal-solution OCP U(x) = U0 + (RT/F) ln((1-x)/x), the partial currents at a fixed
  // electrode potential E must follow mass action: oxidation (Li leaves) ~ x, reduction ~ 1 - x,
  // for any alpha. This pins which of x, 1 - x carries the exponent alpha in i0.
  CellParams p = reference_params();
  const double vt = p.thermal_voltage(), u0 = 3.9, e = 4.05;
  const double xa = 0.2, xb = 0.6;
  for (double alpha : {0.3, 0.5, 0.7}) {
    p.transfer_coefficient = alpha;
    auto eta = [&](double x) { return e - (u0 + vt * std::log((1.0 - x) / x)); };
    auto anodic = [&](double x) {
      return nmc_exchange_current(p, x) * std::exp(alpha * eta(x) / vt);
    };
    auto cathodic = [&](double x) {
      return nmc_exchange_current(p, x) * std::exp(-(1.0 - alpha) * eta(x) / vt);
    };
    EXPECT_NEAR(anodic(xa) / anodic(xb), xa / xb, 1e-12 * xa / xb) << "alpha " << alpha;
    EXPECT_NEAR(cathodic(xa) / cathodic(xb), (1.0 - xa) / (1.0 - xb),
                1e-12 * (1.0 - xa) / (1.0 - xb))
        << "alpha " << alpha;
    // The normalisation is unchanged: i0 = i0_mid at x = 0.5.
    EXPECT_NEAR(nmc_exchange_current(p, 0.5), p.exchange_current_mid,
                1e-15 * p.exchange_current_mid);
  }
}

TEST(Ocp, Nmc721BlendFallsMonotonicallyAndHasTheLithiationKnee) {
  double previous = 10.0;
  for (double x = 0.3; x <= 0.99; x += 0.01) {
    const double u = ocp_nmc721_blend(x);
    EXPECT_LT(u, previous) << x;
    previous = u;
  }
  // the lithiation knee: the potential plunges as x -> 1
  EXPECT_LT(ocp_nmc721_blend(1.0), ocp_nmc721_blend(0.98) - 0.3);
}

// The host's tanh of models/dual.hpp (one exp instead of glibc's expm1 path, for the OCP's three
// tanh per shell): within 4 ulp of std::tanh over the arguments the NMC OCP sees and beyond, its
// derivative 1 - tanh^2 with it, odd, and exactly saturated at large |a|.
TEST(Ocp, TanhFromOneExpMatchesTheLibraryTanh) {
  double worst_ulps = 0.0;
  for (double a = -40.0; a <= 40.0; a += 1.0 / 1024.0 + 1e-7) {
    const double fast = halite::models::tanh(a), library = std::tanh(a);
    const double ulp = std::nextafter(std::abs(library), 2.0) - std::abs(library);
    worst_ulps = std::max(worst_ulps, std::abs(fast - library) / ulp);
    EXPECT_EQ(halite::models::tanh(-a), -fast) << a;
    const auto dual = halite::models::tanh(halite::models::Dual<1>::variable(a, 0));
    EXPECT_EQ(dual.v, fast) << a;
    EXPECT_NEAR(dual.d[0], 1.0 - library * library, 1e-15) << a;
  }
  EXPECT_LE(worst_ulps, 4.0);
  EXPECT_EQ(halite::models::tanh(400.0), 1.0);
  EXPECT_EQ(halite::models::tanh(0.0), 0.0);
  // the OCP through it: equal to the closed form with std::tanh to 1e-13 V
  for (double x = 0.0; x <= 1.0; x += 1e-3) {
    const double library = -0.8090 * x + 4.4875 - 0.0428 * std::tanh(18.5138 * (x - 0.5542)) -
                           17.7326 * std::tanh(15.7890 * (x - 0.3117)) +
                           17.5842 * std::tanh(15.9308 * (x - 0.3120));
    EXPECT_NEAR(halite::models::ocp_chen2020_nmc811(x), library, 1e-13) << x;
  }
}

// The host tables of models/tables.hpp against the closed forms they are built from: the NMC OCP
// of every fit within 2e-9 V (the knee at x -> 1 included) and D(x) within 1e-8 relative, both
// derivatives within 1e-5 relative to their scale, on a grid that falls between the nodes.
TEST(Tables, OcpAndDiffusivityTablesMatchTheirClosedForms) {
  using halite::models::Dual;
  for (const auto fit :
       {halite::models::NmcOcpFit::kNmc721Blend, halite::models::NmcOcpFit::kChen2020Nmc811,
        halite::models::NmcOcpFit::kMohtat2020Nmc532}) {
    CellParams p = reference_params();
    p.ocp_fit = fit;
    double worst = 0.0, worst_slope = 0.0;
    for (double x = 0.0; x <= 1.0; x += 1.0 / 7919.0) {
      const auto table = halite::models::ocp_nmc(p, Dual<1>::variable(x, 0));
      const auto exact = halite::models::ocp_nmc_closed_form(p, Dual<1>::variable(x, 0));
      worst = std::max(worst, std::abs(table.v - exact.v));
      worst_slope = std::max(
          worst_slope, std::abs(table.d[0] - exact.d[0]) / std::max(1.0, std::abs(exact.d[0])));
    }
    EXPECT_LT(worst, 2e-9) << static_cast<int>(fit);
    EXPECT_LT(worst_slope, 1e-5) << static_cast<int>(fit);
    // outside [0, 1] the closed form itself
    EXPECT_EQ(halite::models::ocp_nmc(p, 1.0 + 1e-9),
              halite::models::ocp_nmc_closed_form(p, 1.0 + 1e-9));
    EXPECT_EQ(halite::models::ocp_nmc(p, -1e-9), halite::models::ocp_nmc_closed_form(p, -1e-9));
  }
  const CellParams p = reference_params();
  double worst = 0.0, worst_slope = 0.0;
  for (double x = 0.0; x <= 1.0; x += 1.0 / 7919.0) {
    const auto table = halite::models::solid_diffusivity(p, Dual<1>::variable(x, 0));
    const auto exact =
        p.diffusivity_scale * halite::models::diffusivity_oregan2022(Dual<1>::variable(x, 0));
    worst = std::max(worst, std::abs(table.v / exact.v - 1.0));
    worst_slope = std::max(worst_slope, std::abs(table.d[0] - exact.d[0]) / (exact.v * 100.0));
  }
  EXPECT_LT(worst, 1e-8);
  EXPECT_LT(worst_slope, 1e-5);
}
