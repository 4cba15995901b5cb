// Regression: the calibrated reference cell's first cycles against stored ("blessed") values in
// tests/data/reference_early_cycles.csv (regenerate deliberately with
// validation/bless_early_cycles.py). The calibration targets themselves are checked too: the
// first 1C discharge (116 +- 3 mAh/g) and the initial Coulombic efficiency (76 +- 2 %).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "host/app/config.hpp"
#include "host/engine/cycler.hpp"

using namespace halite;

namespace {

std::vector<std::vector<double>> read_blessed() {
  std::ifstream in(std::string(HALITE_SOURCE_DIR) + "/tests/data/reference_early_cycles.csv");
  std::vector<std::vector<double>> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind("cycle", 0) == 0) continue;
    std::vector<double> row;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) row.push_back(std::stod(cell));
    rows.push_back(row);
  }
  return rows;
}

}  // namespace

TEST(Regression, CalibratedReferenceReproducesItsStoredFirstCycles) {
  const auto blessed = read_blessed();
  ASSERT_EQ(blessed.size(), 5u) << "tests/data/reference_early_cycles.csv missing or malformed";
  const auto config = load_config("");
  const models::CellLayout layout = config.mesh.layout(config.cell.particle_classes);
  Cycler cycler({cell_setup_from_config(config)}, layout, config.solver, config.protocol);
  std::vector<CycleRecord> table;
  cycler.run(
      5, [&](const std::vector<CycleRecord>& r) { table.push_back(r[0]); }, nullptr, nullptr);
  ASSERT_EQ(table.size(), 5u);
  // Capacities agree to 100 x rtol (1e-4 relative): room for a different libm or compiler, far
  // below any physics change.
  const double tol = 100 * config.solver.relative_tolerance;
  for (std::size_t k = 0; k < 5; ++k) {
    const auto& b = blessed[k];
    const auto& r = table[k];
    ASSERT_EQ(static_cast<int>(b[0]), r.cycle);
    EXPECT_NEAR(r.charge_capacity, b[1], tol * b[1]) << "cycle " << r.cycle;
    EXPECT_NEAR(r.discharge_capacity, b[2], tol * b[2]) << "cycle " << r.cycle;
    EXPECT_NEAR(r.coulombic_efficiency, b[3], tol) << "cycle " << r.cycle;
    EXPECT_NEAR(r.discharge_energy, b[4], tol * b[4]) << "cycle " << r.cycle;
    EXPECT_NEAR(r.aging[0], b[5], tol * b[5] + 1e-12) << "cycle " << r.cycle;  // mean RSP fraction
    EXPECT_NEAR(r.aging[5], b[6], tol * b[6]) << "cycle " << r.cycle;          // total cathode Li
  }
  // and the calibration targets of the first cycle (docs/sources.md, "Measured")
  EXPECT_NEAR(table[0].discharge_capacity, 116.0, 3.0);
  EXPECT_NEAR(table[0].coulombic_efficiency, 0.76, 0.02);
}

// The time-integration tolerance study (docs/validation.md, "Time-integration tolerance"; issue
// 16's criterion): at the default tolerances every capacity is within 0.01 mAh/g and every
// retention within 0.01 pp of a tight reference (rtol 1e-7, atols / 30). Default mesh, 12 1C
// cycles with formation 20x the calibrated rate, so that the RSP, its exchange and the aging
// coupling act within the test (the full-protocol study covers all 4004 cycles).
TEST(Accuracy, DefaultTimeTolerancesMatchATightReferenceWithinAHundredthOfAPoint) {
  const auto run = [](const std::vector<std::string>& sets) {
    std::vector<std::string> all = {"aging.rsp.rate_constant=3.2e-5 1/s"};
    all.insert(all.end(), sets.begin(), sets.end());
    const auto config = load_config("", all);
    Cycler cycler({cell_setup_from_config(config)},
                  config.mesh.layout(config.cell.particle_classes), config.solver, config.protocol);
    std::vector<CycleRecord> table;
    cycler.run(
        12, [&](const std::vector<CycleRecord>& r) { table.push_back(r[0]); }, nullptr, nullptr);
    return table;
  };
  const auto fast = run({});
  const auto tight =
      run({"solver.relative_tolerance=1e-7", "solver.absolute_tolerance_stoichiometry=1e-8",
           "solver.absolute_tolerance_potential=1e-8 V"});
  ASSERT_EQ(fast.size(), 12u);
  ASSERT_EQ(tight.size(), 12u);
  EXPECT_GT(tight.back().aging[0], 0.05) << "the RSP must form within the test";
  double worst_capacity = 0.0, worst_retention = 0.0;
  for (std::size_t k = 0; k < fast.size(); ++k) {
    ASSERT_FALSE(fast[k].failed) << fast[k].failure;
    worst_capacity = std::max({worst_capacity,
                               std::fabs(fast[k].discharge_capacity - tight[k].discharge_capacity),
                               std::fabs(fast[k].charge_capacity - tight[k].charge_capacity)});
    worst_retention =
        std::max(worst_retention,
                 100.0 * std::fabs(fast[k].discharge_capacity / fast[0].discharge_capacity -
                                   tight[k].discharge_capacity / tight[0].discharge_capacity));
  }
  std::printf(
      "default vs tight tolerances over %zu cycles: capacity %.5f mAh/g, retention %.5f pp; "
      "RSP fraction %.3f\n",
      fast.size(), worst_capacity, worst_retention, tight.back().aging[0]);
  EXPECT_LT(worst_capacity, 0.01);
  EXPECT_LT(worst_retention, 0.01);
}
