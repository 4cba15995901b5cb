// The integrated engine: lithium conservation, batch = single-cell runs, frozen cells, the CCCV
// protocol, rate dependence, x-direction convergence and solver-failure handling.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "host/engine/cycler.hpp"
#include "tests/reference_cell.hpp"

using namespace halite;

namespace {

using halite::testing::reference_setup;

constexpr double kRelativeTolerance = 1e-6;  // SolverConfig default

Step cc(StepMode mode, double c_rate, double cutoff) {
  Step s;
  s.mode = mode;
  s.c_rate = c_rate;
  s.until = {{Termination::Kind::kVoltage, cutoff}};
  s.text = mode == StepMode::kChargeCurrent ? "Charge" : "Discharge";
  return s;
}

Step hold(double voltage, double seconds) {
  Step s;
  s.mode = StepMode::kHoldVoltage;
  s.voltage = voltage;
  s.until = {{Termination::Kind::kTime, seconds}};
  s.text = "Hold";
  return s;
}

Protocol cccv(int cycles, double c_rate = 1.0) {
  Protocol p;
  p.reference = VoltageReference::kLithium;
  Block b;
  b.repeat = cycles;
  b.steps = {cc(StepMode::kChargeCurrent, c_rate, 4.3), hold(4.3, 900.0),
             cc(StepMode::kDischargeCurrent, c_rate, 2.7)};
  p.blocks = {b};
  return p;
}

models::CellLayout reference_layout() {
  return {8, 3, 10};
}

std::vector<CycleRecord> run_cycles(std::vector<CellSetup> cells, const Protocol& protocol,
                                    std::vector<std::vector<CycleRecord>>* history = nullptr) {
  Cycler cycler(std::move(cells), reference_layout(), SolverConfig{}, protocol);
  std::vector<CycleRecord> last;
  cycler.run(
      -1,
      [&](const std::vector<CycleRecord>& r) {
        last = r;
        if (history) history->push_back(r);
      },
      nullptr, nullptr);
  return last;
}

// A batch of cells that differ in every way the protocol can see.
std::vector<CellSetup> diverse_cells() {
  std::vector<CellSetup> cells(3, reference_setup());
  cells[1].name = "small particles, low pressure";
  cells[1].params.particle_radius[0] = 1.0e-6;
  cells[1].params.particle_radius[1] = 1.8e-6;
  cells[1].params.stack_pressure = 50e6;
  cells[2].name = "thin, slow diffusion";
  cells[2].params.cathode_thickness = 0.8e-4;
  cells[2].one_c_current_density = 37.8 * 0.8 / 1.19;
  cells[2].active_mass_per_area = 0.252 * 0.8 / 1.19;
  cells[2].params.diffusivity_scale = 0.2;
  cells[2].initial_stoichiometry = 0.95;
  return cells;
}

}  // namespace

TEST(Engine, LithiumInventoryIsConservedOverAFullCyclePerCell) {
  Cycler cycler(diverse_cells(), reference_layout(), SolverConfig{}, cccv(1));
  auto& model = cycler.model();
  std::vector<double> start(cycler.cells()), exchanged(cycler.cells(), 0.0),
      throughput(cycler.cells(), 0.0);
  for (int c = 0; c < cycler.cells(); ++c)
    start[c] = model.total_lithium(c, cycler.integrator().cell_state(c));
  const auto& steps = cycler.protocol().blocks[0].steps;
  for (int s = 0; s < 3; ++s) {
    const auto outcome = cycler.run_step(steps[s], s);
    for (int c = 0; c < cycler.cells(); ++c) {
      exchanged[c] += outcome[c].charge / models::kFaraday;
      throughput[c] += std::fabs(outcome[c].charge) / models::kFaraday;
    }
  }
  for (int c = 0; c < cycler.cells(); ++c) {
    const double end = model.total_lithium(c, cycler.integrator().cell_state(c));
    // Li entering the cathode on discharge = charge passed / F; relative to the inventory.
    EXPECT_LT(std::fabs(end - start[c] - exchanged[c]) / start[c], 1e-9) << "cell " << c;
    EXPECT_GT(throughput[c], 0.2 * start[c]);  // the cycle did move lithium
  }
}

TEST(Engine, BatchReproducesEachSingleCellRunAndFrozenCellsDoNotMove) {
  const auto cells = diverse_cells();
  Cycler batch(cells, reference_layout(), SolverConfig{}, cccv(2));
  batch.track_frozen_drift(true);
  std::vector<std::vector<CycleRecord>> batch_history;
  batch.run(
      -1, [&](const std::vector<CycleRecord>& r) { batch_history.push_back(r); }, nullptr, nullptr);
  // y = y_f up to round-off: IDA forms y = y_pred + sum of Newton corrections, so the error is
  // a few ulps of |y_pred - y_f| (the predictor extrapolates the pre-freeze motion).
  EXPECT_LT(batch.frozen_drift(), 1e-12);
  for (int c = 0; c < static_cast<int>(cells.size()); ++c) {
    std::vector<std::vector<CycleRecord>> single;
    run_cycles({cells[c]}, cccv(2), &single);
    ASSERT_EQ(single.size(), batch_history.size());
    for (std::size_t k = 0; k < single.size(); ++k) {
      const auto& a = batch_history[k][c];
      const auto& b = single[k][0];
      // Both runs meet rtol = 1e-6 per step; capacities and step ends agree to a few hundred
      // times that after ~500 steps of accumulated local error.
      const double tol = 300 * kRelativeTolerance;
      EXPECT_NEAR(a.discharge_capacity, b.discharge_capacity, tol * b.discharge_capacity);
      EXPECT_NEAR(a.charge_capacity, b.charge_capacity, tol * b.charge_capacity);
      EXPECT_NEAR(a.discharge_energy, b.discharge_energy, tol * b.discharge_energy);
      for (std::size_t s = 0; s < b.step_end_times.size(); ++s)
        EXPECT_NEAR(a.step_end_times[s], b.step_end_times[s], tol * b.step_end_times.back());
    }
  }
}

TEST(Engine, CccvHoldLastsFifteenMinutesAndCutoffsAreNotOvershot) {
  Cycler cycler(diverse_cells(), reference_layout(), SolverConfig{}, cccv(2));
  std::vector<std::vector<Curve>> curves(cycler.cells());
  std::vector<CycleRecord> last;
  cycler.run(
      -1, [&](const std::vector<CycleRecord>& r) { last = r; }, [](int) { return true; },
      [&](int cell, const Curve& c) { curves[cell].push_back(c); });
  for (int c = 0; c < cycler.cells(); ++c) {
    ASSERT_FALSE(last[c].failed) << last[c].failure;
    const auto& t = last[c].step_end_times;
    EXPECT_NEAR(t[1] - t[0], 900.0, 1e-6) << "cell " << c;
    double vmax = 0.0, vmin = 10.0;
    for (const auto& curve : curves[c])
      for (const auto& pt : curve.points) {
        vmax = std::max(vmax, pt.voltage);
        vmin = std::min(vmin, pt.voltage);
      }
    EXPECT_LE(vmax, 4.3 + 1e-3) << "cell " << c;
    EXPECT_GE(vmin, 2.7 - 1e-3) << "cell " << c;
    EXPECT_GT(vmax, 4.3 - 1e-6);  // the cut-offs were reached
    EXPECT_LT(vmin, 2.7 + 1e-6);
  }
}

TEST(Engine, DischargeCapacityFallsWithCRate) {
  Protocol p;
  p.reference = VoltageReference::kLithium;
  for (double rate : {0.2, 1.0, 3.0}) {
    Block b;
    b.steps = {cc(StepMode::kChargeCurrent, rate, 4.3), hold(4.3, 900.0),
               cc(StepMode::kDischargeCurrent, rate, 2.7)};
    p.blocks.push_back(b);
  }
  std::vector<std::vector<CycleRecord>> history;
  run_cycles({reference_setup()}, p, &history);
  ASSERT_EQ(history.size(), 3u);
  const double q02 = history[0][0].discharge_capacity, q1 = history[1][0].discharge_capacity,
               q3 = history[2][0].discharge_capacity;
  EXPECT_GT(q02, q1);
  EXPECT_GT(q1, q3);
  EXPECT_GT(q3, 0.0);
}

namespace {

// Terminal voltage of the consistent state at t = 0 (uniform stoichiometry, 1C discharge): the
// secondary current distribution across the composite, solved on `nodes` finite volumes.
double initial_voltage(int nodes) {
  auto s = reference_setup();
  s.initial_stoichiometry = 0.6;
  BatchModel model({s.params}, {nodes, 3, 2});
  model.control(0) = {models::ControlMode::kCurrent, 37.8, 0.0};
  BatchIntegrator integrator(model, SolverConfig{});
  model.initial_guess(0, 0.6, integrator.cell_state(0));
  integrator.restart(0.0, nullptr);
  return model.cell_voltage(0, integrator.cell_state(0));
}

}  // namespace

TEST(Engine, XDirectionSchemeConvergesAtSecondOrder) {
  const double v10 = initial_voltage(10), v20 = initial_voltage(20), v40 = initial_voltage(40),
               v80 = initial_voltage(80);
  const double order1 = std::log2(std::fabs(v10 - v20) / std::fabs(v20 - v40));
  const double order2 = std::log2(std::fabs(v20 - v40) / std::fabs(v40 - v80));
  std::printf("x-direction: V(10..80) = %.9f %.9f %.9f %.9f, observed orders %.3f %.3f\n", v10, v20,
              v40, v80, order1, order2);
  EXPECT_GE(order1, 1.8);
  EXPECT_GE(order2, 1.8);
}

TEST(Engine, SolverFailureNamesTheCallTheFlagAndTheComponent) {
  auto s = reference_setup();
  s.params.exchange_current_mid = std::numeric_limits<double>::quiet_NaN();
  const auto records = run_cycles({s}, cccv(3));
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].failed);
  EXPECT_EQ(records[0].cycle, 1);  // the run stops once no cell is left
  const std::string& what = records[0].failure;
  EXPECT_NE(what.find("step 1 'Charge' at its start"), std::string::npos) << what;
  EXPECT_NE(what.find("IDACalcIC failed with flag IDA_"), std::string::npos) << what;
  EXPECT_NE(what.find("non-finite residual of x_s (Li stoichiometry) at cathode node"),
            std::string::npos)
      << what;
}

TEST(Engine, SolverFailureMidStepNamesWorstComponents) {
  // A step budget far too small for a 1C charge: IDASolve gives up part-way (IDA_TOO_MUCH_WORK)
  // and the message must say where the integration was struggling, in physics terms.
  SolverConfig tight;
  tight.max_steps_per_step = 20;
  Cycler cycler({reference_setup()}, reference_layout(), tight, cccv(1));
  std::vector<CycleRecord> records;
  cycler.run(
      -1, [&](const std::vector<CycleRecord>& r) { records = r; }, nullptr, nullptr);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].failed);
  const std::string& what = records[0].failure;
  EXPECT_NE(what.find("IDASolve failed with flag IDA_TOO_MUCH_WORK"), std::string::npos) << what;
  EXPECT_NE(what.find("step 1 'Charge'"), std::string::npos) << what;
  EXPECT_NE(what.find("largest weighted local errors"), std::string::npos) << what;
  EXPECT_NE(what.find("of cell 1"), std::string::npos) << what;
}

TEST(Engine, OneFailingCellInABatchIsMarkedAndTheOthersFinish) {
  auto cells = diverse_cells();
  cells[1].params.exchange_current_mid = std::numeric_limits<double>::quiet_NaN();
  const auto batch = run_cycles(cells, cccv(1));
  ASSERT_EQ(batch.size(), 3u);
  EXPECT_TRUE(batch[1].failed);
  EXPECT_NE(batch[1].failure.find("IDACalcIC"), std::string::npos) << batch[1].failure;
  for (int c : {0, 2}) {
    EXPECT_FALSE(batch[c].failed) << batch[c].failure;
    const auto single = run_cycles({cells[c]}, cccv(1));
    EXPECT_NEAR(batch[c].discharge_capacity, single[0].discharge_capacity,
                300 * kRelativeTolerance * single[0].discharge_capacity);
  }
}

// Without the CUDA library registered (this test binary never registers it), asking for the
// cuda backend is a clear error that says why and what to do, not a crash.
TEST(Backend, UnavailableCudaBackendIsAClearError) {
  EXPECT_EQ(halite::parse_backend("cpu"), halite::Backend::kCpu);
  EXPECT_EQ(halite::parse_backend("cuda"), halite::Backend::kCuda);
  try {
    halite::parse_backend("gpu");
    FAIL() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("allowed: cpu, cuda, auto"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(halite::backend_unavailable_reason(halite::Backend::kCpu), "");
  // auto can always run: without a CUDA backend it is the CPU for any batch size.
  EXPECT_EQ(halite::parse_backend("auto"), halite::Backend::kAuto);
  EXPECT_EQ(halite::backend_unavailable_reason(halite::Backend::kAuto), "");
  EXPECT_EQ(halite::resolve_backend(halite::Backend::kAuto, 1), halite::Backend::kCpu);
  EXPECT_EQ(halite::resolve_backend(halite::Backend::kAuto, 100000), halite::Backend::kCpu);
  EXPECT_EQ(halite::resolve_backend(halite::Backend::kCuda, 1), halite::Backend::kCuda);
  EXPECT_NE(halite::backend_unavailable_reason(halite::Backend::kCuda).find("built without CUDA"),
            std::string::npos);
  try {
    halite::Cycler cycler({reference_setup()}, reference_layout(), halite::SolverConfig{}, cccv(1),
                          halite::Backend::kCuda);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cuda backend cannot run"), std::string::npos) << e.what();
  }
}
