// The batch of cells as the integrator sees it: per-cell parameters and controls, the residual of
// the whole batch (models/cell.hpp per cell), freezing of cells that ended a protocol step, and
// the translation of a state index into physics for error messages.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "host/cpu/nvector_batch.hpp"
#include "models/cell.hpp"

namespace halite {

class BatchModel {
 public:
  BatchModel(std::vector<models::CellParams> params, models::CellLayout layout);

  int cells() const { return static_cast<int>(params_.size()); }
  int per_cell() const { return layout_.size(); }
  const models::CellLayout& layout() const { return layout_; }
  const models::CellParams& params(int cell) const { return params_[cell]; }
  models::CellParams& params(int cell) { return params_[cell]; }
  models::CellControl& control(int cell) { return controls_[cell]; }
  const models::CellControl& control(int cell) const { return controls_[cell]; }
  const std::shared_ptr<BatchMask>& mask() const { return mask_; }

  // A frozen cell's equations are y = y_frozen (identity in the Newton matrix); it is left out
  // of IDA's norms. A failed cell stays frozen for the rest of the run.
  bool frozen(int cell) const { return frozen_[cell] != 0; }
  void freeze(int cell, const double* y_cell);
  void thaw_all();  // every cell that has not failed
  bool failed(int cell) const { return !failure_[cell].empty(); }
  void fail(int cell, const std::string& reason, const double* y_cell);
  const std::string& failure(int cell) const { return failure_[cell]; }
  int active_cells() const { return mask_->active_count(); }
  // The state a frozen cell is pinned to.
  const double* frozen_state(int cell) const {
    return frozen_state_.data() + std::size_t(cell) * per_cell();
  }
  // Changes with every freeze/thaw: a device copy of the frozen cells is stale when it differs.
  unsigned long frozen_revision() const { return frozen_revision_; }

  // Residual of the whole batch. Returns 0, or 1 (recoverable: IDA cuts the step) if an active
  // cell produced a non-finite value; those cells are listed by nonfinite_cells().
  int residual(const double* y, const double* ydot, double* res);
  const std::vector<int>& nonfinite_cells() const { return nonfinite_; }
  // For each entry of nonfinite_cells(): the first component (index within the cell) that was
  // not finite.
  const std::vector<int>& nonfinite_components() const { return nonfinite_component_; }

  // A guess of a consistent state at uniform stoichiometry x0 (IDACalcIC refines it).
  void initial_guess(int cell, double x0, double* y_cell) const;
  // 1 for differential components (shell stoichiometries, Q, E), 0 for algebraic ones.
  void differential_id(double* id_cell) const;
  // Per-component absolute tolerances for one cell.
  void absolute_tolerances(double atol_x, double atol_phi, double atol_current, double atol_charge,
                           double* atol_cell) const;

  // "x_s at cathode node 7, class 2, shell 9" (1-based, as a user counts).
  std::string describe_component(int index_in_cell) const;

  // Terminal voltage vs the Li-In anode, and lithium in the layered phase of the cathode
  // particles (mol/m^2).
  double cell_voltage(int cell, const double* y_cell) const;
  double cathode_lithium(int cell, const double* y_cell) const;
  // Li the layered phase would hold at x = 1 everywhere (mol/m^2).
  double cathode_lithium_capacity(int cell) const;

  // --- aging (models/aging.hpp): slow states per particle, advanced once per protocol step ----
  models::ParticleAging& aging(int cell, int particle) {
    return aging_[std::size_t(cell) * layout_.particles() + particle];
  }
  const models::ParticleAging& aging(int cell, int particle) const {
    return aging_[std::size_t(cell) * layout_.particles() + particle];
  }
  const models::ParticleCoefficients* coefficients(int cell) const {
    return coefficients_.data() + std::size_t(cell) * layout_.particles();
  }
  // All particles' aging states and step accumulators, cell-major (cells * particles), for a
  // backend that samples on its own copy of the state (cuda/).
  const models::ParticleAging* aging_states() const { return aging_.data(); }
  models::AgingAccumulator* accumulators() { return accumulators_.data(); }
  const models::AgingAccumulator* accumulators() const { return accumulators_.data(); }
  // Samples the aging drivers of every active cell at time t (call after each IDA step).
  void sample_aging(double t, const double* y);
  // Advances the aging states of every cell that was sampled over the step, moves the Li of
  // converted and isolated material between the pools (modifies y), refreshes the coefficients,
  // and returns each cell's largest net surface hoop stress over the step (Pa).
  std::vector<double> finish_aging_step(double* y);
  // Recomputes the electrochemistry's coefficients after the aging states were changed.
  void refresh_aging_coefficients(int cell) { refresh_coefficients(cell); }
  void refresh_coefficients(int cell);
  // Li held outside the layered network (mol/m^2): in the RSP, and stranded by cracks.
  double rsp_lithium(int cell) const;  // at the last protocol-step end (aging report)
  double rsp_lithium(int cell, const double* y_cell) const;  // of the state y (mol/m^2)
  double stranded_lithium(int cell) const;
  // Total Li of the cathode (mol/m^2): layered + RSP + stranded.
  double total_lithium(int cell, const double* y_cell) const;

 private:
  std::vector<models::CellParams> params_;
  std::vector<models::CellControl> controls_;
  models::CellLayout layout_;
  std::shared_ptr<BatchMask> mask_;
  std::vector<unsigned char> frozen_;
  unsigned long frozen_revision_ = 0;
  std::vector<std::string> failure_;
  std::vector<double> frozen_state_;
  std::vector<double> scratch_;
  std::vector<int> nonfinite_, nonfinite_component_;
  std::vector<models::ParticleAging> aging_;
  std::vector<models::ParticleCoefficients> coefficients_;
  std::vector<models::AgingAccumulator> accumulators_;
  double per_site_to_area(int cell, int cls) const;  // mol/m^2 per (Li per particle site)
};

}  // namespace halite
