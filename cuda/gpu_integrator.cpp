#include "cuda/gpu_integrator.hpp"

#include <fmt/format.h>
#include <ida/ida.h>

#include <algorithm>
#include <cstdlib>

namespace halite::cuda {

namespace {

void check_ida(int flag, const char* call) {
  if (flag < 0)
    throw IntegrationError(
        fmt::format("{} failed with flag {} ({})", call, IDAGetReturnFlagName(flag), flag), -1,
        flag);
}

}  // namespace

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
  cell_buffer_.assign(std::size_t(n), 0.0);
  sync_model();

  ida_ = IDACreate(context_);
  if (!ida_) throw std::bad_alloc();
  check_ida(IDASetErrHandlerFn(ida_, &GpuBatchIntegrator::error_callback, this),
            "IDASetErrHandlerFn");
  check_ida(IDAInit(ida_, &GpuBatchIntegrator::residual_callback, 0.0, y_.get(), yp_.get()),
            "IDAInit");
  check_ida(IDASVtolerances(ida_, config.relative_tolerance, atol_.get()), "IDASVtolerances");
  check_ida(IDASetUserData(ida_, this), "IDASetUserData");
  check_ida(IDASetId(ida_, id_.get()), "IDASetId");
  check_ida(IDASetMaxStep(ida_, config.max_step), "IDASetMaxStep");

  // The same hooks as BatchIntegrator: a fresh Jacobian per IC Newton iteration, then every
  // jacobian_reuse_steps_ steps; a refactorisation whenever cj changes.
  hooks_.current_cj = [this] {
    double cj = 0.0;
    IDAGetCurrentCj(ida_, &cj);
    return cj;
  };
  hooks_.step_counter = [this] {
    if (in_initial_condition_) return -(++ic_solves_);
    long nst = 0, ncfn = 0, netf = 0;
    IDAGetNumSteps(ida_, &nst);
    IDAGetNumNonlinSolvConvFails(ida_, &ncfn);
    IDAGetNumErrTestFails(ida_, &netf);
    // as BatchIntegrator: dF/dy every jacobian_reuse_steps_ steps and after any failure; the
    // factorisation follows every change of cj
    return (epoch_ << 42) + ((ncfn + netf) << 24) + nst / jacobian_reuse_steps_;
  };
  hooks_.last_residual_point = [this] {
    return static_cast<const double*>(last_residual_point_.get());
  };
  if (const char* env = std::getenv("HALITE_JACOBIAN_REUSE")) set_jacobian_reuse(std::atol(env));
  linear_solver_ = make_device_schur_linear_solver(context_, *solver_, hooks_);
  check_ida(IDASetLinearSolver(ida_, linear_solver_, nullptr), "IDASetLinearSolver");
}

GpuBatchIntegrator::~GpuBatchIntegrator() {
  if (ida_) IDAFree(&ida_);
  if (linear_solver_) SUNLinSolFree(linear_solver_);
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
  HALITE_CUDA_CHECK(cudaMemcpyAsync(cell_buffer_.data(), device_data(y_.get()) + off,
                                    n * sizeof(double), cudaMemcpyDeviceToHost, stream()));
  HALITE_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return cell_buffer_.data();
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
    const int bad = self->device_model_->residual(device_data(y), device_data(yp), device_data(res),
                                                  self->stream());
    self->last_nonfinite_ = bad;
    return bad > 0 ? 1 : 0;
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

void GpuBatchIntegrator::error_callback(int, const char* module, const char* function, char* msg,
                                        void* data) {
  auto* self = static_cast<GpuBatchIntegrator*>(data);
  self->last_ida_message_ =
      fmt::format("[{} {}] {}", module ? module : "IDA", function ? function : "", msg ? msg : "");
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
  accumulate_stats();
  ++epoch_;
  collect_aging();  // what the device sampled so far belongs to the host model before re-upload
  push_host_state();
  sync_model();
  roots_ = roots;
  roots_per_cell_ = roots ? roots->conditions() : 0;
  if (roots) device_model_->upload_roots(*roots, stream());
  N_VConst(0.0, yp_.get());
  check_ida(IDAReInit(ida_, t0, y_.get(), yp_.get()), "IDAReInit");
  check_ida(IDARootInit(ida_, model_.cells() * roots_per_cell_,
                        roots_per_cell_ > 0 ? &GpuBatchIntegrator::root_callback : nullptr),
            "IDARootInit");
  IDASetNoInactiveRootWarn(ida_);
  const double t_ic = t0 + 1.0;
  last_nonfinite_ = 0;
  in_initial_condition_ = true;
  const int flag = IDACalcIC(ida_, IDA_YA_YDP_INIT, t_ic);
  in_initial_condition_ = false;
  check_device("IDACalcIC");
  if (flag < 0) {
    // y_ still holds the uploaded state (IDACalcIC works on its own copies), so the mirror
    // stays valid for a retry.
    int cell = -1;
    const std::string msg = describe_failure("IDACalcIC", flag, &cell);
    throw IntegrationError(msg, cell, flag);
  }
  check_ida(IDAGetConsistentIC(ida_, y_.get(), yp_.get()), "IDAGetConsistentIC");
  host_fresh_ = false;
  ++epoch_;  // the first step evaluates a fresh Jacobian at its predicted state
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
  IDASetStopTime(ida_, t_limit);
  const int flag = IDASolve(ida_, t_limit, t_reached, y_.get(), yp_.get(), IDA_ONE_STEP);
  host_fresh_ = false;
  check_device("IDASolve");
  return flag;
}

const std::vector<int>& GpuBatchIntegrator::roots_found() {
  return read_roots_found(ida_, std::size_t(model_.cells()) * roots_per_cell_, &roots_found_);
}

std::string GpuBatchIntegrator::describe_failure(const char* call, int flag, int* blamed_cell) {
  std::string msg = fmt::format("{} failed with flag {} ({}) [cuda backend]", call,
                                IDAGetReturnFlagName(flag), flag);
  if (!last_ida_message_.empty()) msg += ": " + last_ida_message_;
  *blamed_cell = -1;
  if (last_nonfinite_ > 0) {
    const auto bad = device_model_->nonfinite_cells(stream());
    if (!bad.empty()) {
      *blamed_cell = bad.front().cell;
      msg += fmt::format("; non-finite residual of {} in cell {}",
                         model_.describe_component(bad.front().component), *blamed_cell + 1);
    }
  }
  NVectorPtr err(N_VClone(y_.get())), weights(N_VClone(y_.get()));
  if (err && weights && IDAGetEstLocalErrors(ida_, err.get()) == IDA_SUCCESS &&
      IDAGetErrWeights(ida_, weights.get()) == IDA_SUCCESS) {
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
  IDAGetCurrentTime(ida_, &t);
  while (t < t_end) {
    const int flag = step(t_end, &t);
    if (flag < 0) {
      std::string msg = fmt::format("IDASolve failed with flag {} ({}) at t = {} s",
                                    IDAGetReturnFlagName(flag), flag, t);
      if (!last_ida_message_.empty()) msg += ": " + last_ida_message_;
      throw IntegrationError(msg, -1, flag);
    }
    ++steps;
    if (flag == IDA_TSTOP_RETURN) break;
  }
  return steps;
}

void GpuBatchIntegrator::accumulate_stats() {
  total_.add_ida_counters(read_ida_counters(ida_));
}

SolverStats GpuBatchIntegrator::stats() const {
  SolverStats s = read_ida_counters(ida_);
  s.add_ida_counters(total_);
  s.jacobian_evals = solver_->jacobian_evaluations();
  return s;
}

}  // namespace halite::cuda
