// Where the device time of an integration goes, per phase of the backend's launches. The
// kernels' launch sites time themselves through this interface when an integrator is given a
// timer (GpuBatchIntegrator::set_phase_timer; off otherwise: recording costs host time). The
// cudaEvent implementation is cuda/profiling/event_phase_timer.hpp (bench_gpu's "where the GPU
// time goes"); keeping it out of this header keeps the kernels' sources free of the event API.
#pragma once

#include "cuda/runtime.hpp"

namespace halite::cuda {

enum class DevicePhase : int {
  kVectorOps,  // IDA's vector ops: deferred element-wise ops and reductions
  kResidual,
  kJacobian,
  kFactor,
  kSolve,
  kRoots,
  kAging,
  kObservables,
  kCount
};

inline const char* phase_name(DevicePhase phase) {
  switch (phase) {
    case DevicePhase::kVectorOps:
      return "vector ops";
    case DevicePhase::kResidual:
      return "residual";
    case DevicePhase::kJacobian:
      return "jacobian";
    case DevicePhase::kFactor:
      return "factorisation";
    case DevicePhase::kSolve:
      return "solve";
    case DevicePhase::kRoots:
      return "root functions";
    case DevicePhase::kAging:
      return "aging sampling";
    case DevicePhase::kObservables:
      return "observables";
    case DevicePhase::kCount:
      break;
  }
  return "?";
}

class PhaseTimer {
 public:
  static constexpr int kPhases = static_cast<int>(DevicePhase::kCount);
  virtual ~PhaseTimer() = default;
  // The start and the end of one launch of `phase` on `stream` (in this order).
  virtual void begin(DevicePhase phase, cudaStream_t stream) = 0;
  virtual void end(cudaStream_t stream) = 0;
};

// Times one launch when timer is not null.
class PhaseScope {
 public:
  PhaseScope(PhaseTimer* timer, DevicePhase phase, cudaStream_t stream)
      : timer_(timer), stream_(stream) {
    if (timer_ != nullptr) timer_->begin(phase, stream_);
  }
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;
  ~PhaseScope() {
    if (timer_ != nullptr) timer_->end(stream_);
  }

 private:
  PhaseTimer* timer_;
  cudaStream_t stream_;
};

}  // namespace halite::cuda
