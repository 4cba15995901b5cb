// Batch N_Vector: the SUNDIALS operation table. See nvector_batch.hpp for the norm semantics.
//
// Every op is a plain function with the C signature SUNDIALS expects; none allocates (except
// clone), throws, or dispatches per element. Outputs may alias inputs entry-for-entry (z == x or
// z == y), as SUNDIALS allows, so the kernels read an entry before writing the same entry and
// never use restrict on pointers that may alias.
#include "host/cpu/nvector_batch.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>

namespace halite {

int BatchMask::active_count() const noexcept {
  return static_cast<int>(
      std::count_if(active.begin(), active.end(), [](unsigned char on) { return on != 0; }));
}

namespace {

// 64-byte alignment: whole cache lines, and aligned SIMD loads if the compiler vectorizes.
constexpr std::align_val_t kDataAlignment{64};

double* allocate_data(sunindextype length) noexcept {
  auto* data = static_cast<double*>(::operator new[](
      static_cast<std::size_t>(length) * sizeof(double), kDataAlignment, std::nothrow));
  if (data != nullptr) std::fill_n(data, length, 0.0);  // deterministic contents for new clones
  return data;
}

void free_data(double* data) noexcept {
  if (data != nullptr) ::operator delete[](data, kDataAlignment);
}

BatchVectorContent& content(N_Vector v) noexcept {
  return batch_content(v);
}
double* data(N_Vector v) noexcept {
  return batch_content(v).data;
}
sunindextype length(N_Vector v) noexcept {
  return batch_content(v).length;
}

// Reduces term(i) for i in [0, count) with combine, keeping four independent partial results:
// this breaks the dependency chain of one running accumulator (which the compiler may not
// reassociate without -ffast-math) and, for sums, slightly reduces rounding error.
template <class Combine, class Term>
inline double reduce_terms(sunindextype count, double identity, Combine combine,
                           Term term) noexcept {
  double r0 = identity, r1 = identity, r2 = identity, r3 = identity;
  sunindextype i = 0;
  for (; i + 4 <= count; i += 4) {
    r0 = combine(r0, term(i));
    r1 = combine(r1, term(i + 1));
    r2 = combine(r2, term(i + 2));
    r3 = combine(r3, term(i + 3));
  }
  for (; i < count; ++i) r0 = combine(r0, term(i));
  return combine(combine(r0, r1), combine(r2, r3));
}

template <class Term>
inline double sum_terms(sunindextype count, Term term) noexcept {
  return reduce_terms(
      count, 0.0, [](double acc, double value) { return acc + value; }, term);
}

// Min/max that skip NaN values (a comparison with NaN is false), like the serial vector does.
constexpr auto kKeepLarger = [](double acc, double value) { return value > acc ? value : acc; };
constexpr auto kKeepSmaller = [](double acc, double value) { return value < acc ? value : acc; };

// max over active cells of that cell's sum of squares, fed by cell_sqr_sum(offset, per_cell);
// then converted to that cell's WRMS norm. A NaN in an active cell propagates (so IDA rejects the
// step instead of seeing a small norm); inactive cells are never read.
template <class CellSqrSum>
inline double max_active_cell_wrms(const BatchVectorContent& c, CellSqrSum cell_sqr_sum) noexcept {
  const unsigned char* active = c.mask->active.data();
  const sunindextype n = c.per_cell;
  double max_sqr_sum = 0.0;
  for (int b = 0; b < c.cells; ++b) {
    if (active[b] == 0) continue;
    const double sqr_sum = cell_sqr_sum(static_cast<sunindextype>(b) * n, n);
    if (std::isnan(sqr_sum)) return sqr_sum;
    max_sqr_sum = std::max(max_sqr_sum, sqr_sum);
  }
  return std::sqrt(max_sqr_sum / static_cast<double>(n));
}

// ---------------------------------------------------------------------------------------------
// Constructors, destructor, utilities

N_Vector_ID batch_get_vector_id(N_Vector) {
  return SUNDIALS_NVEC_CUSTOM;
}

N_Vector batch_clone_empty(N_Vector w) {
  if (w == nullptr) return nullptr;
  N_Vector v = N_VNewEmpty(w->sunctx);
  if (v == nullptr) return nullptr;
  if (N_VCopyOps(w, v) != 0) {
    N_VFreeEmpty(v);
    return nullptr;
  }
  const BatchVectorContent& source = content(w);
  auto* fresh =
      new (std::nothrow) BatchVectorContent{source.length, source.cells, source.per_cell, nullptr,
                                            false,         source.mask};  // the mask is shared
  if (fresh == nullptr) {
    N_VFreeEmpty(v);
    return nullptr;
  }
  v->content = fresh;
  return v;
}

void batch_destroy(N_Vector v) {
  if (v == nullptr) return;
  if (auto* c = static_cast<BatchVectorContent*>(v->content)) {
    if (c->own_data) free_data(c->data);
    delete c;
    v->content = nullptr;
  }
  N_VFreeEmpty(v);
}

N_Vector batch_clone(N_Vector w) {
  N_Vector v = batch_clone_empty(w);
  if (v == nullptr) return nullptr;
  BatchVectorContent& c = content(v);
  c.data = allocate_data(c.length);
  if (c.data == nullptr) {
    batch_destroy(v);
    return nullptr;
  }
  c.own_data = true;
  return v;
}

void batch_space(N_Vector v, sunindextype* real_words, sunindextype* int_words) {
  *real_words = length(v);
  *int_words = 2;  // cells, per_cell (the mask is shared by all clones)
}

sunrealtype* batch_get_array_pointer(N_Vector v) {
  return data(v);
}

// Adopts caller-owned storage: any owned buffer is released first and the vector stops owning.
void batch_set_array_pointer(sunrealtype* new_data, N_Vector v) {
  BatchVectorContent& c = content(v);
  if (c.own_data && c.data != new_data) free_data(c.data);
  c.data = new_data;
  c.own_data = false;
}

sunindextype batch_get_length(N_Vector v) {
  return length(v);
}

// ---------------------------------------------------------------------------------------------
// Standard element-wise operations

void batch_linear_sum(sunrealtype a, N_Vector x, sunrealtype b, N_Vector y, N_Vector z) {
  const sunindextype n = length(z);
  const double* xd = data(x);
  const double* yd = data(y);
  double* zd = data(z);
  for (sunindextype i = 0; i < n; ++i) zd[i] = a * xd[i] + b * yd[i];
}

void batch_const(sunrealtype c, N_Vector z) {
  std::fill_n(data(z), length(z), c);
}

void batch_prod(N_Vector x, N_Vector y, N_Vector z) {
  const sunindextype n = length(z);
  const double* xd = data(x);
  const double* yd = data(y);
  double* zd = data(z);
  for (sunindextype i = 0; i < n; ++i) zd[i] = xd[i] * yd[i];
}

void batch_div(N_Vector x, N_Vector y, N_Vector z) {
  const sunindextype n = length(z);
  const double* xd = data(x);
  const double* yd = data(y);
  double* zd = data(z);
  for (sunindextype i = 0; i < n; ++i) zd[i] = xd[i] / yd[i];
}

void batch_scale(sunrealtype c, N_Vector x, N_Vector z) {
  const sunindextype n = length(z);
  const double* xd = data(x);
  double* zd = data(z);
  for (sunindextype i = 0; i < n; ++i) zd[i] = c * xd[i];
}

void batch_abs(N_Vector x, N_Vector z) {
  const sunindextype n = length(z);
  const double* xd = data(x);
  double* zd = data(z);
  for (sunindextype i = 0; i < n; ++i) zd[i] = std::fabs(xd[i]);
}

void batch_inv(N_Vector x, N_Vector z) {
  const sunindextype n = length(z);
  const double* xd = data(x);
  double* zd = data(z);
  for (sunindextype i = 0; i < n; ++i) zd[i] = 1.0 / xd[i];
}

void batch_add_const(N_Vector x, sunrealtype b, N_Vector z) {
  const sunindextype n = length(z);
  const double* xd = data(x);
  double* zd = data(z);
  for (sunindextype i = 0; i < n; ++i) zd[i] = xd[i] + b;
}

void batch_compare(sunrealtype c, N_Vector x, N_Vector z) {
  const sunindextype n = length(z);
  const double* xd = data(x);
  double* zd = data(z);
  for (sunindextype i = 0; i < n; ++i) zd[i] = std::fabs(xd[i]) >= c ? 1.0 : 0.0;
}

// ---------------------------------------------------------------------------------------------
// Reductions over all entries (standard semantics)

sunrealtype batch_dot_prod(N_Vector x, N_Vector y) {
  const double* xd = data(x);
  const double* yd = data(y);
  return sum_terms(length(x), [=](sunindextype i) { return xd[i] * yd[i]; });
}

sunrealtype batch_wl2_norm(N_Vector x, N_Vector w) {
  const double* xd = data(x);
  const double* wd = data(w);
  return std::sqrt(sum_terms(length(x), [=](sunindextype i) {
    const double p = xd[i] * wd[i];
    return p * p;
  }));
}

sunrealtype batch_l1_norm(N_Vector x) {
  const double* xd = data(x);
  return sum_terms(length(x), [=](sunindextype i) { return std::fabs(xd[i]); });
}

// All cells (see header): constraint and weight checks need every entry to be valid.
sunrealtype batch_max_norm(N_Vector x) {
  const double* xd = data(x);
  return reduce_terms(length(x), 0.0, kKeepLarger,
                      [=](sunindextype i) { return std::fabs(xd[i]); });
}

// NaN entries are skipped (+inf if every entry is NaN).
sunrealtype batch_min(N_Vector x) {
  const double* xd = data(x);
  return reduce_terms(length(x), std::numeric_limits<double>::infinity(), kKeepSmaller,
                      [=](sunindextype i) { return xd[i]; });
}

// z = 1/x where x != 0; returns false if any x is zero (those z entries are left untouched).
sunbooleantype batch_inv_test(N_Vector x, N_Vector z) {
  const sunindextype n = length(z);
  const double* xd = data(x);
  double* zd = data(z);
  bool no_zero = true;
  for (sunindextype i = 0; i < n; ++i) {
    if (xd[i] == 0.0) {
      no_zero = false;
    } else {
      zd[i] = 1.0 / xd[i];
    }
  }
  return no_zero ? SUNTRUE : SUNFALSE;
}

// m_i = 1 where constraint c_i is violated by x_i (c = +-2: strictly positive/negative,
// c = +-1: non-negative/non-positive, 0: none), else 0; returns false if any is violated.
sunbooleantype batch_constr_mask(N_Vector c, N_Vector x, N_Vector m) {
  const sunindextype n = length(x);
  const double* cd = data(c);
  const double* xd = data(x);
  double* md = data(m);
  bool all_satisfied = true;
  for (sunindextype i = 0; i < n; ++i) {
    const double ci = cd[i];
    const double product = xd[i] * ci;
    const double magnitude = std::fabs(ci);
    const bool violated = (magnitude > 1.5 && product <= 0.0) || (magnitude > 0.5 && product < 0.0);
    md[i] = violated ? 1.0 : 0.0;
    all_satisfied = all_satisfied && !violated;
  }
  return all_satisfied ? SUNTRUE : SUNFALSE;
}

// min over denom_i != 0 of num_i / denom_i; SUN_BIG_REAL if every denominator is zero.
sunrealtype batch_min_quotient(N_Vector num, N_Vector denom) {
  const sunindextype n = length(num);
  const double* nd = data(num);
  const double* dd = data(denom);
  double min_quotient = SUN_BIG_REAL;
  for (sunindextype i = 0; i < n; ++i) {
    if (dd[i] != 0.0) min_quotient = std::min(min_quotient, nd[i] / dd[i]);
  }
  return min_quotient;
}

// ---------------------------------------------------------------------------------------------
// WRMS norms: max over active cells of each cell's own norm

sunrealtype batch_wrms_norm(N_Vector x, N_Vector w) {
  const double* xd = data(x);
  const double* wd = data(w);
  return max_active_cell_wrms(content(x), [=](sunindextype offset, sunindextype n) {
    const double* xc = xd + offset;
    const double* wc = wd + offset;
    return sum_terms(n, [=](sunindextype i) {
      const double p = xc[i] * wc[i];
      return p * p;
    });
  });
}

// As wrmsnorm, counting only entries with id_i > 0 but still dividing by the full cell length
// (the serial N_VWrmsNormMask divides by the full vector length the same way).
sunrealtype batch_wrms_norm_mask(N_Vector x, N_Vector w, N_Vector id) {
  const double* xd = data(x);
  const double* wd = data(w);
  const double* idd = data(id);
  return max_active_cell_wrms(content(x), [=](sunindextype offset, sunindextype n) {
    const double* xc = xd + offset;
    const double* wc = wd + offset;
    const double* idc = idd + offset;
    return sum_terms(n, [=](sunindextype i) {
      const double p = xc[i] * wc[i];
      return idc[i] > 0.0 ? p * p : 0.0;
    });
  });
}

// ---------------------------------------------------------------------------------------------
// Fused operations

// Entries per block of the linear-combination accumulator: 4 KiB stays in L1 while every input is
// streamed through once, and any aliasing between z and the X[i] is harmless.
constexpr sunindextype kCombineBlock = 512;

// z = sum_i c_i X_i (z may be any of the X_i). Summed in the order i = 0, 1, ..., like the
// serial implementation, so results match it bit for bit.
int batch_linear_combination(int nvec, sunrealtype* c, N_Vector* X, N_Vector z) {
  if (nvec < 1) return -1;
  const sunindextype n = length(z);
  double* zd = data(z);
  double block[kCombineBlock];
  for (sunindextype start = 0; start < n; start += kCombineBlock) {
    const sunindextype count = std::min(kCombineBlock, n - start);
    const double c0 = c[0];
    const double* x0 = data(X[0]) + start;
    for (sunindextype i = 0; i < count; ++i) block[i] = c0 * x0[i];
    for (int k = 1; k < nvec; ++k) {
      const double ck = c[k];
      const double* xk = data(X[k]) + start;
      for (sunindextype i = 0; i < count; ++i) block[i] += ck * xk[i];
    }
    std::copy_n(block, count, zd + start);
  }
  return 0;
}

// Z_k = a_k x + Y_k for k < nvec (Z_k may be Y_k).
int batch_scale_add_multi(int nvec, sunrealtype* a, N_Vector x, N_Vector* Y, N_Vector* Z) {
  if (nvec < 1) return -1;
  const sunindextype n = length(x);
  const double* xd = data(x);
  for (int k = 0; k < nvec; ++k) {
    const double ak = a[k];
    const double* yd = data(Y[k]);
    double* zd = data(Z[k]);
    for (sunindextype i = 0; i < n; ++i) zd[i] = ak * xd[i] + yd[i];
  }
  return 0;
}

int batch_dot_prod_multi(int nvec, N_Vector x, N_Vector* Y, sunrealtype* dot_prods) {
  if (nvec < 1) return -1;
  for (int k = 0; k < nvec; ++k) dot_prods[k] = batch_dot_prod(x, Y[k]);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Vector-array operations

int batch_linear_sum_vector_array(int nvec, sunrealtype a, N_Vector* X, sunrealtype b, N_Vector* Y,
                                  N_Vector* Z) {
  if (nvec < 1) return -1;
  for (int k = 0; k < nvec; ++k) batch_linear_sum(a, X[k], b, Y[k], Z[k]);
  return 0;
}

int batch_scale_vector_array(int nvec, sunrealtype* c, N_Vector* X, N_Vector* Z) {
  if (nvec < 1) return -1;
  for (int k = 0; k < nvec; ++k) batch_scale(c[k], X[k], Z[k]);
  return 0;
}

int batch_const_vector_array(int nvec, sunrealtype c, N_Vector* Z) {
  if (nvec < 1) return -1;
  for (int k = 0; k < nvec; ++k) batch_const(c, Z[k]);
  return 0;
}

int batch_wrms_norm_vector_array(int nvec, N_Vector* X, N_Vector* W, sunrealtype* norms) {
  if (nvec < 1) return -1;
  for (int k = 0; k < nvec; ++k) norms[k] = batch_wrms_norm(X[k], W[k]);
  return 0;
}

int batch_wrms_norm_mask_vector_array(int nvec, N_Vector* X, N_Vector* W, N_Vector id,
                                      sunrealtype* norms) {
  if (nvec < 1) return -1;
  for (int k = 0; k < nvec; ++k) norms[k] = batch_wrms_norm_mask(X[k], W[k], id);
  return 0;
}

// The single operation table every batch vector points at (N_VCopyOps copies it into clones).
void install_ops(N_Vector_Ops ops) {
  ops->nvgetvectorid = batch_get_vector_id;
  ops->nvclone = batch_clone;
  ops->nvcloneempty = batch_clone_empty;
  ops->nvdestroy = batch_destroy;
  ops->nvspace = batch_space;
  ops->nvgetarraypointer = batch_get_array_pointer;
  ops->nvsetarraypointer = batch_set_array_pointer;
  ops->nvgetlength = batch_get_length;
  // Host memory, no communicator: nvgetdevicearraypointer / nvgetcommunicator stay NULL.

  ops->nvlinearsum = batch_linear_sum;
  ops->nvconst = batch_const;
  ops->nvprod = batch_prod;
  ops->nvdiv = batch_div;
  ops->nvscale = batch_scale;
  ops->nvabs = batch_abs;
  ops->nvinv = batch_inv;
  ops->nvaddconst = batch_add_const;
  ops->nvdotprod = batch_dot_prod;
  ops->nvmaxnorm = batch_max_norm;
  ops->nvwrmsnorm = batch_wrms_norm;
  ops->nvwrmsnormmask = batch_wrms_norm_mask;
  ops->nvmin = batch_min;
  ops->nvwl2norm = batch_wl2_norm;
  ops->nvl1norm = batch_l1_norm;
  ops->nvcompare = batch_compare;
  ops->nvinvtest = batch_inv_test;
  ops->nvconstrmask = batch_constr_mask;
  ops->nvminquotient = batch_min_quotient;

  ops->nvlinearcombination = batch_linear_combination;
  ops->nvscaleaddmulti = batch_scale_add_multi;
  ops->nvdotprodmulti = batch_dot_prod_multi;

  ops->nvlinearsumvectorarray = batch_linear_sum_vector_array;
  ops->nvscalevectorarray = batch_scale_vector_array;
  ops->nvconstvectorarray = batch_const_vector_array;
  ops->nvwrmsnormvectorarray = batch_wrms_norm_vector_array;
  ops->nvwrmsnormmaskvectorarray = batch_wrms_norm_mask_vector_array;
  // nvscaleaddmultivectorarray / nvlinearcombinationvectorarray: NULL, SUNDIALS falls back to
  // the fused ops above (only sensitivity solvers use them).

  // One address space, so the local reductions are the global ones.
  ops->nvdotprodlocal = batch_dot_prod;
  ops->nvmaxnormlocal = batch_max_norm;
  ops->nvminlocal = batch_min;
  ops->nvl1normlocal = batch_l1_norm;
  ops->nvinvtestlocal = batch_inv_test;
  ops->nvconstrmasklocal = batch_constr_mask;
  ops->nvminquotientlocal = batch_min_quotient;
  // nvwsqrsumlocal / nvwsqrsummasklocal stay NULL on purpose: a plain sum of squares would let a
  // wrapper (e.g. a ManyVector computing sqrt(sum / N)) silently rebuild the averaged norm this
  // vector exists to avoid. Without them the ManyVector falls back to N_VWrmsNorm(...)^2 * length,
  // which keeps the max-over-cells semantics.
}

}  // namespace

N_Vector make_batch_vector(SUNContext sunctx, int cells, int per_cell,
                           std::shared_ptr<BatchMask> mask) {
  if (sunctx == nullptr) throw std::invalid_argument("make_batch_vector: null SUNContext");
  if (cells < 1 || per_cell < 1) {
    throw std::invalid_argument("make_batch_vector: need cells >= 1 and per_cell >= 1, got " +
                                std::to_string(cells) + " x " + std::to_string(per_cell));
  }
  if (mask == nullptr) {
    mask = std::make_shared<BatchMask>(cells);
  } else if (mask->cells() != cells) {
    throw std::invalid_argument("make_batch_vector: mask has " + std::to_string(mask->cells()) +
                                " cells, vector has " + std::to_string(cells));
  }

  const sunindextype total = static_cast<sunindextype>(cells) * per_cell;
  auto* fresh = new BatchVectorContent{total, cells, per_cell, nullptr, false, std::move(mask)};
  fresh->data = allocate_data(total);
  if (fresh->data == nullptr) {
    delete fresh;
    throw std::bad_alloc();
  }
  fresh->own_data = true;

  N_Vector v = N_VNewEmpty(sunctx);
  if (v == nullptr) {
    free_data(fresh->data);
    delete fresh;
    throw std::bad_alloc();
  }
  install_ops(v->ops);
  v->content = fresh;
  return v;
}

bool is_batch_vector(N_Vector v) noexcept {
  return v != nullptr && v->ops != nullptr && v->ops->nvclone == batch_clone &&
         v->content != nullptr;
}

SunContext::SunContext() {
  if (SUNContext_Create(nullptr, &context_) != 0 || context_ == nullptr) {
    throw std::runtime_error("SUNContext_Create failed");
  }
}

SunContext& SunContext::operator=(SunContext&& other) noexcept {
  if (this != &other) {
    if (context_ != nullptr) SUNContext_Free(&context_);
    context_ = std::exchange(other.context_, nullptr);
  }
  return *this;
}

SunContext::~SunContext() {
  if (context_ != nullptr) SUNContext_Free(&context_);
}

}  // namespace halite
