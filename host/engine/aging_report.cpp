#include "host/engine/aging_report.hpp"

#include <algorithm>

namespace halite {

const std::vector<AgingColumn>& aging_column_specs() {
  static const std::vector<AgingColumn> columns = {
      {"Mean RSP fraction", "1", "volume-weighted mean rock-salt fraction over all particles"},
      {"Max RSP fraction", "1", "largest rock-salt fraction of any particle"},
      {"Mean layered fraction", "1", "volume-weighted accessible layered fraction a_L"},
      {"Lithium in RSP [mol.m-2]", "mol/m^2", "Li held in the rock-salt phase"},
      {"Stranded lithium [mol.m-2]", "mol/m^2", "Li lost with material isolated by cracks"},
      {"Total cathode lithium [mol.m-2]", "mol/m^2",
       "layered + RSP + stranded Li: changes only by the charge passed"},
      {"Oxygen released [mol.m-2]", "mol/m^2", "O released by RSP formation"},
      {"Mean transition layer thickness [m]", "m", "O-rich SE layer around the particles"},
      {"Mean transition layer resistance [Ohm.m2]", "Ohm m^2",
       "layer thickness / layer conductivity, per contact area"},
      {"Max crack length [m]", "m", "longest crack of any particle (Paris law)"},
      {"Mean isolated fraction", "1", "volume-weighted fraction cut off by cracks"},
      {"Max layered tensile stress [Pa]", "Pa",
       "largest hydrostatic stress of the layered phase (misfit tension minus stack pressure)"},
      {"Min RSP compressive stress [Pa]", "Pa",
       "most negative hydrostatic stress of the RSP (misfit compression plus stack pressure)"},
      {"Max surface hoop stress [Pa]", "Pa",
       "largest net hoop stress at a particle surface over the cycle (tension > 0)"},
      {"Capacity loss [mA.h.g-1]", "mAh/g", "first-cycle discharge capacity minus this cycle's"},
      {"Loss of active material [mA.h.g-1]", "mAh/g",
       "layered sites removed (RSP, isolation) valued at the first cycle's utilisation"},
      {"Loss of lithium inventory [mA.h.g-1]", "mAh/g",
       "Li removed from cycling (stranded by cracks, held in a dead shell RSP) as a capacity "
       "equivalent; the Li-In anode replaces it, so it is not part of the capacity loss here"},
      {"Kinetic and resistive loss [mA.h.g-1]", "mAh/g",
       "capacity loss minus (loss of active material minus the RSP share of the discharge): "
       "slower transport (percolation), film resistance"},
      {"RSP lithium taken up on discharge [mA.h.g-1]", "mAh/g",
       "Li the rock-salt phase took up from the layered phase during the cycle's discharge "
       "steps: its share of the discharge capacity"},
  };
  return columns;
}

double dead_lithium(const BatchModel& model, int cell) {
  const auto& p = model.params(cell);
  const bool rsp_dead = p.rsp_architecture == models::RspArchitecture::kShell || !p.rsp_exchange;
  return model.stranded_lithium(cell) + (rsp_dead ? model.rsp_lithium(cell) : 0.0);
}

void add_loss_split(std::vector<double>& row, const LossReference& first, double discharge,
                    double layered_fraction, double dead, double rsp_share,
                    double mah_per_g_per_mol_m2) {
  const double total = first.discharge_capacity - discharge;
  const double lam = (1.0 - layered_fraction / first.layered_fraction) * first.discharge_capacity;
  const double lli = (dead - first.dead_lithium) * mah_per_g_per_mol_m2;
  // The Li-In anode is an unlimited Li reservoir: Li lost from the cathode's pools is replaced on
  // the next discharge as long as sites remain, so in this cell the capacity loss is active
  // material plus kinetic/resistive; the Li-inventory column reports the Li removed (as a
  // capacity equivalent) without being subtracted. The converted volume is not all lost: the
  // Li its RSP takes up on discharge is capacity it still gives, so the kinetic/resistive part is
  // what remains after the active material lost net of that share.
  const double kinetic = total - (lam - (rsp_share - first.rsp_share));
  row.insert(row.end(), {total, lam, lli, kinetic});
}

std::vector<double> aging_summary(const BatchModel& model, int cell, const double* y,
                                  double max_surface_hoop) {
  const auto& L = model.layout();
  const auto& p = model.params(cell);
  double weight_sum = 0, mean_f = 0, max_f = 0, mean_layered = 0, mean_layer = 0, max_crack = 0,
         mean_isolated = 0, oxygen = 0;
  const double dx = p.cathode_thickness / L.nodes;
  for (int q = 0; q < L.particles(); ++q) {
    const auto& a = model.aging(cell, q);
    const int k = q % L.classes;
    const double w = p.particle_volume_weight[k];
    weight_sum += w;
    mean_f += w * a.rsp_fraction;
    max_f = std::max(max_f, a.rsp_fraction);
    mean_layered += w * model.coefficients(cell)[q].layered_fraction;
    mean_layer += w * a.layer_thickness;
    max_crack = std::max(max_crack, a.crack_length);
    mean_isolated += w * a.isolated_fraction;
    oxygen += a.oxygen_released * p.active_volume_fraction * w * dx;
  }
  mean_f /= weight_sum;
  mean_layered /= weight_sum;
  mean_layer /= weight_sum;
  mean_isolated /= weight_sum;
  return {mean_f,
          max_f,
          mean_layered,
          model.rsp_lithium(cell, y),
          model.stranded_lithium(cell),
          model.total_lithium(cell, y),
          oxygen,
          mean_layer,
          p.transition_layer ? mean_layer / p.layer_conductivity : 0.0,
          max_crack,
          mean_isolated,
          models::layered_hydrostatic_stress(p, max_f),
          models::rsp_hydrostatic_stress(p, max_f),
          max_surface_hoop};
}

}  // namespace halite
