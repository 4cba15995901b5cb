// The per-cycle aging columns of the results: names, units, and their values for one cell.
#pragma once

#include <string>
#include <vector>

#include "host/cpu/batch_model.hpp"

namespace halite {

struct AgingColumn {
  std::string name, units, description;
};

// The aging columns, in the order aging_summary() fills them.
const std::vector<AgingColumn>& aging_column_specs();

// The state of the first cycle that losses are measured against.
struct LossReference {
  double discharge_capacity = 0.0;  // mAh/g
  double layered_fraction = 1.0;    // mean accessible layered fraction
  double dead_lithium = 0.0;        // mol/m^2
  double rsp_share = 0.0;           // mAh/g the RSP took up on the first discharge
};

// Li that cannot cycle any more (mol/m^2): stranded, plus the RSP's if it is dead (shell
// architecture or exchange switched off).
double dead_lithium(const BatchModel& model, int cell);

// Appends the loss split (total, active material, lithium inventory, kinetic/resistive; mAh/g).
// rsp_share: mAh/g of this cycle's discharge the RSP took up (the capacity the converted volume
// still gives).
void add_loss_split(std::vector<double>& row, const LossReference& first, double discharge,
                    double layered_fraction, double dead, double rsp_share,
                    double mah_per_g_per_mol_m2);

// The aging state of one cell at the end of a cycle (all columns but the loss split).
// max_surface_hoop: largest net surface hoop stress over the cycle (Pa).
std::vector<double> aging_summary(const BatchModel& model, int cell, const double* y_cell,
                                  double max_surface_hoop);

}  // namespace halite
