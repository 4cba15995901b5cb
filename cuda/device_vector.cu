// Device batch N_Vector: the SUNDIALS operation table as CUDA kernels. See device_vector.hpp for
// the layout and the norm semantics.
//
// Kernel-launch budget (what IDA sees per call):
//   element-wise ops, fused ops, vector-array ops  : deferred, 0 launches (see below)
//   every reduction (dot, norms, min, tests)       : 1 launch + 1 copy of <= 16 doubles back
//
// Deferred element-wise ops: an element-wise op only records itself (DeviceElementOp) in the
// family's queue. The queue runs inside the next reduction's launch (each thread applies the
// queued ops to entry i, in order, before it reads entry i), or in one launch of its own when a
// kernel or a copy outside the vector ops asks for a device pointer (device_data), when the
// queue is full, or before an op that cannot take it. Entry i of an element-wise op depends only
// on entry i of its operands, so running the ops entry by entry gives exactly the values of
// running them one after the other; only the launch count changes (IDA issues 15-20
// element-wise ops per step between its norms and the residual and linear-solve kernels).
// Reductions are single-launch and deterministic: each block reduces its part, the last block to
// finish (atomic ticket) combines the per-block partials in a fixed order. The per-cell WRMS norm
// is one warp per cell (coalesced over the cell's contiguous slice), max over cells in the same
// launch. Fused ops take up to kMaxFused vectors by value in the kernel arguments.
//
// This file is compiled with --fmad=false: element-wise results are then bit-identical to the
// host batch vector (same IEEE operations in the same order), which the conformance tests check.
#include <algorithm>
#include <cmath>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>

#include "cuda/device_vector.hpp"

namespace halite::cuda {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxFused = DeviceBatchShared::kMaxSlots;  // vectors per fused launch
constexpr int kMaxBlocks = DeviceBatchShared::kMaxBlocks;

struct ConstPtrs {
  const double* p[kMaxFused];
};
struct Coefs {
  double c[kMaxFused];
};

// ---------------------------------------------------------------------------------------------
// Device building blocks

// Combining functions. Max/min skip NaN (a comparison with NaN is false), as the host vector.
struct SumOp {
  __device__ double operator()(double a, double b) const { return a + b; }
};
struct MaxSkipNaN {
  __device__ double operator()(double acc, double v) const { return v > acc ? v : acc; }
};
struct MinSkipNaN {
  __device__ double operator()(double acc, double v) const { return v < acc ? v : acc; }
};
// Max that propagates NaN (a NaN cell norm must reach IDA).
struct MaxKeepNaN {
  __device__ double operator()(double a, double b) const {
    if (a != a) return a;
    if (b != b) return b;
    return b > a ? b : a;
  }
};

// The element-wise ops. Each formula is written once, here; deferred ops and the host batch
// vector (host/cpu/nvector_batch.cpp) do the same IEEE operations in the same order, so results
// are bit-identical (this file is compiled without FMA contraction).
enum ElementKind : int {
  kLinearSum,          // z = a x + b y
  kConst,              // z = a
  kProd,               // z = x y
  kDiv,                // z = x / y
  kScale,              // z = a x
  kAbs,                // z = |x|
  kInv,                // z = 1 / x
  kAddConst,           // z = x + a
  kCompare,            // z = |x| >= a ? 1 : 0
  kLinearCombination,  // z_0 = sum_k c_k x_k (any x_k may be z_0)
  kScaleAddMulti,      // z_k = c_k x_0 + y_k
  kLinearSumArray,     // z_k = a x_k + b y_k
  kScaleArray,         // z_k = c_k x_k
  kConstArray,         // z_k = a
};

__device__ inline void apply_element_op(const DeviceElementOp& op, sunindextype i) {
  switch (op.kind) {
    case kLinearSum:
      op.z[0][i] = op.a * op.x[0][i] + op.b * op.y[0][i];
      break;
    case kConst:
      op.z[0][i] = op.a;
      break;
    case kProd:
      op.z[0][i] = op.x[0][i] * op.y[0][i];
      break;
    case kDiv:
      op.z[0][i] = op.x[0][i] / op.y[0][i];
      break;
    case kScale:
      op.z[0][i] = op.a * op.x[0][i];
      break;
    case kAbs:
      op.z[0][i] = fabs(op.x[0][i]);
      break;
    case kInv:
      op.z[0][i] = 1.0 / op.x[0][i];
      break;
    case kAddConst:
      op.z[0][i] = op.x[0][i] + op.a;
      break;
    case kCompare:
      op.z[0][i] = fabs(op.x[0][i]) >= op.a ? 1.0 : 0.0;
      break;
    case kLinearCombination: {
      double acc = op.c[0] * op.x[0][i];
      for (int k = 1; k < op.count; ++k) acc += op.c[k] * op.x[k][i];
      op.z[0][i] = acc;
      break;
    }
    case kScaleAddMulti: {
      const double xi = op.x[0][i];
      for (int k = 0; k < op.count; ++k) op.z[k][i] = op.c[k] * xi + op.y[k][i];
      break;
    }
    case kLinearSumArray:
      for (int k = 0; k < op.count; ++k) op.z[k][i] = op.a * op.x[k][i] + op.b * op.y[k][i];
      break;
    case kScaleArray:
      for (int k = 0; k < op.count; ++k) op.z[k][i] = op.c[k] * op.x[k][i];
      break;
    case kConstArray:
      for (int k = 0; k < op.count; ++k) op.z[k][i] = op.a;
      break;
  }
}
__device__ inline void apply_pending(const DevicePendingOps& q, sunindextype i) {
  for (int k = 0; k < q.size; ++k) apply_element_op(q.ops[k], i);
}

template <class Op>
__device__ double warp_allreduce(double v, Op op) {
  for (int offset = 16; offset > 0; offset >>= 1)
    v = op(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Reduces v over the block; the result is valid in thread 0. blockDim.x: a multiple of 32.
template <class Op>
__device__ double block_reduce(double v, Op op, double identity) {
  __shared__ double warp_values[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_allreduce(v, op);
  __syncthreads();  // warp_values may still be read by a previous call
  if (lane == 0) warp_values[warp] = v;
  __syncthreads();
  const int warps = blockDim.x >> 5;
  v = int(threadIdx.x) < warps ? warp_values[threadIdx.x] : identity;
  if (warp == 0) v = warp_allreduce(v, op);
  return v;
}

// Called by every thread of every block with its block's value (valid in thread 0): the last
// block to arrive combines the partials of all blocks of this slot in a fixed order and writes
// results[slot]. The counter wraps back to zero (atomicInc), ready for the next launch.
template <class Op>
__device__ void finish_reduction(double block_value, Op op, double identity, double* partials,
                                 unsigned int* counters, double* results, int slot) {
  __shared__ bool is_last;
  if (threadIdx.x == 0) {
    partials[slot * kMaxBlocks + blockIdx.x] = block_value;
    __threadfence();
    const unsigned int ticket = atomicInc(&counters[slot], gridDim.x - 1);
    is_last = ticket == gridDim.x - 1;
  }
  __syncthreads();
  if (!is_last) return;
  __threadfence();
  double v = identity;
  for (unsigned int b = threadIdx.x; b < gridDim.x; b += blockDim.x)
    v = op(v, __ldcg(&partials[slot * kMaxBlocks + b]));
  v = block_reduce(v, op, identity);
  if (threadIdx.x == 0) results[slot] = v;
}

template <class F>
__global__ void for_each_kernel(sunindextype n, F f) {
  const sunindextype stride = sunindextype(blockDim.x) * gridDim.x;
  for (sunindextype i = sunindextype(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    f(i);
}

// gridDim.y = number of reductions (slots); term(slot, i) gives entry i's contribution (and may
// write element-wise outputs as a side effect).
template <class Term, class Op>
__global__ void reduce_kernel(sunindextype n, Term term, Op op, double identity, double* partials,
                              unsigned int* counters, double* results) {
  const int slot = blockIdx.y;
  const sunindextype stride = sunindextype(blockDim.x) * gridDim.x;
  double acc = identity;
  for (sunindextype i = sunindextype(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    acc = op(acc, term(slot, i));
  acc = block_reduce(acc, op, identity);
  finish_reduction(acc, op, identity, partials, counters, results, slot);
}

// Max over active cells of each cell's sum of (x w)^2 [id > 0]; one warp per cell, gridDim.y
// pairs (X[slot], W[slot]). Inactive cells are never read.
// q: deferred element-wise ops, applied to every entry of every cell (active or not) before it is
// read; only with gridDim.y == 1 (each entry visited once).
template <bool Masked>
__global__ void cell_wrms_kernel(int cells, int per_cell, ConstPtrs X, ConstPtrs W,
                                 const double* id, const unsigned char* active, DevicePendingOps q,
                                 double* partials, unsigned int* counters, double* results) {
  const int slot = blockIdx.y;
  const double* x = X.p[slot];
  const double* w = W.p[slot];
  const int lane = threadIdx.x & 31;
  const int warps_per_block = blockDim.x >> 5;
  const int first = blockIdx.x * warps_per_block + (threadIdx.x >> 5);
  const int stride = gridDim.x * warps_per_block;
  const MaxKeepNaN max_op;
  double best = 0.0;
  for (int c = first; c < cells; c += stride) {
    const sunindextype offset = sunindextype(c) * per_cell;
    if (active[c] == 0) {  // uniform in the warp
      for (int i = lane; i < per_cell; i += 32) apply_pending(q, offset + i);
      continue;
    }
    double s = 0.0;
    for (int i = lane; i < per_cell; i += 32) {
      apply_pending(q, offset + i);
      const double p = x[offset + i] * w[offset + i];
      if (!Masked || id[offset + i] > 0.0) s += p * p;
    }
    s = warp_allreduce(s, SumOp{});
    best = max_op(best, s);
  }
  best = block_reduce(best, max_op, 0.0);
  finish_reduction(best, max_op, 0.0, partials, counters, results, slot);
}

// ---------------------------------------------------------------------------------------------
// Host side

DeviceVectorContent& content(N_Vector v) noexcept {
  return device_content(v);
}
// The family an op runs in (set by the guarded wrappers below), and whether it touched a vector
// of another family. IDA only mixes clones of one vector (one family), so this is the rare path:
// a vector of another family is brought up to date first (its queue run, its stream waited for),
// and the op's own queue is then run and waited for at the op's end, so that neither family's
// later work can reorder around the op.
thread_local DeviceBatchShared* op_family = nullptr;
thread_local bool op_crossed_families = false;

double* data(N_Vector v) noexcept {
  DeviceVectorContent& c = device_content(v);
  if (op_family != nullptr && c.shared.get() != op_family) {
    op_crossed_families = true;
    c.shared->flush();
    try {
      c.shared->synchronize();
    } catch (const std::exception& e) {
      c.shared->record_error(e.what());
    }
  }
  return c.data;
}
sunindextype length(N_Vector v) noexcept {
  return device_content(v).length;
}
DeviceBatchShared& shared(N_Vector v) noexcept {
  return *device_content(v).shared;
}

int blocks_for(sunindextype n, sunindextype per_thread) {
  const sunindextype b = (n + kThreads * per_thread - 1) / (kThreads * per_thread);
  return int(std::clamp<sunindextype>(b, 1, kMaxBlocks));
}

template <class F>
void launch_for_each(DeviceBatchShared& s, sunindextype n, F f) {
  if (n <= 0) return;
  const int grid = int(std::min<sunindextype>((n + kThreads - 1) / kThreads, 65535));
  const PhaseScope timed(s.timer, DevicePhase::kVectorOps, s.stream.get());
  HALITE_LAUNCH(for_each_kernel, grid, kThreads, 0, s.stream.get(), n, f);
  HALITE_CUDA_CHECK_LAUNCH();
  ++s.kernel_launches;
}

// The family's deferred ops, taken out of the queue (to pass to a launch that runs them).
DevicePendingOps take_pending(DeviceBatchShared& s) {
  DevicePendingOps q = s.pending;
  s.deferred_ops += q.size;
  s.pending.size = 0;
  return q;
}

// Runs the queue in one launch of its own.
void launch_pending(DeviceBatchShared& s, sunindextype n) {
  if (s.pending.size == 0) return;
  const DevicePendingOps q = take_pending(s);
  s.deferred_ops -= q.size;  // (they ran in a launch of their own)
  launch_for_each(s, n, [=] __device__(sunindextype i) { apply_pending(q, i); });
}

sunindextype family_length(const DeviceBatchShared& s) {
  return sunindextype(s.cells) * s.per_cell;
}

// Records op in the queue of z's family (launching the queue first when it is full).
void defer(N_Vector z, const DeviceElementOp& op) {
  DeviceBatchShared& s = shared(z);
  if (s.pending.size == DevicePendingOps::kMaxOps) launch_pending(s, family_length(s));
  s.pending.ops[s.pending.size++] = op;
}

// Copies `slots` results back and waits for them.
void fetch_results(DeviceBatchShared& s, int slots, double* out) {
  HALITE_CUDA_CHECK(cudaMemcpyAsync(s.host_results.get(), s.results.get(), slots * sizeof(double),
                                    cudaMemcpyDeviceToHost, s.stream.get()));
  HALITE_CUDA_CHECK(cudaStreamSynchronize(s.stream.get()));
  ++s.reductions;
  for (int k = 0; k < slots; ++k) out[k] = s.host_results[k];
}

template <class Term, class Op>
void reduce(DeviceBatchShared& s, sunindextype n, int slots, Term term, Op op, double identity,
            double* out) {
  // With one slot the deferred ops run in the same launch (each entry is visited once).
  const dim3 grid(blocks_for(n, 4), slots);
  if (slots > 1) launch_pending(s, n);
  const DevicePendingOps q = take_pending(s);
  auto fused = [=] __device__(int slot, sunindextype i) {
    apply_pending(q, i);
    return term(slot, i);
  };
  const PhaseScope timed(s.timer, DevicePhase::kVectorOps, s.stream.get());
  HALITE_LAUNCH_WITH_BARRIERS(reduce_kernel, grid, kThreads, 0, s.stream.get(), n, fused, op,
                              identity, s.partials.get(), s.counters.get(), s.results.get());
  HALITE_CUDA_CHECK_LAUNCH();
  ++s.kernel_launches;
  fetch_results(s, slots, out);
}

template <class Term, class Op>
double reduce1(DeviceBatchShared& s, sunindextype n, Term term, Op op, double identity) {
  double r = identity;
  reduce(s, n, 1, term, op, identity, &r);
  return r;
}

// Per-cell WRMS norms of `count` (X[k], W[k]) pairs (count <= kMaxFused): max over active cells.
void cell_wrms(N_Vector ref, int count, const ConstPtrs& X, const ConstPtrs& W, const double* id,
               double* norms) {
  DeviceBatchShared& s = shared(ref);
  const int cells = content(ref).cells, per_cell = content(ref).per_cell;
  const unsigned char* active = s.device_mask();
  const int warps = kThreads / 32;
  const dim3 grid(std::clamp((cells + warps - 1) / warps, 1, kMaxBlocks), count);
  if (count > 1) launch_pending(s, family_length(s));
  const DevicePendingOps q = take_pending(s);
  const PhaseScope timed(s.timer, DevicePhase::kVectorOps, s.stream.get());
  if (id != nullptr) {
    HALITE_LAUNCH_WITH_BARRIERS(cell_wrms_kernel<true>, grid, kThreads, 0, s.stream.get(), cells,
                                per_cell, X, W, id, active, q, s.partials.get(), s.counters.get(),
                                s.results.get());
  } else {
    HALITE_LAUNCH_WITH_BARRIERS(cell_wrms_kernel<false>, grid, kThreads, 0, s.stream.get(), cells,
                                per_cell, X, W, id, active, q, s.partials.get(), s.counters.get(),
                                s.results.get());
  }
  HALITE_CUDA_CHECK_LAUNCH();
  ++s.kernel_launches;
  fetch_results(s, count, norms);
  for (int k = 0; k < count; ++k) norms[k] = std::sqrt(norms[k] / double(per_cell));
}

// One vector op running in the family of `owner` (see op_family above).
class OpScope {
 public:
  explicit OpScope(N_Vector owner) noexcept : family_(&shared(owner)) {
    op_family = family_;
    op_crossed_families = false;
  }
  OpScope(const OpScope&) = delete;
  OpScope& operator=(const OpScope&) = delete;
  ~OpScope() {
    op_family = nullptr;
    if (!op_crossed_families) return;
    op_crossed_families = false;
    family_->flush();
    try {
      family_->synchronize();
    } catch (const std::exception& e) {
      family_->record_error(e.what());
    }
  }

 private:
  DeviceBatchShared* family_;
};

// Runs body as one op of v's family; a thrown error is recorded in the family (ops never throw
// into SUNDIALS). False if it threw.
template <class Body>
bool run_guarded(N_Vector v, Body&& body) noexcept {
  const OpScope scope(v);
  try {
    body();
    return true;
  } catch (const std::exception& e) {
    shared(v).record_error(e.what());
  } catch (...) {
    shared(v).record_error("unknown error in a device vector op");
  }
  return false;
}
template <class Body>
void guarded(N_Vector v, Body body) noexcept {
  run_guarded(v, body);
}
template <class Body>
double guarded_value(N_Vector v, Body body) noexcept {
  double result = std::numeric_limits<double>::quiet_NaN();  // (a reduction that threw)
  run_guarded(v, [&] { result = body(); });
  return result;
}
template <class Body>
int guarded_int(N_Vector v, Body body) noexcept {
  int result = -1;
  run_guarded(v, [&] { result = body(); });
  return result;
}

// ---------------------------------------------------------------------------------------------
// Constructors, destructor, utilities

N_Vector_ID dev_get_vector_id(N_Vector) {
  return SUNDIALS_NVEC_CUSTOM;
}

N_Vector dev_clone_empty(N_Vector w) {
  if (w == nullptr) return nullptr;
  N_Vector v = N_VNewEmpty(w->sunctx);
  if (v == nullptr) return nullptr;
  if (N_VCopyOps(w, v) != 0) {
    N_VFreeEmpty(v);
    return nullptr;
  }
  auto* fresh = new (std::nothrow) DeviceVectorContent;
  if (fresh == nullptr) {
    N_VFreeEmpty(v);
    return nullptr;
  }
  const DeviceVectorContent& source = content(w);
  fresh->length = source.length;
  fresh->cells = source.cells;
  fresh->per_cell = source.per_cell;
  fresh->shared = source.shared;
  v->content = fresh;
  return v;
}

void dev_destroy(N_Vector v) {
  if (v == nullptr) return;
  if (v->content != nullptr) shared(v).flush();          // queued ops may refer to its storage
  delete static_cast<DeviceVectorContent*>(v->content);  // frees the device storage
  v->content = nullptr;
  N_VFreeEmpty(v);
}

N_Vector dev_clone(N_Vector w) {
  N_Vector v = dev_clone_empty(w);
  if (v == nullptr) return nullptr;
  try {
    DeviceVectorContent& c = content(v);
    c.storage.resize(std::size_t(c.length));
    c.data = c.storage.get();
    c.storage.zero(c.shared->stream.get());  // deterministic contents, as the host vector
  } catch (const std::exception& e) {
    shared(w).record_error(e.what());
    dev_destroy(v);
    return nullptr;
  }
  return v;
}

void dev_space(N_Vector v, sunindextype* real_words, sunindextype* int_words) {
  *real_words = length(v);
  *int_words = 2;
}

// No host copy of the data exists: N_VGetArrayPointer gives null (IDA with a matrix-embedded
// solver never asks); N_VGetDeviceArrayPointer gives the device array.
sunrealtype* dev_get_array_pointer(N_Vector) {
  return nullptr;
}
sunrealtype* dev_get_device_array_pointer(N_Vector v) {
  return device_data(v);  // with the deferred ops done
}
sunindextype dev_get_length(N_Vector v) {
  return length(v);
}

// ---------------------------------------------------------------------------------------------
// Element-wise operations (deferred: see the file comment)

DeviceElementOp element_op(ElementKind kind, double a, N_Vector x, double b, N_Vector y,
                           N_Vector z) {
  DeviceElementOp op;
  op.kind = kind;
  op.count = 1;
  op.a = a;
  op.b = b;
  op.x[0] = x != nullptr ? data(x) : nullptr;
  op.y[0] = y != nullptr ? data(y) : nullptr;
  op.z[0] = data(z);
  return op;
}

void dev_linear_sum(sunrealtype a, N_Vector x, sunrealtype b, N_Vector y, N_Vector z) {
  guarded(z, [&] { defer(z, element_op(kLinearSum, a, x, b, y, z)); });
}
void dev_const(sunrealtype c, N_Vector z) {
  guarded(z, [&] { defer(z, element_op(kConst, c, nullptr, 0.0, nullptr, z)); });
}
void dev_prod(N_Vector x, N_Vector y, N_Vector z) {
  guarded(z, [&] { defer(z, element_op(kProd, 0.0, x, 0.0, y, z)); });
}
void dev_div(N_Vector x, N_Vector y, N_Vector z) {
  guarded(z, [&] { defer(z, element_op(kDiv, 0.0, x, 0.0, y, z)); });
}
void dev_scale(sunrealtype c, N_Vector x, N_Vector z) {
  guarded(z, [&] { defer(z, element_op(kScale, c, x, 0.0, nullptr, z)); });
}
void dev_abs(N_Vector x, N_Vector z) {
  guarded(z, [&] { defer(z, element_op(kAbs, 0.0, x, 0.0, nullptr, z)); });
}
void dev_inv(N_Vector x, N_Vector z) {
  guarded(z, [&] { defer(z, element_op(kInv, 0.0, x, 0.0, nullptr, z)); });
}
void dev_add_const(N_Vector x, sunrealtype b, N_Vector z) {
  guarded(z, [&] { defer(z, element_op(kAddConst, b, x, 0.0, nullptr, z)); });
}
void dev_compare(sunrealtype c, N_Vector x, N_Vector z) {
  guarded(z, [&] { defer(z, element_op(kCompare, c, x, 0.0, nullptr, z)); });
}

// ---------------------------------------------------------------------------------------------
// Reductions over all entries (1 launch + 1 small copy back each)

sunrealtype dev_dot_prod(N_Vector x, N_Vector y) {
  return guarded_value(x, [&] {
    const double *xd = data(x), *yd = data(y);
    return reduce1(
        shared(x), length(x), [=] __device__(int, sunindextype i) { return xd[i] * yd[i]; },
        SumOp{}, 0.0);
  });
}

sunrealtype dev_wl2_norm(N_Vector x, N_Vector w) {
  return guarded_value(x, [&] {
    const double *xd = data(x), *wd = data(w);
    return std::sqrt(reduce1(
        shared(x), length(x),
        [=] __device__(int, sunindextype i) {
          const double p = xd[i] * wd[i];
          return p * p;
        },
        SumOp{}, 0.0));
  });
}

sunrealtype dev_l1_norm(N_Vector x) {
  return guarded_value(x, [&] {
    const double* xd = data(x);
    return reduce1(
        shared(x), length(x), [=] __device__(int, sunindextype i) { return fabs(xd[i]); }, SumOp{},
        0.0);
  });
}

sunrealtype dev_max_norm(N_Vector x) {
  return guarded_value(x, [&] {
    const double* xd = data(x);
    return reduce1(
        shared(x), length(x), [=] __device__(int, sunindextype i) { return fabs(xd[i]); },
        MaxSkipNaN{}, 0.0);
  });
}

sunrealtype dev_min(N_Vector x) {
  return guarded_value(x, [&] {
    const double* xd = data(x);
    return reduce1(
        shared(x), length(x), [=] __device__(int, sunindextype i) { return xd[i]; }, MinSkipNaN{},
        std::numeric_limits<double>::infinity());
  });
}

// z = 1/x where x != 0 (other z entries untouched); false if any x is zero. Fused: one launch.
sunbooleantype dev_inv_test(N_Vector x, N_Vector z) {
  const double zeros = guarded_value(x, [&] {
    const double* xd = data(x);
    double* zd = data(z);
    return reduce1(
        shared(x), length(x),
        [=] __device__(int, sunindextype i) {
          const double xi = xd[i];
          if (xi == 0.0) return 1.0;
          zd[i] = 1.0 / xi;
          return 0.0;
        },
        SumOp{}, 0.0);
  });
  return zeros == 0.0 ? SUNTRUE : SUNFALSE;  // NaN (an error) -> false
}

// m_i = 1 where constraint c_i is violated by x_i, else 0; false if any is violated.
sunbooleantype dev_constr_mask(N_Vector c, N_Vector x, N_Vector m) {
  const double violations = guarded_value(x, [&] {
    const double *cd = data(c), *xd = data(x);
    double* md = data(m);
    return reduce1(
        shared(x), length(x),
        [=] __device__(int, sunindextype i) {
          const double ci = cd[i];
          const double product = xd[i] * ci;
          const double magnitude = fabs(ci);
          const bool violated =
              (magnitude > 1.5 && product <= 0.0) || (magnitude > 0.5 && product < 0.0);
          md[i] = violated ? 1.0 : 0.0;
          return violated ? 1.0 : 0.0;
        },
        SumOp{}, 0.0);
  });
  return violations == 0.0 ? SUNTRUE : SUNFALSE;
}

sunrealtype dev_min_quotient(N_Vector num, N_Vector denom) {
  return guarded_value(num, [&] {
    const double *nd = data(num), *dd = data(denom);
    return reduce1(
        shared(num), length(num),
        [=] __device__(int, sunindextype i) { return dd[i] != 0.0 ? nd[i] / dd[i] : SUN_BIG_REAL; },
        MinSkipNaN{}, SUN_BIG_REAL);
  });
}

// ---------------------------------------------------------------------------------------------
// WRMS norms: max over active cells of each cell's own norm

sunrealtype dev_wrms_norm(N_Vector x, N_Vector w) {
  return guarded_value(x, [&] {
    ConstPtrs X{}, W{};
    X.p[0] = data(x);
    W.p[0] = data(w);
    double norm = 0.0;
    cell_wrms(x, 1, X, W, nullptr, &norm);
    return norm;
  });
}

sunrealtype dev_wrms_norm_mask(N_Vector x, N_Vector w, N_Vector id) {
  return guarded_value(x, [&] {
    ConstPtrs X{}, W{};
    X.p[0] = data(x);
    W.p[0] = data(w);
    double norm = 0.0;
    cell_wrms(x, 1, X, W, data(id), &norm);
    return norm;
  });
}

// ---------------------------------------------------------------------------------------------
// Fused operations (1 launch for up to kMaxFused vectors)

// z = sum_k c_k X_k, summed in the order k = 0, 1, ... as the host vector (z may be any X_k).
int dev_linear_combination(int nvec, sunrealtype* c, N_Vector* X, N_Vector z) {
  if (nvec < 1) return -1;
  return guarded_int(z, [&] {
    if (nvec <= DeviceElementOp::kMaxVectors) {
      DeviceElementOp op;
      op.kind = kLinearCombination;
      op.count = nvec;
      op.z[0] = data(z);
      for (int k = 0; k < nvec; ++k) {
        op.x[k] = data(X[k]);
        op.c[k] = c[k];
      }
      defer(z, op);
      return 0;
    }
    const sunindextype n = length(z);
    launch_pending(shared(z), n);
    DeviceBuffer<double> temp;  // only for more than kMaxFused terms
    double* target = data(z);
    if (nvec > kMaxFused) {
      temp.resize(std::size_t(n));
      target = temp.get();
    }
    for (int start = 0; start < nvec; start += kMaxFused) {
      const int count = std::min(kMaxFused, nvec - start);
      ConstPtrs xs{};
      Coefs cs{};
      for (int k = 0; k < count; ++k) {
        xs.p[k] = data(X[start + k]);
        cs.c[k] = c[start + k];
      }
      const bool first = start == 0;
      double* zd = target;
      launch_for_each(shared(z), n, [=] __device__(sunindextype i) {
        double acc = first ? cs.c[0] * xs.p[0][i] : zd[i] + cs.c[0] * xs.p[0][i];
        for (int k = 1; k < count; ++k) acc += cs.c[k] * xs.p[k][i];
        zd[i] = acc;
      });
    }
    if (target != data(z)) {
      HALITE_CUDA_CHECK(cudaMemcpyAsync(data(z), target, std::size_t(n) * sizeof(double),
                                        cudaMemcpyDeviceToDevice, shared(z).stream.get()));
      shared(z).synchronize();  // before temp is freed
    }
    return 0;
  });
}

// Z_k = a_k x + Y_k (Z_k may be Y_k), deferred in chunks of DeviceElementOp::kMaxVectors.
int dev_scale_add_multi(int nvec, sunrealtype* a, N_Vector x, N_Vector* Y, N_Vector* Z) {
  if (nvec < 1) return -1;
  return guarded_int(x, [&] {
    for (int start = 0; start < nvec; start += DeviceElementOp::kMaxVectors) {
      DeviceElementOp op;
      op.kind = kScaleAddMulti;
      op.count = std::min(DeviceElementOp::kMaxVectors, nvec - start);
      op.x[0] = data(x);
      for (int k = 0; k < op.count; ++k) {
        op.y[k] = data(Y[start + k]);
        op.z[k] = data(Z[start + k]);
        op.c[k] = a[start + k];
      }
      defer(x, op);
    }
    return 0;
  });
}

int dev_dot_prod_multi(int nvec, N_Vector x, N_Vector* Y, sunrealtype* dot_prods) {
  if (nvec < 1) return -1;
  return guarded_int(x, [&] {
    const double* xd = data(x);
    for (int start = 0; start < nvec; start += kMaxFused) {
      const int count = std::min(kMaxFused, nvec - start);
      ConstPtrs ys{};
      for (int k = 0; k < count; ++k) ys.p[k] = data(Y[start + k]);
      reduce(
          shared(x), length(x), count,
          [=] __device__(int slot, sunindextype i) { return xd[i] * ys.p[slot][i]; }, SumOp{}, 0.0,
          dot_prods + start);
    }
    return 0;
  });
}

// ---------------------------------------------------------------------------------------------
// Vector-array operations (1 launch for up to kMaxFused vectors)

int dev_linear_sum_vector_array(int nvec, sunrealtype a, N_Vector* X, sunrealtype b, N_Vector* Y,
                                N_Vector* Z) {
  if (nvec < 1) return -1;
  return guarded_int(Z[0], [&] {
    for (int start = 0; start < nvec; start += DeviceElementOp::kMaxVectors) {
      DeviceElementOp op;
      op.kind = kLinearSumArray;
      op.count = std::min(DeviceElementOp::kMaxVectors, nvec - start);
      op.a = a;
      op.b = b;
      for (int k = 0; k < op.count; ++k) {
        op.x[k] = data(X[start + k]);
        op.y[k] = data(Y[start + k]);
        op.z[k] = data(Z[start + k]);
      }
      defer(Z[0], op);
    }
    return 0;
  });
}

int dev_scale_vector_array(int nvec, sunrealtype* c, N_Vector* X, N_Vector* Z) {
  if (nvec < 1) return -1;
  return guarded_int(Z[0], [&] {
    for (int start = 0; start < nvec; start += DeviceElementOp::kMaxVectors) {
      DeviceElementOp op;
      op.kind = kScaleArray;
      op.count = std::min(DeviceElementOp::kMaxVectors, nvec - start);
      for (int k = 0; k < op.count; ++k) {
        op.x[k] = data(X[start + k]);
        op.z[k] = data(Z[start + k]);
        op.c[k] = c[start + k];
      }
      defer(Z[0], op);
    }
    return 0;
  });
}

int dev_const_vector_array(int nvec, sunrealtype c, N_Vector* Z) {
  if (nvec < 1) return -1;
  return guarded_int(Z[0], [&] {
    for (int start = 0; start < nvec; start += DeviceElementOp::kMaxVectors) {
      DeviceElementOp op;
      op.kind = kConstArray;
      op.count = std::min(DeviceElementOp::kMaxVectors, nvec - start);
      op.a = c;
      for (int k = 0; k < op.count; ++k) op.z[k] = data(Z[start + k]);
      defer(Z[0], op);
    }
    return 0;
  });
}

int wrms_array(int nvec, N_Vector* X, N_Vector* W, N_Vector id, sunrealtype* norms) {
  for (int start = 0; start < nvec; start += kMaxFused) {
    const int count = std::min(kMaxFused, nvec - start);
    ConstPtrs xs{}, ws{};
    for (int k = 0; k < count; ++k) {
      xs.p[k] = data(X[start + k]);
      ws.p[k] = data(W[start + k]);
    }
    cell_wrms(X[0], count, xs, ws, id != nullptr ? data(id) : nullptr, norms + start);
  }
  return 0;
}

int dev_wrms_norm_vector_array(int nvec, N_Vector* X, N_Vector* W, sunrealtype* norms) {
  if (nvec < 1) return -1;
  const int flag = guarded_int(X[0], [&] { return wrms_array(nvec, X, W, nullptr, norms); });
  if (flag != 0)
    for (int k = 0; k < nvec; ++k) norms[k] = std::numeric_limits<double>::quiet_NaN();
  return flag;
}

int dev_wrms_norm_mask_vector_array(int nvec, N_Vector* X, N_Vector* W, N_Vector id,
                                    sunrealtype* norms) {
  if (nvec < 1) return -1;
  const int flag = guarded_int(X[0], [&] { return wrms_array(nvec, X, W, id, norms); });
  if (flag != 0)
    for (int k = 0; k < nvec; ++k) norms[k] = std::numeric_limits<double>::quiet_NaN();
  return flag;
}

void install_ops(N_Vector_Ops ops) {
  ops->nvgetvectorid = dev_get_vector_id;
  ops->nvclone = dev_clone;
  ops->nvcloneempty = dev_clone_empty;
  ops->nvdestroy = dev_destroy;
  ops->nvspace = dev_space;
  ops->nvgetarraypointer = dev_get_array_pointer;
  ops->nvgetdevicearraypointer = dev_get_device_array_pointer;
  ops->nvsetarraypointer = nullptr;  // device data cannot be replaced by a host array
  ops->nvgetlength = dev_get_length;

  ops->nvlinearsum = dev_linear_sum;
  ops->nvconst = dev_const;
  ops->nvprod = dev_prod;
  ops->nvdiv = dev_div;
  ops->nvscale = dev_scale;
  ops->nvabs = dev_abs;
  ops->nvinv = dev_inv;
  ops->nvaddconst = dev_add_const;
  ops->nvdotprod = dev_dot_prod;
  ops->nvmaxnorm = dev_max_norm;
  ops->nvwrmsnorm = dev_wrms_norm;
  ops->nvwrmsnormmask = dev_wrms_norm_mask;
  ops->nvmin = dev_min;
  ops->nvwl2norm = dev_wl2_norm;
  ops->nvl1norm = dev_l1_norm;
  ops->nvcompare = dev_compare;
  ops->nvinvtest = dev_inv_test;
  ops->nvconstrmask = dev_constr_mask;
  ops->nvminquotient = dev_min_quotient;

  ops->nvlinearcombination = dev_linear_combination;
  ops->nvscaleaddmulti = dev_scale_add_multi;
  ops->nvdotprodmulti = dev_dot_prod_multi;

  ops->nvlinearsumvectorarray = dev_linear_sum_vector_array;
  ops->nvscalevectorarray = dev_scale_vector_array;
  ops->nvconstvectorarray = dev_const_vector_array;
  ops->nvwrmsnormvectorarray = dev_wrms_norm_vector_array;
  ops->nvwrmsnormmaskvectorarray = dev_wrms_norm_mask_vector_array;

  ops->nvdotprodlocal = dev_dot_prod;
  ops->nvmaxnormlocal = dev_max_norm;
  ops->nvminlocal = dev_min;
  ops->nvl1normlocal = dev_l1_norm;
  ops->nvinvtestlocal = dev_inv_test;
  ops->nvconstrmasklocal = dev_constr_mask;
  ops->nvminquotientlocal = dev_min_quotient;
  // nvwsqrsumlocal / nvwsqrsummasklocal stay NULL for the reason given in
  // host/cpu/nvector_batch.cpp (a plain sum of squares would let a wrapper rebuild the averaged
  // norm).
}

}  // namespace

// ---------------------------------------------------------------------------------------------

DeviceBatchShared::DeviceBatchShared(int cells_, int per_cell_)
    : cells(cells_),
      per_cell(per_cell_),
      host_active(std::size_t(cells_), 1),
      active(std::size_t(cells_)),
      partials(std::size_t(kMaxSlots) * kMaxBlocks),
      counters(kMaxSlots),
      results(kMaxSlots),
      host_results(kMaxSlots) {
  counters.zero(stream.get());
  synchronize();
}

void DeviceBatchShared::flush() noexcept {
  if (pending.size == 0) return;
  try {
    launch_pending(*this, sunindextype(cells) * per_cell);
  } catch (const std::exception& e) {
    pending.size = 0;
    record_error(e.what());
  }
}

void DeviceBatchShared::set_mask(const std::vector<unsigned char>& mask) {
  if (int(mask.size()) != cells)
    throw std::invalid_argument("DeviceBatchShared::set_mask: " + std::to_string(mask.size()) +
                                " entries for " + std::to_string(cells) + " cells");
  host_active = mask;
  mask_dirty = true;
}

const unsigned char* DeviceBatchShared::device_mask() {
  if (mask_dirty) {
    // Synchronous copy: host_active may change right after this call returns.
    HALITE_CUDA_CHECK(cudaMemcpyAsync(active.get(), host_active.data(), host_active.size(),
                                      cudaMemcpyHostToDevice, stream.get()));
    synchronize();
    mask_dirty = false;
  }
  return active.get();
}

N_Vector make_device_vector(SUNContext sunctx, int cells, int per_cell,
                            std::shared_ptr<DeviceBatchShared> shared_part) {
  if (sunctx == nullptr) throw std::invalid_argument("make_device_vector: null SUNContext");
  if (cells < 1 || per_cell < 1)
    throw std::invalid_argument("make_device_vector: need cells >= 1 and per_cell >= 1, got " +
                                std::to_string(cells) + " x " + std::to_string(per_cell));
  if (shared_part == nullptr) {
    shared_part = std::make_shared<DeviceBatchShared>(cells, per_cell);
  } else if (shared_part->cells != cells || shared_part->per_cell != per_cell) {
    throw std::invalid_argument("make_device_vector: shared part is for " +
                                std::to_string(shared_part->cells) + " x " +
                                std::to_string(shared_part->per_cell) + ", vector is " +
                                std::to_string(cells) + " x " + std::to_string(per_cell));
  }
  auto fresh = std::make_unique<DeviceVectorContent>();
  fresh->length = sunindextype(cells) * per_cell;
  fresh->cells = cells;
  fresh->per_cell = per_cell;
  fresh->shared = std::move(shared_part);
  fresh->storage.resize(std::size_t(fresh->length));
  fresh->data = fresh->storage.get();
  fresh->storage.zero(fresh->shared->stream.get());
  fresh->shared->synchronize();

  N_Vector v = N_VNewEmpty(sunctx);
  if (v == nullptr) throw std::bad_alloc();
  install_ops(v->ops);
  v->content = fresh.release();
  return v;
}

bool is_device_vector(N_Vector v) noexcept {
  return v != nullptr && v->ops != nullptr && v->ops->nvclone == dev_clone && v->content != nullptr;
}

void copy_to_device(N_Vector v, const double* host) {
  DeviceVectorContent& c = content(v);
  c.shared->flush();  // a queued op may write v
  HALITE_CUDA_CHECK(cudaMemcpyAsync(c.data, host, std::size_t(c.length) * sizeof(double),
                                    cudaMemcpyHostToDevice, c.shared->stream.get()));
  c.shared->synchronize();
}

void copy_to_host(N_Vector v, double* host) {
  DeviceVectorContent& c = content(v);
  c.shared->flush();
  HALITE_CUDA_CHECK(cudaMemcpyAsync(host, c.data, std::size_t(c.length) * sizeof(double),
                                    cudaMemcpyDeviceToHost, c.shared->stream.get()));
  c.shared->synchronize();
}

const std::string& device_vector_error(N_Vector v) noexcept {
  return shared(v).error;
}
void clear_device_vector_error(N_Vector v) noexcept {
  shared(v).clear_error();
}

}  // namespace halite::cuda
