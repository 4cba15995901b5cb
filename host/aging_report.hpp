// The per-cycle aging columns of the results: names, units, and their values for one cell.
#pragma once

#include <string>
#include <vector>

#include "host/batch_model.hpp"

namespace halite {

struct AgingColumn {
  std::string name, units, description;
};

// The aging columns, in the order aging_summary() fills them.
const std::vector<AgingColumn>& aging_column_specs();

// The aging state of one cell at the end of a cycle. max_surface_hoop: largest net surface hoop
// stress over the cycle (Pa).
std::vector<double> aging_summary(const BatchModel& model, int cell, const double* y_cell,
                                  double max_surface_hoop);

}  // namespace halite
