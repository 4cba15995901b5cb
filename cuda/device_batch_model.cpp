// DeviceBatchModel: the device copy of a BatchModel's per-cell data (see batch_kernels.hpp).
#include <stdexcept>
#include <string>

#include "cuda/batch_kernels.hpp"
#include "host/batch_model.hpp"

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
      nonfinite_(std::size_t(cells)),
      nonfinite_count_(1),
      host_count_(1) {
  if (cells < 1) throw std::invalid_argument("DeviceBatchModel: need at least one cell");
}

void DeviceBatchModel::upload(const BatchModel& model, cudaStream_t stream) {
  if (model.cells() != cells_ || model.per_cell() != layout_.size() ||
      model.layout().classes != layout_.classes || model.layout().shells != layout_.shells)
    throw std::invalid_argument("DeviceBatchModel::upload: the model has another shape (" +
                                std::to_string(model.cells()) + " cells of " +
                                std::to_string(model.per_cell()) + " unknowns)");
  const int n = layout_.size(), particles = layout_.particles();
  h_params_.resize(cells_);
  h_coeffs_.resize(std::size_t(cells_) * particles);
  h_frozen_.resize(cells_);
  h_frozen_state_.resize(std::size_t(cells_) * n);
  for (int c = 0; c < cells_; ++c) {
    h_params_[c] = model.params(c);
    const models::ParticleCoefficients* pc = model.coefficients(c);
    std::copy(pc, pc + particles, h_coeffs_.begin() + std::size_t(c) * particles);
    h_frozen_[c] = model.frozen(c) ? 1 : 0;
    const double* yf = model.frozen_state(c);
    std::copy(yf, yf + n, h_frozen_state_.begin() + std::size_t(c) * n);
  }
  params_.upload(h_params_.data(), h_params_.size(), stream);
  coeffs_.upload(h_coeffs_.data(), h_coeffs_.size(), stream);
  frozen_.upload(h_frozen_.data(), h_frozen_.size(), stream);
  frozen_state_.upload(h_frozen_state_.data(), h_frozen_state_.size(), stream);
  upload_controls(model, stream);  // synchronises
}

void DeviceBatchModel::upload_frozen(const BatchModel& model, cudaStream_t stream) {
  const int n = layout_.size();
  h_frozen_.resize(cells_);
  h_frozen_state_.resize(std::size_t(cells_) * n);
  for (int c = 0; c < cells_; ++c) {
    h_frozen_[c] = model.frozen(c) ? 1 : 0;
    const double* yf = model.frozen_state(c);
    std::copy(yf, yf + n, h_frozen_state_.begin() + std::size_t(c) * n);
  }
  frozen_.upload(h_frozen_.data(), h_frozen_.size(), stream);
  frozen_state_.upload(h_frozen_state_.data(), h_frozen_state_.size(), stream);
  HALITE_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void DeviceBatchModel::upload_controls(const BatchModel& model, cudaStream_t stream) {
  h_controls_.resize(cells_);
  for (int c = 0; c < cells_; ++c) h_controls_[c] = model.control(c);
  controls_.upload(h_controls_.data(), h_controls_.size(), stream);
  HALITE_CUDA_CHECK(cudaStreamSynchronize(stream));
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

int DeviceBatchModel::residual(const double* y, const double* yp, double* res,
                               cudaStream_t stream) {
  nonfinite_count_.zero(stream);
  launch_residual(view(), y, yp, res, nonfinite_.get(), nonfinite_count_.get(), stream);
  HALITE_CUDA_CHECK(cudaMemcpyAsync(host_count_.get(), nonfinite_count_.get(), sizeof(int),
                                    cudaMemcpyDeviceToHost, stream));
  HALITE_CUDA_CHECK(cudaStreamSynchronize(stream));
  return host_count_[0];
}

std::vector<DeviceBatchModel::Nonfinite> DeviceBatchModel::nonfinite_cells(
    cudaStream_t stream) const {
  std::vector<int> first(cells_);
  nonfinite_.download(first.data(), first.size(), stream);
  HALITE_CUDA_CHECK(cudaStreamSynchronize(stream));
  std::vector<Nonfinite> out;
  for (int c = 0; c < cells_; ++c)
    if (first[c] >= 0) out.push_back({c, first[c]});
  return out;
}

}  // namespace halite::cuda
