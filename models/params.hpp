// Parameters of one cell, in SI units, as a plain struct that can be copied to a device.
// Every default and its source is documented in docs/model.md; host/config.cpp maps the YAML
// keys onto these fields (the YAML carries units, this struct does not).
#pragma once

#include "models/constants.hpp"
#include "models/hd.hpp"

namespace halite::models {

inline constexpr int kMaxParticleClasses = 8;

// Which fit of the NMC open-circuit potential to use (see docs/model.md, "OCP").
enum class NmcOcpFit : int { kNmc721Blend = 0, kChen2020Nmc811 = 1, kMohtat2020Nmc532 = 2 };

// Li diffusivity in NMC: O'Regan 2022 D(x) shape times a scale, or a constant (verification).
enum class DiffusivityModel : int { kORegan2022 = 0, kConstant = 1 };

struct CellParams {
  // --- environment -------------------------------------------------------------------------
  double temperature = 298.15;  // K

  // --- Li-In anode (planar interface) --------------------------------------------------------
  double anode_ocp = 0.62;                   // V vs Li+/Li, In/InLi two-phase plateau
  double anode_exchange_current = 30.0;      // A/m^2 of geometric area

  // --- solid-electrolyte separator -------------------------------------------------------------
  double separator_thickness = 400e-6;       // m
  double electrolyte_conductivity = 0.30;    // S/m, bulk LSPSCl (3.0e-3 S/cm)

  // --- composite cathode -----------------------------------------------------------------------
  double cathode_thickness = 120e-6;         // m (derived from loading and densities on the host)
  double active_volume_fraction = 0.43;      // NMC volume fraction
  double electrolyte_volume_fraction = 0.47; // SE volume fraction in the composite
  double bruggeman_electrolyte = 1.5;        // exponent on the SE volume fraction
  double bruggeman_solid = 1.5;              // exponent on the NMC volume fraction
  double contact_fraction = 0.30;            // fraction of particle surface in contact with SE

  // particle-size classes (volume-weighted)
  int particle_classes = 3;
  double particle_radius[kMaxParticleClasses] = {1.5e-6, 2.5e-6, 3.5e-6};        // m
  double particle_volume_weight[kMaxParticleClasses] = {1.0 / 3, 1.0 / 3, 1.0 / 3};  // sums to 1

  // NMC721 bulk properties
  double max_concentration = 49200.0;        // mol/m^3, c_max = rho/M
  NmcOcpFit ocp_fit = NmcOcpFit::kNmc721Blend;
  DiffusivityModel diffusivity_model = DiffusivityModel::kORegan2022;
  double diffusivity_scale = 0.5;            // multiplies the O'Regan 2022 D(x) shape
  double diffusivity_constant = 5e-15;       // m^2/s, used by DiffusivityModel::kConstant
  double exchange_current_mid = 1.0;         // A/m^2 of contact area at x = 0.5
  double transfer_coefficient = 0.5;         // alpha (anodic)

  // electronic conductivity of NMC vs lithiation (logistic in log10 sigma, physics.md 1f)
  double sigma_lithiated = 1.0e-2;           // S/m as x -> 1
  double sigma_delithiated = 1.0;            // S/m for x well below x_mid
  double sigma_transition_x = 0.80;          // x_m
  double sigma_transition_width = 0.05;      // w

  // mechanics
  double partial_molar_volume = 1.0e-6;      // m^3/mol, Omega
  double young_modulus = 150e9;              // Pa
  double poisson_ratio = 0.25;               // -
  double stack_pressure = 760e6;             // Pa (uniaxial, as applied)
  double stack_pressure_hydrostatic_fraction = 1.0;  // P_h / P (pseudo-hydrostatic SE)

  // RT/F in V
  HALITE_HD double thermal_voltage() const { return kGasConstant * temperature / kFaraday; }
  HALITE_HD double hydrostatic_stack_pressure() const {
    return stack_pressure * stack_pressure_hydrostatic_fraction;
  }
};

}  // namespace halite::models
