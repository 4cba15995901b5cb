#include "cuda/gpu_integrator.hpp"

#include <fmt/format.h>
#include <ida/ida.h>

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
  copy_to_device(y_.get(), y_host);
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

void GpuBatchIntegrator::sync_model() {
  device_model_->upload(model_, stream());
  vectors().set_mask(model_.mask()->active);
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
    return bad > 0 ? 1 : 0;
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

void GpuBatchIntegrator::restart(double t0) {
  accumulate_stats();
  ++epoch_;
  N_VConst(0.0, yp_.get());
  check_ida(IDAReInit(ida_, t0, y_.get(), yp_.get()), "IDAReInit");
  check_ida(IDARootInit(ida_, 0, nullptr), "IDARootInit");
  const double t_ic = t0 + 1.0;
  in_initial_condition_ = true;
  const int flag = IDACalcIC(ida_, IDA_YA_YDP_INIT, t_ic);
  in_initial_condition_ = false;
  check_device("IDACalcIC");
  if (flag < 0) {
    std::string msg =
        fmt::format("IDACalcIC failed with flag {} ({})", IDAGetReturnFlagName(flag), flag);
    if (!last_ida_message_.empty()) msg += ": " + last_ida_message_;
    int cell = -1;
    const auto bad = device_model_->nonfinite_cells(stream());
    if (!bad.empty()) {
      cell = bad.front().cell;
      msg += fmt::format("; non-finite residual of {} in cell {}",
                         model_.describe_component(bad.front().component), cell + 1);
    }
    throw IntegrationError(msg, cell, flag);
  }
  check_ida(IDAGetConsistentIC(ida_, y_.get(), yp_.get()), "IDAGetConsistentIC");
  ++epoch_;
}

int GpuBatchIntegrator::step(double t_limit, double* t_reached) {
  IDASetStopTime(ida_, t_limit);
  const int flag = IDASolve(ida_, t_limit, t_reached, y_.get(), yp_.get(), IDA_ONE_STEP);
  check_device("IDASolve");
  return flag;
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
