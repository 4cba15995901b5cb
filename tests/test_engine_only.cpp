// The engine without the application layer: this test links halite_engine alone (no YAML, no
// HDF5; tests/CMakeLists.txt) and drives a simulation from plain structs through the observer.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "host/engine/simulation.hpp"

namespace halite {
namespace {

Step cc(StepMode mode, double cutoff) {
  Step s;
  s.mode = mode;
  s.c_rate = 1.0;
  s.until = {{Termination::Kind::kVoltage, cutoff}};
  return s;
}

// The reference cell's defaults with the loading worked out by hand (what the application's
// resolve_loading does from the YAML): 1C = 150 mAh/g of the active mass in the cathode.
RunConfig coded_config(int cycles) {
  RunConfig config;
  config.name = "coded";
  const double active_density = 4790.0;  // kg/m^3
  config.loading.active_areal_mass =
      config.cell.cathode_thickness * config.cell.active_volume_fraction * active_density;
  config.loading.one_c_current_density =
      150.0 * 3.6 * 1000.0 * config.loading.active_areal_mass / 3600.0;
  config.mesh.cathode_nodes = 4;
  config.mesh.radial_shells = 8;
  Block block;
  block.steps = {cc(StepMode::kChargeCurrent, 4.3), cc(StepMode::kDischargeCurrent, 2.7)};
  block.repeat = cycles;
  config.protocol.blocks = {block};
  config.output.curve_cycles = {2};
  return config;
}

struct Recorder : Observer {
  std::vector<CycleRecord> records;
  std::vector<int> curve_cycles;
  std::vector<ProgressReport> progress;
  int boundaries = 0;
  int stop_after = -1;  // boundaries before stop_requested() says yes (-1: never)
  void on_cycle(const std::vector<CycleRecord>& r) override { records.push_back(r.front()); }
  void on_curve(int, const Curve& c) override { curve_cycles.push_back(c.cycle); }
  void on_progress(const ProgressReport& p) override { progress.push_back(p); }
  void on_boundary(const CycleBoundary&) override { ++boundaries; }
  bool stop_requested() override { return stop_after >= 0 && boundaries > stop_after; }
};

TEST(EngineOnly, RunsFromPlainStructsAndReportsThroughTheObserver) {
  Simulation simulation(coded_config(3));
  Recorder observer;
  SimulationOptions options;
  options.skipping = false;
  const SimulationOutcome outcome = simulation.run(observer, options);
  ASSERT_EQ(outcome.cells.size(), 1u);
  EXPECT_EQ(outcome.cells[0].status, "completed") << outcome.cells[0].reason;
  EXPECT_FALSE(outcome.interrupted);
  EXPECT_EQ(outcome.integrated_cycles, 3);
  ASSERT_EQ(observer.records.size(), 3u);
  for (int k = 0; k < 3; ++k) {
    const CycleRecord& r = observer.records[k];
    EXPECT_EQ(r.cycle, k + 1);
    // A charged NMC721 gives back less than it took (first-cycle loss) but most of it.
    EXPECT_GT(r.discharge_capacity, 50.0);
    EXPECT_LE(r.discharge_capacity, r.charge_capacity * (1.0 + 1e-9));
    EXPECT_NEAR(r.coulombic_efficiency, r.discharge_capacity / r.charge_capacity, 1e-12);
  }
  EXPECT_EQ(observer.curve_cycles, std::vector<int>{2});  // output.curve_cycles
  ASSERT_EQ(observer.progress.size(), 3u);
  EXPECT_EQ(observer.progress.back().cycle, 3);
  EXPECT_EQ(observer.progress.back().total_cycles, 3);
  EXPECT_DOUBLE_EQ(observer.progress.front().retention, 1.0);
  EXPECT_GE(observer.boundaries, 3);
}

TEST(EngineOnly, AnObserverThatAsksToStopEndsTheRunAtABoundary) {
  Simulation simulation(coded_config(4));
  Recorder observer;
  observer.stop_after = 1;
  SimulationOptions options;
  options.skipping = false;
  const SimulationOutcome outcome = simulation.run(observer, options);
  EXPECT_TRUE(outcome.interrupted);
  EXPECT_EQ(outcome.cells[0].status, "interrupted");
  EXPECT_EQ(observer.records.size(), 2u);
  EXPECT_EQ(outcome.last_cycle, 2);
}

TEST(EngineOnly, ABatchNeedsOneMeshAndProtocol) {
  RunConfig a = coded_config(2), b = coded_config(2);
  b.mesh.radial_shells = 10;
  EXPECT_THROW(Simulation({a, b}), std::invalid_argument);
  RunConfig c = coded_config(3);
  EXPECT_THROW(Simulation({a, c}), std::invalid_argument);
  RunConfig e = coded_config(2);
  e.solver.relative_tolerance = 1e-7;
  EXPECT_THROW(Simulation({a, e}), std::invalid_argument);
  RunConfig f = coded_config(2);
  f.protocol.blocks[0].steps[1].until[0].value = 3.0;  // another cut-off
  EXPECT_THROW(Simulation({a, f}), std::invalid_argument);
  EXPECT_NO_THROW(Simulation({a, coded_config(2)}));
  RunConfig d = coded_config(2);
  d.loading.one_c_current_density = 0.0;  // loading not resolved
  EXPECT_THROW(Simulation({d}), std::invalid_argument);
}

}  // namespace
}  // namespace halite
