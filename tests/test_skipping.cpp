// Adaptive cycle skipping against integrating every cycle, on a shortened protocol with
// accelerated aging so that the fade is visible.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "host/config.hpp"
#include "host/cycler.hpp"

using namespace halite;

namespace {

// The reference cell (embedded config) aging ~15x faster, over 300 cycles of 1C CCCV and a final
// 0.2C cycle (a protocol change that must always be integrated).
struct Setup {
  CellSetup cell;
  models::CellLayout layout{6, 3, 8};
  Protocol protocol;
  SolverConfig solver;
};

Setup accelerated() {
  Setup s;
  const auto config = load_config("", {"aging.rsp.rate_constant=3e-6 1/s"});
  s.cell = cell_setup_from_config(config);
  s.solver = config.solver;
  s.protocol = config.protocol;
  s.protocol.blocks.resize(2);
  s.protocol.blocks[0].repeat = 300;  // 1C aging block
  s.protocol.blocks[1].repeat = 1;    // 0.2C cycle of the rate test
  return s;
}

std::vector<CycleRecord> run(const Setup& s, const CycleSkipping& skipping, int* integrated) {
  Cycler cycler({s.cell}, s.layout, s.solver, s.protocol);
  std::vector<CycleRecord> table;
  cycler.run(
      -1, [&](const std::vector<CycleRecord>& r) { table.push_back(r[0]); }, nullptr, nullptr,
      skipping);
  *integrated = cycler.integrated_cycles();
  return table;
}

}  // namespace

TEST(CycleSkipping, StaysWithinThreeTenthsOfAPercentagePointOfTheFullRun) {
  const auto setup = accelerated();
  int full_integrated = 0, skip_integrated = 0;
  const auto full = run(setup, CycleSkipping{false}, &full_integrated);
  const auto skipped = run(setup, CycleSkipping{true}, &skip_integrated);
  ASSERT_EQ(full.size(), 301u);
  ASSERT_EQ(skipped.size(), full.size());
  EXPECT_EQ(full_integrated, 301);
  // the fade is visible
  const double q1 = full[0].discharge_capacity;
  EXPECT_LT(full[299].discharge_capacity / q1, 0.97);
  double worst = 0.0;
  for (std::size_t n = 0; n < full.size(); ++n) {
    EXPECT_EQ(skipped[n].cycle, static_cast<int>(n) + 1);  // no cycle lost or duplicated
    const double a = full[n].discharge_capacity / q1;
    const double b = skipped[n].discharge_capacity / skipped[0].discharge_capacity;
    worst = std::max(worst, std::fabs(a - b));
  }
  std::printf("integrated %d of %zu cycles; worst retention difference %.3f percentage points\n",
              skip_integrated, skipped.size(), 100 * worst);
  EXPECT_LT(100 * worst, 0.3);
  EXPECT_LT(skip_integrated, full_integrated / 2);  // it does skip
  // cycles at and after a protocol change are integrated, and reported as such
  EXPECT_TRUE(skipped.back().simulated);
  EXPECT_TRUE(skipped[298].simulated);
  int extrapolated = 0;
  for (const auto& r : skipped) extrapolated += r.simulated ? 0 : 1;
  EXPECT_EQ(extrapolated, static_cast<int>(skipped.size()) - skip_integrated);
}
