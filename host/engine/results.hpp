// What a run produces per cell and per cycle, independent of how it is stored (HDF5 writer).
#pragma once

#include <string>
#include <vector>

namespace halite {

struct SolverStats {
  long steps = 0;
  long residual_evals = 0;
  long jacobian_evals = 0;  // linear-solver setups (Jacobian evaluation + factorisation)
  long nonlinear_iters = 0;
  long error_test_fails = 0;
  long nonlinear_conv_fails = 0;

  // Adds the IDA counters (not jacobian_evals, which the linear solver counts).
  SolverStats& add_ida_counters(const SolverStats& o) {
    steps += o.steps;
    residual_evals += o.residual_evals;
    nonlinear_iters += o.nonlinear_iters;
    error_test_fails += o.error_test_fails;
    nonlinear_conv_fails += o.nonlinear_conv_fails;
    return *this;
  }
};

// IDA's counters since its last (re)initialisation (host/cpu/batch_integrator.cpp).
SolverStats read_ida_counters(void* ida_mem);

struct CycleRecord {
  int cycle = 0;                       // 1-based over the whole protocol
  double charge_capacity = 0;          // mAh per g of active material
  double discharge_capacity = 0;       // mAh per g of active material
  double coulombic_efficiency = 0;     // discharge / charge (NaN if no charge)
  double charge_energy = 0;            // mWh per g of active material (cell voltage vs Li-In)
  double discharge_energy = 0;         // mWh per g of active material (cell voltage vs Li-In)
  double lithium_inventory = 0;        // mol/m^2 in the cathode particles at cycle end
  double duration = 0;                 // s, this cell's own clock
  std::vector<double> step_end_times;  // s since cycle start, one per step
  SolverStats stats;                   // summed over the steps of this cycle (batch-wide IDA)
  std::vector<double> aging;           // aging columns, in the order of aging_column_specs()
  bool simulated = true;               // false where a controller extrapolated the cycle
  bool failed = false;
  std::string failure;  // reason, if failed
};

// One sample of a stored voltage curve.
struct CurvePoint {
  double time = 0;             // s, cell clock since the start of the run
  double voltage = 0;          // V in the run's reference
  double current_density = 0;  // A/m^2, positive on discharge
  int step = 0;                // step index within the cycle
};

struct Curve {
  int cycle = 0;
  std::vector<CurvePoint> points;
};

// How a per-cycle column is stored (HDF5 writer) and typed (Python: float, int64, bool).
enum class ColumnKind { kDouble, kInt64, kInt8 };

// A built-in per-cycle column: what every front end calls it ("Name [unit]"), its unit and
// meaning. The aging columns follow them (aging_column_specs(), host/engine/aging_report.hpp),
// and "Step end times [s]" (one value per step) is apart.
struct CycleColumn {
  std::string name, units, description;
  ColumnKind kind = ColumnKind::kDouble;
};

// The built-in per-cycle columns, in the order of the result file's /cycles group.
const std::vector<CycleColumn>& cycle_columns();

// The value of built-in column `column` (an index into cycle_columns()) of a record; integer and
// flag columns as exact doubles.
double cycle_column_value(const CycleRecord& record, std::size_t column);
// The inverse: sets the field of built-in column `column` (a record read back from a file).
void set_cycle_column_value(CycleRecord& record, std::size_t column, double value);

}  // namespace halite
