// The backend seam (host/engine/integrator.hpp) without a GPU: the protocol engine must reach the
// state only the way the CUDA backend allows (a host mirror that is fetched when stale and pushed
// at the next restart; roots, observables and aging sampling on the backend's own copy). A CPU
// integrator with exactly those data-residency rules is registered as the "cuda" backend here,
// and the Cycler must produce the same table and curves as on the plain CPU backend. A Cycler
// that wrote the state between restart and step, or read a stale copy, would differ.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "host/app/config.hpp"
#include "host/cpu/batch_integrator.hpp"
#include "host/engine/cycler.hpp"
#include "host/engine/integrator.hpp"

using namespace halite;

namespace {

// The CPU integrator behind the CUDA backend's residency rules: "device" = inner_.
class MirroredIntegrator final : public Integrator {
 public:
  MirroredIntegrator(BatchModel& model, const SolverConfig& config)
      : inner_(model, config), mirror_(std::size_t(model.cells()) * model.per_cell(), 0.0) {}
  const char* backend_name() const override { return "mirrored-cpu"; }
  BatchModel& model() override { return inner_.model(); }
  double* y() override {
    if (!fresh_) {
      std::copy(inner_.y(), inner_.y() + mirror_.size(), mirror_.begin());
      fresh_ = true;
      ++downloads;
    }
    written_ = true;
    return mirror_.data();
  }
  const double* read_cell(int cell) override {
    if (fresh_) return mirror_.data() + std::size_t(cell) * model().per_cell();
    return inner_.cell_state(cell);
  }
  void terminal_observables(std::vector<double>* v, std::vector<double>* i) override {
    push();
    inner_.terminal_observables(v, i);
  }
  void restart(double t0, const StepRoots* roots) override {
    push();
    inner_.restart(t0, roots);
    fresh_ = false;
  }
  void root_values(double t, double* g) override {
    push();
    inner_.root_values(t, g);
  }
  int step(double t_limit, double* t_reached) override {
    const int flag = inner_.step(t_limit, t_reached);
    fresh_ = false;
    return flag;
  }
  const std::vector<int>& roots_found() override { return inner_.roots_found(); }
  std::string describe_failure(const char* call, int flag, int* blamed) override {
    return inner_.describe_failure(call, flag, blamed);
  }
  bool nonfinite_residual() const override { return inner_.nonfinite_residual(); }
  void sample_aging(double t) override { model().sample_aging(t, inner_.y()); }
  SolverStats stats() const override { return inner_.stats(); }
  long factorizations() const override { return inner_.factorizations(); }
  void set_jacobian_reuse(long n) override { inner_.set_jacobian_reuse(n); }
  static inline long downloads = 0;

 private:
  void push() {
    if (fresh_ && written_) std::copy(mirror_.begin(), mirror_.end(), inner_.y());
    written_ = false;
  }
  BatchIntegrator inner_;
  std::vector<double> mirror_;
  bool fresh_ = true, written_ = true;
};

std::unique_ptr<Integrator> make_mirrored(BatchModel& model, const SolverConfig& config) {
  return std::make_unique<MirroredIntegrator>(model, config);
}
std::string always_available() {
  return {};
}

struct Table {
  std::vector<std::vector<CycleRecord>> cycles;
  std::vector<Curve> curves;
};

Table run(Backend backend, int cycles) {
  const auto config = load_config("", {});
  std::vector<CellSetup> cells;
  for (int c = 0; c < 4; ++c) {  // events at different times: loading (1C current), pressure
    CellSetup s = cell_setup_from_config(config);
    s.one_c_current_density *= 1.0 + 0.15 * c;
    s.params.stack_pressure *= 1.0 - 0.2 * c;
    cells.push_back(s);
  }
  Cycler cycler(cells, models::CellLayout{6, 3, 8}, config.solver, config.protocol, backend);
  Table t;
  cycler.run(
      cycles, [&](const std::vector<CycleRecord>& r) { t.cycles.push_back(r); },
      [](int cycle) { return cycle == 2; }, [&](int, const Curve& c) { t.curves.push_back(c); });
  return t;
}

TEST(Backend, EngineUsesOnlyTheStateAccessTheCudaBackendAllows) {
  const Table cpu = run(Backend::kCpu, 3);
  register_backend(Backend::kCuda, &make_mirrored, &always_available);
  ASSERT_EQ(backend_unavailable_reason(Backend::kCuda), "");
  MirroredIntegrator::downloads = 0;
  const Table mirrored = run(Backend::kCuda, 3);
  ASSERT_EQ(cpu.cycles.size(), mirrored.cycles.size());
  for (std::size_t k = 0; k < cpu.cycles.size(); ++k)
    for (std::size_t c = 0; c < cpu.cycles[k].size(); ++c) {
      const auto &a = cpu.cycles[k][c], &b = mirrored.cycles[k][c];
      ASSERT_FALSE(a.failed) << a.failure;
      EXPECT_EQ(b.failed, a.failed) << b.failure;
      EXPECT_NEAR(b.discharge_capacity, a.discharge_capacity, 1e-12 * a.discharge_capacity);
      EXPECT_NEAR(b.charge_capacity, a.charge_capacity, 1e-12 * a.charge_capacity);
      EXPECT_NEAR(b.duration, a.duration, 1e-12 * a.duration);
      EXPECT_EQ(b.stats.steps, a.stats.steps);
      ASSERT_EQ(b.aging.size(), a.aging.size());
      for (std::size_t j = 0; j < a.aging.size(); ++j)
        EXPECT_NEAR(b.aging[j], a.aging[j], 1e-12 * std::fabs(a.aging[j]) + 1e-300)
            << "cycle " << k + 1 << " cell " << c + 1 << " column " << j;
    }
  ASSERT_EQ(cpu.curves.size(), mirrored.curves.size());
  for (std::size_t c = 0; c < cpu.curves.size(); ++c) {
    ASSERT_EQ(cpu.curves[c].points.size(), mirrored.curves[c].points.size());
    for (std::size_t i = 0; i < cpu.curves[c].points.size(); ++i)
      EXPECT_NEAR(mirrored.curves[c].points[i].voltage, cpu.curves[c].points[i].voltage, 1e-12);
  }
  // The whole state crossed to the host a few times per protocol step, not per IDA step.
  long steps = 0;
  for (const auto& r : mirrored.cycles) steps += r[0].stats.steps;
  EXPECT_LT(MirroredIntegrator::downloads, steps / 10)
      << MirroredIntegrator::downloads << " whole-state downloads for " << steps << " IDA steps";
  RecordProperty("whole_state_downloads", int(MirroredIntegrator::downloads));
  RecordProperty("ida_steps", int(steps));
}

}  // namespace
