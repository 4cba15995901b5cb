#include "host/cpu/batch_integrator.hpp"

#include <fmt/format.h>
#include <ida/ida.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace halite {

BatchIntegrator::BatchIntegrator(BatchModel& model, const SolverConfig& config)
    : model_(model), config_(config), solver_(model) {
  const int b = model.cells(), n = model.per_cell();
  y_ = NVectorPtr(make_batch_vector(context_, b, n, model.mask()));
  yp_ = NVectorPtr(N_VClone(y_.get()));
  id_ = NVectorPtr(N_VClone(y_.get()));
  atol_ = NVectorPtr(N_VClone(y_.get()));
  N_VConst(0.0, yp_.get());
  for (int c = 0; c < b; ++c) {
    model.differential_id(batch_data(id_.get()) + std::size_t(c) * n);
    model.absolute_tolerances(config.absolute_tolerance_stoichiometry,
                              config.absolute_tolerance_potential,
                              config.absolute_tolerance_current, config.absolute_tolerance_charge,
                              batch_data(atol_.get()) + std::size_t(c) * n);
  }
  last_residual_point_.assign(std::size_t(b) * n, 0.0);

  ida_ = std::make_unique<IdaDriver>(context_, &BatchIntegrator::residual_callback, this, y_.get(),
                                     yp_.get(), id_.get(), atol_.get(), config);
  hooks_ = ida_->hooks([this] { return last_residual_point_.data(); });
  ida_->attach(make_schur_linear_solver(context_, solver_, hooks_));
}

int BatchIntegrator::residual_callback(double, N_Vector y, N_Vector yp, N_Vector res, void* data) {
  auto* self = static_cast<BatchIntegrator*>(data);
  try {
    const double* yd = batch_data(y);
    std::copy(yd, yd + self->last_residual_point_.size(), self->last_residual_point_.begin());
    return self->model_.residual(yd, batch_data(yp), batch_data(res));
  } catch (...) {
    return -1;
  }
}

int BatchIntegrator::root_callback(double t, N_Vector y, N_Vector, double* g, void* data) {
  auto* self = static_cast<BatchIntegrator*>(data);
  try {
    self->roots_->evaluate(self->model_, t, batch_data(y), g);
    return 0;
  } catch (...) {
    return -1;
  }
}

void BatchIntegrator::restart(double t0, const StepRoots* roots) {
  roots_ = roots;
  const int roots_per_cell = roots ? roots->conditions() : 0;
  const int flag = ida_->restart(t0, y_.get(), yp_.get(), model_.cells() * roots_per_cell,
                                 &BatchIntegrator::root_callback);
  if (flag < 0) {
    int cell = -1;
    const std::string msg = describe_failure("IDACalcIC", flag, &cell);
    throw IntegrationError(msg, cell, flag);
  }
}

int BatchIntegrator::step(double t_limit, double* t_reached) {
  return ida_->step(t_limit, t_reached, y_.get(), yp_.get());
}

const std::vector<int>& BatchIntegrator::roots_found() {
  return ida_->roots_found();
}

std::string BatchIntegrator::describe_failure(const char* call, int flag, int* blamed_cell) {
  std::string msg = ida_->failure_text(call, flag);
  *blamed_cell = -1;
  if (!model_.nonfinite_cells().empty()) {
    *blamed_cell = model_.nonfinite_cells().front();
    msg += fmt::format("; non-finite residual of {} in cell {}",
                       model_.describe_component(model_.nonfinite_components().front()),
                       *blamed_cell + 1);
  }
  // Largest weighted local errors, translated to physics.
  NVectorPtr err(N_VClone(y_.get())), weights(N_VClone(y_.get()));
  if (IDAGetEstLocalErrors(ida_->get(), err.get()) == IDA_SUCCESS &&
      IDAGetErrWeights(ida_->get(), weights.get()) == IDA_SUCCESS)
    append_local_error_ranking(model_, batch_data(err.get()), batch_data(weights.get()), &msg,
                               blamed_cell);
  if (*blamed_cell < 0) {
    for (int c = 0; c < model_.cells(); ++c)
      if (!model_.frozen(c)) {
        *blamed_cell = c;
        break;
      }
  }
  return msg;
}

SolverStats BatchIntegrator::stats() const {
  return ida_->stats(solver_.jacobian_evaluations());
}

}  // namespace halite
