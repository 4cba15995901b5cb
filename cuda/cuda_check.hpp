// CUDA runtime helpers of the device backend: the checking macro every CUDA call goes through,
// and small RAII owners for device memory, pinned host memory and streams.
//
// Host-only header (g++ or nvcc): it includes the CUDA runtime API, never a kernel.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

#include "cuda/runtime.hpp"

namespace halite::cuda {

// Thrown for every failed CUDA call: "<file>:<line>: <call> failed: <cudaGetErrorName>:
// <cudaGetErrorString>".
class CudaError : public std::runtime_error {
 public:
  CudaError(const char* file, int line, const char* call, cudaError_t code)
      : std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + call +
                           " failed: " + cudaGetErrorName(code) + ": " + cudaGetErrorString(code)),
        code(code) {}
  const cudaError_t code;
};

[[noreturn]] inline void throw_cuda_error(const char* file, int line, const char* call,
                                          cudaError_t code) {
  throw CudaError(file, line, call, code);
}

}  // namespace halite::cuda

// Checks a CUDA runtime call; throws halite::cuda::CudaError naming file, line and the call.
#define HALITE_CUDA_CHECK(call)                                                         \
  do {                                                                                  \
    const cudaError_t halite_cuda_status_ = (call);                                     \
    if (halite_cuda_status_ != cudaSuccess)                                             \
      ::halite::cuda::throw_cuda_error(__FILE__, __LINE__, #call, halite_cuda_status_); \
  } while (0)

// Checks the launch of the last kernel (configuration errors); execution errors surface at the
// next synchronising call, which is checked too.
#define HALITE_CUDA_CHECK_LAUNCH() HALITE_CUDA_CHECK(cudaGetLastError())

namespace halite::cuda {

// Number of usable CUDA devices; 0 when there is no device or no driver (never throws). Clears
// the sticky "no device" error so that later checks do not see it.
inline int device_count() noexcept {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

// Device memory for n objects of T (uninitialised). Move-only.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() noexcept = default;
  explicit DeviceBuffer(std::size_t n) { resize(n); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~DeviceBuffer() { release(); }

  // Reallocates (contents are lost) unless the size is unchanged.
  void resize(std::size_t n) {
    if (n == size_) return;
    release();
    if (n > 0) {
      void* p = nullptr;
      HALITE_CUDA_CHECK(cudaMalloc(&p, n * sizeof(T)));
      data_ = static_cast<T*>(p);
    }
    size_ = n;
  }
  T* get() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  std::size_t bytes() const noexcept { return size_ * sizeof(T); }

  void upload(const T* host, std::size_t n, cudaStream_t stream) {
    if (n > size_) throw std::out_of_range("DeviceBuffer::upload: more than the buffer holds");
    if (n > 0)
      HALITE_CUDA_CHECK(
          cudaMemcpyAsync(data_, host, n * sizeof(T), cudaMemcpyHostToDevice, stream));
  }
  void download(T* host, std::size_t n, cudaStream_t stream) const {
    if (n > size_) throw std::out_of_range("DeviceBuffer::download: more than the buffer holds");
    if (n > 0)
      HALITE_CUDA_CHECK(
          cudaMemcpyAsync(host, data_, n * sizeof(T), cudaMemcpyDeviceToHost, stream));
  }
  void zero(cudaStream_t stream) {
    if (size_ > 0) HALITE_CUDA_CHECK(cudaMemsetAsync(data_, 0, bytes(), stream));
  }

 private:
  void release() noexcept {
    if (data_ != nullptr) (void)cudaFree(data_);  // never throws from a destructor
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// Page-locked host memory (for the small results copied back every norm). Move-only.
template <class T>
class PinnedBuffer {
 public:
  PinnedBuffer() noexcept = default;
  explicit PinnedBuffer(std::size_t n) {
    if (n > 0) {
      void* p = nullptr;
      HALITE_CUDA_CHECK(cudaMallocHost(&p, n * sizeof(T)));
      data_ = static_cast<T*>(p);
      size_ = n;
    }
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  PinnedBuffer(PinnedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    if (this != &o) {
      if (data_ != nullptr) (void)cudaFreeHost(data_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~PinnedBuffer() {
    if (data_ != nullptr) (void)cudaFreeHost(data_);
  }
  T* get() const noexcept { return data_; }
  T& operator[](std::size_t i) const noexcept { return data_[i]; }
  std::size_t size() const noexcept { return size_; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

// A non-blocking CUDA stream. Move-only.
class Stream {
 public:
  Stream() { HALITE_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  Stream(Stream&& o) noexcept : stream_(std::exchange(o.stream_, nullptr)) {}
  Stream& operator=(Stream&& o) noexcept {
    if (this != &o) {
      if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
      stream_ = std::exchange(o.stream_, nullptr);
    }
    return *this;
  }
  ~Stream() {
    if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
  }
  cudaStream_t get() const noexcept { return stream_; }
  void synchronize() const { HALITE_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  cudaStream_t stream_ = nullptr;
};

}  // namespace halite::cuda
