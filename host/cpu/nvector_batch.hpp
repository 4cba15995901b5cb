// A SUNDIALS N_Vector for a batch of independent cells ("batch vector"), plus RAII owners for
// N_Vector and SUNContext.
//
// Layout: B cells with n unknowns each, stored contiguously per cell in host memory, so cell b
// occupies data[b*n, (b+1)*n). Every clone of a vector shares one BatchMask that says which cells
// take part in the error norms; the integrator flips entries to freeze a finished or failed cell.
//
// Norm semantics (the reason this vector exists):
//   * N_VWrmsNorm / N_VWrmsNormMask return max over ACTIVE cells of that cell's own WRMS norm
//     sqrt(sum_i (x_i w_i)^2 / n). A single cell's large error is therefore never averaged away by
//     many quiet cells: the shared step and Newton iteration are controlled by the worst active
//     cell as tightly as if it were integrated alone, and for B = 1 the result equals the serial
//     WRMS norm. A NaN in an active cell propagates (so IDA rejects the step); no active cell
//     -> 0. Inactive cells are never read.
//   * N_VMaxNorm, N_VMin, N_VMinQuotient, N_VConstrMask, N_VInvTest run over ALL cells. IDA uses
//     them for tolerance/weight setup, constraints and IC line searches, where every entry must be
//     valid anyway; a frozen cell's y is held fixed (and was valid when frozen), so including it
//     is harmless and keeps these ops mask-independent. NaN entries (e.g. of a failed cell)
//     compare false and are skipped by max/min, as in the serial vector.
//   * N_VDotProd, N_VWL2Norm, N_VL1Norm keep standard semantics over all entries (Krylov solvers
//     need a true inner product). So with an iterative linear solver a frozen cell must keep a
//     finite, benign residual (e.g. F = y'): a NaN there would poison every Krylov inner product.
//     Element-wise ops and a block-diagonal direct solve keep a bad cell's values to that cell.
//
// Linear-solver note: with an iterative SUNLinearSolver, IDA converts its WRMS tolerance into an
// L2 tolerance with the factor sqrt(N_VGetLength) = sqrt(B*n), i.e. it assumes an averaged norm.
// Call IDASetLSNormFactor(ida_mem, std::sqrt(n)) so that the Krylov tolerance bounds every cell's
// WRMS residual, consistent with the max-over-cells norm above.
#pragma once

#include <sundials/sundials_context.h>
#include <sundials/sundials_nvector.h>

#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace halite {

static_assert(std::is_same_v<sunrealtype, double>, "halite requires double-precision SUNDIALS");

// Which cells participate in the WRMS norms. Owned jointly by every clone of a batch vector.
struct BatchMask {
  BatchMask() = default;
  explicit BatchMask(int cells) : active(static_cast<std::size_t>(cells), 1) {}

  std::vector<unsigned char> active;  // 1 = cell participates in norms, 0 = frozen / failed

  [[nodiscard]] int cells() const noexcept { return static_cast<int>(active.size()); }
  [[nodiscard]] bool is_active(int cell) const noexcept { return active[cell] != 0; }
  void set_active(int cell, bool on) noexcept { active[cell] = on ? 1 : 0; }
  [[nodiscard]] int active_count() const noexcept;
};

// The N_Vector content. Exposed so hot loops elsewhere can read it without the accessor calls.
struct BatchVectorContent {
  sunindextype length = 0;  // cells * per_cell
  int cells = 0;
  int per_cell = 0;
  double* data = nullptr;
  bool own_data = false;  // false after N_VSetArrayPointer or for N_VCloneEmpty results
  std::shared_ptr<BatchMask> mask;
};

// Creates a batch vector with owned, zero-initialized data. A null mask creates a fresh all-active
// one; otherwise mask->cells() must equal cells. Throws std::invalid_argument for bad sizes and
// std::bad_alloc when SUNDIALS cannot allocate. The caller owns the result (wrap it in NVectorPtr).
N_Vector make_batch_vector(SUNContext sunctx, int cells, int per_cell,
                           std::shared_ptr<BatchMask> mask = nullptr);

// True if v was created by make_batch_vector (or cloned from one).
[[nodiscard]] bool is_batch_vector(N_Vector v) noexcept;

// Accessors; v must be a batch vector.
[[nodiscard]] inline BatchVectorContent& batch_content(N_Vector v) noexcept {
  return *static_cast<BatchVectorContent*>(v->content);
}
[[nodiscard]] inline double* batch_data(N_Vector v) noexcept {
  return batch_content(v).data;
}
[[nodiscard]] inline int batch_cells(N_Vector v) noexcept {
  return batch_content(v).cells;
}
[[nodiscard]] inline int batch_per_cell(N_Vector v) noexcept {
  return batch_content(v).per_cell;
}
[[nodiscard]] inline BatchMask& batch_mask(N_Vector v) noexcept {
  return *batch_content(v).mask;
}

// Unique owner of an N_Vector (any implementation): N_VDestroy on destruction. Move-only.
class NVectorPtr {
 public:
  NVectorPtr() noexcept = default;
  explicit NVectorPtr(N_Vector v) noexcept : vector_(v) {}
  NVectorPtr(const NVectorPtr&) = delete;
  NVectorPtr& operator=(const NVectorPtr&) = delete;
  NVectorPtr(NVectorPtr&& other) noexcept : vector_(other.release()) {}
  NVectorPtr& operator=(NVectorPtr&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  ~NVectorPtr() { reset(); }

  [[nodiscard]] N_Vector get() const noexcept { return vector_; }
  [[nodiscard]] N_Vector release() noexcept { return std::exchange(vector_, nullptr); }
  void reset(N_Vector v = nullptr) noexcept {
    if (N_Vector old = std::exchange(vector_, v)) N_VDestroy(old);
  }
  explicit operator bool() const noexcept { return vector_ != nullptr; }

 private:
  N_Vector vector_ = nullptr;
};

// Owner of a SUNContext (SUNDIALS 6.4: SUNContext_Create(void* comm, SUNContext*)). Every SUNDIALS
// object created from it must be destroyed before it. Move-only; throws std::runtime_error if
// creation fails.
class SunContext {
 public:
  SunContext();
  SunContext(const SunContext&) = delete;
  SunContext& operator=(const SunContext&) = delete;
  SunContext(SunContext&& other) noexcept : context_(std::exchange(other.context_, nullptr)) {}
  SunContext& operator=(SunContext&& other) noexcept;
  ~SunContext();

  [[nodiscard]] SUNContext get() const noexcept { return context_; }
  operator SUNContext() const noexcept { return context_; }  // NOLINT: pass straight to SUNDIALS

 private:
  SUNContext context_ = nullptr;
};

}  // namespace halite
