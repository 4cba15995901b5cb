// A SUNDIALS N_Vector whose data live in GPU memory, for a batch of independent cells: the device
// twin of host/cpu/nvector_batch.hpp, with the same norm semantics.
//
// Layout: cell-major, exactly as the host batch vector: cell b occupies
// data[b * per_cell, (b + 1) * per_cell). Why cell-major (docs/gpu.md, "Data layout"):
//   * the physics in models/ takes one cell's unknowns as a contiguous array (cell_residual,
//     cell_jacobian, factor_cell, solve_cell); cell-major lets the kernels call them on pointers
//     into global memory, with no gather into a second layout and no second copy of the assembly;
//   * element-wise vector ops do not care about the layout (consecutive threads touch consecutive
//     entries either way), and the per-cell WRMS reduction reads each cell's contiguous slice
//     with one warp per cell, fully coalesced;
//   * host and device vectors index identically, so states move between the CPU backend and the
//     GPU as one memcpy, and conformance tests compare entry by entry.
// The price is that one-thread-per-cell kernels read strided memory (each thread walks its own
// cell); docs/gpu.md describes the one-thread-per-particle step that removes most of it.
//
// Norm semantics (as the host batch vector, see host/cpu/nvector_batch.hpp):
//   * N_VWrmsNorm / N_VWrmsNormMask: max over ACTIVE cells of that cell's own WRMS norm; each
//     cell is reduced on the device (one warp per cell), the max over cells too, and one number is
//     copied back. A NaN in an active cell propagates; no active cell -> 0.
//   * N_VMaxNorm, N_VMin, N_VMinQuotient, N_VConstrMask, N_VInvTest run over all cells, skipping
//     NaN in max/min; N_VDotProd, N_VWL2Norm, N_VL1Norm keep their standard meaning.
// Reductions are deterministic (fixed grid for a given length, fixed combination order), so a
// run repeats bit for bit on the same device.
//
// Every clone shares one DeviceBatchShared: the CUDA stream all ops are queued on, the mask of
// active cells (host copy + device copy, uploaded lazily before the next norm), the reduction
// scratch and a sticky error. Ops never throw into SUNDIALS: a failed CUDA call is recorded
// (first message kept), reductions then return NaN (IDA treats that as a failed test), and the
// integrator checks device_vector_error() after each IDA call.
#pragma once

#include <sundials/sundials_context.h>
#include <sundials/sundials_nvector.h>

#include <memory>
#include <string>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/phase_timer.hpp"

namespace halite::cuda {

// An element-wise op deferred to the family's next launch (device_vector.cu, "Deferred
// element-wise ops"): z_k[i] = f(a, b, c_k, x_k[i], y_k[i]) for k < count.
struct DeviceElementOp {
  static constexpr int kMaxVectors = 6;  // IDA's arrays hold at most maxord + 1 = 6 vectors
  int kind = 0, count = 0;
  double a = 0.0, b = 0.0;
  const double* x[kMaxVectors] = {};
  const double* y[kMaxVectors] = {};
  double* z[kMaxVectors] = {};
  double c[kMaxVectors] = {};
};
struct DevicePendingOps {
  static constexpr int kMaxOps = 6;  // a launch's arguments stay well under CUDA's 4 KiB
  DeviceElementOp ops[kMaxOps];
  int size = 0;
};

// The part of a device batch vector that every clone shares.
struct DeviceBatchShared {
  DeviceBatchShared(int cells, int per_cell);
  DeviceBatchShared(const DeviceBatchShared&) = delete;
  DeviceBatchShared& operator=(const DeviceBatchShared&) = delete;

  int cells = 0, per_cell = 0;
  Stream stream;

  // Mask of active cells (1 = in the norms). Change it through set_active / set_mask, or edit
  // host_active and call mark_mask_changed(); the device copy is refreshed before the next norm.
  std::vector<unsigned char> host_active;
  DeviceBuffer<unsigned char> active;
  bool mask_dirty = true;
  void set_active(int cell, bool on) {
    host_active[cell] = on ? 1 : 0;
    mask_dirty = true;
  }
  void set_mask(const std::vector<unsigned char>& mask);
  void mark_mask_changed() { mask_dirty = true; }
  const unsigned char* device_mask();  // uploads if dirty (queued on stream)

  // Reduction scratch: per-block partial results, "last block" counters and the results of up to
  // kMaxSlots reductions done in one launch, plus their pinned host copy.
  static constexpr int kMaxSlots = 16;
  static constexpr int kMaxBlocks = 1024;
  DeviceBuffer<double> partials;        // kMaxSlots * kMaxBlocks
  DeviceBuffer<unsigned int> counters;  // kMaxSlots (kept at zero between launches)
  DeviceBuffer<double> results;         // kMaxSlots
  PinnedBuffer<double> host_results;    // kMaxSlots

  // First error raised inside an op (empty = none). clear_error() resets it.
  std::string error;
  void record_error(const std::string& what) {
    if (error.empty()) error = what;
  }
  void clear_error() { error.clear(); }

  // Element-wise ops not launched yet. flush() launches them (one kernel); every reduction
  // runs them in its own launch, and device_data() flushes before handing out a pointer.
  DevicePendingOps pending;
  void flush() noexcept;  // records a CUDA failure as error

  // Launch and copy-back counters (for the benchmark and the docs), and where the device time of
  // the launches goes when a timer is set (null: not timed).
  PhaseTimer* timer = nullptr;
  long synchronizations = 0;  // host syncs other than the reductions (copies, mask uploads)
  void synchronize() {
    HALITE_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
    ++synchronizations;
  }
  long kernel_launches = 0;
  long reductions = 0;    // synchronising reductions (one small device->host copy each)
  long deferred_ops = 0;  // element-wise ops run inside another op's launch
};

struct DeviceVectorContent {
  sunindextype length = 0;  // cells * per_cell
  int cells = 0;
  int per_cell = 0;
  DeviceBuffer<double> storage;  // empty for N_VCloneEmpty results or adopted data
  double* data = nullptr;        // device pointer (storage.get() or adopted)
  std::shared_ptr<DeviceBatchShared> shared;
};

// Creates a device batch vector (zero-initialised). shared == null creates a fresh one (all cells
// active, its own stream); otherwise shared->cells and ->per_cell must match. Throws
// std::invalid_argument for bad sizes and CudaError for CUDA failures. The caller owns the result.
N_Vector make_device_vector(SUNContext sunctx, int cells, int per_cell,
                            std::shared_ptr<DeviceBatchShared> shared = nullptr);

[[nodiscard]] bool is_device_vector(N_Vector v) noexcept;

[[nodiscard]] inline DeviceVectorContent& device_content(N_Vector v) noexcept {
  return *static_cast<DeviceVectorContent*>(v->content);
}
// The device array, with every deferred op of the family done (queued on the stream) first:
// kernels and copies outside the vector ops see what IDA wrote.
[[nodiscard]] inline double* device_data(N_Vector v) noexcept {
  DeviceVectorContent& c = device_content(v);
  if (c.shared->pending.size > 0) c.shared->flush();
  return c.data;
}
[[nodiscard]] inline DeviceBatchShared& device_shared(N_Vector v) noexcept {
  return *device_content(v).shared;
}
[[nodiscard]] inline cudaStream_t device_stream(N_Vector v) noexcept {
  return device_content(v).shared->stream.get();
}

// Copies between host memory (length entries, cell-major) and the vector. Both queue on the
// vector's stream and synchronise it before returning. Throw CudaError.
void copy_to_device(N_Vector v, const double* host);
void copy_to_host(N_Vector v, double* host);

// The first error recorded by an op of v's family ("" if none), and reset.
[[nodiscard]] const std::string& device_vector_error(N_Vector v) noexcept;
void clear_device_vector_error(N_Vector v) noexcept;

}  // namespace halite::cuda
