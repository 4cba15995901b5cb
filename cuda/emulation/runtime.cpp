// Host-side emulation of the CUDA runtime (see runtime.hpp).
#include "cuda/emulation/runtime.hpp"

#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <vector>

thread_local dim3 threadIdx;
thread_local dim3 blockIdx;
thread_local dim3 blockDim;
thread_local dim3 gridDim;

struct CUstream_st {
  unsigned int flags = 0;
};
struct CUevent_st {
  std::chrono::steady_clock::time_point time{};
  bool recorded = false;
};

namespace halite::cuda::emulation {

namespace {

[[noreturn]] void fatal(const std::string& what) {
  std::fprintf(stderr, "halite CUDA emulation: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

// The sticky "last error" of the runtime API, per host thread as in CUDA.
thread_local cudaError_t last_error = cudaSuccess;
cudaError_t fail(cudaError_t code) {
  last_error = code;
  return code;
}

// Device allocations (start -> size), to check every copy against them.
std::mutex allocations_mutex;
std::map<const char*, std::size_t> allocations;

// Bytes [p, p + n) lie inside one device allocation.
bool is_device_range(const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  std::lock_guard lock(allocations_mutex);
  auto it = allocations.upper_bound(c);
  if (it == allocations.begin()) return false;
  --it;
  return c >= it->first && c + n <= it->first + it->second;
}
bool is_device_pointer(const void* p) {
  return is_device_range(p, 1);
}

int emulated_devices() {
  const char* env = std::getenv("HALITE_CUDA_EMULATION_DEVICES");
  if (env == nullptr || *env == '\0') return 1;
  return std::atoi(env) > 0 ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Fiber context switch. glibc's swapcontext saves and restores the signal mask with a system
// call on every switch, which made a reduction over 8193 x 259 values take seconds; on x86-64 a
// switch of the callee-saved registers (and the SSE/x87 control words) is all a cooperative
// switch between C++ calls needs. Other targets use ucontext.
#if defined(__x86_64__)
extern "C" void halite_emulation_switch(void** save_stack, void* load_stack);
asm(R"(
.text
.p2align 4
.type halite_emulation_switch, @function
halite_emulation_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
.size halite_emulation_switch, .-halite_emulation_switch
.section .note.GNU-stack,"",@progbits
.text
)");

struct FiberContext {
  void* stack_pointer = nullptr;
};
void switch_context(FiberContext& from, FiberContext& to) {
  halite_emulation_switch(&from.stack_pointer, to.stack_pointer);
}
// A context that starts entry() on the given stack (the first switch "returns" into it).
void make_context(FiberContext& context, char* stack, std::size_t size, void (*entry)()) {
  auto top = reinterpret_cast<std::uintptr_t>(stack + size) & ~std::uintptr_t(15);
  auto* slot = reinterpret_cast<std::uint64_t*>(top);
  *--slot = 0;                                       // entry's return address: never used
  *--slot = reinterpret_cast<std::uint64_t>(entry);  // popped by ret
  for (int r = 0; r < 6; ++r) *--slot = 0;           // rbp rbx r12 r13 r14 r15
  --slot;                                            // MXCSR and x87 control word: the caller's
  std::uint32_t mxcsr = 0;
  std::uint16_t x87 = 0;
  asm volatile("stmxcsr %0" : "=m"(mxcsr));
  asm volatile("fnstcw %0" : "=m"(x87));
  std::memcpy(reinterpret_cast<char*>(slot), &mxcsr, 4);
  std::memcpy(reinterpret_cast<char*>(slot) + 4, &x87, 2);
  context.stack_pointer = slot;
}
#else
struct FiberContext {
  ucontext_t context;
};
void switch_context(FiberContext& from, FiberContext& to) {
  swapcontext(&from.context, &to.context);
}
void make_context(FiberContext& context, char* stack, std::size_t size, void (*entry)()) {
  getcontext(&context.context);
  context.context.uc_stack.ss_sp = stack;
  context.context.uc_stack.ss_size = size;
  context.context.uc_link = nullptr;  // entry never returns
  makecontext(&context.context, entry, 0);
}
#endif

// ---------------------------------------------------------------------------------------------
// Kernel execution

constexpr std::size_t kFiberStack = 256 * 1024;  // models/ functions use a few KiB of stack

enum class FiberState { kReady, kAtBlockBarrier, kAtWarpBarrier, kDone };
struct Fiber {
  FiberContext context;
  dim3 thread;
  FiberState state = FiberState::kReady;
  unsigned long waits_for = 0;  // the barrier generation it waits to pass
};

struct BlockRun {
  std::vector<Fiber> fibers;
  FiberContext scheduler;
  int current = -1;
  int live = 0;  // threads that have not returned
  int arrived = 0;
  unsigned long generation = 0;
  void* barrier_site = nullptr;  // where the threads waiting at the block barrier called it
  std::vector<int> warp_live, warp_arrived;
  std::vector<unsigned long> warp_generation;
  std::vector<double> shuffle_slots;          // two sets of one value per thread
  std::vector<unsigned char> shuffle_parity;  // which set a thread's next shuffle uses
  void* body = nullptr;
  void (*invoke)(void*) = nullptr;
};

thread_local BlockRun* running_block = nullptr;  // null outside HALITE_LAUNCH_WITH_BARRIERS
thread_local bool in_kernel = false;

// Fiber stacks of this host thread, reused by every launch (mapped without reserve: only the
// pages a thread touches are committed).
thread_local std::vector<char*> fiber_stacks;
char* fiber_stack(std::size_t i) {
  while (fiber_stacks.size() <= i) {
    void* p = mmap(nullptr, kFiberStack, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) fatal("cannot map a fiber stack");
    fiber_stacks.push_back(static_cast<char*>(p));
  }
  return fiber_stacks[i];
}

void release_block_barrier_if_complete(BlockRun& b) {
  if (b.arrived > 0 && b.arrived == b.live) {
    ++b.generation;
    b.arrived = 0;
  }
}
void release_warp_barrier_if_complete(BlockRun& b, int warp) {
  if (b.warp_arrived[warp] > 0 && b.warp_arrived[warp] == b.warp_live[warp]) {
    ++b.warp_generation[warp];
    b.warp_arrived[warp] = 0;
  }
}

// Every fiber starts here and ends by switching back to the scheduler for good.
void fiber_entry() {
  BlockRun& b = *running_block;
  b.invoke(b.body);
  Fiber& f = b.fibers[b.current];
  f.state = FiberState::kDone;
  --b.live;
  const int warp = b.current / 32;
  --b.warp_live[warp];
  release_block_barrier_if_complete(b);
  release_warp_barrier_if_complete(b, warp);
  switch_context(f.context, b.scheduler);
  fatal("a finished fiber was resumed");
}

BlockRun& barrier_block(const char* what) {
  if (running_block == nullptr)
    fatal(std::string(what) + (in_kernel
                                   ? " in a kernel launched with HALITE_LAUNCH: launch it with "
                                     "HALITE_LAUNCH_WITH_BARRIERS (cuda/runtime.hpp)"
                                   : " outside a kernel"));
  return *running_block;
}

void wait_at_warp_barrier(BlockRun& b) {
  Fiber& f = b.fibers[b.current];
  const int warp = b.current / 32;
  f.state = FiberState::kAtWarpBarrier;
  f.waits_for = b.warp_generation[warp];
  ++b.warp_arrived[warp];
  release_warp_barrier_if_complete(b, warp);
  switch_context(f.context, b.scheduler);
}

bool runnable(const BlockRun& b, const Fiber& f, int index) {
  switch (f.state) {
    case FiberState::kReady:
      return true;
    case FiberState::kAtBlockBarrier:
      return b.generation > f.waits_for;
    case FiberState::kAtWarpBarrier:
      return b.warp_generation[index / 32] > f.waits_for;
    case FiberState::kDone:
      return false;
  }
  return false;
}

void run_block_with_fibers(BlockRun& b, const dim3& block) {
  const int threads = int(block.x * block.y * block.z);
  const int warps = (threads + 31) / 32;
  b.fibers.resize(threads);
  b.live = threads;
  b.arrived = 0;
  b.generation = 0;
  b.warp_live.assign(warps, 0);
  b.warp_arrived.assign(warps, 0);
  b.warp_generation.assign(warps, 0);
  b.shuffle_slots.assign(2 * std::size_t(threads), 0.0);
  b.shuffle_parity.assign(threads, 0);
  for (int t = 0; t < threads; ++t) {
    Fiber& f = b.fibers[t];
    f.thread = dim3(unsigned(t) % block.x, (unsigned(t) / block.x) % block.y,
                    unsigned(t) / (block.x * block.y));
    f.state = FiberState::kReady;
    f.waits_for = 0;
    ++b.warp_live[t / 32];
    make_context(f.context, fiber_stack(std::size_t(t)), kFiberStack, &fiber_entry);
  }
  int done = 0;
  while (done < threads) {
    bool progressed = false;
    for (int t = 0; t < threads; ++t) {
      Fiber& f = b.fibers[t];
      if (!runnable(b, f, t)) continue;
      f.state = FiberState::kReady;
      threadIdx = f.thread;
      b.current = t;
      switch_context(b.scheduler, f.context);
      progressed = true;
      if (f.state == FiberState::kDone) ++done;
    }
    if (!progressed)
      fatal(
          "deadlock: a __syncthreads or warp shuffle was not reached by every live thread of "
          "block (" +
          std::to_string(blockIdx.x) + "," + std::to_string(blockIdx.y) + ")");
  }
}

}  // namespace

Counters& counters() noexcept {
  static Counters c;
  return c;
}
void reset_counters() noexcept {
  Counters& c = counters();
  c.launches = 0;
  c.synchronizations = 0;
  c.copies_to_host = 0;
  c.copies_to_device = 0;
  c.copies_on_device = 0;
  c.memsets = 0;
}

void reject_dynamic_shared_memory() {
  fail(cudaErrorInvalidValue);
}

void run_grid(dim3 grid, dim3 block, cudaStream_t, bool barriers, void* body,
              void (*invoke)(void*)) {
  const unsigned long threads = (unsigned long)block.x * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0 || threads > 1024 ||
      grid.y > 65535 || grid.z > 65535 || block.z > 64) {
    fail(cudaErrorInvalidConfiguration);
    return;
  }
  if (in_kernel) fatal("a kernel launched another kernel (not supported)");
  ++counters().launches;
  gridDim = grid;
  blockDim = block;
  in_kernel = true;
  BlockRun run;
  run.body = body;
  run.invoke = invoke;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        blockIdx = dim3(x, y, z);
        if (barriers) {
          running_block = &run;
          run_block_with_fibers(run, block);
          running_block = nullptr;
        } else {
          for (unsigned tz = 0; tz < block.z; ++tz)
            for (unsigned ty = 0; ty < block.y; ++ty)
              for (unsigned tx = 0; tx < block.x; ++tx) {
                threadIdx = dim3(tx, ty, tz);
                invoke(body);
              }
        }
      }
  in_kernel = false;
}

}  // namespace halite::cuda::emulation

using halite::cuda::emulation::counters;
using halite::cuda::emulation::fail;
using halite::cuda::emulation::is_device_pointer;
using halite::cuda::emulation::is_device_range;
using halite::cuda::emulation::last_error;

void __syncthreads() {
  auto& b = halite::cuda::emulation::barrier_block("__syncthreads");
  // Every thread of the block must wait at the same __syncthreads (a barrier in divergent code
  // is undefined behaviour on a device).
  void* const site = __builtin_return_address(0);
  if (b.arrived == 0)
    b.barrier_site = site;
  else if (site != b.barrier_site)
    halite::cuda::emulation::fatal("divergent __syncthreads: threads of block (" +
                                   std::to_string(blockIdx.x) + "," + std::to_string(blockIdx.y) +
                                   ") wait at different barriers");
  auto& f = b.fibers[b.current];
  f.state = halite::cuda::emulation::FiberState::kAtBlockBarrier;
  f.waits_for = b.generation;
  ++b.arrived;
  halite::cuda::emulation::release_block_barrier_if_complete(b);
  halite::cuda::emulation::switch_context(f.context, b.scheduler);
}

double __shfl_xor_sync(unsigned int mask, double value, int lane_mask, int width) {
  auto& b = halite::cuda::emulation::barrier_block("__shfl_xor_sync");
  if (mask != 0xffffffffu || width != 32)
    halite::cuda::emulation::fatal("__shfl_xor_sync: only full-warp shuffles are emulated");
  const int me = b.current;
  const int partner = (me & ~31) | ((me & 31) ^ (lane_mask & 31));
  if (partner >= int(b.fibers.size()) ||
      b.fibers[partner].state == halite::cuda::emulation::FiberState::kDone)
    halite::cuda::emulation::fatal("__shfl_xor_sync: the partner lane " + std::to_string(partner) +
                                   " has exited or does not exist");
  // Two slot sets used in turn: a lane writes the next shuffle's value only after every lane of
  // its warp has passed this shuffle's barrier, so after every lane has read this one's.
  auto& parity = b.shuffle_parity[me];
  double* slots = b.shuffle_slots.data() + parity * b.fibers.size();
  parity ^= 1;
  slots[me] = value;
  halite::cuda::emulation::wait_at_warp_barrier(b);  // every lane has written
  return slots[partner];
}

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return fail(cudaErrorInvalidValue);
  *count = halite::cuda::emulation::emulated_devices();
  if (*count == 0) return fail(cudaErrorNoDevice);
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
  if (device != 0 || halite::cuda::emulation::emulated_devices() == 0)
    return fail(cudaErrorInvalidDevice);
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  if (device == nullptr) return fail(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (prop == nullptr) return fail(cudaErrorInvalidValue);
  if (device != 0) return fail(cudaErrorInvalidDevice);
  std::memset(prop, 0, sizeof(*prop));
  std::snprintf(prop->name, sizeof(prop->name), "halite CUDA emulation on the host CPU");
  prop->totalGlobalMem = std::size_t(sysconf(_SC_PHYS_PAGES)) * std::size_t(sysconf(_SC_PAGESIZE));
  prop->multiProcessorCount = 1;
  prop->major = 9;
  prop->minor = 0;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  return cudaSuccess;
}
cudaError_t cudaGetLastError() {
  const cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError() {
  return last_error;
}
const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration:
      return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer:
      return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection:
      return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorNoDevice:
      return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice:
      return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle:
      return "cudaErrorInvalidResourceHandle";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer:
      return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection:
      return "invalid copy direction for memcpy";
    case cudaErrorNoDevice:
      return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice:
      return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle:
      return "invalid resource handle";
  }
  return "unknown error";
}

cudaError_t cudaMalloc(void** pointer, std::size_t bytes) {
  if (pointer == nullptr) return fail(cudaErrorInvalidValue);
  *pointer = nullptr;
  if (bytes == 0) return cudaSuccess;
  const std::size_t rounded = (bytes + 255) / 256 * 256;
  void* p = std::aligned_alloc(256, rounded);
  if (p == nullptr) return fail(cudaErrorMemoryAllocation);
  std::memset(p, 0xFF, rounded);  // undefined on a device: NaN doubles, -1 integers here
  {
    std::lock_guard lock(halite::cuda::emulation::allocations_mutex);
    halite::cuda::emulation::allocations[static_cast<const char*>(p)] = bytes;
  }
  *pointer = p;
  return cudaSuccess;
}
cudaError_t cudaFree(void* pointer) {
  if (pointer == nullptr) return cudaSuccess;
  {
    std::lock_guard lock(halite::cuda::emulation::allocations_mutex);
    auto it = halite::cuda::emulation::allocations.find(static_cast<const char*>(pointer));
    if (it == halite::cuda::emulation::allocations.end())
      return fail(cudaErrorInvalidDevicePointer);
    halite::cuda::emulation::allocations.erase(it);
  }
  std::free(pointer);
  return cudaSuccess;
}
cudaError_t cudaMallocHost(void** pointer, std::size_t bytes) {
  if (pointer == nullptr) return fail(cudaErrorInvalidValue);
  *pointer = bytes == 0 ? nullptr : std::malloc(bytes);
  if (bytes != 0 && *pointer == nullptr) return fail(cudaErrorMemoryAllocation);
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* pointer) {
  std::free(pointer);
  return cudaSuccess;
}

namespace {
// Checks that both ends of a copy are where `kind` says they are.
cudaError_t check_copy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  if (dst == nullptr || src == nullptr) return fail(cudaErrorInvalidValue);
  const bool device_dst = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool device_src = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (kind == cudaMemcpyDefault) return cudaSuccess;
  if (device_dst ? !is_device_range(dst, bytes) : is_device_pointer(dst))
    return fail(device_dst ? cudaErrorInvalidValue : cudaErrorInvalidMemcpyDirection);
  if (device_src ? !is_device_range(src, bytes) : is_device_pointer(src))
    return fail(device_src ? cudaErrorInvalidValue : cudaErrorInvalidMemcpyDirection);
  switch (kind) {
    case cudaMemcpyHostToDevice:
      ++counters().copies_to_device;
      break;
    case cudaMemcpyDeviceToHost:
      ++counters().copies_to_host;
      break;
    case cudaMemcpyDeviceToDevice:
      ++counters().copies_on_device;
      break;
    default:
      break;
  }
  return cudaSuccess;
}
}  // namespace

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  const cudaError_t e = check_copy(dst, src, bytes, kind);
  if (e != cudaSuccess) return e;
  if (bytes > 0) std::memmove(dst, src, bytes);
  ++counters().synchronizations;  // a blocking copy waits for the device
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t) {
  const cudaError_t e = check_copy(dst, src, bytes, kind);
  if (e != cudaSuccess) return e;
  if (bytes > 0) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemset(void* dst, int value, std::size_t bytes) {
  const cudaError_t e = cudaMemsetAsync(dst, value, bytes, nullptr);
  if (e == cudaSuccess) ++counters().synchronizations;
  return e;
}
cudaError_t cudaMemsetAsync(void* dst, int value, std::size_t bytes, cudaStream_t) {
  if (bytes == 0) return cudaSuccess;
  if (!is_device_range(dst, bytes)) return fail(cudaErrorInvalidValue);
  std::memset(dst, value, bytes);
  ++counters().memsets;
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  return cudaStreamCreateWithFlags(stream, cudaStreamDefault);
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  if (stream == nullptr) return fail(cudaErrorInvalidValue);
  *stream = new CUstream_st{flags};
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (stream == nullptr) return fail(cudaErrorInvalidResourceHandle);
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) {
  ++counters().synchronizations;
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() {
  ++counters().synchronizations;
  return cudaSuccess;
}
cudaError_t cudaEventCreate(cudaEvent_t* event) {
  if (event == nullptr) return fail(cudaErrorInvalidValue);
  *event = new CUevent_st{};
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (event == nullptr) return fail(cudaErrorInvalidResourceHandle);
  delete event;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) {
  if (event == nullptr) return fail(cudaErrorInvalidResourceHandle);
  event->time = std::chrono::steady_clock::now();
  event->recorded = true;
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (event == nullptr) return fail(cudaErrorInvalidResourceHandle);
  ++counters().synchronizations;
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* milliseconds, cudaEvent_t start, cudaEvent_t end) {
  if (milliseconds == nullptr || start == nullptr || end == nullptr)
    return fail(cudaErrorInvalidValue);
  if (!start->recorded || !end->recorded) return fail(cudaErrorInvalidResourceHandle);
  *milliseconds = std::chrono::duration<float, std::milli>(end->time - start->time).count();
  return cudaSuccess;
}
