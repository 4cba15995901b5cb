#include "cuda/profiling/event_phase_timer.hpp"

#include "cuda/cuda_check.hpp"

namespace halite::cuda {

EventPhaseTimer::~EventPhaseTimer() {
  for (cudaEvent_t e : all_) (void)cudaEventDestroy(e);
}

cudaEvent_t EventPhaseTimer::take() {
  if (pool_.empty()) {
    cudaEvent_t e = nullptr;
    HALITE_CUDA_CHECK(cudaEventCreate(&e));
    all_.push_back(e);
    return e;
  }
  cudaEvent_t e = pool_.back();
  pool_.pop_back();
  return e;
}

void EventPhaseTimer::begin(DevicePhase phase, cudaStream_t stream) {
  open_ = {phase, take(), nullptr};
  HALITE_CUDA_CHECK(cudaEventRecord(open_.start, stream));
}

void EventPhaseTimer::end(cudaStream_t stream) {
  if (open_.start == nullptr) return;
  open_.end = take();
  HALITE_CUDA_CHECK(cudaEventRecord(open_.end, stream));
  recorded_.push_back(open_);
  ++launches_[static_cast<int>(open_.phase)];
  open_ = {DevicePhase::kCount, nullptr, nullptr};
  // Bounded memory: resolve every 4096 launches (one wait for the device, only when timing).
  if (recorded_.size() >= 4096) resolve();
}

void EventPhaseTimer::resolve() {
  if (recorded_.empty()) return;
  HALITE_CUDA_CHECK(cudaEventSynchronize(recorded_.back().end));
  ++synchronizations_;
  for (const Interval& i : recorded_) {
    float ms = 0.0f;
    HALITE_CUDA_CHECK(cudaEventElapsedTime(&ms, i.start, i.end));
    milliseconds_[static_cast<int>(i.phase)] += ms;
    pool_.push_back(i.start);
    pool_.push_back(i.end);
  }
  recorded_.clear();
}

std::array<double, PhaseTimer::kPhases> EventPhaseTimer::milliseconds() {
  resolve();
  return milliseconds_;
}

}  // namespace halite::cuda
