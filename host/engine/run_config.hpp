// A resolved run as plain structs: the cell, its loading, mesh, solver options, protocol and
// output choices, all in SI. The engine takes these; how they are made (YAML, units, overrides,
// validation) is the application's business (host/app/config.hpp), so a program that builds a
// RunConfig in code drives a simulation without the YAML loader or the HDF5 writer.
#pragma once

#include <string>
#include <vector>

#include "host/engine/protocol.hpp"
#include "host/engine/solver_options.hpp"
#include "models/cell.hpp"
#include "models/params.hpp"

namespace halite {

struct LoadingConfig {
  enum class Basis { kComposite, kActiveMaterial };
  Basis basis = Basis::kComposite;
  double areal_mass = 0.36;             // kg/m^2 (36 mg/cm^2), of composite or of CAM per basis
  double active_mass_fraction = 0.7;    // CAM : SE = 7 : 3 by mass
  double active_density = 4790.0;       // kg/m^3, NMC721 crystallographic
  double electrolyte_density = 1860.0;  // kg/m^3, argyrodite
  double porosity = 0.07;               // residual porosity of the pressed composite
  double active_molar_mass = 0.09730;   // kg/mol, LiNi0.7Co0.2Mn0.1O2
  double reference_specific_capacity = 150.0;  // mAh/g that defines 1C
  // Which way resolve_loading() derives: true = the cathode thickness (volume fractions) follow
  // from areal_mass (active_mass_fraction and porosity); false = the user gave the cathode
  // geometry in cell.cathode and the loading follows from it (docs/configuration.md).
  bool derive_thickness = true;
  bool derive_volume_fractions = true;
  // Derived by resolve_loading():
  double active_areal_mass = 0.0;       // kg/m^2 of CAM
  double electrolyte_areal_mass = 0.0;  // kg/m^2 of SE in the composite
  double one_c_current_density = 0.0;   // A/m^2
};

struct MeshConfig {
  int cathode_nodes = 8;       // finite volumes across the composite cathode
  int radial_shells = 20;      // finite volumes per particle radius
  double shell_stretch = 6.0;  // kappa of the graded radial mesh (models::RadialMesh)
  models::CellLayout layout(int particle_classes) const {
    return {cathode_nodes, particle_classes, radial_shells, shell_stretch};
  }
};

struct OutputConfig {
  // Cycles whose full time series is stored (1-based). Empty = first, last, and every cycle of
  // the final blocks after the first (the rate test).
  std::vector<int> curve_cycles;
};

struct RunConfig {
  std::string name = "reference NMC721 | LSPSCl | Li-In";
  models::CellParams cell;
  double initial_stoichiometry = 0.999;  // pristine, stoichiometric NMC721
  LoadingConfig loading;
  MeshConfig mesh;
  SolverConfig solver;
  Protocol protocol;
  OutputConfig output;
  std::string resolved_yaml;  // the full resolved configuration, defaults included
  std::string source;         // file the config came from ("<embedded reference>" for default)
};

}  // namespace halite
