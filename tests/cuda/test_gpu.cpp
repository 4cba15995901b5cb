// The CUDA backend against the CPU backend (Gpu.*): batched kernels equivalent to the CPU
// reference on random data for more than a warp of cells with planted edge cases, the device
// N_Vector against the host batch vector for every op IDA uses, the device Schur solve checked
// as A x = b, and a small batch integrated on the GPU against the CPU. Every test that needs a
// device skips cleanly (GTEST_SKIP) when there is none; the fixture synchronises the device in
// TearDown so that an asynchronous error fails the test that caused it.
#include <gtest/gtest.h>
#include <sunmatrix/sunmatrix_sparse.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "cuda/batch_kernels.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/device_linear_solver.hpp"
#include "cuda/device_vector.hpp"
#include "cuda/gpu_integrator.hpp"
#include "cuda/register_backend.hpp"
#include "halite/halite.hpp"
#include "host/app/config.hpp"
#include "host/cpu/batch_integrator.hpp"
#include "host/cpu/batch_model.hpp"
#include "host/cpu/nvector_batch.hpp"
#include "host/cpu/schur_solver.hpp"
#include "host/cpu/sparse_reference.hpp"
#include "host/engine/cycler.hpp"
#include "host/engine/integrator.hpp"
#include "tests/reference_cell.hpp"

namespace halite {
namespace {

using cuda::DeviceBuffer;
using models::CellLayout;
using models::CellParams;
using models::ControlMode;
using Values = std::vector<double>;
using halite::testing::random_state;
using halite::testing::reference_params;

void register_cuda_backend_for_tests() {
  cuda::register_cuda_backend();
}

class Gpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device (cudaGetDeviceCount)";
  }
  void TearDown() override {
    if (cuda::device_count() > 0) {
      const cudaError_t status = cudaDeviceSynchronize();
      EXPECT_EQ(status, cudaSuccess) << cudaGetErrorString(status);
    }
  }
};

// ---------------------------------------------------------------------------------------------
// Batches with planted edge cases

// Cells that differ in geometry, transport, kinetics, temperature and aging state.
std::vector<CellParams> diverse_params(int cells, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<CellParams> out(cells, reference_params());
  for (int c = 1; c < cells; ++c) {
    CellParams& p = out[c];
    for (int k = 0; k < p.particle_classes; ++k) p.particle_radius[k] *= 0.7 + 0.7 * u(rng);
    p.stack_pressure = 50e6 + 750e6 * u(rng);
    p.diffusivity_scale = 0.02 * std::pow(100.0, u(rng));
    p.cathode_thickness = 0.8e-4 + 0.5e-4 * u(rng);
    p.temperature = 288.0 + 30.0 * u(rng);
    p.exchange_current_mid = 0.3 + 2.7 * u(rng);
    if (c % 5 == 0) p.ocp_fit = models::NmcOcpFit::kChen2020Nmc811;
    if (c % 7 == 0) p.diffusivity_model = models::DiffusivityModel::kConstant;
    if (c % 11 == 0) p.rsp_architecture = models::RspArchitecture::kShell;
  }
  return out;
}

// Aged particles in every third cell: RSP, cracks, a transition layer (film resistance).
void age_some_cells(BatchModel& model, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int c = 0; c < model.cells(); c += 3) {
    for (int q = 0; q < model.layout().particles(); ++q) {
      auto& a = model.aging(c, q);
      a.rsp_fraction = 0.2 * u(rng);
      a.isolated_fraction = 0.1 * u(rng);
      a.layer_thickness = 2e-9 * u(rng);
    }
    model.refresh_coefficients(c);
  }
}

struct Batch {
  CellLayout layout{8, 3, 10};
  std::unique_ptr<BatchModel> model;
  Values y, yp;
  std::vector<int> frozen;
};

// B cells (B > 32, not a multiple of 32) with: stoichiometry exactly 0 and 1 and outside [0, 1]
// (the clamped regions of i0 and D), zero current, voltage control, aged particles with a film,
// and frozen cells whose frozen state differs from y.
Batch planted_batch(int cells, unsigned seed) {
  Batch b;
  std::mt19937 rng(seed);
  const CellLayout& L = b.layout;
  b.model = std::make_unique<BatchModel>(diverse_params(cells, rng), L);
  BatchModel& m = *b.model;
  age_some_cells(m, rng);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int c = 0; c < cells; ++c) {
    const Values yc = random_state(L, rng);
    b.y.insert(b.y.end(), yc.begin(), yc.end());
    for (int i = 0; i < L.size(); ++i) b.yp.push_back(1e-4 * (u(rng) - 0.5));
    m.control(c) = c % 4 == 1
                       ? models::CellControl{ControlMode::kVoltage, 0.0, 3.4 + 0.8 * u(rng)}
                       : models::CellControl{ControlMode::kCurrent, -40.0 + 80.0 * u(rng), 0.0};
  }
  auto cell = [&](int c) { return b.y.data() + std::size_t(c) * L.size(); };
  // cell 0: particle 0 empty, particle 1 full, particle 2 beyond both ends, shell by shell
  // (its surface just above 1: far enough up the OCP knee to test the clamps, finite residual)
  for (int m2 = 0; m2 < L.shells; ++m2) {
    cell(0)[L.particle_offset(0) + m2] = 0.0;
    cell(0)[L.particle_offset(1) + m2] = 1.0;
    cell(0)[L.particle_offset(2) + m2] = m2 % 2 == 0 ? -0.02 : 1.03;
  }
  cell(0)[L.particle_offset(2) + L.shells - 2] = 1.02;
  cell(0)[L.particle_offset(2) + L.shells - 1] = 1.01;
  // cell 2: zero current (both the control and the unknown); cell 6: zero current, uniform x
  for (int c : {2, 6}) {
    m.control(c) = {ControlMode::kCurrent, 0.0, 0.0};
    cell(c)[L.current()] = 0.0;
  }
  for (int i = 0; i < L.x_offset(); ++i) cell(6)[i] = 0.5;
  // last cell: surface shells at the clamp limits, particle interiors in the middle
  for (int q = 0; q < L.particles(); ++q) {
    cell(cells - 1)[L.particle_offset(q) + L.shells - 1] = q % 2 == 0 ? 1.0 : 0.0;
    cell(cells - 1)[L.particle_offset(q) + L.shells - 2] = q % 2 == 0 ? 1.0 - 1e-12 : 1e-12;
  }
  // frozen cells, frozen at a state that differs from the one evaluated
  for (int c : {5, cells / 2 + 1, cells - 2}) {
    Values yf(cell(c), cell(c) + L.size());
    for (auto& v : yf) v += 0.01;
    m.freeze(c, yf.data());
    b.frozen.push_back(c);
  }
  return b;
}

template <class T>
DeviceBuffer<T> to_device(const std::vector<T>& host) {
  DeviceBuffer<T> d(host.size());
  HALITE_CUDA_CHECK(
      cudaMemcpy(d.get(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  // the kernels run on non-blocking streams: make sure the copy has landed
  HALITE_CUDA_CHECK(cudaDeviceSynchronize());
  return d;
}
template <class T>
std::vector<T> to_host(const T* device, std::size_t n) {
  std::vector<T> h(n);
  HALITE_CUDA_CHECK(cudaDeviceSynchronize());  // work queued on non-blocking streams
  HALITE_CUDA_CHECK(cudaMemcpy(h.data(), device, n * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}

// Segments (offset, length) of one cell's storage that share a physical scale.
using Segments = std::vector<std::pair<int, int>>;
Segments residual_segments(const CellLayout& L) {  // each particle's shells, then the x rows
  Segments s;
  for (int q = 0; q < L.particles(); ++q) s.push_back({L.particle_offset(q), L.shells});
  s.push_back({L.x_offset(), L.x_size()});
  return s;
}
Segments jacobian_segments(const CellLayout& L) {  // each particle block, x block, coupling
  Segments s;
  const int stride = L.particle_jacobian_stride();
  for (int q = 0; q < L.particles(); ++q) s.push_back({q * stride, stride});
  const int xb = L.particles() * stride;
  s.push_back({xb, L.x_size() * L.x_size()});
  s.push_back({xb + L.x_size() * L.x_size(), L.x_size() * L.nodes});
  return s;
}

// Entry by entry |a - r| <= rtol |r| + atol_rel * (largest |r| of the entry's segment) for every
// cell of size per_cell (NaN and inf only where the reference has them); reports the first few.
// The segment term absorbs round-off of cancelling terms (scale: the segment's magnitude).
void expect_equivalent(const Values& reference, const Values& actual, double rtol, double atol_rel,
                       const Segments& segments, int per_cell, const std::string& what,
                       const std::vector<int>& skip_cells = {}) {
  ASSERT_EQ(reference.size(), actual.size()) << what;
  const int cells = int(reference.size() / per_cell);
  int reported = 0, failures = 0;
  for (int c = 0; c < cells; ++c) {
    if (std::find(skip_cells.begin(), skip_cells.end(), c) != skip_cells.end()) continue;
    for (const auto& [offset, length] : segments) {
      const std::size_t base = std::size_t(c) * per_cell + offset;
      double scale = 0.0;
      for (int i = 0; i < length; ++i)
        if (std::isfinite(reference[base + i]))
          scale = std::max(scale, std::fabs(reference[base + i]));
      for (int i = 0; i < length; ++i) {
        const double r = reference[base + i], a = actual[base + i];
        const bool ok =
            r == a || (std::isnan(r) ? std::isnan(a)
                                     : std::fabs(a - r) <= rtol * std::fabs(r) + atol_rel * scale);
        if (!ok) {
          ++failures;
          if (reported++ < 5)
            ADD_FAILURE() << what << ": cell " << c << " entry " << offset + i << ": CPU " << r
                          << ", GPU " << a << " (segment scale " << scale << ")";
        }
      }
    }
  }
  EXPECT_EQ(failures, 0) << what;
}

// Per cell: max |a - r| <= tol * max |r| (normwise, as the host solver tests compare solutions).
void expect_normwise(const Values& reference, const Values& actual, int per_cell, double tol,
                     const std::string& what) {
  ASSERT_EQ(reference.size(), actual.size()) << what;
  for (std::size_t c = 0; c < reference.size() / per_cell; ++c) {
    double diff = 0.0, scale = 0.0;
    for (int i = 0; i < per_cell; ++i) {
      const std::size_t k = c * per_cell + i;
      diff = std::max(diff, std::fabs(actual[k] - reference[k]));
      scale = std::max(scale, std::fabs(reference[k]));
    }
    EXPECT_LE(diff, tol * scale) << what << ": cell " << c;
  }
}

// max_i |A x - b|_i / (|A| |x| + |b|)_i (Oettli-Prager), as tests/test_structured_solver.cpp.
double componentwise_backward_error(SUNMatrix A, const Values& x, const Values& b) {
  const auto ax = sparse_multiply(A, x);
  Values absx(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) absx[i] = std::fabs(x[i]);
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

// ---------------------------------------------------------------------------------------------
// Check macro (runs without a device too)

TEST(GpuCheck, MacroNamesFileLineAndCall) {
  try {
    HALITE_CUDA_CHECK(cudaSetDevice(-1));
    FAIL() << "cudaSetDevice(-1) succeeded";
  } catch (const cuda::CudaError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("test_gpu.cpp:"), std::string::npos) << what;
    EXPECT_NE(what.find("cudaSetDevice(-1)"), std::string::npos) << what;
    EXPECT_NE(e.code, cudaSuccess);
  }
  (void)cudaGetLastError();
}

// ---------------------------------------------------------------------------------------------
// Kernels equivalent to the CPU reference

TEST_F(Gpu, ResidualKernelIsEquivalentToCpu) {
  const int cells = 71;
  Batch b = planted_batch(cells, 17);
  const CellLayout& L = b.layout;
  Values res_cpu(b.y.size());
  b.model->residual(b.y.data(), b.yp.data(), res_cpu.data());
  const auto cpu_bad = b.model->nonfinite_cells();

  cuda::Stream stream;
  cuda::DeviceBatchModel dm(cells, L);
  dm.upload(*b.model, stream.get());
  auto y = to_device(b.y), yp = to_device(b.yp);
  DeviceBuffer<double> res(b.y.size());
  dm.residual(y.get(), yp.get(), res.get(), stream.get());
  EXPECT_EQ(dm.nonfinite_cells(stream.get()).size(), cpu_bad.size());
  const Values res_gpu = to_host(res.get(), res.size());
  // Differences: libm vs CUDA exp/pow (an ulp or two), FMA contraction, the film Newton stop.
  expect_equivalent(res_cpu, res_gpu, 1e-9, 1e-12, residual_segments(L), L.size(), "residual");
  // frozen cells: F = y - y_frozen exactly
  for (int c : b.frozen)
    for (int i = 0; i < L.size(); ++i) {
      const std::size_t k = std::size_t(c) * L.size() + i;
      EXPECT_EQ(res_gpu[k], b.y[k] - b.model->frozen_state(c)[i]);
    }
}

TEST_F(Gpu, JacobianKernelIsEquivalentToCpu) {
  const int cells = 45;
  Batch b = planted_batch(cells, 23);
  const CellLayout& L = b.layout;
  SchurSolver cpu(*b.model);
  cpu.evaluate_jacobian(b.y.data());

  cuda::Stream stream;
  cuda::DeviceBatchModel dm(cells, L);
  dm.upload(*b.model, stream.get());
  cuda::DeviceSchurSolver gpu(dm, stream.get());
  auto y = to_device(b.y);
  gpu.evaluate_jacobian(y.get());
  stream.synchronize();
  const int size = models::cell_jacobian_size(L);
  const Values jac = to_host(gpu.jacobians(), std::size_t(cells) * size);
  // the CPU solver's storage is cell-major in the same layout: compare it whole
  const Values expected(cpu.jacobian(0).particle_blocks,
                        cpu.jacobian(0).particle_blocks + std::size_t(cells) * size);
  expect_equivalent(expected, jac, 1e-9, 1e-12, jacobian_segments(L), size, "Jacobian",
                    b.frozen);  // frozen cells are not evaluated
}

TEST_F(Gpu, SchurSolveIsEquivalentToCpuAndSolvesTheSystem) {
  const int cells = 40;
  Batch b = planted_batch(cells, 29);
  const CellLayout& L = b.layout;
  SunContext ctx;
  SchurSolver cpu(*b.model);
  cuda::Stream stream;
  cuda::DeviceBatchModel dm(cells, L);
  dm.upload(*b.model, stream.get());
  cuda::DeviceSchurSolver gpu(dm, stream.get());
  auto y = to_device(b.y);
  cpu.evaluate_jacobian(b.y.data());
  gpu.evaluate_jacobian(y.get());
  std::mt19937 rng(5);
  std::normal_distribution<double> g(0.0, 1.0);
  for (double cj : {0.01, 1.0, 100.0}) {
    ASSERT_TRUE(cpu.factor(cj));
    ASSERT_TRUE(gpu.factor(cj));
    ASSERT_TRUE(gpu.singular_cells().empty()) << "singular cells on the GPU";
    Values rhs(b.y.size());
    for (auto& v : rhs) v = g(rng);
    Values x_cpu(rhs.size());
    cpu.solve(rhs.data(), x_cpu.data());
    auto d_b = to_device(rhs);
    DeviceBuffer<double> d_x(rhs.size());
    gpu.solve(d_b.get(), d_x.get());
    stream.synchronize();
    const Values x_gpu = to_host(d_x.get(), d_x.size());
    // Both backends refine once (models::solve_cell_refined). The solutions still differ by the
    // Jacobians' own rounding (a device's FMA contraction and libm; the emulator's perturbed
    // mode shows up to 1e-8 at cj = 0.01, where the system is ill-conditioned): the backward
    // error below is the measure of the solve.
    expect_normwise(x_cpu, x_gpu, L.size(), 1e-8, "solution at cj " + std::to_string(cj));
    // and in place (x aliasing b, as IDA calls it) the same solution
    gpu.solve(d_b.get(), d_b.get());
    stream.synchronize();
    EXPECT_EQ(to_host(d_b.get(), d_b.size()), x_gpu) << "in-place solve at cj " << cj;
    // A x = b for the GPU solution itself, per active cell (the GPU Jacobian is used as A).
    const int jsize = models::cell_jacobian_size(L);
    const Values jac = to_host(gpu.jacobians(), std::size_t(cells) * jsize);
    for (int c = 0; c < cells; c += 7) {
      const std::size_t off = std::size_t(c) * L.size();
      const Values xc(x_gpu.begin() + off, x_gpu.begin() + off + L.size());
      const Values bc(rhs.begin() + off, rhs.begin() + off + L.size());
      if (b.model->frozen(c)) {
        EXPECT_EQ(xc, bc) << "frozen cell " << c << " must be the identity";
        continue;
      }
      Values jc(jac.begin() + std::size_t(c) * jsize, jac.begin() + std::size_t(c + 1) * jsize);
      const auto J = models::cell_jacobian_ref(L, jc.data());
      auto A = assemble_cell_matrix(ctx, b.model->params(c), L, J, cj);
      // A stable solve keeps this near machine epsilon: unrefined, the elimination reached 2e-11
      // on these diverse, planted cells at cj = 0.01 (4e-16 at cj = 100); refined, both backends
      // stay below 1e-12 as in StructuredSolver.SchurAndKluGiveTheSameNewtonUpdate. A wrong
      // solve gives O(1).
      EXPECT_LT(componentwise_backward_error(A.get(), xc, bc), 1e-12)
          << "A x - b of cell " << c << " at cj " << cj;
    }
  }
}

TEST_F(Gpu, ANaNCellStaysInItsCell) {
  const int cells = 33;
  Batch b = planted_batch(cells, 31);
  const CellLayout& L = b.layout;
  cuda::Stream stream;
  cuda::DeviceBatchModel dm(cells, L);
  dm.upload(*b.model, stream.get());
  cuda::DeviceSchurSolver gpu(dm, stream.get());
  Values y = b.y;
  for (int i = 0; i < L.size(); ++i)
    y[std::size_t(3) * L.size() + i] = std::numeric_limits<double>::quiet_NaN();
  auto d_y = to_device(y);
  DeviceBuffer<double> res(y.size());
  auto d_yp = to_device(b.yp);
  dm.residual(d_y.get(), d_yp.get(), res.get(), stream.get());
  const auto bad = dm.nonfinite_cells(stream.get());
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].cell, 3);
  gpu.evaluate_jacobian(d_y.get());
  gpu.factor(1.0);
  Values rhs(y.size(), 1.0);
  auto d_b = to_device(rhs);
  gpu.solve(d_b.get(), d_b.get());  // in place
  stream.synchronize();
  const Values x = to_host(d_b.get(), d_b.size());
  for (int c = 0; c < cells; ++c) {
    if (c == 3) continue;
    for (int i = 0; i < L.size(); ++i)
      ASSERT_TRUE(std::isfinite(x[std::size_t(c) * L.size() + i]))
          << "cell " << c << " entry " << i;
  }
}

// ---------------------------------------------------------------------------------------------
// Device N_Vector against the host batch vector

struct VectorPair {
  NVectorPtr host, dev;
};

class GpuVector : public Gpu, public ::testing::WithParamInterface<std::pair<int, int>> {
 protected:
  void SetUp() override {
    Gpu::SetUp();
    if (IsSkipped()) return;
    std::tie(cells_, per_cell_) = GetParam();
    mask_ = std::make_shared<BatchMask>(cells_);
    shared_ = std::make_shared<cuda::DeviceBatchShared>(cells_, per_cell_);
    // every third cell inactive (when there is more than one)
    for (int c = 1; c < cells_; c += 3) {
      mask_->set_active(c, false);
      shared_->set_active(c, false);
    }
  }
  VectorPair make(double lo, double hi, unsigned seed) {
    VectorPair p;
    p.host = NVectorPtr(make_batch_vector(ctx_, cells_, per_cell_, mask_));
    p.dev = NVectorPtr(cuda::make_device_vector(ctx_, cells_, per_cell_, shared_));
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(lo, hi);
    double* h = batch_data(p.host.get());
    for (sunindextype i = 0; i < N_VGetLength(p.host.get()); ++i) h[i] = u(rng);
    cuda::copy_to_device(p.dev.get(), h);
    return p;
  }
  void sync(VectorPair& p) { cuda::copy_to_device(p.dev.get(), batch_data(p.host.get())); }
  // element-wise results: identical to the host vector (same IEEE operations, no FMA)
  void expect_same(VectorPair& p, const std::string& what) {
    const sunindextype n = N_VGetLength(p.host.get());
    Values d(n);
    cuda::copy_to_host(p.dev.get(), d.data());
    const double* h = batch_data(p.host.get());
    for (sunindextype i = 0; i < n; ++i) {
      if (!(std::isnan(h[i]) && std::isnan(d[i]))) {
        ASSERT_EQ(h[i], d[i]) << what << " entry " << i;
      }
    }
    EXPECT_EQ(cuda::device_vector_error(p.dev.get()), "") << what;
  }
  // Reductions sum in another order than the host: tolerance relative to the magnitude of the
  // terms (scale: the vector length for sums over all entries).
  static void expect_close(double ref, double got, const std::string& what, double scale = 1.0) {
    if (std::isnan(ref)) {
      EXPECT_TRUE(std::isnan(got)) << what;
      return;
    }
    EXPECT_NEAR(ref, got, 1e-13 * std::max({1.0, std::fabs(ref), 10.0 * scale})) << what;
  }
  double length() const { return double(cells_) * per_cell_; }

  SunContext ctx_;
  int cells_ = 1, per_cell_ = 1;
  std::shared_ptr<BatchMask> mask_;
  std::shared_ptr<cuda::DeviceBatchShared> shared_;
};

TEST_P(GpuVector, ElementwiseOpsAreIdenticalToHost) {
  auto x = make(-2.0, 2.0, 1), y = make(0.5, 3.0, 2), z = make(0.0, 1.0, 3);
  N_VLinearSum(0.7, x.host.get(), -1.3, y.host.get(), z.host.get());
  N_VLinearSum(0.7, x.dev.get(), -1.3, y.dev.get(), z.dev.get());
  expect_same(z, "linearsum");
  N_VLinearSum(2.0, z.host.get(), 1.0, y.host.get(), z.host.get());  // aliasing z = x
  N_VLinearSum(2.0, z.dev.get(), 1.0, y.dev.get(), z.dev.get());
  expect_same(z, "linearsum aliased");
  N_VConst(3.25, z.host.get());
  N_VConst(3.25, z.dev.get());
  expect_same(z, "const");
  N_VProd(x.host.get(), y.host.get(), z.host.get());
  N_VProd(x.dev.get(), y.dev.get(), z.dev.get());
  expect_same(z, "prod");
  N_VDiv(x.host.get(), y.host.get(), z.host.get());
  N_VDiv(x.dev.get(), y.dev.get(), z.dev.get());
  expect_same(z, "div");
  N_VScale(-0.3, x.host.get(), z.host.get());
  N_VScale(-0.3, x.dev.get(), z.dev.get());
  expect_same(z, "scale");
  N_VAbs(x.host.get(), z.host.get());
  N_VAbs(x.dev.get(), z.dev.get());
  expect_same(z, "abs");
  N_VInv(y.host.get(), z.host.get());
  N_VInv(y.dev.get(), z.dev.get());
  expect_same(z, "inv");
  N_VAddConst(x.host.get(), 1.5, z.host.get());
  N_VAddConst(x.dev.get(), 1.5, z.dev.get());
  expect_same(z, "addconst");
  N_VCompare(1.0, x.host.get(), z.host.get());
  N_VCompare(1.0, x.dev.get(), z.dev.get());
  expect_same(z, "compare");
}

TEST_P(GpuVector, ReductionsMatchHost) {
  auto x = make(-2.0, 2.0, 4), w = make(0.5, 3.0, 5), id = make(-1.0, 1.0, 6);
  expect_close(N_VDotProd(x.host.get(), w.host.get()), N_VDotProd(x.dev.get(), w.dev.get()), "dot",
               length());
  expect_close(N_VMaxNorm(x.host.get()), N_VMaxNorm(x.dev.get()), "maxnorm");
  expect_close(N_VMin(x.host.get()), N_VMin(x.dev.get()), "min");
  expect_close(N_VWL2Norm(x.host.get(), w.host.get()), N_VWL2Norm(x.dev.get(), w.dev.get()), "wl2",
               length());
  expect_close(N_VL1Norm(x.host.get()), N_VL1Norm(x.dev.get()), "l1", length());
  expect_close(N_VWrmsNorm(x.host.get(), w.host.get()), N_VWrmsNorm(x.dev.get(), w.dev.get()),
               "wrms");
  expect_close(N_VWrmsNormMask(x.host.get(), w.host.get(), id.host.get()),
               N_VWrmsNormMask(x.dev.get(), w.dev.get(), id.dev.get()), "wrmsmask");
  expect_close(N_VMinQuotient(x.host.get(), w.host.get()), N_VMinQuotient(x.dev.get(), w.dev.get()),
               "minquotient");
  // zero denominators are skipped; all zero -> SUN_BIG_REAL
  N_VConst(0.0, w.host.get());
  N_VConst(0.0, w.dev.get());
  EXPECT_EQ(N_VMinQuotient(x.dev.get(), w.dev.get()), SUN_BIG_REAL);
  EXPECT_EQ(N_VMinQuotient(x.host.get(), w.host.get()), SUN_BIG_REAL);
}

TEST_P(GpuVector, TestsAndMasksMatchHost) {
  auto x = make(-2.0, 2.0, 7), z = make(0.0, 1.0, 8), c = make(-2.0, 2.0, 9), m = make(0, 1, 10);
  EXPECT_EQ(N_VInvTest(x.host.get(), z.host.get()), N_VInvTest(x.dev.get(), z.dev.get()));
  expect_same(z, "invtest without zeros");
  batch_data(x.host.get())[N_VGetLength(x.host.get()) - 1] = 0.0;
  sync(x);
  EXPECT_EQ(N_VInvTest(x.host.get(), z.host.get()), SUNFALSE);
  EXPECT_EQ(N_VInvTest(x.dev.get(), z.dev.get()), SUNFALSE);
  expect_same(z, "invtest with a zero");
  // constraint codes -2, -1, 0, 1, 2
  double* cd = batch_data(c.host.get());
  for (sunindextype i = 0; i < N_VGetLength(c.host.get()); ++i) cd[i] = double(int(i % 5) - 2);
  sync(c);
  EXPECT_EQ(N_VConstrMask(c.host.get(), x.host.get(), m.host.get()),
            N_VConstrMask(c.dev.get(), x.dev.get(), m.dev.get()));
  expect_same(m, "constrmask");
}

TEST_P(GpuVector, FusedAndArrayOpsMatchHost) {
  std::vector<VectorPair> X;
  for (int k = 0; k < 20; ++k) X.push_back(make(-1.0, 1.0, 100 + k));
  auto z = make(0.0, 1.0, 11), x = make(-1.0, 1.0, 12);
  auto hosts = [&](int n, int from = 0) {
    std::vector<N_Vector> v;
    for (int k = 0; k < n; ++k) v.push_back(X[from + k].host.get());
    return v;
  };
  auto devs = [&](int n, int from = 0) {
    std::vector<N_Vector> v;
    for (int k = 0; k < n; ++k) v.push_back(X[from + k].dev.get());
    return v;
  };
  std::vector<double> c(20);
  for (int k = 0; k < 20; ++k) c[k] = 0.1 * (k + 1) * (k % 2 ? -1 : 1);
  for (int n : {1, 3, 6, 20}) {  // 20: more than one launch's worth of vectors
    auto hx = hosts(n), dx = devs(n);
    N_VLinearCombination(n, c.data(), hx.data(), z.host.get());
    N_VLinearCombination(n, c.data(), dx.data(), z.dev.get());
    expect_same(z, "linearcombination " + std::to_string(n));
  }
  {  // z = X[0] (IDA's use)
    auto hx = hosts(4), dx = devs(4);
    N_VLinearCombination(4, c.data(), hx.data(), X[0].host.get());
    N_VLinearCombination(4, c.data(), dx.data(), X[0].dev.get());
    expect_same(X[0], "linearcombination into X[0]");
  }
  {
    auto hy = hosts(5), dy = devs(5), hz = hosts(5, 5), dz = devs(5, 5);
    N_VScaleAddMulti(5, c.data(), x.host.get(), hy.data(), hz.data());
    N_VScaleAddMulti(5, c.data(), x.dev.get(), dy.data(), dz.data());
    for (int k = 5; k < 10; ++k) expect_same(X[k], "scaleaddmulti");
    N_VScaleAddMulti(5, c.data(), x.host.get(), hy.data(), hy.data());  // Z = Y
    N_VScaleAddMulti(5, c.data(), x.dev.get(), dy.data(), dy.data());
    for (int k = 0; k < 5; ++k) expect_same(X[k], "scaleaddmulti in place");
  }
  for (int n : {3, 18}) {
    auto hy = hosts(n), dy = devs(n);
    std::vector<double> dh(n), dd(n);
    N_VDotProdMulti(n, x.host.get(), hy.data(), dh.data());
    N_VDotProdMulti(n, x.dev.get(), dy.data(), dd.data());
    for (int k = 0; k < n; ++k)
      expect_close(dh[k], dd[k], "dotprodmulti " + std::to_string(k), length());
  }
  {
    auto hx = hosts(4), dx = devs(4), hy = hosts(4, 4), dy = devs(4, 4), hz = hosts(4, 8),
         dz = devs(4, 8);
    N_VLinearSumVectorArray(4, 0.5, hx.data(), -2.0, hy.data(), hz.data());
    N_VLinearSumVectorArray(4, 0.5, dx.data(), -2.0, dy.data(), dz.data());
    for (int k = 8; k < 12; ++k) expect_same(X[k], "linearsumvectorarray");
    N_VScaleVectorArray(4, c.data(), hx.data(), hz.data());
    N_VScaleVectorArray(4, c.data(), dx.data(), dz.data());
    for (int k = 8; k < 12; ++k) expect_same(X[k], "scalevectorarray");
    N_VConstVectorArray(4, -7.5, hz.data());
    N_VConstVectorArray(4, -7.5, dz.data());
    for (int k = 8; k < 12; ++k) expect_same(X[k], "constvectorarray");
  }
  {
    auto w = make(0.1, 2.0, 13), id = make(-1.0, 1.0, 14);
    auto hx = hosts(6), dx = devs(6);
    std::vector<N_Vector> hw(6, w.host.get()), dw(6, w.dev.get());
    std::vector<double> nh(6), nd(6);
    N_VWrmsNormVectorArray(6, hx.data(), hw.data(), nh.data());
    N_VWrmsNormVectorArray(6, dx.data(), dw.data(), nd.data());
    for (int k = 0; k < 6; ++k) expect_close(nh[k], nd[k], "wrmsnormvectorarray");
    N_VWrmsNormMaskVectorArray(6, hx.data(), hw.data(), id.host.get(), nh.data());
    N_VWrmsNormMaskVectorArray(6, dx.data(), dw.data(), id.dev.get(), nd.data());
    for (int k = 0; k < 6; ++k) expect_close(nh[k], nd[k], "wrmsnormmaskvectorarray");
  }
}

TEST_P(GpuVector, CloneAndUtilities) {
  auto x = make(-1.0, 1.0, 15);
  NVectorPtr c(N_VClone(x.dev.get()));
  ASSERT_TRUE(c);
  EXPECT_TRUE(cuda::is_device_vector(c.get()));
  EXPECT_FALSE(cuda::is_device_vector(x.host.get()));
  EXPECT_EQ(N_VGetLength(c.get()), sunindextype(cells_) * per_cell_);
  EXPECT_EQ(N_VGetVectorID(c.get()), SUNDIALS_NVEC_CUSTOM);
  EXPECT_NE(N_VGetDeviceArrayPointer(c.get()), N_VGetDeviceArrayPointer(x.dev.get()));
  EXPECT_EQ(&cuda::device_shared(c.get()), shared_.get());  // clones share the mask
  Values zeros(N_VGetLength(c.get()), 1.0);
  cuda::copy_to_host(c.get(), zeros.data());
  for (double v : zeros) EXPECT_EQ(v, 0.0);
  NVectorPtr e(N_VCloneEmpty(x.dev.get()));
  ASSERT_TRUE(e);
  EXPECT_EQ(N_VGetDeviceArrayPointer(e.get()), nullptr);
}

// The last two shapes go past the kernels' grid clamps (kMaxBlocks = 1024 blocks): 8193 cells of
// the reference layout (2.1 M values, grid-stride loops over the elements) and 9001 cells of
// 3 values (more cells than a clamped per-cell grid covers at once).
INSTANTIATE_TEST_SUITE_P(Shapes, GpuVector,
                         ::testing::Values(std::make_pair(1, 1), std::make_pair(3, 7),
                                           std::make_pair(37, 259), std::make_pair(1100, 71),
                                           std::make_pair(8193, 259), std::make_pair(9001, 3)));

TEST_F(Gpu, WrmsNormIsMaxOverActiveCellsAndPropagatesNaN) {
  SunContext ctx;
  const int cells = 50, n = 20;
  NVectorPtr x(cuda::make_device_vector(ctx, cells, n)), w(N_VClone(x.get()));
  auto& shared = cuda::device_shared(x.get());
  Values hx(cells * n, 1e-3), hw(cells * n, 1.0);
  for (int i = 0; i < n; ++i) hx[17 * n + i] = 2.0;  // one loud cell among quiet ones
  cuda::copy_to_device(x.get(), hx.data());
  cuda::copy_to_device(w.get(), hw.data());
  EXPECT_NEAR(N_VWrmsNorm(x.get(), w.get()), 2.0, 1e-15);  // not averaged away
  shared.set_active(17, false);
  EXPECT_NEAR(N_VWrmsNorm(x.get(), w.get()), 1e-3, 1e-17);
  hx[3 * n + 4] = NAN;  // NaN in an active cell reaches IDA
  cuda::copy_to_device(x.get(), hx.data());
  EXPECT_TRUE(std::isnan(N_VWrmsNorm(x.get(), w.get())));
  shared.set_active(3, false);  // ... and is ignored in a frozen one
  EXPECT_NEAR(N_VWrmsNorm(x.get(), w.get()), 1e-3, 1e-17);
  for (int c = 0; c < cells; ++c) shared.set_active(c, false);
  EXPECT_EQ(N_VWrmsNorm(x.get(), w.get()), 0.0);
  // max/min over all entries skip NaN
  EXPECT_EQ(N_VMaxNorm(x.get()), 2.0);
  EXPECT_EQ(N_VMin(x.get()), 1e-3);
}

// Deferred element-wise ops (docs/gpu.md, "Device N_Vector"): an op reads what the ops before it
// wrote, within a family (same queue) and across two families (separate queues and streams): a
// read of another family's vector runs that family's queue first, and an op that read one runs
// at once, so that a later write to what it read cannot overtake it.
TEST_F(Gpu, DeferredOpsKeepProgramOrderWithinAndAcrossVectorFamilies) {
  SunContext ctx;
  const int cells = 40, n = 33;
  NVectorPtr a(cuda::make_device_vector(ctx, cells, n)), a2(N_VClone(a.get()));
  NVectorPtr b(cuda::make_device_vector(ctx, cells, n)), b2(N_VClone(b.get()));
  ASSERT_NE(&cuda::device_shared(a.get()), &cuda::device_shared(b.get()));
  N_VConst(2.0, a.get());                              // queued in family A
  N_VConst(3.0, b2.get());                             // queued in family B
  N_VLinearSum(1.0, a.get(), 1.0, b2.get(), b.get());  // B reads A's vector: 2 + 3
  N_VConst(7.0, a.get());                              // a later write to what B read
  N_VScale(10.0, a.get(), a2.get());                   // within A: reads the 7
  Values hb(cells * n), ha2(cells * n);
  cuda::copy_to_host(b.get(), hb.data());
  cuda::copy_to_host(a2.get(), ha2.data());
  for (std::size_t i = 0; i < hb.size(); ++i) {
    ASSERT_EQ(hb[i], 5.0) << i;
    ASSERT_EQ(ha2[i], 70.0) << i;
  }
  // a reduction across families sees the queued writes of both
  N_VConst(0.5, b2.get());
  EXPECT_EQ(N_VDotProd(a.get(), b2.get()), 7.0 * 0.5 * cells * n);
}

// ---------------------------------------------------------------------------------------------
// A small batch integrated on the GPU against the CPU

TEST_F(Gpu, BatchIntegrationMatchesCpu) {
  const int cells = 36;
  const CellLayout L{8, 3, 10};
  std::mt19937 rng(41);
  std::vector<CellParams> params(cells, reference_params());
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int c = 1; c < cells; ++c) {  // moderate spread: every cell must finish the stretch
    for (int k = 0; k < 3; ++k) params[c].particle_radius[k] *= 0.8 + 0.4 * u(rng);
    params[c].stack_pressure = 100e6 + 700e6 * u(rng);
    params[c].diffusivity_scale = 0.04 * (0.5 + u(rng));
  }
  auto setup = [&](BatchModel& m, Values& y) {
    y.assign(std::size_t(cells) * L.size(), 0.0);
    for (int c = 0; c < cells; ++c) {
      m.control(c) = {ControlMode::kCurrent, c == 4 ? 0.0 : 37.8 * (0.5 + u(rng)), 0.0};
      m.initial_guess(c, 0.5, y.data() + std::size_t(c) * L.size());
    }
    for (int c = 0; c < cells; c += 3) {  // some aged cells (film resistance)
      for (int q = 0; q < L.particles(); ++q) m.aging(c, q).layer_thickness = 1e-9;
      m.refresh_coefficients(c);
    }
    m.freeze(9, y.data() + std::size_t(9) * L.size());
  };
  BatchModel cpu_model(params, L), gpu_model(params, L);
  Values y_cpu, y_gpu0;
  rng.seed(43);
  setup(cpu_model, y_cpu);
  rng.seed(43);
  setup(gpu_model, y_gpu0);
  ASSERT_EQ(y_cpu, y_gpu0);

  const double t_end = 500.0;
  SolverConfig config;
  BatchIntegrator cpu(cpu_model, config);
  std::copy(y_cpu.begin(), y_cpu.end(), cpu.y());
  cpu.restart(0.0, nullptr);
  double t = 0.0;
  while (t < t_end) ASSERT_GE(cpu.step(t_end, &t), 0);

  cuda::GpuBatchIntegrator gpu(gpu_model, config);
  gpu.set_state(y_gpu0.data());
  gpu.restart(0.0);
  gpu.advance_to(t_end);
  const Values y_gpu = gpu.state();

  // Both integrate the same DAE at rtol 1e-6; rounding differences change the step sequence,
  // so the states agree to the global error, not bit for bit: 100 weights (rtol |y| + atol).
  for (int c = 0; c < cells; ++c) {
    const double* a = cpu.cell_state(c);
    const double* g = y_gpu.data() + std::size_t(c) * L.size();
    double worst = 0.0;
    int where = 0;
    Values atol(L.size());
    cpu_model.absolute_tolerances(
        config.absolute_tolerance_stoichiometry, config.absolute_tolerance_potential,
        config.absolute_tolerance_current, config.absolute_tolerance_charge, atol.data());
    for (int i = 0; i < L.size(); ++i) {
      const double e =
          std::fabs(a[i] - g[i]) / (config.relative_tolerance * std::fabs(a[i]) + atol[i]);
      if (!(e <= worst)) worst = e, where = i;
    }
    EXPECT_LT(worst, 100.0) << "cell " << c << ": " << cpu_model.describe_component(where)
                            << " CPU " << a[where] << " GPU " << g[where];
    EXPECT_NEAR(cpu_model.cell_voltage(c, a), gpu_model.cell_voltage(c, g), 1e-4) << "cell " << c;
  }
  // the frozen cell did not move
  for (int i = 0; i < L.size(); ++i)
    EXPECT_NEAR(y_gpu[std::size_t(9) * L.size() + i], gpu_model.frozen_state(9)[i],
                1e-12 * (1.0 + std::fabs(gpu_model.frozen_state(9)[i])));
  const auto sc = cpu.stats(), sg = gpu.stats();
  EXPECT_NEAR(double(sg.steps), double(sc.steps), 0.25 * sc.steps) << "IDA steps CPU vs GPU";
  RecordProperty("cpu_steps", int(sc.steps));
  RecordProperty("gpu_steps", int(sg.steps));
}

// The step-end root functions, the aging sampling and the terminal observables on the device
// equal the host's (the same models/ functions) on the planted batch: every kind of condition,
// frozen cells (g = -1, not sampled), stoichiometries at and beyond 0 and 1, zero current.
TEST_F(Gpu, RootAgingAndObservableKernelsMatchCpu) {
  Batch b = planted_batch(45, 71);
  BatchModel& m = *b.model;
  const CellLayout& L = b.layout;
  const int cells = m.cells();
  StepRoots roots;
  roots.t0 = 100.0;
  roots.kinds = {models::StepEnd::kVoltage, models::StepEnd::kCurrent, models::StepEnd::kTime,
                 models::StepEnd::kCapacity};
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int c = 0; c < cells; ++c) {
    roots.thresholds.insert(roots.thresholds.end(),
                            {3.0 + u(rng), 40.0 * u(rng), 3600.0 * u(rng), 2e4 * u(rng)});
    roots.voltage_direction.push_back(c % 2 == 0 ? 1.0 : -1.0);
    roots.voltage_offset.push_back(c % 3 == 0 ? 0.62 : 0.0);
  }
  cuda::Stream stream;
  cuda::DeviceBatchModel dm(cells, L);
  dm.upload(m, stream.get());
  dm.upload_roots(roots, stream.get());
  const auto y = to_device(b.y);

  const int k = roots.conditions();
  Values g_cpu(std::size_t(cells) * k), g_gpu(g_cpu.size());
  roots.evaluate(m, 250.0, b.y.data(), g_cpu.data());
  dm.root_values(250.0, y.get(), g_gpu.data(), stream.get());
  for (std::size_t i = 0; i < g_cpu.size(); ++i)
    EXPECT_NEAR(g_gpu[i], g_cpu[i], 1e-12 * (1.0 + std::fabs(g_cpu[i])))
        << "cell " << i / k << " condition " << i % k;
  for (int c : b.frozen)
    for (int j = 0; j < k; ++j) EXPECT_EQ(g_gpu[std::size_t(c) * k + j], -1.0) << "frozen " << c;

  Values v_gpu, i_gpu;
  dm.observables(y.get(), &v_gpu, &i_gpu, stream.get());
  for (int c = 0; c < cells; ++c) {
    const double* yc = b.y.data() + std::size_t(c) * L.size();
    EXPECT_NEAR(v_gpu[c], m.cell_voltage(c, yc), 1e-12 * (1.0 + std::fabs(v_gpu[c]))) << c;
    EXPECT_EQ(i_gpu[c], yc[L.current()]) << c;
  }

  // two samples (the second integrates the trapezoids), device vs host
  Values y2 = b.y;
  for (auto& v : y2) v *= 1.0 + 1e-3 * (u(rng) - 0.5);
  const auto y2_device = to_device(y2);
  BatchModel& host = m;
  std::vector<models::AgingAccumulator> before(host.accumulators(),
                                               host.accumulators() + cells * L.particles());
  host.sample_aging(0.0, b.y.data());
  host.sample_aging(30.0, y2.data());
  std::vector<models::AgingAccumulator> expected(host.accumulators(),
                                                 host.accumulators() + cells * L.particles());
  std::copy(before.begin(), before.end(), host.accumulators());  // back to the uploaded ones
  dm.sample_aging(0.0, y.get(), stream.get());
  dm.sample_aging(30.0, y2_device.get(), stream.get());
  dm.download_accumulators(host, stream.get());
  for (int i = 0; i < cells * L.particles(); ++i) {
    const auto& e = expected[i];
    const auto& a = host.accumulators()[i];
    EXPECT_EQ(a.started, e.started) << "particle " << i;
    EXPECT_NEAR(a.time, e.time, 1e-12 * (1.0 + e.time)) << i;
    EXPECT_NEAR(a.drive, e.drive, 1e-10 * (1e-30 + std::fabs(e.drive))) << i;
    EXPECT_NEAR(a.mean_x, e.mean_x, 1e-12 * (1.0 + std::fabs(e.mean_x))) << i;
    EXPECT_NEAR(a.hoop_power, e.hoop_power, 1e-10 * (1e-30 + std::fabs(e.hoop_power))) << i;
    EXPECT_NEAR(a.max_hoop, e.max_hoop, 1e-9 * (1.0 + std::fabs(e.max_hoop))) << i;
  }
}

// Cells whose events fall at different times (loading, C-rate via the 1C current, particle
// size, stack pressure): the protocol engine on the CUDA backend reproduces the CPU backend's
// per-cycle table over the first cycles of the reference protocol (formation, aging on).
TEST_F(Gpu, CyclerOnGpuReproducesCpuCycleTable) {
  register_cuda_backend_for_tests();
  const auto config = load_config("", {});
  const CellLayout L{6, 3, 8};
  std::vector<CellSetup> cells;
  std::mt19937 rng(17);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int c = 0; c < 40; ++c) {
    CellSetup s = cell_setup_from_config(config);
    if (c > 0) {
      s.one_c_current_density *= 0.6 + 0.8 * u(rng);
      s.params.stack_pressure *= 0.5 + u(rng);
      for (int k = 0; k < s.params.particle_classes; ++k)
        s.params.particle_radius[k] *= 0.8 + 0.4 * u(rng);
    }
    s.name = "cell " + std::to_string(c + 1);
    cells.push_back(s);
  }
  Protocol protocol = config.protocol;
  auto run = [&](Backend backend) {
    Cycler cycler(cells, L, config.solver, protocol, backend);
    std::vector<std::vector<CycleRecord>> table;
    cycler.run(
        3, [&](const std::vector<CycleRecord>& r) { table.push_back(r); }, nullptr, nullptr);
    return table;
  };
  const auto cpu = run(Backend::kCpu);
  const auto gpu = run(Backend::kCuda);
  ASSERT_EQ(cpu.size(), gpu.size());
  for (std::size_t k = 0; k < cpu.size(); ++k)
    for (std::size_t c = 0; c < cells.size(); ++c) {
      const auto &a = cpu[k][c], &g = gpu[k][c];
      ASSERT_FALSE(a.failed) << a.failure;
      ASSERT_FALSE(g.failed) << g.failure;
      // events located by IDA's root finding at rtol 1e-6: capacities agree to ~1e-4
      EXPECT_NEAR(g.discharge_capacity, a.discharge_capacity, 2e-4 * a.discharge_capacity)
          << "cycle " << k + 1 << " cell " << c + 1;
      EXPECT_NEAR(g.charge_capacity, a.charge_capacity, 2e-4 * a.charge_capacity)
          << "cycle " << k + 1 << " cell " << c + 1;
      EXPECT_NEAR(g.duration, a.duration, 2e-4 * a.duration) << "cycle " << k + 1;
      ASSERT_EQ(g.aging.size(), a.aging.size());
      for (std::size_t j = 0; j < a.aging.size(); ++j)
        EXPECT_NEAR(g.aging[j], a.aging[j], 1e-3 * std::fabs(a.aging[j]) + 1e-12)
            << "cycle " << k + 1 << " cell " << c + 1 << " aging column " << j;
    }
}

// The failure path on the device (issue 13): a cell whose residual is NaN from the start (a NaN
// exchange current) fails in its first step; describe_failure reads the per-cell non-finite
// flags and names it, and the other cells of the batch finish with the CPU backend's cycle.
TEST_F(Gpu, AFailingCellIsNamedAndTheOthersMatchTheCpu) {
  register_cuda_backend_for_tests();
  const auto config = load_config("", {});
  const CellLayout L{6, 3, 8};
  std::vector<CellSetup> cells(3, cell_setup_from_config(config));
  cells[2].params.stack_pressure *= 0.5;
  cells[1].params.exchange_current_mid = std::numeric_limits<double>::quiet_NaN();
  for (std::size_t c = 0; c < cells.size(); ++c) cells[c].name = "cell " + std::to_string(c + 1);
  auto run = [&](Backend backend) {
    Cycler cycler(cells, L, config.solver, config.protocol, backend);
    std::vector<CycleRecord> last;
    cycler.run(
        1, [&](const std::vector<CycleRecord>& r) { last = r; }, nullptr, nullptr);
    return last;
  };
  const auto cpu = run(Backend::kCpu);
  const auto gpu = run(Backend::kCuda);
  ASSERT_EQ(gpu.size(), 3u);
  ASSERT_EQ(cpu.size(), 3u);
  EXPECT_TRUE(gpu[1].failed);
  EXPECT_TRUE(cpu[1].failed);
  EXPECT_NE(gpu[1].failure.find("[cuda backend]"), std::string::npos) << gpu[1].failure;
  EXPECT_NE(gpu[1].failure.find("in cell 2"), std::string::npos) << gpu[1].failure;
  for (int c : {0, 2}) {
    ASSERT_FALSE(gpu[c].failed) << gpu[c].failure;
    EXPECT_NEAR(gpu[c].discharge_capacity, cpu[c].discharge_capacity,
                2e-4 * cpu[c].discharge_capacity)
        << "cell " << c + 1;
  }
}

// --backend auto (issue 13): with a device, a batch of at least kAutoCudaMinimumCells cells runs
// on the GPU and a smaller one on the CPU; the Cycler resolves it once for its batch.
TEST_F(Gpu, AutoBackendSendsBatchesFromTheThresholdOnToTheGpu) {
  register_cuda_backend_for_tests();
  EXPECT_EQ(resolve_backend(Backend::kAuto, 1), Backend::kCpu);
  EXPECT_EQ(resolve_backend(Backend::kAuto, kAutoCudaMinimumCells - 1), Backend::kCpu);
  EXPECT_EQ(resolve_backend(Backend::kAuto, kAutoCudaMinimumCells), Backend::kCuda);
  EXPECT_EQ(resolve_backend(Backend::kCpu, 100000), Backend::kCpu);
  const auto config = load_config("", {});
  const CellLayout L{2, 3, 3};
  for (const int cells : {kAutoCudaMinimumCells - 1, kAutoCudaMinimumCells}) {
    Cycler cycler(std::vector<CellSetup>(cells, cell_setup_from_config(config)), L, config.solver,
                  config.protocol, Backend::kAuto);
    const bool on_gpu = cells >= kAutoCudaMinimumCells;
    EXPECT_EQ(cycler.backend(), on_gpu ? Backend::kCuda : Backend::kCpu) << cells << " cells";
    EXPECT_EQ(std::string(cycler.integrator().backend_name()), on_gpu ? "cuda" : "cpu");
  }
}

#ifdef HALITE_EMULATED_BINARY
// Only in the emulation build (cuda/emulation): the halite executable with the emulated CUDA
// backend (HALITE_EMULATED_BINARY) against the CPU build (HALITE_BINARY).
class GpuCli : public Gpu {
 protected:
  void SetUp() override {
    Gpu::SetUp();
    dir_ = std::filesystem::temp_directory_path() /
           ("halite_gpu_cli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    Gpu::TearDown();
  }
  int run(const std::string& binary, const std::vector<std::string>& args,
          const std::string& environment = "", std::string* out = nullptr) const {
    std::string command = environment + "'" + binary + "'";
    for (const auto& a : args) command += " '" + a + "'";
    command += " >'" + (dir_ / "stdout").string() + "' 2>'" + (dir_ / "stderr").string() + "'";
    const int status = std::system(command.c_str());
    if (out != nullptr) {
      std::ifstream in(dir_ / "stdout");
      *out = std::string(std::istreambuf_iterator<char>(in), {});
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::filesystem::path dir_;
};

// `halite run --cycles 3 --backend cuda` (the kernels on the CPU, through the emulation) gives
// the CPU backend's cycle table: both integrate the same equations with the same IDA settings;
// only the reductions' summation order differs (a tree on the device).
TEST_F(GpuCli, HaliteRunOnTheCudaBackendAgreesWithTheCpu) {
  const std::string cuda_out = (dir_ / "cuda.h5").string(), cpu_out = (dir_ / "cpu.h5").string();
  ASSERT_EQ(run(HALITE_EMULATED_BINARY,
                {"run", "--cycles", "3", "-q", "--backend", "cuda", "-o", cuda_out}),
            0);
  ASSERT_EQ(run(HALITE_BINARY, {"run", "--cycles", "3", "-q", "--backend", "cpu", "-o", cpu_out}),
            0);
  const api::Result gpu = api::read_result(cuda_out), cpu = api::read_result(cpu_out);
  EXPECT_EQ(gpu.provenance.at("backend"), "cuda");
  EXPECT_EQ(cpu.provenance.at("backend"), "cpu");
  ASSERT_EQ(gpu.cells.size(), 1u);
  ASSERT_EQ(cpu.cells.size(), 1u);
  EXPECT_EQ(gpu.cells[0].status, "completed");
  const auto& g = gpu.cells[0].cycles;
  const auto& c = cpu.cells[0].cycles;
  ASSERT_EQ(g.cycles(), 3);
  ASSERT_EQ(c.cycles(), 3);
  ASSERT_EQ(g.columns.size(), c.columns.size());
  // The solver's own counters (steps, iterations, evaluations, failures) are how each backend got
  // there, not results.
  const std::set<std::string> counters = {"IDA steps",
                                          "Jacobian evaluations",
                                          "Residual evaluations",
                                          "Nonlinear iterations",
                                          "Nonlinear convergence failures",
                                          "Error test failures"};
  double worst = 0.0;
  std::string worst_column;
  for (std::size_t k = 0; k < c.columns.size(); ++k) {
    if (counters.count(c.columns[k].name) != 0) continue;
    double scale = 0.0;
    for (double v : c.values[k]) scale = std::max(scale, std::fabs(v));
    for (int n = 0; n < 3; ++n) {
      const double a = c.values[k][n], b = g.values[k][n];
      if (std::isnan(a) && std::isnan(b)) continue;
      const double e = std::fabs(a - b) / (scale > 0.0 ? scale : 1.0);
      if (!(e <= worst)) worst = e, worst_column = c.columns[k].name;
    }
  }
  RecordProperty("largest_relative_difference", std::to_string(worst));
  std::printf("largest difference, relative to the column's scale: %.3g (%s)\n", worst,
              worst_column.c_str());
  // events located by IDA's root finding at the default tolerances: 2e-4 of each column's
  // scale, the criterion of Gpu.CyclerOnGpuReproducesCpuCycleTable
  EXPECT_LE(worst, 2e-4) << worst_column;
}

// halite sweep --backend auto (the default): a group of at least kAutoCudaMinimumCells cases goes
// to the GPU where a device can be used, and to the CPU threads where none can
// (HALITE_CUDA_EMULATION_DEVICES=0 hides the emulated device).
TEST_F(GpuCli, SweepAutoSendsALargeGroupToTheGpuOnlyWhereADeviceIsFound) {
  const std::string sweep = (dir_ / "big.yaml").string();
  {
    std::ofstream f(sweep);
    f << "name: auto threshold\nfactors:\n  - key: cell.mechanics.stack_pressure\n"
         "    min: 50 MPa\n    max: 760 MPa\ndesign:\n  type: latin_hypercube\n  n_samples: "
      << kAutoCudaMinimumCells << "\n  seed: 1\n";
  }
  std::string out;
  ASSERT_EQ(run(HALITE_EMULATED_BINARY,
                {"sweep", sweep, "--dry-run", "--threads", "1", "-o", (dir_ / "s.h5").string()}, "",
                &out),
            0);
  EXPECT_NE(out.find("backend cuda"), std::string::npos) << out.substr(0, 400);
  EXPECT_NE(out.find("batch 0 (cuda):"), std::string::npos);
  ASSERT_EQ(run(HALITE_EMULATED_BINARY,
                {"sweep", sweep, "--dry-run", "--threads", "1", "-o", (dir_ / "s.h5").string()},
                "HALITE_CUDA_EMULATION_DEVICES=0 ", &out),
            0);
  EXPECT_NE(out.find("backend cpu"), std::string::npos) << out.substr(0, 400);
  EXPECT_NE(out.find("batch 0 (cpu):"), std::string::npos);
  EXPECT_EQ(out.find("(cuda)"), std::string::npos);
}
#endif  // HALITE_EMULATED_BINARY

}  // namespace
}  // namespace halite
