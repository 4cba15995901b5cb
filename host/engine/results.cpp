#include "host/engine/results.hpp"

#include <stdexcept>

namespace halite {

namespace {

enum Column : std::size_t {
  kCycleNumber,
  kChargeCapacity,
  kDischargeCapacity,
  kCoulombicEfficiency,
  kChargeEnergy,
  kDischargeEnergy,
  kLithiumInventory,
  kDuration,
  kSimulated,
  kFailed,
  kIdaSteps,
  kResidualEvals,
  kJacobianEvals,
  kNonlinearIters,
  kErrorTestFails,
  kNonlinearConvFails,
  kColumnCount
};

}  // namespace

const std::vector<CycleColumn>& cycle_columns() {
  using K = ColumnKind;
  static const std::vector<CycleColumn> table = {
      {"Cycle number", "-", "cycle number, 1-based over the whole protocol", K::kInt64},
      {"Charge capacity [mA.h.g-1]", "mA.h.g-1",
       "charge passed during the charge steps of the cycle, per gram of active material",
       K::kDouble},
      {"Discharge capacity [mA.h.g-1]", "mA.h.g-1",
       "charge passed during the discharge steps of the cycle, per gram of active material",
       K::kDouble},
      {"Coulombic efficiency", "-", "discharge capacity / charge capacity (NaN if no charge)",
       K::kDouble},
      {"Charge energy [mW.h.g-1]", "mW.h.g-1",
       "energy put in during the charge steps, cell voltage in the file's voltage_reference, per "
       "gram of active material",
       K::kDouble},
      {"Discharge energy [mW.h.g-1]", "mW.h.g-1",
       "energy delivered during the discharge steps, cell voltage in the file's "
       "voltage_reference, per gram of active material",
       K::kDouble},
      {"Lithium inventory [mol.m-2]", "mol.m-2",
       "lithium in the cathode active particles at the end of the cycle, per electrode area",
       K::kDouble},
      {"Duration [s]", "s", "duration of the cycle on the cell's own clock", K::kDouble},
      {"Simulated", "-",
       "1 if the cycle was integrated, 0 if a cycle-jumping controller extrapolated it", K::kInt8},
      {"Failed", "-", "1 if the cell failed during (or before) this cycle", K::kInt8},
      {"IDA steps", "-", "IDA time steps in this cycle", K::kInt64},
      {"Residual evaluations", "-", "DAE residual evaluations in this cycle", K::kInt64},
      {"Jacobian evaluations", "-",
       "linear-solver setups (Jacobian evaluation and factorisation) in this cycle", K::kInt64},
      {"Nonlinear iterations", "-", "Newton iterations in this cycle", K::kInt64},
      {"Error test failures", "-", "IDA local error test failures in this cycle", K::kInt64},
      {"Nonlinear convergence failures", "-", "IDA nonlinear convergence failures in this cycle",
       K::kInt64},
  };
  return table;
}

double cycle_column_value(const CycleRecord& r, std::size_t column) {
  switch (static_cast<Column>(column)) {
    case kCycleNumber:
      return r.cycle;
    case kChargeCapacity:
      return r.charge_capacity;
    case kDischargeCapacity:
      return r.discharge_capacity;
    case kCoulombicEfficiency:
      return r.coulombic_efficiency;
    case kChargeEnergy:
      return r.charge_energy;
    case kDischargeEnergy:
      return r.discharge_energy;
    case kLithiumInventory:
      return r.lithium_inventory;
    case kDuration:
      return r.duration;
    case kSimulated:
      return r.simulated ? 1.0 : 0.0;
    case kFailed:
      return r.failed ? 1.0 : 0.0;
    case kIdaSteps:
      return static_cast<double>(r.stats.steps);
    case kResidualEvals:
      return static_cast<double>(r.stats.residual_evals);
    case kJacobianEvals:
      return static_cast<double>(r.stats.jacobian_evals);
    case kNonlinearIters:
      return static_cast<double>(r.stats.nonlinear_iters);
    case kErrorTestFails:
      return static_cast<double>(r.stats.error_test_fails);
    case kNonlinearConvFails:
      return static_cast<double>(r.stats.nonlinear_conv_fails);
    case kColumnCount:
      break;
  }
  throw std::out_of_range("cycle_column_value: no column " + std::to_string(column));
}

void set_cycle_column_value(CycleRecord& r, std::size_t column, double v) {
  const auto count = [](double x) { return static_cast<long>(x); };
  switch (static_cast<Column>(column)) {
    case kCycleNumber:
      r.cycle = static_cast<int>(v);
      return;
    case kChargeCapacity:
      r.charge_capacity = v;
      return;
    case kDischargeCapacity:
      r.discharge_capacity = v;
      return;
    case kCoulombicEfficiency:
      r.coulombic_efficiency = v;
      return;
    case kChargeEnergy:
      r.charge_energy = v;
      return;
    case kDischargeEnergy:
      r.discharge_energy = v;
      return;
    case kLithiumInventory:
      r.lithium_inventory = v;
      return;
    case kDuration:
      r.duration = v;
      return;
    case kSimulated:
      r.simulated = v != 0.0;
      return;
    case kFailed:
      r.failed = v != 0.0;
      return;
    case kIdaSteps:
      r.stats.steps = count(v);
      return;
    case kResidualEvals:
      r.stats.residual_evals = count(v);
      return;
    case kJacobianEvals:
      r.stats.jacobian_evals = count(v);
      return;
    case kNonlinearIters:
      r.stats.nonlinear_iters = count(v);
      return;
    case kErrorTestFails:
      r.stats.error_test_fails = count(v);
      return;
    case kNonlinearConvFails:
      r.stats.nonlinear_conv_fails = count(v);
      return;
    case kColumnCount:
      break;
  }
  throw std::out_of_range("set_cycle_column_value: no column " + std::to_string(column));
}

}  // namespace halite
