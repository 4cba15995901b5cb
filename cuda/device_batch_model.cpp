// DeviceBatchModel: the device copy of a BatchModel's per-cell data (see batch_kernels.hpp).
#include <algorithm>
#include <stdexcept>
#include <string>

#include "cuda/batch_kernels.hpp"
#include "host/cpu/batch_model.hpp"
#include "host/engine/integrator.hpp"

namespace halite::cuda {

DeviceBatchModel::DeviceBatchModel(int cells, const models::CellLayout& layout)
    : cells_(cells),
      layout_(layout),
      params_(std::size_t(cells)),
      controls_(std::size_t(cells)),
      coeffs_(std::size_t(cells) * layout.particles()),
      frozen_(std::size_t(cells)),
      frozen_state_(std::size_t(cells) * layout.size()),
      scratch_(std::size_t(cells) * scratch_per_cell(layout)),
      aging_(std::size_t(cells) * layout.particles()),
      accumulators_(std::size_t(cells) * layout.particles()),
      observed_(2 * std::size_t(cells)),
      nonfinite_(std::size_t(cells)) {
  if (cells < 1) throw std::invalid_argument("DeviceBatchModel: need at least one cell");
}

void DeviceBatchModel::upload(const BatchModel& model, cudaStream_t stream) {
  if (model.cells() != cells_ || model.per_cell() != layout_.size() ||
      model.layout().classes != layout_.classes || model.layout().shells != layout_.shells)
    throw std::invalid_argument("DeviceBatchModel::upload: the model has another shape (" +
                                std::to_string(model.cells()) + " cells of " +
                                std::to_string(model.per_cell()) + " unknowns)");
  const int particles = layout_.particles();
  h_params_.resize(cells_);
  h_coeffs_.resize(std::size_t(cells_) * particles);
  for (int c = 0; c < cells_; ++c) {
    h_params_[c] = model.params(c);
    const models::ParticleCoefficients* pc = model.coefficients(c);
    std::copy(pc, pc + particles, h_coeffs_.begin() + std::size_t(c) * particles);
  }
  params_.upload(h_params_.data(), h_params_.size(), stream);
  coeffs_.upload(h_coeffs_.data(), h_coeffs_.size(), stream);
  // Frozen flags from scratch, and the frozen states of the frozen cells only (at a step start
  // that is just the failed ones: every other cell has been thawed).
  h_frozen_.assign(cells_, 0);
  frozen_.zero(stream);
  upload_frozen(model, stream);
  upload_aging(model, stream);
  upload_controls(model, stream);  // synchronises
}

void DeviceBatchModel::upload_aging(const BatchModel& model, cudaStream_t stream) {
  const std::size_t n = std::size_t(cells_) * layout_.particles();
  h_aging_.assign(model.aging_states(), model.aging_states() + n);
  h_accumulators_.assign(model.accumulators(), model.accumulators() + n);
  aging_.upload(h_aging_.data(), n, stream);
  accumulators_.upload(h_accumulators_.data(), n, stream);
  synchronize(stream);
}

void DeviceBatchModel::download_accumulators(BatchModel& model, cudaStream_t stream) {
  const std::size_t n = std::size_t(cells_) * layout_.particles();
  accumulators_.download(model.accumulators(), n, stream);
  synchronize(stream);
}

void DeviceBatchModel::upload_roots(const StepRoots& roots, cudaStream_t stream) {
  const int k = roots.conditions();
  if (roots.thresholds.size() != std::size_t(cells_) * k ||
      roots.voltage_direction.size() != std::size_t(cells_) ||
      roots.voltage_offset.size() != std::size_t(cells_))
    throw std::invalid_argument("DeviceBatchModel::upload_roots: sizes do not fit the batch");
  roots_ = {};
  roots_.conditions = k;
  roots_.t0 = roots.t0;
  if (k == 0) return;
  // Buffers only grow: cudaFree waits for the whole device, which would stall the other
  // batches sharing it (a sweep runs several groups at once on their own streams).
  constexpr int kConditionCapacity = 8;
  const std::size_t capacity = std::size_t(k > kConditionCapacity ? k : kConditionCapacity);
  if (root_kinds_.size() < capacity) {
    root_kinds_.resize(capacity);
    root_thresholds_.resize(std::size_t(cells_) * capacity);
    root_g_.resize(std::size_t(cells_) * capacity);
    root_g_host_ = PinnedBuffer<double>(std::size_t(cells_) * capacity);
  }
  root_direction_.resize(cells_);
  root_offset_.resize(cells_);
  root_kinds_.upload(roots.kinds.data(), k, stream);
  root_thresholds_.upload(roots.thresholds.data(), roots.thresholds.size(), stream);
  root_offset_.upload(roots.voltage_offset.data(), cells_, stream);
  roots_.kinds = root_kinds_.get();
  roots_.thresholds = root_thresholds_.get();
  roots_.voltage_direction = root_direction_.get();
  roots_.voltage_offset = root_offset_.get();
  upload_root_directions(roots, stream);  // synchronises
}

void DeviceBatchModel::upload_root_directions(const StepRoots& roots, cudaStream_t stream) {
  if (roots_.conditions == 0) return;
  root_direction_.upload(roots.voltage_direction.data(), cells_, stream);
  synchronize(stream);
}

void DeviceBatchModel::root_values(double t, const double* y, double* g_host, cudaStream_t stream) {
  if (roots_.conditions == 0) return;
  // Through pinned memory: a copy to pageable memory is staged by the driver (slower, and
  // synchronous with respect to the host anyway). This is the one sync per IDA step outside the
  // reductions (docs/gpu.md, "Per-step budget").
  const std::size_t n = std::size_t(cells_) * roots_.conditions;
  {
    const PhaseScope timed(timer_, DevicePhase::kRoots, stream);
    launch_root_values(view(), roots_, t, y, root_g_.get(), stream);
  }
  ++launches;
  root_g_.download(root_g_host_.get(), n, stream);
  synchronize(stream);
  std::copy(root_g_host_.get(), root_g_host_.get() + n, g_host);
}

void DeviceBatchModel::sample_aging(double t, const double* y, cudaStream_t stream) {
  const PhaseScope timed(timer_, DevicePhase::kAging, stream);
  launch_sample_aging(view(), aging_.get(), t, y, accumulators_.get(), stream);
  ++launches;
}

void DeviceBatchModel::observables(const double* y, std::vector<double>* voltage,
                                   std::vector<double>* current, cudaStream_t stream) {
  {
    const PhaseScope timed(timer_, DevicePhase::kObservables, stream);
    launch_observables(view(), y, observed_.get(), observed_.get() + cells_, stream);
  }
  ++launches;
  voltage->resize(cells_);
  current->resize(cells_);
  HALITE_CUDA_CHECK(cudaMemcpyAsync(voltage->data(), observed_.get(), cells_ * sizeof(double),
                                    cudaMemcpyDeviceToHost, stream));
  HALITE_CUDA_CHECK(cudaMemcpyAsync(current->data(), observed_.get() + cells_,
                                    cells_ * sizeof(double), cudaMemcpyDeviceToHost, stream));
  synchronize(stream);
}

void DeviceBatchModel::upload_frozen(const BatchModel& model, cudaStream_t stream) {
  // Only the cells whose flag changed since the last upload: in a heterogeneous batch cells
  // freeze one by one, and copying every frozen state each time would cost O(cells^2).
  const int n = layout_.size();
  h_frozen_.resize(cells_, 0);
  h_frozen_state_.resize(std::size_t(cells_) * n);
  bool changed = false;
  for (int c = 0; c < cells_; ++c) {
    const unsigned char now = model.frozen(c) ? 1 : 0;
    if (now == h_frozen_[c]) continue;
    changed = true;
    h_frozen_[c] = now;
    if (now == 0) continue;
    const std::size_t off = std::size_t(c) * n;
    const double* yf = model.frozen_state(c);
    std::copy(yf, yf + n, h_frozen_state_.begin() + off);
    HALITE_CUDA_CHECK(cudaMemcpyAsync(frozen_state_.get() + off, h_frozen_state_.data() + off,
                                      n * sizeof(double), cudaMemcpyHostToDevice, stream));
  }
  if (changed) frozen_.upload(h_frozen_.data(), h_frozen_.size(), stream);
  synchronize(stream);
}

void DeviceBatchModel::upload_controls(const BatchModel& model, cudaStream_t stream) {
  h_controls_.resize(cells_);
  for (int c = 0; c < cells_; ++c) h_controls_[c] = model.control(c);
  controls_.upload(h_controls_.data(), h_controls_.size(), stream);
  synchronize(stream);
}

BatchView DeviceBatchModel::view() const {
  BatchView v;
  v.cells = cells_;
  v.layout = layout_;
  v.params = params_.get();
  v.controls = controls_.get();
  v.coeffs = coeffs_.get();
  v.frozen = frozen_.get();
  v.frozen_state = frozen_state_.get();
  v.scratch = scratch_.get();
  return v;
}

void DeviceBatchModel::residual(const double* y, const double* yp, double* res,
                                cudaStream_t stream) {
  const PhaseScope timed(timer_, DevicePhase::kResidual, stream);
  launch_residual(view(), y, yp, res, nonfinite_.get(), stream);
  ++launches;
}

std::vector<DeviceBatchModel::Nonfinite> DeviceBatchModel::nonfinite_cells(
    cudaStream_t stream) const {
  std::vector<int> first(cells_);
  nonfinite_.download(first.data(), first.size(), stream);
  synchronize(stream);
  std::vector<Nonfinite> out;
  for (int c = 0; c < cells_; ++c)
    if (first[c] >= 0) out.push_back({c, first[c]});
  return out;
}

}  // namespace halite::cuda
