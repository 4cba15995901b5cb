// PhaseTimer with cudaEvents: an event before and after every timed launch, summed per phase.
#pragma once

#include <array>
#include <vector>

#include "cuda/phase_timer.hpp"

namespace halite::cuda {

class EventPhaseTimer final : public PhaseTimer {
 public:
  EventPhaseTimer() = default;
  EventPhaseTimer(const EventPhaseTimer&) = delete;
  EventPhaseTimer& operator=(const EventPhaseTimer&) = delete;
  ~EventPhaseTimer() override;

  void begin(DevicePhase phase, cudaStream_t stream) override;
  void end(cudaStream_t stream) override;

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

}  // namespace halite::cuda
