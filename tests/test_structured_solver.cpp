// The analytic (AD) Jacobian against finite differences of the residual, and the Schur-complement
// solver against SUNDIALS KLU on random states of the reference cell.
#include <gtest/gtest.h>
#include <sunmatrix/sunmatrix_sparse.h>

#include <cmath>
#include <random>
#include <vector>

#include "host/cpu/batch_model.hpp"
#include "host/cpu/nvector_batch.hpp"
#include "host/cpu/schur_solver.hpp"
#include "host/cpu/sparse_reference.hpp"
#include "tests/reference_cell.hpp"

using namespace halite;
using namespace halite::models;

namespace {

using halite::testing::random_state;

// The reference cell with `classes` particle classes of equal volume.
CellParams reference_params(int classes = 3) {
  CellParams p = halite::testing::reference_params();
  p.particle_classes = classes;
  for (int k = 0; k < classes; ++k) p.particle_volume_weight[k] = 1.0 / classes;
  return p;
}

double relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0.0, den = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    num = std::max(num, std::fabs(a[i] - b[i]));
    den = std::max(den, std::fabs(b[i]));
  }
  return num / den;
}

double componentwise_backward_error(SUNMatrix A, const std::vector<double>& x,
                                    const std::vector<double>& b) {
  const auto ax = sparse_multiply(A, x);
  std::vector<double> absx(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) absx[i] = std::fabs(x[i]);
  // |A| |x| with |A| from the same sparsity
  SUNMatrix absA = SUNSparseMatrix(SUNSparseMatrix_Rows(A), SUNSparseMatrix_Columns(A),
                                   SUNSparseMatrix_NNZ(A), CSC_MAT, A->sunctx);
  SUNMatCopy(A, absA);
  double* data = SUNSparseMatrix_Data(absA);
  for (sunindextype k = 0; k < SUNSparseMatrix_NNZ(absA); ++k) data[k] = std::fabs(data[k]);
  const auto bound = sparse_multiply(absA, absx);
  SUNMatDestroy(absA);
  double worst = 0.0;
  for (std::size_t i = 0; i < b.size(); ++i)
    worst = std::max(worst, std::fabs(ax[i] - b[i]) / (bound[i] + std::fabs(b[i])));
  return worst;
}

struct Case {
  CellLayout layout;
  ControlMode mode;
  bool aged = false;  // RSP formed: the per-shell exchange rows are active
};

// Coefficients of an aged cell: RSP fractions 0.2-0.8 (exchange on), some isolation and film.
std::vector<ParticleCoefficients> aged_coefficients(const CellParams& p, const CellLayout& L,
                                                    std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<ParticleCoefficients> c;
  for (int q = 0; q < L.particles(); ++q) {
    ParticleAging a;
    a.rsp_fraction = 0.2 + 0.6 * u(rng);
    a.isolated_fraction = 0.05 * u(rng);
    a.layer_thickness = 1e-7 * u(rng);
    c.push_back(particle_coefficients(p, q % L.classes, a));
  }
  return c;
}

class StructuredSolver : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(StructuredSolver, JacobianMatchesFiniteDifferencesOfTheResidual) {
  const auto [L, mode, aged] = GetParam();
  const CellParams p = reference_params(L.classes);
  const CellControl control{mode, 30.0, 3.4};
  SunContext ctx;
  std::mt19937 rng(7);
  const auto coeffs = aged_coefficients(p, L, rng);
  const ParticleCoefficients* c = aged ? coeffs.data() : nullptr;
  std::vector<double> scratch(cell_scratch_size(L)), storage(cell_jacobian_size(L));
  const auto J = cell_jacobian_ref(L, storage.data());
  for (int trial = 0; trial < 3; ++trial) {
    const auto y = random_state(L, rng);
    std::vector<double> yp(L.size(), 0.0), r0(L.size()), r1(L.size());
    cell_jacobian(p, L, control, y.data(), J.particle_blocks, J.x_block, J.x_mean_coupling,
                  scratch.data(), c);
    const double cj = 50.0;
    auto A = assemble_cell_matrix(ctx, p, L, J, cj);
    // Directional derivative along a random direction, central differences.
    std::normal_distribution<double> g(0.0, 1.0);
    std::vector<double> v(L.size());
    for (auto& vi : v) vi = g(rng);
    for (int i = 0; i < L.x_offset(); ++i) v[i] *= 1e-2;  // stay inside (0, 1)
    const double h = 1e-6;
    std::vector<double> yplus = y, yminus = y, ypplus = yp, ypminus = yp;
    for (int i = 0; i < L.size(); ++i) {
      yplus[i] += h * v[i];
      yminus[i] -= h * v[i];
      ypplus[i] += cj * h * v[i];
      ypminus[i] -= cj * h * v[i];
    }
    cell_residual(p, L, control, yplus.data(), ypplus.data(), r1.data(), scratch.data(), c);
    cell_residual(p, L, control, yminus.data(), ypminus.data(), r0.data(), scratch.data(), c);
    std::vector<double> fd(L.size());
    for (int i = 0; i < L.size(); ++i) fd[i] = (r1[i] - r0[i]) / (2.0 * h);
    const auto jv = sparse_multiply(A.get(), v);
    EXPECT_LT(relative_difference(jv, fd), 1e-6) << "trial " << trial;
  }
}

TEST_P(StructuredSolver, SchurAndKluGiveTheSameNewtonUpdate) {
  const auto [L, mode, aged] = GetParam();
  SunContext ctx;
  std::mt19937 rng(11);
  // a batch of two different cells
  std::vector<CellParams> params(2, reference_params(L.classes));
  params[1].particle_radius[0] = 2.0e-6;
  params[1].stack_pressure = 100e6;
  params[1].diffusivity_scale = 2.0;
  // The reference cell's inactive fraction (a_L = 0.732). Without the refinement step of
  // SchurSolver::solve one of the eight solves of the fresh current-controlled case, at
  // cj = 0.01 1/s, reached a componentwise backward error of 2.7e-12 in an x-system row
  // (1.6e-11 at a_L = 0.9), and this test had to hold the particles fully connected.
  BatchModel model(params, L);
  for (int c = 0; c < 2; ++c) model.control(c) = {mode, -20.0, 3.5};
  if (aged)
    for (int c = 0; c < 2; ++c) {
      for (int q = 0; q < L.particles(); ++q) {
        model.aging(c, q).rsp_fraction = 0.25 + 0.5 * double(q % 5) / 5;
        model.aging(c, q).isolated_fraction = 0.01 * (q % 3);
      }
      model.refresh_aging_coefficients(c);
    }
  SchurSolver solver(model);
  for (int trial = 0; trial < 4; ++trial) {
    std::vector<double> y;
    for (int c = 0; c < 2; ++c) {
      const auto yc = random_state(L, rng);
      y.insert(y.end(), yc.begin(), yc.end());
    }
    const double cj = std::pow(10.0, -2.0 + trial);  // 0.01 .. 10 1/s: all BDF step sizes
    solver.evaluate_jacobian(y.data());
    ASSERT_TRUE(solver.factor(cj));
    std::normal_distribution<double> g(0.0, 1.0);
    std::vector<double> b(y.size()), x(y.size());
    for (auto& bi : b) bi = g(rng);
    solver.solve(b.data(), x.data());
    for (int c = 0; c < 2; ++c) {
      const std::size_t off = std::size_t(c) * L.size();
      auto A = assemble_cell_matrix(ctx, model.params(c), L, solver.jacobian(c), cj);
      const std::vector<double> bc(b.begin() + off, b.begin() + off + L.size());
      const std::vector<double> xc(x.begin() + off, x.begin() + off + L.size());
      const auto x_klu = klu_solve(ctx, A.get(), bc);
      EXPECT_LT(relative_difference(xc, x_klu), 1e-10) << "cell " << c << " trial " << trial;
      // and directly: A x = b, as a componentwise backward error (Oettli-Prager):
      // max_i |A x - b|_i / (|A| |x| + |b|)_i, which a stable solve keeps near machine epsilon.
      // Bound: 1e-12 ~ 4500 machine epsilons for ~260 unknowns (no pivoting in the particles).
      EXPECT_LT(componentwise_backward_error(A.get(), xc, bc), 1e-12)
          << "cell " << c << " trial " << trial;
      // the refinement's product is the assembled matrix's, to rounding: |J x - A x| against
      // |A| |x| row by row (A x ~ b is a sum of large cancelling terms here)
      std::vector<double> product(L.size());
      models::multiply_cell(model.params(c), L, solver.jacobian(c), cj, xc.data(), product.data());
      EXPECT_LT(componentwise_backward_error(A.get(), xc, product), 1e-14)
          << "cell " << c << " trial " << trial;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    ReferenceCell, StructuredSolver,
    ::testing::Values(Case{CellLayout{8, 3, 10}, ControlMode::kCurrent},
                      Case{CellLayout{8, 3, 10}, ControlMode::kVoltage},
                      Case{CellLayout{5, 2, 1}, ControlMode::kCurrent},
                      Case{CellLayout{1, 1, 2}, ControlMode::kVoltage},
                      Case{CellLayout{12, 3, 24}, ControlMode::kCurrent},
                      Case{CellLayout{8, 3, 20, 6.0}, ControlMode::kCurrent, true},
                      Case{CellLayout{8, 3, 20, 6.0}, ControlMode::kVoltage, true},
                      Case{CellLayout{5, 2, 1}, ControlMode::kCurrent, true}));

TEST(StructuredSolverFrozen, FrozenCellsAreIdentityRows) {
  const CellLayout L{4, 3, 6};
  std::vector<CellParams> params(3, reference_params());
  BatchModel model(params, L);
  std::mt19937 rng(3);
  std::vector<double> y;
  for (int c = 0; c < 3; ++c) {
    const auto yc = random_state(L, rng);
    y.insert(y.end(), yc.begin(), yc.end());
  }
  model.freeze(1, y.data() + L.size());
  SchurSolver solver(model);
  solver.evaluate_jacobian(y.data());
  ASSERT_TRUE(solver.factor(1.0));
  std::vector<double> b(y.size(), 0.0), x(y.size());
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = std::sin(0.37 * i);
  solver.solve(b.data(), x.data());
  for (int i = 0; i < L.size(); ++i) EXPECT_EQ(x[L.size() + i], b[L.size() + i]);
  // and the residual of a frozen cell is y - y_frozen
  std::vector<double> yp(y.size(), 0.0), res(y.size());
  std::vector<double> moved = y;
  moved[L.size() + 3] += 0.25;
  model.residual(moved.data(), yp.data(), res.data());
  EXPECT_DOUBLE_EQ(res[L.size() + 3], 0.25);
  EXPECT_DOUBLE_EQ(res[L.size() + 4], 0.0);
}
