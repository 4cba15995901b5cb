// Host-side emulation of the part of the CUDA runtime and device language that cuda/ uses, so
// that the unchanged cuda/ sources compile with the host compiler (HALITE_CUDA_EMULATION) and
// their kernels run on the CPU. Included through cuda/runtime.hpp only. docs/gpu.md,
// "Emulation", says what it checks and what it cannot show.
//
// - Kernels run on the launching host thread, block after block. A kernel launched with
//   HALITE_LAUNCH runs its threads one after the other; one launched with
//   HALITE_LAUNCH_WITH_BARRIERS runs each thread as a fiber (ucontext), so that __syncthreads
//   and warp shuffles have their real semantics (every thread of the block, or lane of the warp,
//   reaches the point before any goes on). A barrier reached under HALITE_LAUNCH, or a barrier
//   that not every live thread reaches, stops the process with a message.
// - Streams execute at enqueue time (the host sees every result at once), so the emulation can
//   show wrong results and wrong launch shapes, but not a missing synchronisation, a data race
//   between GPU threads or speed. Device memory is filled with 0xFF bytes (NaN doubles, -1
//   integers) when allocated, as a real device leaves it undefined, and copies are checked
//   against the allocations they touch.
// - Counters of launches, host synchronisations, copies and memsets (counters()) let tests
//   check the per-step budget of docs/gpu.md without a device.
#pragma once

#include <math.h>  // isfinite, isnan, ... in the global namespace, as in CUDA device code

#include <atomic>
#include <cstddef>

// --- the device language's keywords ------------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// One block runs at a time on a host thread, so a thread-local static is the block's shared
// memory.
#define __shared__ static thread_local

struct dim3 {
  unsigned int x = 1, y = 1, z = 1;
  constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) noexcept
      : x(x_), y(y_), z(z_) {}
};
using uint3 = dim3;

extern thread_local dim3 threadIdx;
extern thread_local dim3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;
constexpr int warpSize = 32;

// --- runtime API types ---------------------------------------------------------------------------
enum cudaError_t : int {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
};
enum cudaMemcpyKind : int {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};
struct CUstream_st;
using cudaStream_t = CUstream_st*;
struct CUevent_st;
using cudaEvent_t = CUevent_st*;
constexpr unsigned int cudaStreamDefault = 0;
constexpr unsigned int cudaStreamNonBlocking = 1;

struct cudaDeviceProp {
  char name[256];
  std::size_t totalGlobalMem;
  int multiProcessorCount;
  int major;
  int minor;
  int warpSize;
  int maxThreadsPerBlock;
};

// --- runtime API ---------------------------------------------------------------------------------
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorName(cudaError_t error);
const char* cudaGetErrorString(cudaError_t error);
cudaError_t cudaMalloc(void** pointer, std::size_t bytes);
cudaError_t cudaFree(void* pointer);
cudaError_t cudaMallocHost(void** pointer, std::size_t bytes);
cudaError_t cudaFreeHost(void* pointer);
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* dst, int value, std::size_t bytes);
cudaError_t cudaMemsetAsync(void* dst, int value, std::size_t bytes, cudaStream_t stream = nullptr);
cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* milliseconds, cudaEvent_t start, cudaEvent_t end);

// --- device functions ----------------------------------------------------------------------------
void __syncthreads();
double __shfl_xor_sync(unsigned int mask, double value, int lane_mask, int width = 32);
inline void __threadfence() {}  // one host thread runs the grid: memory is always coherent
template <class T>
inline T __ldcg(const T* address) {
  return *address;
}
template <class T>  // int, unsigned int, double: what the kernels add atomically
inline T atomicAdd(T* address, T value) {
  const T old = *address;
  *address = old + value;
  return old;
}
// CUDA's wrapping increment: old >= limit ? 0 : old + 1.
inline unsigned int atomicInc(unsigned int* address, unsigned int limit) {
  const unsigned int old = *address;
  *address = old >= limit ? 0u : old + 1u;
  return old;
}

namespace halite::cuda::emulation {

// What the backend asked of the runtime since the last reset_counters() (all host threads).
struct Counters {
  std::atomic<long> launches{0};
  std::atomic<long> synchronizations{0};  // stream, device and event syncs, blocking copies
  std::atomic<long> copies_to_host{0};
  std::atomic<long> copies_to_device{0};
  std::atomic<long> copies_on_device{0};
  std::atomic<long> memsets{0};
};
Counters& counters() noexcept;
void reset_counters() noexcept;

// Records cudaErrorInvalidValue for a launch that asks for dynamic shared memory.
void reject_dynamic_shared_memory();

// Runs body once per thread of the grid (see the file comment).
void run_grid(dim3 grid, dim3 block, cudaStream_t stream, bool barriers, void* body,
              void (*invoke)(void*));

// HALITE_LAUNCH(kernel, grid, block, shared_bytes, stream, args...): the arguments are copied
// once, as a launch copies them to the device, and every thread calls the kernel with them.
// (Dynamic shared memory is not emulated: shared_bytes must be 0.)
template <class Caller, class... Args>
void launch(dim3 grid, dim3 block, std::size_t shared_bytes, cudaStream_t stream, bool barriers,
            Caller caller, Args... args) {
  if (shared_bytes != 0) {
    reject_dynamic_shared_memory();
    return;
  }
  auto body = [&] { caller(args...); };
  run_grid(grid, block, stream, barriers, &body,
           [](void* b) { (*static_cast<decltype(body)*>(b))(); });
}

}  // namespace halite::cuda::emulation
