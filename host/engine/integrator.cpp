#include "host/engine/integrator.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <utility>

#include "host/cpu/batch_integrator.hpp"

namespace halite {

namespace {

struct Registered {
  IntegratorFactory factory = nullptr;
  std::string (*probe)() = nullptr;
};

std::mutex registry_mutex;
Registered cuda_backend;

}  // namespace

void StepRoots::evaluate(const BatchModel& model, double t, const double* y, double* g) const {
  const int n = conditions();
  if (n == 0) return;
  for (int c = 0; c < model.cells(); ++c)
    models::step_end_values(kinds.data(), thresholds.data() + std::size_t(c) * n, n,
                            model.params(c), model.layout(), y + std::size_t(c) * model.per_cell(),
                            t - t0, voltage_direction[c], voltage_offset[c], model.frozen(c),
                            g + std::size_t(c) * n);
}

void Integrator::terminal_observables(std::vector<double>* voltage, std::vector<double>* current) {
  BatchModel& m = model();
  voltage->resize(m.cells());
  current->resize(m.cells());
  const double* all = y();
  for (int c = 0; c < m.cells(); ++c) {
    const double* yc = all + std::size_t(c) * m.per_cell();
    (*voltage)[c] = m.cell_voltage(c, yc);
    (*current)[c] = yc[m.layout().current()];
  }
}

const char* backend_name(Backend backend) {
  switch (backend) {
    case Backend::kCuda:
      return "cuda";
    case Backend::kAuto:
      return "auto";
    case Backend::kCpu:
      break;
  }
  return "cpu";
}

Backend parse_backend(const std::string& text) {
  if (text == "cpu") return Backend::kCpu;
  if (text == "cuda") return Backend::kCuda;
  if (text == "auto") return Backend::kAuto;
  throw std::invalid_argument(fmt::format("unknown backend '{}' (allowed: cpu, cuda, auto)", text));
}

Backend resolve_backend(Backend backend, int cells) {
  if (backend != Backend::kAuto) return backend;
  if (cells >= kAutoCudaMinimumCells && backend_unavailable_reason(Backend::kCuda).empty())
    return Backend::kCuda;
  return Backend::kCpu;
}

void register_backend(Backend backend, IntegratorFactory factory, std::string (*probe)()) {
  if (backend != Backend::kCuda) return;  // the CPU backend is built in
  std::lock_guard lock(registry_mutex);
  cuda_backend = {factory, probe};
}

std::string backend_unavailable_reason(Backend backend) {
  if (backend != Backend::kCuda) return {};
  std::lock_guard lock(registry_mutex);
  if (!cuda_backend.factory)
    return "this halite was built without CUDA (no CUDA compiler was found at configure time, or "
           "-DHALITE_ENABLE_CUDA=OFF); rebuild with the CUDA Toolkit or use --backend cpu";
  return cuda_backend.probe ? cuda_backend.probe() : std::string();
}

std::unique_ptr<Integrator> make_integrator(Backend backend, BatchModel& model,
                                            const SolverConfig& config) {
  backend = resolve_backend(backend, model.cells());
  if (backend == Backend::kCpu) return std::make_unique<BatchIntegrator>(model, config);
  const std::string why = backend_unavailable_reason(backend);
  if (!why.empty()) throw std::runtime_error("the cuda backend cannot run: " + why);
  IntegratorFactory factory = nullptr;
  {
    std::lock_guard lock(registry_mutex);
    factory = cuda_backend.factory;
  }
  return factory(model, config);
}

void append_local_error_ranking(const BatchModel& model, const double* local_error,
                                const double* weights, std::string* msg, int* blamed_cell) {
  const int n = model.per_cell();
  std::vector<std::pair<double, int>> ranked;
  for (int c = 0; c < model.cells(); ++c) {
    if (model.frozen(c)) continue;
    for (int i = 0; i < n; ++i) {
      const std::size_t k = std::size_t(c) * n + i;
      const double v = std::fabs(local_error[k] * weights[k]);
      ranked.emplace_back(std::isfinite(v) ? v : 1e300, int(k));
    }
  }
  const std::size_t top = std::min<std::size_t>(3, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + top, ranked.end(),
                    [](auto& a, auto& b) { return a.first > b.first; });
  if (top == 0) return;
  *msg += "; largest weighted local errors:";
  for (std::size_t r = 0; r < top; ++r) {
    const int c = ranked[r].second / n, i = ranked[r].second % n;
    *msg += fmt::format(" {} of cell {} ({:.3g});", model.describe_component(i), c + 1,
                        ranked[r].first);
  }
  if (*blamed_cell < 0 && ranked[0].first > 0.0) *blamed_cell = ranked[0].second / n;
}

}  // namespace halite
