// Integrator options every backend takes (tolerances, step limits): part of the engine's
// contract with the backends (host/cpu/, cuda/), so it depends on nothing else.
#pragma once

namespace halite {

struct SolverConfig {
  // converged: docs/validation.md, "Time-integration tolerance"
  double relative_tolerance = 3e-6;
  double absolute_tolerance_stoichiometry = 3e-7;  // -
  double absolute_tolerance_potential = 3e-7;      // V
  double absolute_tolerance_current = 1e-6;        // A/m^2
  double absolute_tolerance_charge = 1e-3;         // C/m^2 (and J/m^2 for energy)
  double max_step = 600.0;                         // s
  long max_steps_per_step = 200000;                // IDA steps within one protocol step
};

}  // namespace halite
