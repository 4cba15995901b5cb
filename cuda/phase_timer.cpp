#include "cuda/phase_timer.hpp"

#include "cuda/cuda_check.hpp"

namespace halite::cuda {

const char* phase_name(DevicePhase phase) {
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

PhaseTimer::~PhaseTimer() {
  for (cudaEvent_t e : all_) (void)cudaEventDestroy(e);
}

cudaEvent_t PhaseTimer::take() {
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

void PhaseTimer::begin(DevicePhase phase, cudaStream_t stream) {
  open_ = {phase, take(), nullptr};
  HALITE_CUDA_CHECK(cudaEventRecord(open_.start, stream));
}

void PhaseTimer::end(cudaStream_t stream) {
  if (open_.start == nullptr) return;
  open_.end = take();
  HALITE_CUDA_CHECK(cudaEventRecord(open_.end, stream));
  recorded_.push_back(open_);
  ++launches_[static_cast<int>(open_.phase)];
  open_ = {DevicePhase::kCount, nullptr, nullptr};
  // Bounded memory: resolve every 4096 launches (one wait for the device, only when timing).
  if (recorded_.size() >= 4096) resolve();
}

void PhaseTimer::resolve() {
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

std::array<double, PhaseTimer::kPhases> PhaseTimer::milliseconds() {
  resolve();
  return milliseconds_;
}

}  // namespace halite::cuda
