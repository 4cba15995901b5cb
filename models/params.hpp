// Parameters of one cell, in SI units, as a plain struct that can be copied to a device.
// Every default and its source is documented in docs/model.md; host/app/config.cpp maps the YAML
// keys onto these fields (the YAML carries units, this struct does not).
#pragma once

#include "models/constants.hpp"
#include "models/hd.hpp"

namespace halite::models {

inline constexpr int kMaxParticleClasses = 8;

// Which fit of the NMC open-circuit potential to use (see docs/model.md, "OCP").
enum class NmcOcpFit : int { kNmc721Blend = 0, kChen2020Nmc811 = 1, kMohtat2020Nmc532 = 2 };

// Where the rock-salt phase forms: dispersed through the bulk (solid electrolyte, Wang 2023) or as
// a surface shell (the liquid-electrolyte picture).
enum class RspArchitecture : int { kDispersed = 0, kShell = 1 };

// Li diffusivity in NMC: O'Regan 2022 D(x) shape times a scale, or a constant (verification).
enum class DiffusivityModel : int { kORegan2022 = 0, kConstant = 1 };

struct CellParams {
  // --- environment -------------------------------------------------------------------------
  double temperature = 298.15;  // K

  // --- Li-In anode (planar interface) --------------------------------------------------------
  double anode_ocp = 0.62;               // V vs Li+/Li, In/InLi two-phase plateau
  double anode_exchange_current = 30.0;  // A/m^2 of geometric area
  // Volume change of In + Li -> InLi per mol Li (V_InLi - V_In = 23.7 - 15.8 cm^3/mol): the
  // stack pressure lowers the In/InLi plateau by Omega_a P_h / F (docs/model.md, "Stack pressure")
  double anode_partial_molar_volume = 7.9e-6;  // m^3/mol

  // --- solid-electrolyte separator -------------------------------------------------------------
  double separator_thickness = 400e-6;     // m
  double electrolyte_conductivity = 0.30;  // S/m, bulk LSPSCl (3.0e-3 S/cm)

  // --- composite cathode -----------------------------------------------------------------------
  double cathode_thickness = 120e-6;          // m (derived from loading and densities on the host)
  double active_volume_fraction = 0.43;       // NMC volume fraction
  double electrolyte_volume_fraction = 0.47;  // SE volume fraction in the composite
  double bruggeman_electrolyte = 1.5;         // exponent on the SE volume fraction
  double bruggeman_solid = 1.5;               // exponent on the NMC volume fraction
  double contact_fraction = 0.30;             // fraction of particle surface in contact with SE
  double inactive_fraction = 0.268;  // CAM fraction never connected (isolated at t = 0; fit)

  // particle-size classes (volume-weighted)
  int particle_classes = 3;
  double particle_radius[kMaxParticleClasses] = {1.5e-6, 2.5e-6, 3.5e-6};            // m
  double particle_volume_weight[kMaxParticleClasses] = {1.0 / 3, 1.0 / 3, 1.0 / 3};  // sums to 1

  // NMC721 bulk properties
  double max_concentration = 49200.0;  // mol/m^3, c_max = rho/M
  NmcOcpFit ocp_fit = NmcOcpFit::kNmc721Blend;
  DiffusivityModel diffusivity_model = DiffusivityModel::kORegan2022;
  double diffusivity_scale = 1.0;       // multiplies the O'Regan 2022 D(x) (1: as published)
  double diffusivity_constant = 5e-15;  // m^2/s, used by DiffusivityModel::kConstant
  double exchange_current_mid = 1.0;    // A/m^2 of contact area at x = 0.5
  double transfer_coefficient = 0.5;    // alpha (anodic)

  // electronic conductivity of NMC vs lithiation (logistic in log10 sigma, docs/sources.md §1f)
  double sigma_lithiated = 5.48e-3;      // S/m as x -> 1 (fit)
  double sigma_delithiated = 1.0;        // S/m for x well below x_mid
  double sigma_transition_x = 0.68;      // x_m
  double sigma_transition_width = 0.05;  // w

  // mechanics
  double partial_molar_volume = 1.0e-6;              // m^3/mol, Omega
  double young_modulus = 150e9;                      // Pa
  double poisson_ratio = 0.25;                       // -
  double stack_pressure = 760e6;                     // Pa (uniaxial, as applied)
  double stack_pressure_hydrostatic_fraction = 1.0;  // P_h / P (pseudo-hydrostatic SE)

  // --- aging submodels (models/aging.hpp); each can be switched off -------------------------
  bool rsp_formation = true;
  bool misfit_stress = true;
  bool rsp_exchange = true;         // Li exchange RSP <-> layered (dispersed architecture only)
  bool rsp_stress_exchange = true;  // the phases' stresses in the exchange's chemical potentials
  bool cracking = true;
  bool transition_layer = true;
  RspArchitecture rsp_architecture = RspArchitecture::kDispersed;
  // RSP (+ disordered-layered) formation by over-delithiation: df/dt = k (1 - f) drive(x)
  double rsp_rate_constant = 1.612e-6;        // 1/s at 298.15 K (fit)
  double rsp_activation_energy = 50e3;        // J/mol (assumed, order of TM migration barriers)
  double rsp_threshold_stoichiometry = 0.45;  // x below which layered NMC721 degrades (held)
  double oxygen_per_rsp = 1.0;                // mol O released per mol TM converted (MO2 -> MO)
  // lattice misfit (Eshelby / Mori-Tanaka mean field)
  double misfit_strain = 0.01;          // effective linear eigenstrain e* (0.5-3 %)
  double rsp_bulk_modulus = 190e9;      // Pa, NiO
  double layered_shear_modulus = 60e9;  // Pa, NMC
  double inclusion_radius = 5e-9;       // m, RSP domains nucleate at 5-10 nm nano-voids
  // Li sites of the RSP phase: one MSMR gallery (Verbrugge 2017), occupancy theta of y_max
  double rsp_lithium_capacity = 0.5;       // y_max, Li per RSP formula unit (Li_yM_1-yO)
  double rsp_site_potential = 4.05;        // V vs Li+/Li, stress-free standard potential (held:
                                           // top of the fade fit's 95 % interval)
  double rsp_site_width = 3.0;             // omega: MSMR ideality (disordered sites), >= 1
  double rsp_partial_molar_volume = 8e-6;  // m^3/mol, Omega_RS (assumed)
  double exchange_rate_constant = 0.1;     // 1/s, RSP <-> layered relaxation (assumed)
  // layered-network percolation
  double percolation_threshold = 0.16;  // phi_c (0.16-0.3; Scher-Zallen 0.16)
  double percolation_exponent = 2.0;    // t (3D conductivity exponent 1.6-2)
  double disordered_share = 0.6425;  // chi (fit): share of the converted volume that is disordered
                                     // layered (cation-mixed, still conducts Li)
  // shell architecture
  double shell_resistivity = 1.0e6;  // Ohm m (Safari 2009 via Zhuo2023)
  // cracking (Paris law; PyBaMM OKane2022)
  double crack_rate_constant = 3.9e-20;  // k_cr, per hour in PyBaMM's units
  double crack_exponent = 2.2;           // m_cr
  double crack_geometry_factor = 1.12;   // b_cr
  double initial_crack_length = 2.0e-8;  // m, l_cr0
  double crack_isolation = 1.0;          // d(psi)/d(l/R): isolated fraction per crack depth
  // SE transition layer
  double layer_volume_per_oxygen = 3.721e-5;  // m^3 of porous O-rich layer per mol O (fit)
  double layer_conductivity = 1.0e-4;         // S/m of the void-rich, O-rich layer (assumed)

  // RT/F in V
  HALITE_HD double thermal_voltage() const { return kGasConstant * temperature / kFaraday; }
  HALITE_HD double hydrostatic_stack_pressure() const {
    return stack_pressure * stack_pressure_hydrostatic_fraction;
  }
};

}  // namespace halite::models
