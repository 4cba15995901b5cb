// Batch N_Vector: every operation against a plain std::vector reference, clone/ownership rules,
// the max-over-active-cells WRMS semantics, and end-to-end IDA integrations with SPGMR.
#include <gtest/gtest.h>
#include <ida/ida.h>
#include <nvector/nvector_serial.h>
#include <sunlinsol/sunlinsol_spgmr.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "host/cpu/nvector_batch.hpp"

namespace halite {
namespace {

using Values = std::vector<double>;

void write(N_Vector v, const Values& values) {
  std::copy(values.begin(), values.end(), batch_data(v));
}

Values read(N_Vector v) {
  const double* d = batch_data(v);
  return Values(d, d + N_VGetLength(v));
}

// Reduction results are compared with a tolerance relative to the magnitude of the terms, since
// the vector sums in a different order than the reference.
void expect_close(double expected, double actual, double scale, const std::string& what) {
  EXPECT_NEAR(expected, actual, 1e-13 * std::max(1.0, scale)) << what;
}

void expect_same(const Values& expected, N_Vector v, const std::string& what) {
  const Values actual = read(v);
  ASSERT_EQ(expected.size(), actual.size()) << what;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    ASSERT_DOUBLE_EQ(expected[i], actual[i]) << what << " at entry " << i;
  }
}

// Reference WRMS norm of one cell, optionally masked by id > 0.
double cell_wrms(const Values& x, const Values& w, const Values* id, int cell, int per_cell) {
  double sum = 0.0;
  for (int i = cell * per_cell; i < (cell + 1) * per_cell; ++i) {
    if (id == nullptr || (*id)[i] > 0.0) sum += (x[i] * w[i]) * (x[i] * w[i]);
  }
  return std::sqrt(sum / per_cell);
}

double reference_batch_wrms(const Values& x, const Values& w, const Values* id,
                            const BatchMask& mask, int per_cell) {
  double norm = 0.0;
  for (int b = 0; b < mask.cells(); ++b) {
    if (mask.is_active(b)) norm = std::max(norm, cell_wrms(x, w, id, b, per_cell));
  }
  return norm;
}

// --------------------------------------------------------------------------------------------
// Conformance of every operation, over B = 1, 3, 37 cells and n = 1, 7, 65 unknowns per cell.

class BatchVectorOps : public ::testing::TestWithParam<std::tuple<int, int>> {
 protected:
  void SetUp() override {
    std::tie(cells, per_cell) = GetParam();
    size = static_cast<std::size_t>(cells) * per_cell;
    mask = std::make_shared<BatchMask>(cells);
    rng.seed(12345u + 1000u * cells + per_cell);
  }

  NVectorPtr make() { return NVectorPtr(make_batch_vector(ctx, cells, per_cell, mask)); }

  NVectorPtr make(const Values& values) {
    NVectorPtr v = make();
    write(v.get(), values);
    return v;
  }

  Values random(double lo = -2.0, double hi = 2.0) {
    std::uniform_real_distribution<double> dist(lo, hi);
    Values values(size);
    for (double& value : values) value = dist(rng);
    return values;
  }

  // Nonzero values of either sign with magnitude in [0.5, 2].
  Values random_nonzero() {
    Values values = random(0.5, 2.0);
    std::bernoulli_distribution negative(0.5);
    for (double& value : values) value = negative(rng) ? -value : value;
    return values;
  }

  SunContext ctx;
  int cells = 0;
  int per_cell = 0;
  std::size_t size = 0;
  std::shared_ptr<BatchMask> mask;
  std::mt19937_64 rng;
};

TEST_P(BatchVectorOps, Utilities) {
  NVectorPtr x = make();
  EXPECT_TRUE(is_batch_vector(x.get()));
  EXPECT_EQ(N_VGetVectorID(x.get()), SUNDIALS_NVEC_CUSTOM);
  EXPECT_EQ(N_VGetLength(x.get()), static_cast<sunindextype>(size));
  EXPECT_EQ(batch_cells(x.get()), cells);
  EXPECT_EQ(batch_per_cell(x.get()), per_cell);
  EXPECT_EQ(&batch_mask(x.get()), mask.get());
  EXPECT_EQ(N_VGetArrayPointer(x.get()), batch_data(x.get()));
  sunindextype real_words = 0, int_words = 0;
  N_VSpace(x.get(), &real_words, &int_words);
  EXPECT_EQ(real_words, static_cast<sunindextype>(size));
  EXPECT_EQ(int_words, 2);
  expect_same(Values(size, 0.0), x.get(), "new vectors start at zero");
}

TEST_P(BatchVectorOps, LinearSum) {
  const Values x = random(), y = random();
  const std::vector<std::pair<double, double>> coefficients = {
      {1.0, 1.0}, {1.0, -1.0}, {-1.0, 1.0}, {2.5, 1.0}, {1.0, -0.75},
      {0.3, 0.3}, {0.3, -0.3}, {-1.7, 4.2}, {0.0, 2.0}};
  for (const auto& [a, b] : coefficients) {
    Values expected(size);
    for (std::size_t i = 0; i < size; ++i) expected[i] = a * x[i] + b * y[i];
    const std::string label = "a=" + std::to_string(a) + " b=" + std::to_string(b);

    NVectorPtr vx = make(x), vy = make(y), vz = make();
    N_VLinearSum(a, vx.get(), b, vy.get(), vz.get());
    expect_same(expected, vz.get(), "z = ax + by, " + label);
    N_VLinearSum(a, vx.get(), b, vy.get(), vx.get());
    expect_same(expected, vx.get(), "x = ax + by, " + label);
    write(vx.get(), x);
    N_VLinearSum(a, vx.get(), b, vy.get(), vy.get());
    expect_same(expected, vy.get(), "y = ax + by, " + label);
  }
}

TEST_P(BatchVectorOps, ElementwiseOps) {
  const Values x = random(), y = random_nonzero();
  NVectorPtr vx = make(x), vy = make(y), vz = make();
  Values expected(size);

  N_VConst(3.25, vz.get());
  expect_same(Values(size, 3.25), vz.get(), "const");

  for (std::size_t i = 0; i < size; ++i) expected[i] = x[i] * y[i];
  N_VProd(vx.get(), vy.get(), vz.get());
  expect_same(expected, vz.get(), "prod");

  for (std::size_t i = 0; i < size; ++i) expected[i] = x[i] / y[i];
  N_VDiv(vx.get(), vy.get(), vz.get());
  expect_same(expected, vz.get(), "div");

  for (std::size_t i = 0; i < size; ++i) expected[i] = -1.5 * x[i];
  N_VScale(-1.5, vx.get(), vz.get());
  expect_same(expected, vz.get(), "scale");

  for (std::size_t i = 0; i < size; ++i) expected[i] = std::fabs(x[i]);
  N_VAbs(vx.get(), vz.get());
  expect_same(expected, vz.get(), "abs");

  for (std::size_t i = 0; i < size; ++i) expected[i] = 1.0 / y[i];
  N_VInv(vy.get(), vz.get());
  expect_same(expected, vz.get(), "inv");

  for (std::size_t i = 0; i < size; ++i) expected[i] = x[i] + 0.125;
  N_VAddConst(vx.get(), 0.125, vz.get());
  expect_same(expected, vz.get(), "addconst");

  for (std::size_t i = 0; i < size; ++i) expected[i] = std::fabs(x[i]) >= 1.0 ? 1.0 : 0.0;
  N_VCompare(1.0, vx.get(), vz.get());
  expect_same(expected, vz.get(), "compare");

  // In place.
  for (std::size_t i = 0; i < size; ++i) expected[i] = 4.0 * x[i];
  N_VScale(4.0, vx.get(), vx.get());
  expect_same(expected, vx.get(), "scale in place");
}

TEST_P(BatchVectorOps, Reductions) {
  const Values x = random(), y = random(), w = random(0.1, 3.0);
  NVectorPtr vx = make(x), vy = make(y), vw = make(w);
  const double n = static_cast<double>(size);

  double dot = 0.0, l1 = 0.0, wl2 = 0.0, max_abs = 0.0;
  for (std::size_t i = 0; i < size; ++i) {
    dot += x[i] * y[i];
    l1 += std::fabs(x[i]);
    wl2 += (x[i] * w[i]) * (x[i] * w[i]);
    max_abs = std::max(max_abs, std::fabs(x[i]));
  }
  expect_close(dot, N_VDotProd(vx.get(), vy.get()), n, "dotprod");
  expect_close(dot, N_VDotProdLocal(vx.get(), vy.get()), n, "dotprodlocal");
  expect_close(l1, N_VL1Norm(vx.get()), n, "l1norm");
  expect_close(l1, N_VL1NormLocal(vx.get()), n, "l1normlocal");
  expect_close(std::sqrt(wl2), N_VWL2Norm(vx.get(), vw.get()), n, "wl2norm");
  EXPECT_EQ(max_abs, N_VMaxNorm(vx.get()));
  EXPECT_EQ(max_abs, N_VMaxNormLocal(vx.get()));
  EXPECT_EQ(*std::min_element(x.begin(), x.end()), N_VMin(vx.get()));
  EXPECT_EQ(*std::min_element(x.begin(), x.end()), N_VMinLocal(vx.get()));
}

TEST_P(BatchVectorOps, WrmsNorms) {
  const Values x = random(), w = random(0.1, 3.0);
  Values id(size);
  for (std::size_t i = 0; i < size; ++i) id[i] = (i % 3 == 0) ? 0.0 : 1.0;
  NVectorPtr vx = make(x), vw = make(w), vid = make(id);

  expect_close(reference_batch_wrms(x, w, nullptr, *mask, per_cell),
               N_VWrmsNorm(vx.get(), vw.get()), 1.0, "wrmsnorm, all active");
  expect_close(reference_batch_wrms(x, w, &id, *mask, per_cell),
               N_VWrmsNormMask(vx.get(), vw.get(), vid.get()), 1.0, "wrmsnormmask, all active");

  // Freeze every other cell (a single cell stays active when B = 1).
  for (int b = 1; b < cells; b += 2) mask->set_active(b, false);
  expect_close(reference_batch_wrms(x, w, nullptr, *mask, per_cell),
               N_VWrmsNorm(vx.get(), vw.get()), 1.0, "wrmsnorm, some frozen");
  expect_close(reference_batch_wrms(x, w, &id, *mask, per_cell),
               N_VWrmsNormMask(vx.get(), vw.get(), vid.get()), 1.0, "wrmsnormmask, some frozen");

  for (int b = 0; b < cells; ++b) mask->set_active(b, false);
  EXPECT_EQ(0.0, N_VWrmsNorm(vx.get(), vw.get())) << "no active cell";
  EXPECT_EQ(0.0, N_VWrmsNormMask(vx.get(), vw.get(), vid.get())) << "no active cell";
}

TEST_P(BatchVectorOps, InvTest) {
  const Values x = random_nonzero();
  NVectorPtr vx = make(x), vz = make();
  Values expected(size);
  for (std::size_t i = 0; i < size; ++i) expected[i] = 1.0 / x[i];
  EXPECT_TRUE(N_VInvTest(vx.get(), vz.get()));
  expect_same(expected, vz.get(), "invtest without zeros");
  EXPECT_TRUE(N_VInvTestLocal(vx.get(), vz.get()));

  Values with_zero = x;
  with_zero[size / 2] = 0.0;
  write(vx.get(), with_zero);
  N_VConst(-7.0, vz.get());
  expected[size / 2] = -7.0;  // left untouched, as in the serial vector
  EXPECT_FALSE(N_VInvTest(vx.get(), vz.get()));
  expect_same(expected, vz.get(), "invtest with a zero");
  EXPECT_FALSE(N_VInvTestLocal(vx.get(), vz.get()));
}

TEST_P(BatchVectorOps, ConstrMask) {
  const double kinds[] = {0.0, 1.0, -1.0, 2.0, -2.0};
  const double samples[] = {-1.0, 0.0, 1.0};
  Values c(size), x(size);
  // Cycle through every (constraint, value) pair so each combination occurs when size >= 15.
  for (std::size_t i = 0; i < size; ++i) {
    c[i] = kinds[i % 5];
    x[i] = samples[(i / 5) % 3];
  }
  Values expected(size);
  bool expected_ok = true;
  for (std::size_t i = 0; i < size; ++i) {
    const bool violated = (c[i] == 1.0 && x[i] < 0.0) || (c[i] == -1.0 && x[i] > 0.0) ||
                          (c[i] == 2.0 && x[i] <= 0.0) || (c[i] == -2.0 && x[i] >= 0.0);
    expected[i] = violated ? 1.0 : 0.0;
    expected_ok = expected_ok && !violated;
  }
  NVectorPtr vc = make(c), vx = make(x), vm = make();
  EXPECT_EQ(expected_ok, static_cast<bool>(N_VConstrMask(vc.get(), vx.get(), vm.get())));
  expect_same(expected, vm.get(), "constrmask");
  EXPECT_EQ(expected_ok, static_cast<bool>(N_VConstrMaskLocal(vc.get(), vx.get(), vm.get())));

  // Satisfied everywhere.
  for (std::size_t i = 0; i < size; ++i) x[i] = c[i] == 0.0 ? -5.0 : c[i];
  write(vx.get(), x);
  EXPECT_TRUE(N_VConstrMask(vc.get(), vx.get(), vm.get()));
  expect_same(Values(size, 0.0), vm.get(), "constrmask, all satisfied");
}

TEST_P(BatchVectorOps, MinQuotient) {
  const Values num = random();
  Values denom = random_nonzero();
  for (std::size_t i = 0; i < size; i += 2) denom[i] = 0.0;  // skipped entries
  double expected = SUN_BIG_REAL;
  for (std::size_t i = 0; i < size; ++i) {
    if (denom[i] != 0.0) expected = std::min(expected, num[i] / denom[i]);
  }
  NVectorPtr vn = make(num), vd = make(denom);
  EXPECT_EQ(expected, N_VMinQuotient(vn.get(), vd.get()));
  EXPECT_EQ(expected, N_VMinQuotientLocal(vn.get(), vd.get()));

  N_VConst(0.0, vd.get());
  EXPECT_EQ(SUN_BIG_REAL, N_VMinQuotient(vn.get(), vd.get())) << "all denominators zero";
}

TEST_P(BatchVectorOps, LinearCombination) {
  constexpr int kMaxVectors = 5;
  std::vector<Values> inputs;
  std::vector<NVectorPtr> owners;
  std::vector<N_Vector> X;
  for (int k = 0; k < kMaxVectors; ++k) {
    inputs.push_back(random());
    owners.push_back(make(inputs.back()));
    X.push_back(owners.back().get());
  }
  std::vector<double> c = {0.7, -1.3, 1.0, 2.2, -0.4};
  NVectorPtr z = make();

  for (int nvec = 1; nvec <= kMaxVectors; ++nvec) {
    Values expected(size);
    for (std::size_t i = 0; i < size; ++i) {
      double sum = c[0] * inputs[0][i];
      for (int k = 1; k < nvec; ++k) sum += c[k] * inputs[k][i];
      expected[i] = sum;
    }
    ASSERT_EQ(0, N_VLinearCombination(nvec, c.data(), X.data(), z.get()));
    expect_same(expected, z.get(), "linearcombination nvec=" + std::to_string(nvec));

    // z aliasing X[0] (IDA does this), then z aliasing the last input.
    ASSERT_EQ(0, N_VLinearCombination(nvec, c.data(), X.data(), X[0]));
    expect_same(expected, X[0], "linearcombination into X[0], nvec=" + std::to_string(nvec));
    write(X[0], inputs[0]);
    ASSERT_EQ(0, N_VLinearCombination(nvec, c.data(), X.data(), X[nvec - 1]));
    expect_same(expected, X[nvec - 1], "linearcombination into X[last]");
    write(X[nvec - 1], inputs[nvec - 1]);
  }
}

TEST_P(BatchVectorOps, ScaleAddMultiAndDotProdMulti) {
  constexpr int kVectors = 4;
  const Values x = random();
  std::vector<Values> ys;
  std::vector<NVectorPtr> y_owners, z_owners;
  std::vector<N_Vector> Y, Z;
  for (int k = 0; k < kVectors; ++k) {
    ys.push_back(random());
    y_owners.push_back(make(ys.back()));
    z_owners.push_back(make());
    Y.push_back(y_owners.back().get());
    Z.push_back(z_owners.back().get());
  }
  std::vector<double> a = {1.0, -0.5, 3.0, 0.25};
  NVectorPtr vx = make(x);

  std::vector<double> dots(kVectors);
  ASSERT_EQ(0, N_VDotProdMulti(kVectors, vx.get(), Y.data(), dots.data()));
  for (int k = 0; k < kVectors; ++k) {
    double expected = 0.0;
    for (std::size_t i = 0; i < size; ++i) expected += x[i] * ys[k][i];
    expect_close(expected, dots[k], static_cast<double>(size), "dotprodmulti");
  }

  ASSERT_EQ(0, N_VScaleAddMulti(kVectors, a.data(), vx.get(), Y.data(), Z.data()));
  for (int k = 0; k < kVectors; ++k) {
    Values expected(size);
    for (std::size_t i = 0; i < size; ++i) expected[i] = a[k] * x[i] + ys[k][i];
    expect_same(expected, Z[k], "scaleaddmulti");
  }
  ASSERT_EQ(0, N_VScaleAddMulti(kVectors, a.data(), vx.get(), Y.data(), Y.data()));
  for (int k = 0; k < kVectors; ++k) expect_same(read(Z[k]), Y[k], "scaleaddmulti in place");
}

TEST_P(BatchVectorOps, VectorArrayOps) {
  constexpr int kVectors = 3;
  std::vector<Values> xs, ys, ws;
  std::vector<NVectorPtr> owners;
  std::vector<N_Vector> X, Y, Z, W;
  for (int k = 0; k < kVectors; ++k) {
    xs.push_back(random());
    ys.push_back(random());
    ws.push_back(random(0.1, 3.0));
    owners.push_back(make(xs.back()));
    X.push_back(owners.back().get());
    owners.push_back(make(ys.back()));
    Y.push_back(owners.back().get());
    owners.push_back(make());
    Z.push_back(owners.back().get());
    owners.push_back(make(ws.back()));
    W.push_back(owners.back().get());
  }

  ASSERT_EQ(0, N_VLinearSumVectorArray(kVectors, 1.5, X.data(), -0.5, Y.data(), Z.data()));
  for (int k = 0; k < kVectors; ++k) {
    Values expected(size);
    for (std::size_t i = 0; i < size; ++i) expected[i] = 1.5 * xs[k][i] - 0.5 * ys[k][i];
    expect_same(expected, Z[k], "linearsumvectorarray");
  }

  std::vector<double> c = {2.0, -3.0, 0.5};
  ASSERT_EQ(0, N_VScaleVectorArray(kVectors, c.data(), X.data(), Z.data()));
  for (int k = 0; k < kVectors; ++k) {
    Values expected(size);
    for (std::size_t i = 0; i < size; ++i) expected[i] = c[k] * xs[k][i];
    expect_same(expected, Z[k], "scalevectorarray");
  }

  ASSERT_EQ(0, N_VConstVectorArray(kVectors, -2.5, Z.data()));
  for (int k = 0; k < kVectors; ++k) expect_same(Values(size, -2.5), Z[k], "constvectorarray");

  if (cells > 1) mask->set_active(cells - 1, false);
  Values id(size);
  for (std::size_t i = 0; i < size; ++i) id[i] = (i % 2 == 0) ? 1.0 : 0.0;
  NVectorPtr vid = make(id);
  std::vector<double> norms(kVectors), masked_norms(kVectors);
  ASSERT_EQ(0, N_VWrmsNormVectorArray(kVectors, X.data(), W.data(), norms.data()));
  ASSERT_EQ(
      0, N_VWrmsNormMaskVectorArray(kVectors, X.data(), W.data(), vid.get(), masked_norms.data()));
  for (int k = 0; k < kVectors; ++k) {
    expect_close(reference_batch_wrms(xs[k], ws[k], nullptr, *mask, per_cell), norms[k], 1.0,
                 "wrmsnormvectorarray");
    expect_close(reference_batch_wrms(xs[k], ws[k], &id, *mask, per_cell), masked_norms[k], 1.0,
                 "wrmsnormmaskvectorarray");
  }
}

TEST_P(BatchVectorOps, OpTableIsComplete) {
  NVectorPtr x = make();
  const N_Vector_Ops ops = x.get()->ops;
  EXPECT_NE(ops->nvlinearcombination, nullptr);
  EXPECT_NE(ops->nvscaleaddmulti, nullptr);
  EXPECT_NE(ops->nvdotprodmulti, nullptr);
  EXPECT_NE(ops->nvlinearsumvectorarray, nullptr);
  EXPECT_NE(ops->nvwrmsnormmaskvectorarray, nullptr);
  // Deliberately absent (see nvector_batch.cpp): a plain local sum of squares would reintroduce
  // the averaged norm in wrappers.
  EXPECT_EQ(ops->nvwsqrsumlocal, nullptr);
  EXPECT_EQ(ops->nvwsqrsummasklocal, nullptr);
  EXPECT_EQ(ops->nvgetcommunicator, nullptr);
}

std::string shape_name(const ::testing::TestParamInfo<std::tuple<int, int>>& info) {
  return "B" + std::to_string(std::get<0>(info.param)) + "_n" +
         std::to_string(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(Shapes, BatchVectorOps,
                         ::testing::Combine(::testing::Values(1, 3, 37),
                                            ::testing::Values(1, 7, 65)),
                         shape_name);

// --------------------------------------------------------------------------------------------
// Ownership: clone, clone-empty, set-array-pointer, RAII owners. Run under valgrind for leaks.

TEST(BatchVectorOwnership, CloneSharesMaskButNotData) {
  SunContext ctx;
  NVectorPtr original(make_batch_vector(ctx, 4, 3, nullptr));
  N_VConst(1.0, original.get());
  NVectorPtr clone(N_VClone(original.get()));
  ASSERT_TRUE(clone);
  EXPECT_TRUE(is_batch_vector(clone.get()));
  EXPECT_EQ(batch_cells(clone.get()), 4);
  EXPECT_EQ(batch_per_cell(clone.get()), 3);
  EXPECT_NE(batch_data(clone.get()), batch_data(original.get()));
  EXPECT_EQ(&batch_mask(clone.get()), &batch_mask(original.get()));
  EXPECT_TRUE(batch_content(clone.get()).own_data);

  N_VConst(5.0, clone.get());
  EXPECT_EQ(batch_data(original.get())[0], 1.0) << "writing the clone leaves the original alone";

  // Freezing a cell through one vector is seen by every clone.
  batch_mask(clone.get()).set_active(2, false);
  EXPECT_FALSE(batch_mask(original.get()).is_active(2));

  // The clone outlives the original; the shared mask stays alive with it.
  original.reset();
  EXPECT_EQ(batch_mask(clone.get()).cells(), 4);
  EXPECT_EQ(N_VMaxNorm(clone.get()), 5.0);
}

TEST(BatchVectorOwnership, CloneEmptyAndSetArrayPointer) {
  SunContext ctx;
  NVectorPtr original(make_batch_vector(ctx, 2, 5, nullptr));
  NVectorPtr empty(N_VCloneEmpty(original.get()));
  ASSERT_TRUE(empty);
  EXPECT_EQ(batch_data(empty.get()), nullptr);
  EXPECT_FALSE(batch_content(empty.get()).own_data);
  EXPECT_EQ(N_VGetLength(empty.get()), 10);
  EXPECT_EQ(&batch_mask(empty.get()), &batch_mask(original.get()));

  std::vector<double> storage(10, 2.0);  // caller-owned: the vector must not free it
  N_VSetArrayPointer(storage.data(), empty.get());
  EXPECT_EQ(N_VGetArrayPointer(empty.get()), storage.data());
  N_VScale(3.0, empty.get(), empty.get());
  EXPECT_EQ(storage[9], 6.0);
  empty.reset();

  // An owning vector that adopts external storage frees its own buffer first (no leak).
  N_VSetArrayPointer(storage.data(), original.get());
  EXPECT_FALSE(batch_content(original.get()).own_data);
  EXPECT_EQ(N_VMaxNorm(original.get()), 6.0);
}

TEST(BatchVectorOwnership, VectorArrays) {
  SunContext ctx;
  NVectorPtr templ(make_batch_vector(ctx, 3, 4, nullptr));
  N_Vector* array = N_VCloneVectorArray(6, templ.get());
  ASSERT_NE(array, nullptr);
  for (int k = 0; k < 6; ++k) N_VConst(k, array[k]);
  for (int k = 0; k < 6; ++k) EXPECT_EQ(N_VMaxNorm(array[k]), k);
  N_VDestroyVectorArray(array, 6);
}

TEST(BatchVectorOwnership, RejectsBadShapes) {
  SunContext ctx;
  EXPECT_THROW(make_batch_vector(ctx, 0, 4, nullptr), std::invalid_argument);
  EXPECT_THROW(make_batch_vector(ctx, 3, 0, nullptr), std::invalid_argument);
  EXPECT_THROW(make_batch_vector(ctx, 3, 4, std::make_shared<BatchMask>(2)), std::invalid_argument);
  EXPECT_THROW(make_batch_vector(nullptr, 3, 4, nullptr), std::invalid_argument);
}

TEST(BatchVectorOwnership, RaiiOwners) {
  SunContext ctx;
  SunContext moved_ctx = std::move(ctx);
  EXPECT_EQ(ctx.get(), nullptr);  // NOLINT: checking the moved-from state on purpose
  ASSERT_NE(moved_ctx.get(), nullptr);

  NVectorPtr a(make_batch_vector(moved_ctx, 2, 2, nullptr));
  N_Vector raw = a.get();
  NVectorPtr b = std::move(a);
  EXPECT_FALSE(a);  // NOLINT
  EXPECT_EQ(b.get(), raw);
  NVectorPtr c(N_VNew_Serial(3, moved_ctx));  // owns any N_Vector kind
  c = std::move(b);                           // destroys the serial vector
  EXPECT_EQ(c.get(), raw);
  N_Vector released = c.release();
  EXPECT_FALSE(c);
  N_VDestroy(released);
}

// --------------------------------------------------------------------------------------------
// Norm semantics

TEST(BatchVectorNorms, MaxOverCellsIsNotAnAverage) {
  constexpr int kCells = 100, kPerCell = 10, kLoudCell = 42;
  SunContext ctx;
  NVectorPtr x(make_batch_vector(ctx, kCells, kPerCell, nullptr));
  NVectorPtr w(N_VClone(x.get()));
  N_VConst(1.0, w.get());
  double* xd = batch_data(x.get());
  for (int i = 0; i < kCells * kPerCell; ++i) xd[i] = 1e-9 * (1 + i % 7);
  for (int i = 0; i < kPerCell; ++i) xd[kLoudCell * kPerCell + i] = 0.5 + 0.1 * i;

  // The loud cell's own norm, from a serial vector holding just that cell.
  NVectorPtr cell(N_VNew_Serial(kPerCell, ctx));
  NVectorPtr cell_w(N_VNew_Serial(kPerCell, ctx));
  std::copy_n(xd + kLoudCell * kPerCell, kPerCell, N_VGetArrayPointer(cell.get()));
  N_VConst(1.0, cell_w.get());
  const double loud_norm = N_VWrmsNorm(cell.get(), cell_w.get());

  const double norm = N_VWrmsNorm(x.get(), w.get());
  EXPECT_NEAR(norm, loud_norm, 1e-15 * loud_norm);
  EXPECT_GT(norm, 9.0 * loud_norm / std::sqrt(static_cast<double>(kCells)))
      << "an averaged norm would be ~" << loud_norm / std::sqrt(static_cast<double>(kCells));
}

TEST(BatchVectorNorms, FrozenCellIsExcluded) {
  constexpr int kCells = 5, kPerCell = 4, kFrozen = 3;
  SunContext ctx;
  NVectorPtr x(make_batch_vector(ctx, kCells, kPerCell, nullptr));
  NVectorPtr w(N_VClone(x.get()));
  NVectorPtr id(N_VClone(x.get()));
  N_VConst(1e-3, x.get());
  N_VConst(2.0, w.get());
  N_VConst(1.0, id.get());
  const double quiet_norm = N_VWrmsNorm(x.get(), w.get());

  double* frozen = batch_data(x.get()) + kFrozen * kPerCell;
  std::fill_n(frozen, kPerCell, 1e30);
  frozen[1] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(N_VWrmsNorm(x.get(), w.get()))) << "a NaN in an active cell propagates";

  batch_mask(w.get()).set_active(kFrozen, false);  // through a clone: the mask is shared
  EXPECT_DOUBLE_EQ(N_VWrmsNorm(x.get(), w.get()), quiet_norm);
  EXPECT_DOUBLE_EQ(N_VWrmsNormMask(x.get(), w.get(), id.get()), quiet_norm);
  EXPECT_EQ(batch_mask(x.get()).active_count(), kCells - 1);
}

TEST(BatchVectorNorms, MaxAndMinSkipNaN) {
  SunContext ctx;
  NVectorPtr x(make_batch_vector(ctx, 3, 5, nullptr));
  for (int i = 0; i < 15; ++i) batch_data(x.get())[i] = i - 4.0;
  batch_data(x.get())[0] = std::numeric_limits<double>::quiet_NaN();
  batch_data(x.get())[14] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(N_VMaxNorm(x.get()), 9.0);
  EXPECT_EQ(N_VMin(x.get()), -3.0);
}

TEST(BatchVectorNorms, SingleCellMatchesSerial) {
  SunContext ctx;
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> value(-3.0, 3.0), weight(0.01, 100.0);
  for (int n : {1, 7, 65, 1000}) {
    NVectorPtr bx(make_batch_vector(ctx, 1, n, nullptr));
    NVectorPtr bw(N_VClone(bx.get())), bid(N_VClone(bx.get()));
    NVectorPtr sx(N_VNew_Serial(n, ctx)), sw(N_VNew_Serial(n, ctx)), sid(N_VNew_Serial(n, ctx));
    for (int i = 0; i < n; ++i) {
      batch_data(bx.get())[i] = N_VGetArrayPointer(sx.get())[i] = value(rng);
      batch_data(bw.get())[i] = N_VGetArrayPointer(sw.get())[i] = weight(rng);
      batch_data(bid.get())[i] = N_VGetArrayPointer(sid.get())[i] = (i % 4 == 1) ? 0.0 : 1.0;
    }
    const double serial = N_VWrmsNorm(sx.get(), sw.get());
    EXPECT_NEAR(N_VWrmsNorm(bx.get(), bw.get()), serial, 1e-14 * serial) << "n=" << n;
    const double serial_masked = N_VWrmsNormMask(sx.get(), sw.get(), sid.get());
    EXPECT_NEAR(N_VWrmsNormMask(bx.get(), bw.get(), bid.get()), serial_masked,
                1e-14 * serial_masked)
        << "n=" << n;
  }
}

// --------------------------------------------------------------------------------------------
// End to end: IDA + SPGMR on a batch of independent DAEs, per cell b:
//   y' = -k_b y (+ forcing for an optional "noisy" cell),  0 = z - y^2,
// with y(0) = y0_b, so y = y0_b exp(-k_b t) and z = y^2.

struct IdaDeleter {
  void operator()(void* mem) const { IDAFree(&mem); }
};
struct LinearSolverDeleter {
  void operator()(SUNLinearSolver ls) const { SUNLinSolFree(ls); }
};
using IdaMemory = std::unique_ptr<void, IdaDeleter>;
using LinearSolverPtr =
    std::unique_ptr<std::remove_pointer_t<SUNLinearSolver>, LinearSolverDeleter>;

struct BatchProblem {
  std::vector<double> rate;  // k_b
  std::vector<double> y0;
  int noisy_cell = -1;  // this cell also gets a fast forcing term sin(kNoiseFrequency t)
  static constexpr double kNoiseFrequency = 2000.0;
  static constexpr int kPerCell = 2;  // [y, z]

  int cells() const { return static_cast<int>(rate.size()); }
};

int batch_residual(sunrealtype t, N_Vector yy, N_Vector yp, N_Vector rr, void* user_data) {
  const auto& problem = *static_cast<const BatchProblem*>(user_data);
  const double* y = batch_data(yy);
  const double* ydot = batch_data(yp);
  double* r = batch_data(rr);
  for (int b = 0; b < problem.cells(); ++b) {
    const int i = b * BatchProblem::kPerCell;
    const double forcing =
        b == problem.noisy_cell ? std::sin(BatchProblem::kNoiseFrequency * t) : 0.0;
    r[i] = ydot[i] + problem.rate[b] * y[i] - forcing;
    r[i + 1] = y[i + 1] - y[i] * y[i];
  }
  return 0;
}

// Exact block-diagonal preconditioner: per cell, J = [[c_j + k, 0], [-2y, 1]].
int batch_precondition(sunrealtype, N_Vector yy, N_Vector, N_Vector, N_Vector rvec, N_Vector zvec,
                       sunrealtype c_j, sunrealtype, void* user_data) {
  const auto& problem = *static_cast<const BatchProblem*>(user_data);
  const double* y = batch_data(yy);
  const double* r = batch_data(rvec);
  double* z = batch_data(zvec);
  for (int b = 0; b < problem.cells(); ++b) {
    const int i = b * BatchProblem::kPerCell;
    const double dy = r[i] / (c_j + problem.rate[b]);
    z[i + 1] = r[i + 1] + 2.0 * y[i] * dy;
    z[i] = dy;
  }
  return 0;
}

struct IdaRunOptions {
  bool precondition = true;
  bool consistent_start = true;  // false: start from z = 0, y' = 0 and let IDACalcIC repair it
  bool freeze_noisy_cell = false;
};

struct IdaRunResult {
  std::vector<double> y, z;  // per cell at the final time
  long steps = 0;
};

IdaRunResult integrate(const BatchProblem& problem, const IdaRunOptions& options, double t_end) {
  SunContext ctx;
  const int cells = problem.cells();
  auto mask = std::make_shared<BatchMask>(cells);
  if (options.freeze_noisy_cell && problem.noisy_cell >= 0) {
    mask->set_active(problem.noisy_cell, false);
  }
  NVectorPtr yy(make_batch_vector(ctx, cells, BatchProblem::kPerCell, mask));
  NVectorPtr yp(N_VClone(yy.get())), id(N_VClone(yy.get())), constraints(N_VClone(yy.get()));
  for (int b = 0; b < cells; ++b) {
    const int i = b * BatchProblem::kPerCell;
    const double y0 = problem.y0[b];
    batch_data(yy.get())[i] = y0;
    batch_data(yy.get())[i + 1] = options.consistent_start ? y0 * y0 : 0.0;
    batch_data(yp.get())[i] = options.consistent_start ? -problem.rate[b] * y0 : 0.0;
    batch_data(yp.get())[i + 1] = options.consistent_start ? -2.0 * problem.rate[b] * y0 * y0 : 0.0;
    batch_data(id.get())[i] = 1.0;               // differential
    batch_data(id.get())[i + 1] = 0.0;           // algebraic
    batch_data(constraints.get())[i] = 1.0;      // y >= 0
    batch_data(constraints.get())[i + 1] = 1.0;  // z >= 0
  }

  // Declared before the IDA memory so that it is freed after it.
  const int prec = options.precondition ? SUN_PREC_LEFT : SUN_PREC_NONE;
  LinearSolverPtr ls(SUNLinSol_SPGMR(yy.get(), prec, options.precondition ? 5 : 30, ctx));
  EXPECT_NE(ls, nullptr);
  IdaMemory ida(IDACreate(ctx));
  EXPECT_NE(ida, nullptr);
  void* mem = ida.get();
  EXPECT_EQ(IDAInit(mem, batch_residual, 0.0, yy.get(), yp.get()), IDA_SUCCESS);
  EXPECT_EQ(IDASStolerances(mem, 1e-8, 1e-10), IDA_SUCCESS);
  EXPECT_EQ(IDASetUserData(mem, const_cast<BatchProblem*>(&problem)), IDA_SUCCESS);
  EXPECT_EQ(IDASetId(mem, id.get()), IDA_SUCCESS);
  EXPECT_EQ(IDASetConstraints(mem, constraints.get()), IDA_SUCCESS);
  EXPECT_EQ(IDASetMaxNumSteps(mem, 200000), IDA_SUCCESS);

  EXPECT_EQ(IDASetLinearSolver(mem, ls.get(), nullptr), IDALS_SUCCESS);
  if (options.precondition) {
    EXPECT_EQ(IDASetPreconditioner(mem, nullptr, batch_precondition), IDALS_SUCCESS);
  }
  // Krylov tolerance per cell rather than averaged over the batch (see nvector_batch.hpp).
  EXPECT_EQ(IDASetLSNormFactor(mem, std::sqrt(static_cast<double>(BatchProblem::kPerCell))),
            IDALS_SUCCESS);

  if (!options.consistent_start) {
    EXPECT_EQ(IDACalcIC(mem, IDA_YA_YDP_INIT, 0.01), IDA_SUCCESS);
    EXPECT_EQ(IDAGetConsistentIC(mem, yy.get(), yp.get()), IDA_SUCCESS);
    for (int b = 0; b < cells; ++b) {
      const int i = b * BatchProblem::kPerCell;
      const double y0 = problem.y0[b];
      EXPECT_NEAR(batch_data(yy.get())[i + 1], y0 * y0, 1e-8) << "CalcIC z, cell " << b;
      EXPECT_NEAR(batch_data(yp.get())[i], -problem.rate[b] * y0, 1e-6) << "CalcIC y', cell " << b;
    }
  }

  double t = 0.0;
  EXPECT_EQ(IDASolve(mem, t_end, &t, yy.get(), yp.get(), IDA_NORMAL), IDA_SUCCESS);
  EXPECT_DOUBLE_EQ(t, t_end);

  IdaRunResult result;
  IDAGetNumSteps(mem, &result.steps);
  for (int b = 0; b < cells; ++b) {
    result.y.push_back(batch_data(yy.get())[b * BatchProblem::kPerCell]);
    result.z.push_back(batch_data(yy.get())[b * BatchProblem::kPerCell + 1]);
  }
  return result;
}

BatchProblem make_problem(int cells) {
  BatchProblem problem;
  for (int b = 0; b < cells; ++b) {
    problem.rate.push_back(0.5 + 2.5 * b / std::max(1, cells - 1));
    problem.y0.push_back(1.0 + 0.1 * b);
  }
  return problem;
}

void expect_analytic(const BatchProblem& problem, const IdaRunResult& result, double t,
                     int skip_cell = -1) {
  for (int b = 0; b < problem.cells(); ++b) {
    if (b == skip_cell) continue;
    const double y = problem.y0[b] * std::exp(-problem.rate[b] * t);
    EXPECT_NEAR(result.y[b], y, 2e-6 * y) << "cell " << b << " rate " << problem.rate[b];
    EXPECT_NEAR(result.z[b], y * y, 4e-6 * y * y) << "cell " << b;
  }
}

TEST(BatchVectorIda, PreconditionedSpgmrMatchesAnalyticPerCell) {
  const BatchProblem problem = make_problem(37);
  const IdaRunResult result = integrate(problem, {}, 2.0);
  expect_analytic(problem, result, 2.0);
}

TEST(BatchVectorIda, UnpreconditionedSpgmrMatchesAnalyticPerCell) {
  const BatchProblem problem = make_problem(4);
  const IdaRunResult result = integrate(problem, {.precondition = false}, 2.0);
  expect_analytic(problem, result, 2.0);
}

TEST(BatchVectorIda, CalcIcRepairsInconsistentStart) {
  const BatchProblem problem = make_problem(5);
  const IdaRunResult result = integrate(problem, {.consistent_start = false}, 1.0);
  expect_analytic(problem, result, 1.0);
}

// A cell with fast forcing forces tiny steps while it takes part in the error test; frozen
// (mask 0), it no longer limits the step size of the rest of the batch.
TEST(BatchVectorIda, FrozenCellDoesNotLimitTheStep) {
  BatchProblem problem = make_problem(6);
  problem.noisy_cell = 2;
  const IdaRunResult active = integrate(problem, {}, 1.0);
  const IdaRunResult frozen = integrate(problem, {.freeze_noisy_cell = true}, 1.0);
  problem.noisy_cell = -1;
  const IdaRunResult quiet = integrate(problem, {}, 1.0);

  expect_analytic(problem, active, 1.0, 2);
  expect_analytic(problem, frozen, 1.0, 2);
  EXPECT_GT(active.steps, 5 * frozen.steps)
      << "active noisy cell " << active.steps << " steps, frozen " << frozen.steps;
  EXPECT_LE(frozen.steps, 2 * quiet.steps) << "quiet batch " << quiet.steps << " steps";
}

}  // namespace
}  // namespace halite
