// Where the device time of an integration goes: cudaEvent pairs around every launch of the
// backend, summed per phase (bench_gpu's "where the GPU time goes"). Off unless an integrator is
// given a timer (GpuBatchIntegrator::set_phase_timer): recording events costs host time, so the
// benchmark times a separate measurement with it.
#pragma once

#include <array>
#include <cstddef>
#include <vector>

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
const char* phase_name(DevicePhase phase);

class PhaseTimer {
 public:
  static constexpr int kPhases = static_cast<int>(DevicePhase::kCount);
  PhaseTimer() = default;
  PhaseTimer(const PhaseTimer&) = delete;
  PhaseTimer& operator=(const PhaseTimer&) = delete;
  ~PhaseTimer();

  // Records the start and the end of one launch of `phase` on `stream` (in this order).
  void begin(DevicePhase phase, cudaStream_t stream);
  void end(cudaStream_t stream);

  // Device milliseconds and launches per phase recorded so far (waits for the last event).
  std::array<double, kPhases> milliseconds();
  const std::array<long, kPhases>& launches() const { return launches_; }
  long synchronizations() const { return synchronizations_; }  // its own waits for events

 private:
  struct Interval {
    DevicePhase phase;
    cudaEvent_t start, end;
  };
  cudaEvent_t take();
  void resolve();  // sums the recorded intervals (synchronising) and recycles their events
  std::vector<cudaEvent_t> pool_, all_;
  std::vector<Interval> recorded_;
  Interval open_{DevicePhase::kCount, nullptr, nullptr};
  std::array<double, kPhases> milliseconds_{};
  std::array<long, kPhases> launches_{};
  long synchronizations_ = 0;
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
