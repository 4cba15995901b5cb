// The end of a protocol step as root functions, one per condition and cell: a step ends for a
// cell when one of its values g falls to zero (g > 0 while the condition does not hold). The
// thresholds are in SI per cell (the host converts C-rates and mAh/g with the cell's own 1C
// current and active mass), so the same function serves the CPU root callback and the device
// root kernel.
#pragma once

#include <cmath>

#include "models/cell.hpp"
#include "models/hd.hpp"

namespace halite::models {

enum class StepEnd : int {
  kVoltage = 0,   // threshold: V in the protocol's reference; direction +1 rising, -1 falling
  kCurrent = 1,   // threshold: |I| in A/m^2 (ends when |I| falls to it: CV hold)
  kTime = 2,      // threshold: s since the step started
  kCapacity = 3,  // threshold: |Q| in C/m^2 through the cathode interface since the step started
};

// g of one condition for one cell. voltage_offset: protocol reference minus the cell voltage
// vs Li-In (V); elapsed: time since the step started (s).
HALITE_HD inline double step_end_value(StepEnd kind, double threshold, const CellParams& p,
                                       const CellLayout& L, const double* y, double elapsed,
                                       double voltage_direction, double voltage_offset) {
  switch (kind) {
    case StepEnd::kVoltage:
      return voltage_direction * (threshold - (cell_terminal_voltage(p, L, y) + voltage_offset));
    case StepEnd::kCurrent:
      return ::fabs(y[L.current()]) - threshold;
    case StepEnd::kTime:
      return threshold - elapsed;
    case StepEnd::kCapacity:
      return threshold - ::fabs(y[L.charge()]);
  }
  return 1.0;
}

// All conditions of one cell into g[0..count). A frozen cell (its step has ended) gets -1
// everywhere: constant, so it can never produce a root again.
HALITE_HD inline void step_end_values(const StepEnd* kinds, const double* thresholds, int count,
                                      const CellParams& p, const CellLayout& L, const double* y,
                                      double elapsed, double voltage_direction,
                                      double voltage_offset, bool frozen, double* g) {
  for (int k = 0; k < count; ++k)
    g[k] = frozen ? -1.0
                  : step_end_value(kinds[k], thresholds[k], p, L, y, elapsed, voltage_direction,
                                   voltage_offset);
}

}  // namespace halite::models
