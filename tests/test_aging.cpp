// The aging submodels (models/aging.hpp): mechanics balance, direction of the Li exchange, the
// formation threshold, crack growth, switches that recover the core model, and the lithium
// inventory with every submodel on.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "host/engine/aging_report.hpp"
#include "host/engine/cycler.hpp"
#include "models/aging.hpp"
#include "tests/reference_cell.hpp"

using namespace halite;
using namespace halite::models;

namespace {

using halite::testing::reference_setup;

Protocol cccv(int cycles) {
  Protocol p;
  Block b;
  b.repeat = cycles;
  Step charge, hold, discharge;
  charge.mode = StepMode::kChargeCurrent;
  charge.c_rate = 1.0;
  charge.until = {{Termination::Kind::kVoltage, 4.3}};
  hold.mode = StepMode::kHoldVoltage;
  hold.voltage = 4.3;
  hold.until = {{Termination::Kind::kTime, 900.0}};
  discharge.mode = StepMode::kDischargeCurrent;
  discharge.c_rate = 1.0;
  discharge.until = {{Termination::Kind::kVoltage, 2.7}};
  b.steps = {charge, hold, discharge};
  p.blocks = {b};
  return p;
}

void all_submodels(CellParams& p, bool on) {
  p.rsp_formation = p.misfit_stress = p.rsp_exchange = p.cracking = p.transition_layer = on;
}

}  // namespace

TEST(AgingMechanics, PhaseAveragedHydrostaticStressBalancesTheAppliedPressure) {
  CellParams p;
  for (double pressure : {0.0, 50e6, 760e6})
    for (double f : {0.0, 0.1, 0.5, 0.9}) {
      p.stack_pressure = pressure;
      const double mean =
          f * rsp_hydrostatic_stress(p, f) + (1.0 - f) * layered_hydrostatic_stress(p, f);
      EXPECT_NEAR(mean, -p.hydrostatic_stack_pressure(), 1e-6 * misfit_pressure(p));
    }
  // misfit: the RSP is compressed and the layered phase is pulled, before stack pressure
  p.stack_pressure = 0.0;
  EXPECT_LT(rsp_hydrostatic_stress(p, 0.3), 0.0);
  EXPECT_GT(layered_hydrostatic_stress(p, 0.3), 0.0);
  // Eshelby single-inclusion pressure: 12 K mu e / (3K + 4 mu)
  EXPECT_NEAR(misfit_pressure(p), 12 * 190e9 * 60e9 * p.misfit_strain / (3 * 190e9 + 4 * 60e9),
              1.0);
}

TEST(AgingExchange, LithiumFlowsFromTheHigherToTheLowerChemicalPotential) {
  // The exchange rate of a shell (positive: RSP -> layered) has the sign of mu_RS - mu_L, each
  // potential with its own phase stress, and vanishes where they are equal.
  CellParams p;
  for (bool stress : {true, false})
    for (double f : {0.1, 0.4, 0.8})
      for (double x : {0.3, 0.6, 0.9})
        for (double theta : {0.01, 0.2, 0.5, 0.8, 0.99}) {
          p.rsp_stress_exchange = stress;
          ParticleAging a;
          a.rsp_fraction = f;
          const auto pc = particle_coefficients(p, 0, a);
          ASSERT_GT(pc.exchange_rate, 0.0);
          const double n = theta * pc.rsp_sites;
          const double difference =
              rsp_chemical_potential(p, theta, f) - layered_chemical_potential(p, x, f);
          const double rate = rsp_exchange_rate(p, pc, x, n);
          if (std::fabs(difference) < 1e-6) continue;
          EXPECT_EQ(rate > 0.0, difference > 0.0) << f << " " << x << " " << theta;
        }
  // at theta_eq the potentials agree
  ParticleAging a;
  a.rsp_fraction = 0.5;
  const auto pc = particle_coefficients(p, 0, a);
  const double theta_eq = rsp_equilibrium_occupancy(p, pc.exchange_shift, 0.6);
  EXPECT_NEAR(rsp_chemical_potential(p, theta_eq, 0.5), layered_chemical_potential(p, 0.6, 0.5),
              1e-6);
  EXPECT_NEAR(rsp_exchange_rate(p, pc, 0.6, theta_eq * pc.rsp_sites), 0.0, 1e-15);
}

TEST(AgingExchange, CompressionAndStackPressureSqueezeTheRspLithiumOut) {
  // Same chemistry, more misfit compression or more stack pressure: the RSP holds less Li in
  // equilibrium with the same layered phase; without the stress coupling neither matters.
  CellParams p;
  auto occupancy = [&p](double f) {
    return rsp_equilibrium_occupancy(p, exchange_stress_shift(p, f), 0.6);
  };
  p.misfit_strain = 0.005;
  const double low_misfit = occupancy(0.5);
  p.misfit_strain = 0.02;
  EXPECT_LT(occupancy(0.5), low_misfit);
  double previous = 1.0;
  for (double pressure : {0.0, 250e6, 500e6, 760e6, 1000e6}) {
    p.stack_pressure = pressure;
    EXPECT_LT(occupancy(0.5), previous) << pressure;
    previous = occupancy(0.5);
  }
  p.rsp_stress_exchange = false;
  const double stress_free = occupancy(0.5);
  p.stack_pressure = 0.0;
  p.misfit_strain = 0.005;
  EXPECT_EQ(occupancy(0.5), stress_free);
}

TEST(AgingExchange, ExchangeKeepsEveryStoichiometryInItsBounds) {
  // The rate vanishes at x = 0 and x = 1 and relaxes the occupancy towards theta_eq in (0, 1):
  // a layered shell at x -> 1 cannot take more Li, an empty RSP cannot give any.
  CellParams p;
  ParticleAging a;
  a.rsp_fraction = 0.7;
  const auto pc = particle_coefficients(p, 0, a);
  EXPECT_LE(rsp_exchange_rate(p, pc, 1.0, pc.rsp_sites), 1e-3 * pc.exchange_rate);
  EXPECT_LE(rsp_exchange_rate(p, pc, 0.5, 0.0), 0.0);
  EXPECT_GE(rsp_exchange_rate(p, pc, 0.5, pc.rsp_sites), 0.0);
}

TEST(AgingFormation, NoRockSaltAboveTheThresholdStoichiometry) {
  CellParams p;
  for (double x = p.rsp_threshold_stoichiometry; x <= 1.0; x += 0.01)
    EXPECT_EQ(rsp_formation_drive(p, x), 0.0) << x;
  EXPECT_GT(rsp_formation_drive(p, p.rsp_threshold_stoichiometry - 0.05), 0.0);
  // and it is faster when hotter (Arrhenius)
  const double cold = rsp_formation_rate(p, 0.1, 0.2);
  p.temperature = 318.15;
  EXPECT_GT(rsp_formation_rate(p, 0.1, 0.2), cold);
}

TEST(AgingCracking, NoGrowthUnderNetCompressionAndFasterUnderMoreTension) {
  CellParams p;
  const double l = 1e-7;
  EXPECT_EQ(crack_growth_rate(p, l, -100e6), 0.0);
  EXPECT_EQ(crack_growth_rate(p, l, 0.0), 0.0);
  double previous = 0.0;
  for (double s : {10e6, 100e6, 300e6, 1e9}) {
    const double rate = crack_growth_rate(p, l, s);
    EXPECT_GT(rate, previous);
    previous = rate;
  }
  // the net surface hoop stress of a particle at rest under 760 MPa is compressive
  ParticleAging a;
  EXPECT_LT(surface_hoop_stress(p, a, 0.5, 0.5), 0.0);
}

TEST(AgingSwitches, EverySubmodelOffRecoversTheCoreModelExactly) {
  auto s = reference_setup();
  all_submodels(s.params, false);
  s.params.inactive_fraction = 0.0;  // a cell property (never-connected CAM), not a submodel
  Cycler cycler({s}, {8, 3, 10, 6.0}, SolverConfig{}, cccv(2));
  cycler.run(
      -1, [](const std::vector<CycleRecord>&) {}, nullptr, nullptr);
  auto& model = cycler.model();
  for (int q = 0; q < model.layout().particles(); ++q) {
    const auto& a = model.aging(0, q);
    EXPECT_EQ(a.rsp_fraction, 0.0);
    EXPECT_EQ(a.rsp_lithium, 0.0);
    EXPECT_EQ(a.layer_thickness, 0.0);
    EXPECT_EQ(a.isolated_fraction, 0.0);
    const auto& c = model.coefficients(0)[q];
    EXPECT_EQ(c.layered_fraction, 1.0);
    EXPECT_EQ(c.transport_factor, 1.0);
    EXPECT_EQ(c.film_resistance, 0.0);
    EXPECT_EQ(c.misfit_stress, 0.0);
  }
  // the residual with these coefficients is bit-identical to the core residual
  const auto& L = model.layout();
  std::vector<double> y(cycler.integrator().cell_state(0),
                        cycler.integrator().cell_state(0) + L.size());
  std::vector<double> yp(L.size(), 1e-4), r_core(L.size()), r_aged(L.size()),
      scratch(cell_scratch_size(L));
  cell_residual(s.params, L, model.control(0), y.data(), yp.data(), r_core.data(), scratch.data());
  cell_residual(s.params, L, model.control(0), y.data(), yp.data(), r_aged.data(), scratch.data(),
                model.coefficients(0));
  for (int i = 0; i < L.size(); ++i) EXPECT_EQ(r_core[i], r_aged[i]) << i;
}

TEST(AgingInventory, LithiumIsConservedWithEverySubmodelOn) {
  // Accelerated aging so that every pool moves within a few cycles; low stack pressure and a
  // fast Paris law so that cracks grow too.
  auto s = reference_setup();
  all_submodels(s.params, true);
  s.params.rsp_rate_constant *= 500.0;
  s.params.stack_pressure = 0.0;
  s.params.crack_rate_constant *= 1e8;
  s.params.initial_crack_length = 2e-7;
  Cycler cycler({s}, {6, 3, 8}, SolverConfig{}, cccv(3));
  auto& model = cycler.model();
  const double start = model.total_lithium(0, cycler.integrator().cell_state(0));
  double exchanged = 0.0;
  const auto& steps = cycler.protocol().blocks[0].steps;
  for (int cycle = 0; cycle < 3; ++cycle)
    for (int k = 0; k < 3; ++k) exchanged += cycler.run_step(steps[k], k)[0].charge / kFaraday;
  const double end = model.total_lithium(0, cycler.integrator().cell_state(0));
  EXPECT_LT(std::fabs(end - start - exchanged) / start, 1e-9);
  // every pool did move
  // every pool did move: Li went into the RSP and, with the cracks, into isolated material
  EXPECT_GT(model.rsp_lithium(0), 1e-5 * start);
  EXPECT_GT(model.stranded_lithium(0), 1e-8 * start);
  EXPECT_GT(model.rsp_lithium(0) + model.stranded_lithium(0), 1e-4 * start);
  double layer = 0.0;
  for (int q = 0; q < model.layout().particles(); ++q) layer += model.aging(0, q).layer_thickness;
  EXPECT_GT(layer, 0.0);
}

TEST(AgingArchitecture, ShellKeepsItsLithiumAndAddsResistance) {
  auto dispersed = reference_setup();
  dispersed.params.rsp_rate_constant *= 500.0;
  auto shell = dispersed;
  shell.params.rsp_architecture = RspArchitecture::kShell;
  std::vector<CycleRecord> rd, rs;
  Cycler cd({dispersed}, {6, 3, 8}, SolverConfig{}, cccv(3));
  cd.run(
      -1, [&](const std::vector<CycleRecord>& r) { rd = r; }, nullptr, nullptr);
  Cycler cs({shell}, {6, 3, 8}, SolverConfig{}, cccv(3));
  cs.run(
      -1, [&](const std::vector<CycleRecord>& r) { rs = r; }, nullptr, nullptr);
  ASSERT_FALSE(rd[0].failed);
  ASSERT_FALSE(rs[0].failed);
  // The shell blocks: less capacity than the dispersed architecture at the same RSP growth.
  EXPECT_LT(rs[0].discharge_capacity, rd[0].discharge_capacity);
  EXPECT_GT(cs.model().coefficients(0)[0].film_resistance,
            cd.model().coefficients(0)[0].film_resistance);
}
