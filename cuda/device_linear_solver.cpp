#include "cuda/device_linear_solver.hpp"

#include <new>
#include <string>

#include "cuda/device_vector.hpp"

namespace halite::cuda {

DeviceSchurSolver::DeviceSchurSolver(DeviceBatchModel& model, cudaStream_t stream)
    : model_(model),
      stream_(stream),
      jacobians_(std::size_t(model.cells()) * models::cell_jacobian_size(model.layout())),
      factors_(std::size_t(model.cells()) * models::cell_factor_size(model.layout())),
      pivots_(std::size_t(model.cells()) * model.layout().x_size()),
      singular_(std::size_t(model.cells())),
      singular_count_(1),
      host_count_(1) {
  // Defined contents for cells that are frozen before their first evaluation.
  jacobians_.zero(stream_);
  factors_.zero(stream_);
  pivots_.zero(stream_);
  singular_.zero(stream_);
  HALITE_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void DeviceSchurSolver::evaluate_jacobian(const double* y) {
  launch_jacobian(model_.view(), y, jacobians_.get(), stream_);
  ++jacobian_evaluations_;
}

bool DeviceSchurSolver::factor(double cj) {
  singular_count_.zero(stream_);
  launch_factor(model_.view(), cj, jacobians_.get(), factors_.get(), pivots_.get(), singular_.get(),
                singular_count_.get(), stream_);
  HALITE_CUDA_CHECK(cudaMemcpyAsync(host_count_.get(), singular_count_.get(), sizeof(int),
                                    cudaMemcpyDeviceToHost, stream_));
  HALITE_CUDA_CHECK(cudaStreamSynchronize(stream_));
  factored_cj_ = cj;
  ++factorizations_;
  return host_count_[0] == 0;
}

void DeviceSchurSolver::solve(const double* b, double* x) const {
  launch_solve(model_.view(), jacobians_.get(), factors_.get(), pivots_.get(), b, x, stream_);
}

std::vector<int> DeviceSchurSolver::singular_cells() const {
  std::vector<int> flags(model_.cells());
  singular_.download(flags.data(), flags.size(), stream_);
  HALITE_CUDA_CHECK(cudaStreamSynchronize(stream_));
  std::vector<int> out;
  for (int c = 0; c < model_.cells(); ++c)
    if (flags[c] != 0) out.push_back(c);
  return out;
}

// ---------------------------------------------------------------------------------------------
// SUNLinearSolver wrapper (same policy as host/schur_solver.cpp)

namespace {

struct DeviceLinSolContent {
  DeviceSchurSolver* solver;
  SchurSolverHooks* hooks;
  long jacobian_step = -1;
  int last_flag = 0;
};

DeviceLinSolContent* content(SUNLinearSolver S) {
  return static_cast<DeviceLinSolContent*>(S->content);
}

SUNLinearSolver_Type dev_ls_gettype(SUNLinearSolver) {
  return SUNLINEARSOLVER_MATRIX_EMBEDDED;
}
SUNLinearSolver_ID dev_ls_getid(SUNLinearSolver) {
  return SUNLINEARSOLVER_CUSTOM;
}
int dev_ls_initialize(SUNLinearSolver S) {
  content(S)->jacobian_step = -1;
  return SUNLS_SUCCESS;
}
int dev_ls_setup(SUNLinearSolver, SUNMatrix) {
  return SUNLS_SUCCESS;
}

int dev_ls_solve(SUNLinearSolver S, SUNMatrix, N_Vector x, N_Vector b, realtype) {
  auto* c = content(S);
  try {
    if (!is_device_vector(x) || !is_device_vector(b)) return c->last_flag = SUNLS_ILL_INPUT;
    const double cj = c->hooks->current_cj();
    const long step = c->hooks->step_counter();
    if (step != c->jacobian_step) {
      c->solver->evaluate_jacobian(c->hooks->last_residual_point());
      c->jacobian_step = step;
      if (!c->solver->factor(cj)) return c->last_flag = SUNLS_LUFACT_FAIL;
    } else if (cj != c->solver->factored_cj()) {
      if (!c->solver->factor(cj)) return c->last_flag = SUNLS_LUFACT_FAIL;
    }
    c->solver->solve(device_data(b), device_data(x));
  } catch (const std::exception& e) {
    if (is_device_vector(x)) device_shared(x).record_error(e.what());
    return c->last_flag = SUNLS_PACKAGE_FAIL_UNREC;
  } catch (...) {
    return c->last_flag = SUNLS_PACKAGE_FAIL_UNREC;
  }
  return c->last_flag = SUNLS_SUCCESS;
}

int dev_ls_numiters(SUNLinearSolver) {
  return 0;
}
realtype dev_ls_resnorm(SUNLinearSolver) {
  return 0.0;
}
sunindextype dev_ls_lastflag(SUNLinearSolver S) {
  return content(S)->last_flag;
}
int dev_ls_setzeroguess(SUNLinearSolver, booleantype) {
  return SUNLS_SUCCESS;
}

int dev_ls_free(SUNLinearSolver S) {
  if (!S) return SUNLS_SUCCESS;
  delete content(S);
  S->content = nullptr;
  SUNLinSolFreeEmpty(S);
  return SUNLS_SUCCESS;
}

}  // namespace

SUNLinearSolver make_device_schur_linear_solver(SUNContext context, DeviceSchurSolver& solver,
                                                SchurSolverHooks& hooks) {
  SUNLinearSolver S = SUNLinSolNewEmpty(context);
  if (!S) throw std::bad_alloc();
  S->ops->gettype = dev_ls_gettype;
  S->ops->getid = dev_ls_getid;
  S->ops->initialize = dev_ls_initialize;
  S->ops->setup = dev_ls_setup;
  S->ops->solve = dev_ls_solve;
  S->ops->numiters = dev_ls_numiters;
  S->ops->resnorm = dev_ls_resnorm;
  S->ops->lastflag = dev_ls_lastflag;
  S->ops->setzeroguess = dev_ls_setzeroguess;
  S->ops->free = dev_ls_free;
  S->content = new DeviceLinSolContent{&solver, &hooks};
  return S;
}

}  // namespace halite::cuda
