// Aging physics of the NMC721 particles in a solid-state composite (docs/model.md, "Aging"):
// rock-salt phase (RSP) formation by over-delithiation, lattice-misfit and stack-pressure stress
// (mean-field Eshelby / Mori-Tanaka), stress-driven Li exchange between RSP and the layered phase,
// percolation of the layered network, the liquid-like surface-shell alternative, fatigue
// cracking (Paris law), and the O-rich SE transition layer fed by released oxygen.
//
// Every function is a pure per-particle function (host and device). The slow states live in
// ParticleAging; the electrochemistry sees them only through ParticleCoefficients.
#pragma once

#include <cmath>

#include "models/constants.hpp"
#include "models/hd.hpp"
#include "models/ocp.hpp"
#include "models/params.hpp"
#include "models/particle_geometry.hpp"
#include "models/stress.hpp"

namespace halite::models {

// Slow state of one particle (one size class at one cathode node).
struct ParticleAging {
  double rsp_fraction = 0.0;       // f: volume fraction of the particle converted to RSP
  double rsp_lithium = 0.0;        // Li held in the RSP, per layered site of the whole particle
  double crack_length = 0.0;       // m (initialised to the initial flaw l_cr0)
  double isolated_fraction = 0.0;  // psi: fraction of the particle cut off by cracks
  double stranded_lithium = 0.0;   // Li lost with isolated material, per site of the particle
  double layer_thickness = 0.0;    // m, O-rich SE transition layer around the particle
  double oxygen_released = 0.0;    // mol O per m^3 of particle
};

// What the electrochemistry of a particle needs from its aging state. Fresh: all neutral.
struct ParticleCoefficients {
  double layered_fraction = 1.0;  // a_L: accessible layered volume / particle volume
  double transport_factor = 1.0;  // D_eff / D of the layered network
  double film_resistance = 0.0;   // Ohm m^2 of contact: transition layer + RSP shell
  double misfit_stress = 0.0;     // Pa, hydrostatic stress of the layered phase from misfit
};

// ---------------------------------------------------------------------------------------------
// Rock-salt formation by over-delithiation: df/dt = k(T) (1 - f/f_sat) drive(x), with
// drive = max(0, (x_th - x) / x_th): exactly zero while the stoichiometry stays above the
// threshold, growing linearly below it. Arrhenius in T. f_sat is the convertible volume: RSP
// nucleates at the internal nano-voids (cell.md), so only the material around them transforms.
// (Used by the slow-state update only, so it need not be smooth.)
HALITE_HD inline double rsp_formation_drive(const CellParams& p, double x) {
  const double d = (p.rsp_threshold_stoichiometry - x) / p.rsp_threshold_stoichiometry;
  return d > 0.0 ? d : 0.0;
}
HALITE_HD inline double arrhenius(double activation_energy, double temperature) {
  return ::exp(-activation_energy / kGasConstant * (1.0 / temperature - 1.0 / 298.15));
}
HALITE_HD inline double rsp_formation_rate(const CellParams& p, double rsp_fraction, double drive) {
  if (!p.rsp_formation) return 0.0;
  const double room = 1.0 - rsp_fraction / p.rsp_saturation_fraction;
  return room > 0.0 ? p.rsp_rate_constant * arrhenius(p.rsp_activation_energy, p.temperature) *
                          room * drive
                    : 0.0;
}

// ---------------------------------------------------------------------------------------------
// Misfit stress, mean field (physics.md section 3): a misfitting RSP (bulk modulus K_I, linear
// eigenstrain e*) in the layered matrix (shear modulus mu_M): p0 = 12 K_I mu_M e*/(3 K_I + 4 mu_M);
// at RSP fraction f and external hydrostatic pressure P:
//   sigma_h,RS = -(1 - f) p0 - P,   sigma_h,L = f p0 - P,
// so that f sigma_RS + (1 - f) sigma_L = -P.
HALITE_HD inline double misfit_pressure(const CellParams& p) {
  if (!p.misfit_stress) return 0.0;
  const double k = p.rsp_bulk_modulus, mu = p.layered_shear_modulus;
  return 12.0 * k * mu * p.misfit_strain / (3.0 * k + 4.0 * mu);
}
HALITE_HD inline double rsp_hydrostatic_stress(const CellParams& p, double rsp_fraction) {
  return -(1.0 - rsp_fraction) * misfit_pressure(p) - p.hydrostatic_stack_pressure();
}
HALITE_HD inline double layered_hydrostatic_stress(const CellParams& p, double rsp_fraction) {
  return rsp_fraction * misfit_pressure(p) - p.hydrostatic_stack_pressure();
}

// ---------------------------------------------------------------------------------------------
// Li chemical potentials (J/mol, relative to Li metal), each with its own hydrostatic stress:
//   layered: mu_L = -F U(x) - Omega sigma_h,L        (U from the OCP fit, ideal part included)
//   RSP:     mu_RS = E_RS + RT ln(y / (y_max - y)) - Omega sigma_h,RS
// y = Li per RSP site. Li flows from the higher to the lower potential.
HALITE_HD inline double rsp_chemical_potential(const CellParams& p, double y, double sigma_rs) {
  const double ymax = p.rsp_lithium_capacity;
  const double yc = fmin(fmax(y, 1e-12 * ymax), (1.0 - 1e-12) * ymax);
  return p.rsp_site_energy + kGasConstant * p.temperature * ::log(yc / (ymax - yc)) -
         p.partial_molar_volume * sigma_rs;
}
// The RSP occupancy in equilibrium with a layered phase at chemical potential mu_layered.
HALITE_HD inline double rsp_equilibrium_occupancy(const CellParams& p, double mu_layered,
                                                  double sigma_rs) {
  const double a = (mu_layered - p.rsp_site_energy + p.partial_molar_volume * sigma_rs) /
                   (kGasConstant * p.temperature);
  const double s = a > 0 ? 1.0 / (1.0 + ::exp(-a)) : ::exp(a) / (1.0 + ::exp(a));
  return p.rsp_lithium_capacity * s;
}

// ---------------------------------------------------------------------------------------------
// Percolation of the layered network (dispersed architecture): effective transport of a
// two-phase particle where only the layered phase conducts Li,
//   D_eff / D = ((phi_L - phi_c) / (1 - phi_c))^t  for phi_L > phi_c, else 0 (floored).
HALITE_HD inline double percolation_factor(const CellParams& p, double layered_fraction) {
  const double phi_c = p.percolation_threshold;
  const double s = (layered_fraction - phi_c) / (1.0 - phi_c);
  return s > 1e-6 ? ::pow(s, p.percolation_exponent) : ::pow(1e-6, p.percolation_exponent);
}

// Shell architecture: RSP as a surface shell of thickness s = R (1 - (1 - f)^(1/3)).
HALITE_HD inline double shell_thickness(double radius, double rsp_fraction) {
  return radius * (1.0 - ::cbrt(1.0 - rsp_fraction));
}

// ---------------------------------------------------------------------------------------------
// Fatigue cracking, Paris law (PyBaMM crack_propagation, Ai 2020 / O'Kane 2022):
//   dl/dt = k_cr (b sigma_t sqrt(pi l))^m  for tensile sigma_t > 0, zero under net compression.
// sigma_t is the net hoop stress at the surface: diffusion-induced + misfit (layered) - P.
HALITE_HD inline double crack_growth_rate(const CellParams& p, double crack_length,
                                          double surface_hoop_stress) {
  if (!p.cracking || surface_hoop_stress <= 0.0) return 0.0;
  const double k = p.crack_rate_constant / 3600.0;  // PyBaMM's k_cr is per hour
  return k * ::pow(p.crack_geometry_factor * surface_hoop_stress *
                       ::sqrt(kPi * fmax(crack_length, 0.0)),
                   p.crack_exponent);
}

// ---------------------------------------------------------------------------------------------
// SE transition layer: oxygen released by RSP formation (nu_O mol O per mol of converted
// transition metal) reacts with the sulfide around the particle; the layer grows by
// dV/dn_O (m^3 of porous O-rich layer per mol O) per unit particle surface.
HALITE_HD inline double layer_growth(const CellParams& p, double oxygen_per_particle_volume,
                                     double radius) {
  if (!p.transition_layer) return 0.0;
  // particle volume / particle surface = R/3
  return p.layer_volume_per_oxygen * oxygen_per_particle_volume * radius / 3.0;
}

// ---------------------------------------------------------------------------------------------
// The electrochemistry's view of a particle's aging state.
HALITE_HD inline ParticleCoefficients particle_coefficients(const CellParams& p, int cls,
                                                            const ParticleAging& a) {
  ParticleCoefficients c;
  const double f = a.rsp_fraction;
  c.layered_fraction = (1.0 - f) * (1.0 - a.isolated_fraction);
  c.misfit_stress = f * misfit_pressure(p);  // layered phase in tension
  double film = p.transition_layer ? a.layer_thickness / p.layer_conductivity : 0.0;
  if (p.rsp_architecture == RspArchitecture::kDispersed) {
    c.transport_factor = percolation_factor(p, 1.0 - f);
  } else {
    // Surface shell: Li crosses a low-diffusivity, resistive shell in series with the reaction.
    const double s = shell_thickness(p.particle_radius[cls], f);
    film += p.shell_resistivity * s;
    const double core = 1.0 - s / p.particle_radius[cls];
    c.transport_factor = core > 1e-3 ? 1.0 : 1e-3;
  }
  c.film_resistance = film;
  return c;
}

// ---------------------------------------------------------------------------------------------
// Slow-fast splitting. The aging states change by ~1e-4 per cycle while the electrochemistry
// moves on seconds; they are advanced once per protocol step from integrals of their drivers
// over the IDA steps of that step (trapezoidal rule), and enter the electrochemistry as constant
// coefficients during a step. Li moved between pools is moved exactly (docs/model.md).
struct AgingAccumulator {
  double time = 0.0;        // s integrated
  double drive = 0.0;       // int formation drive dt
  double mean_x = 0.0;      // int x_mean dt
  double hoop_power = 0.0;  // int max(0, sigma_t)^m dt
  double last_t = 0.0, last_drive = 0.0, last_mean_x = 0.0, last_hoop_power = 0.0;
  bool started = false;
  double max_hoop = -1e300;  // Pa, largest net surface hoop stress (tension > 0)
};

// Net tensile hoop stress at the particle surface: diffusion-induced (free sphere,
// sigma_t(R) = Omega E c_max (x_mean - x_s) / (3 (1 - nu))) + layered misfit - stack pressure.
HALITE_HD inline double surface_hoop_stress(const CellParams& p, const ParticleAging& a,
                                            double x_mean, double x_surface) {
  // at r = R the mean inside is the particle mean
  return hoop_stress(p, x_mean, x_mean, x_surface) + a.rsp_fraction * misfit_pressure(p) -
         p.hydrostatic_stack_pressure();
}

// Samples one particle at time t (x: its shell stoichiometries) into the accumulator.
HALITE_HD inline void sample_particle_aging(const CellParams& p, const ParticleAging& a,
                                            const double* x, int shells, double t,
                                            AgingAccumulator& acc) {
  const double x_mean = particle_mean_stoichiometry(x, shells);
  const double xs = surface_stoichiometry(x[shells >= 2 ? shells - 2 : 0], x[shells - 1], shells);
  // Dispersed RSP nucleates in the bulk (mean stoichiometry); a shell grows from the surface.
  const double x_drive = p.rsp_architecture == RspArchitecture::kShell ? xs : x_mean;
  const double drive = rsp_formation_drive(p, x_drive);
  const double hoop = surface_hoop_stress(p, a, x_mean, xs);
  const double hoop_power = hoop > 0.0 ? ::pow(hoop, p.crack_exponent) : 0.0;
  if (acc.started) {
    const double dt = t - acc.last_t;
    acc.time += dt;
    acc.drive += 0.5 * dt * (drive + acc.last_drive);
    acc.mean_x += 0.5 * dt * (x_mean + acc.last_mean_x);
    acc.hoop_power += 0.5 * dt * (hoop_power + acc.last_hoop_power);
  }
  acc.started = true;
  acc.last_t = t;
  acc.last_drive = drive;
  acc.last_mean_x = x_mean;
  acc.last_hoop_power = hoop_power;
  if (hoop > acc.max_hoop) acc.max_hoop = hoop;
}

// Advances one particle's aging state over a protocol step from its accumulator. Returns the Li
// (per site of the particle) that the RSP gives back to the layered phase (negative: takes up);
// the caller adds it uniformly to the layered stoichiometry (divided by the new a_L).
// x_mean_end: the layered mean stoichiometry at the end of the step.
HALITE_HD inline double advance_particle_aging(const CellParams& p, int cls, ParticleAging& a,
                                               const AgingAccumulator& acc, double x_mean_end) {
  if (acc.time <= 0.0) return 0.0;
  const double radius = p.particle_radius[cls];
  const double f0 = a.rsp_fraction, psi0 = a.isolated_fraction;
  const double layered0 = (1.0 - f0) * (1.0 - psi0);
  // 1. RSP formation (explicit over the step: df per step ~1e-5)
  double df = 0.0;
  if (p.rsp_formation) {
    df = rsp_formation_rate(p, f0, 1.0) * acc.drive;  // rate per unit drive x int drive dt
    df = fmin(df, 0.5 * (p.rsp_saturation_fraction - f0));
    df = fmax(df, 0.0);
  }
  // 2. cracking: dl = k (b sqrt(pi l))^m int sigma+^m dt; isolated fraction follows crack depth
  double dl = 0.0;
  if (p.cracking && acc.hoop_power > 0.0) {
    dl =
        p.crack_rate_constant / 3600.0 *
        ::pow(p.crack_geometry_factor * ::sqrt(kPi * fmax(a.crack_length, 0.0)), p.crack_exponent) *
        acc.hoop_power;
  }
  // a crack cannot outgrow its particle, and fragments keep part of their contact: the
  // isolated fraction is capped (kMaxIsolatedFraction) so that a cracked particle stays a
  // well-posed, if poor, electrode
  dl = fmin(dl, fmax(radius - a.crack_length, 0.0));
  constexpr double kMaxIsolatedFraction = 0.9;
  const double dpsi =
      fmax(0.0, fmin(p.crack_isolation * dl / radius * (1.0 - psi0), kMaxIsolatedFraction - psi0));
  a.rsp_fraction = f0 + df;
  a.crack_length += dl;
  a.isolated_fraction = psi0 + dpsi;
  // the RSP inside newly isolated material is cut off with it: its Li is stranded too
  if (dpsi > 0.0 && psi0 < 1.0) {
    const double cut = a.rsp_lithium * dpsi / (1.0 - psi0);
    a.rsp_lithium -= cut;
    a.stranded_lithium += cut;
  }
  const double layered1 = (1.0 - a.rsp_fraction) * (1.0 - a.isolated_fraction);
  // Li of the layered volume that left the network: the converted part into the RSP, the
  // isolated part stranded. The x profile itself is unchanged (the volumes held x_mean).
  const double to_rsp = df * (1.0 - psi0) * x_mean_end;
  a.rsp_lithium += to_rsp;
  a.stranded_lithium += (layered0 - layered1) * x_mean_end - to_rsp;
  // 3. oxygen release and the SE transition layer it feeds
  const double d_oxygen = p.oxygen_per_rsp * df * (1.0 - psi0) * p.max_concentration;
  a.oxygen_released += d_oxygen;
  a.layer_thickness += layer_growth(p, d_oxygen, radius);
  // 4. stress-driven exchange RSP <-> layered (dispersed only): relax towards equilibrium of the
  //    two chemical potentials, each with its own hydrostatic stress.
  double released = 0.0;
  const double rsp_sites = a.rsp_fraction * (1.0 - a.isolated_fraction);
  if (p.rsp_exchange && p.rsp_architecture == RspArchitecture::kDispersed && rsp_sites > 0.0) {
    const double x_avg = acc.mean_x / acc.time;
    const double mu_layered =
        -kFaraday * ocp_nmc(p, x_avg) -
        p.partial_molar_volume * layered_hydrostatic_stress(p, a.rsp_fraction);
    const double y_eq =
        rsp_equilibrium_occupancy(p, mu_layered, rsp_hydrostatic_stress(p, a.rsp_fraction));
    const double n_eq = y_eq * rsp_sites;
    released = (a.rsp_lithium - n_eq) * (1.0 - ::exp(-p.exchange_rate_constant * acc.time));
    // never take more Li from the layered phase than it holds
    released = fmax(released, -0.5 * layered1 * x_mean_end);
    a.rsp_lithium -= released;
  }
  return released;
}

}  // namespace halite::models
