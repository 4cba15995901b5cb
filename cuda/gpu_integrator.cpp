#include "cuda/gpu_integrator.hpp"

#include <fmt/format.h>
#include <ida/ida.h>

#include <algorithm>
#include <cstdlib>

namespace halite::cuda {

GpuBatchIntegrator::GpuBatchIntegrator(BatchModel& model, const SolverConfig& config)
    : model_(model), config_(config) {
  const int b = model.cells(), n = model.per_cell();
  y_ = NVectorPtr(make_device_vector(context_, b, n));
  yp_ = NVectorPtr(N_VClone(y_.get()));
  id_ = NVectorPtr(N_VClone(y_.get()));
  atol_ = NVectorPtr(N_VClone(y_.get()));
  if (!yp_ || !id_ || !atol_)
    throw std::runtime_error("GpuBatchIntegrator: cloning a device vector failed: " +
                             device_vector_error(y_.get()));
  {
    std::vector<double> id(std::size_t(b) * n), atol(std::size_t(b) * n);
    for (int c = 0; c < b; ++c) {
      model.differential_id(id.data() + std::size_t(c) * n);
      model.absolute_tolerances(config.absolute_tolerance_stoichiometry,
                                config.absolute_tolerance_potential,
                                config.absolute_tolerance_current, config.absolute_tolerance_charge,
                                atol.data() + std::size_t(c) * n);
    }
    copy_to_device(id_.get(), id.data());
    copy_to_device(atol_.get(), atol.data());
  }
  device_model_ = std::make_unique<DeviceBatchModel>(b, model.layout());
  solver_ = std::make_unique<DeviceSchurSolver>(*device_model_, stream());
  last_residual_point_.resize(std::size_t(b) * n);
  last_residual_point_.zero(stream());
  host_y_.assign(std::size_t(b) * n, 0.0);
  cell_buffer_ = PinnedBuffer<double>(std::size_t(n));
  sync_model();

  // The IDA settings and Jacobian policy of the CPU backend (host/cpu/ida_driver.hpp).
  ida_ = std::make_unique<IdaDriver>(context_, &GpuBatchIntegrator::residual_callback, this,
                                     y_.get(), yp_.get(), id_.get(), atol_.get(), config);
  hooks_ = ida_->hooks([this] { return static_cast<const double*>(last_residual_point_.get()); });
  ida_->attach(make_device_schur_linear_solver(context_, *solver_, hooks_));
}

void GpuBatchIntegrator::set_state(const double* y_host) {
  std::copy(y_host, y_host + host_y_.size(), host_y_.begin());
  copy_to_device(y_.get(), y_host);
  host_fresh_ = true;
  host_written_ = false;
}
void GpuBatchIntegrator::get_state(double* y_host) const {
  copy_to_host(y_.get(), y_host);
}
void GpuBatchIntegrator::get_derivative(double* yp_host) const {
  copy_to_host(yp_.get(), yp_host);
}
std::vector<double> GpuBatchIntegrator::state() const {
  std::vector<double> y(std::size_t(N_VGetLength(y_.get())));
  get_state(y.data());
  return y;
}

double* GpuBatchIntegrator::y() {
  if (!host_fresh_) {
    get_state(host_y_.data());
    host_fresh_ = true;
  }
  host_written_ = true;  // the caller holds a writable pointer
  return host_y_.data();
}

const double* GpuBatchIntegrator::read_cell(int cell) {
  const std::size_t n = std::size_t(model_.per_cell()), off = std::size_t(cell) * n;
  if (host_fresh_) return host_y_.data() + off;
  HALITE_CUDA_CHECK(cudaMemcpyAsync(cell_buffer_.get(), device_data(y_.get()) + off,
                                    n * sizeof(double), cudaMemcpyDeviceToHost, stream()));
  vectors().synchronize();
  return cell_buffer_.get();
}

void GpuBatchIntegrator::push_host_state() {
  if (host_fresh_ && host_written_) {
    copy_to_device(y_.get(), host_y_.data());
    host_written_ = false;
  }
}

void GpuBatchIntegrator::terminal_observables(std::vector<double>* voltage,
                                              std::vector<double>* current) {
  push_host_state();
  device_model_->observables(device_data(y_.get()), voltage, current, stream());
}

void GpuBatchIntegrator::sync_model() {
  device_model_->upload(model_, stream());
  vectors().set_mask(model_.mask()->active);
  frozen_revision_ = model_.frozen_revision();
}

int GpuBatchIntegrator::residual_callback(double, N_Vector y, N_Vector yp, N_Vector res,
                                          void* data) {
  auto* self = static_cast<GpuBatchIntegrator*>(data);
  try {
    const std::size_t n = std::size_t(N_VGetLength(y));
    HALITE_CUDA_CHECK(cudaMemcpyAsync(self->last_residual_point_.get(), device_data(y),
                                      n * sizeof(double), cudaMemcpyDeviceToDevice,
                                      self->stream()));
    // No count of non-finite entries is read back (a host synchronisation per residual): a NaN
    // reaches IDA through the norms, as a recoverable Newton failure.
    self->device_model_->residual(device_data(y), device_data(yp), device_data(res),
                                  self->stream());
    return 0;
  } catch (const std::exception& e) {
    self->vectors().record_error(e.what());
    return -1;
  } catch (...) {
    return -1;
  }
}

int GpuBatchIntegrator::root_callback(double t, N_Vector y, N_Vector, double* g, void* data) {
  auto* self = static_cast<GpuBatchIntegrator*>(data);
  try {
    self->device_model_->root_values(t, device_data(y), g, self->stream());
    return 0;
  } catch (const std::exception& e) {
    self->vectors().record_error(e.what());
    return -1;
  } catch (...) {
    return -1;
  }
}

void GpuBatchIntegrator::check_device(const char* call) {
  const std::string& error = device_vector_error(y_.get());
  if (!error.empty()) {
    const std::string msg = fmt::format("{}: device error: {}", call, error);
    clear_device_vector_error(y_.get());
    throw IntegrationError(msg, -1, IDA_VECTOROP_ERR);
  }
}

void GpuBatchIntegrator::restart(double t0, const StepRoots* roots) {
  collect_aging();  // what the device sampled so far belongs to the host model before re-upload
  push_host_state();
  sync_model();
  roots_ = roots;
  const int roots_per_cell = roots ? roots->conditions() : 0;
  if (roots) device_model_->upload_roots(*roots, stream());
  const int flag = ida_->restart(t0, y_.get(), yp_.get(), model_.cells() * roots_per_cell,
                                 &GpuBatchIntegrator::root_callback);
  check_device("IDACalcIC");
  if (flag < 0) {
    // y_ still holds the uploaded state (IDACalcIC works on its own copies), so the mirror
    // stays valid for a retry.
    int cell = -1;
    const std::string msg = describe_failure("IDACalcIC", flag, &cell);
    throw IntegrationError(msg, cell, flag);
  }
  host_fresh_ = false;
}

void GpuBatchIntegrator::update_roots() {
  if (roots_) device_model_->upload_root_directions(*roots_, stream());
}

void GpuBatchIntegrator::root_values(double t, double* g) {
  if (!roots_) return;
  push_host_state();
  device_model_->root_values(t, device_data(y_.get()), g, stream());
}

int GpuBatchIntegrator::step(double t_limit, double* t_reached) {
  if (model_.frozen_revision() != frozen_revision_) {  // cells ended their step since the last
    device_model_->upload_frozen(model_, stream());
    vectors().set_mask(model_.mask()->active);
    frozen_revision_ = model_.frozen_revision();
  }
  const int flag = ida_->step(t_limit, t_reached, y_.get(), yp_.get());
  host_fresh_ = false;
  check_device("IDASolve");
  return flag;
}

const std::vector<int>& GpuBatchIntegrator::roots_found() {
  return ida_->roots_found();
}

std::string GpuBatchIntegrator::describe_failure(const char* call, int flag, int* blamed_cell) {
  std::string msg = ida_->failure_text(call, flag) + " [cuda backend]";
  *blamed_cell = -1;
  {
    const auto bad = device_model_->nonfinite_cells(stream());
    if (!bad.empty()) {
      *blamed_cell = bad.front().cell;
      msg += fmt::format("; non-finite residual of {} in cell {}",
                         model_.describe_component(bad.front().component), *blamed_cell + 1);
    }
  }
  NVectorPtr err(N_VClone(y_.get())), weights(N_VClone(y_.get()));
  if (err && weights && IDAGetEstLocalErrors(ida_->get(), err.get()) == IDA_SUCCESS &&
      IDAGetErrWeights(ida_->get(), weights.get()) == IDA_SUCCESS) {
    std::vector<double> e(host_y_.size()), w(host_y_.size());
    copy_to_host(err.get(), e.data());
    copy_to_host(weights.get(), w.data());
    append_local_error_ranking(model_, e.data(), w.data(), &msg, blamed_cell);
  }
  if (*blamed_cell < 0)
    for (int c = 0; c < model_.cells(); ++c)
      if (!model_.frozen(c)) {
        *blamed_cell = c;
        break;
      }
  return msg;
}

bool GpuBatchIntegrator::nonfinite_residual() const {
  return !device_model_->nonfinite_cells(stream()).empty();
}

void GpuBatchIntegrator::sample_aging(double t) {
  device_model_->sample_aging(t, device_data(y_.get()), stream());
  accumulators_on_device_ = true;
}

void GpuBatchIntegrator::collect_aging() {
  if (!accumulators_on_device_) return;
  device_model_->download_accumulators(model_, stream());
  accumulators_on_device_ = false;
}

long GpuBatchIntegrator::advance_to(double t_end) {
  long steps = 0;
  double t = 0.0;
  IDAGetCurrentTime(ida_->get(), &t);
  while (t < t_end) {
    const int flag = step(t_end, &t);
    if (flag < 0) {
      throw IntegrationError(
          fmt::format("{} (at t = {} s)", ida_->failure_text("IDASolve", flag), t), -1, flag);
    }
    ++steps;
    if (flag == IDA_TSTOP_RETURN) break;
  }
  return steps;
}

GpuBatchIntegrator::DeviceCounters GpuBatchIntegrator::device_counters() const {
  const DeviceBatchShared& v = vectors();
  DeviceCounters c;
  c.launches = v.kernel_launches + device_model_->launches;
  c.reductions = v.reductions;
  c.synchronizations = v.reductions + v.synchronizations + device_model_->synchronizations;
  return c;
}

void GpuBatchIntegrator::set_phase_timer(PhaseTimer* timer) {
  vectors().timer = timer;
  device_model_->set_phase_timer(timer);
}

SolverStats GpuBatchIntegrator::stats() const {
  return ida_->stats(solver_->jacobian_evaluations());
}

}  // namespace halite::cuda
