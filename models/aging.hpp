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

// Slow state of one particle (one size class at one cathode node). The Li held by the RSP is
// not a slow state: it is an unknown of the DAE per radial shell (CellLayout::rsp_offset);
// rsp_lithium here is its particle total, refreshed at every protocol-step end for reports.
struct ParticleAging {
  double rsp_fraction = 0.0;       // f: volume fraction of the particle converted to RSP
  double rsp_lithium = 0.0;        // Li held in the RSP, per Li site of the whole particle
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
  double rsp_sites = 0.0;         // N_RS = f (1 - psi) y_max: RSP Li sites per particle site
  double exchange_rate = 0.0;     // k_ex (1/s); 0 = no exchange (fresh, shell, switched off)
  double exchange_shift = 0.0;    // V: (Omega_L sigma_L - Omega_RS sigma_RS) / F
};

// ---------------------------------------------------------------------------------------------
// Rock-salt formation by over-delithiation: df/dt = k(T) (1 - f) drive(x), with
// drive = max(0, (x_th - x) / x_th): exactly zero while the stoichiometry stays above the
// threshold, growing linearly below it. Arrhenius in T. (1 - f): only layered material converts;
// no saturation cap. (Used by the slow-state update only, so it need not be smooth.)
HALITE_HD inline double rsp_formation_drive(const CellParams& p, double x) {
  const double d = (p.rsp_threshold_stoichiometry - x) / p.rsp_threshold_stoichiometry;
  return d > 0.0 ? d : 0.0;
}
HALITE_HD inline double arrhenius(double activation_energy, double temperature) {
  return ::exp(-activation_energy / kGasConstant * (1.0 / temperature - 1.0 / 298.15));
}
HALITE_HD inline double rsp_formation_rate(const CellParams& p, double rsp_fraction, double drive) {
  if (!p.rsp_formation) return 0.0;
  const double room = 1.0 - rsp_fraction;
  return room > 0.0 ? p.rsp_rate_constant * arrhenius(p.rsp_activation_energy, p.temperature) *
                          room * drive
                    : 0.0;
}

// ---------------------------------------------------------------------------------------------
// Misfit stress, mean field (docs/sources.md §3): a misfitting RSP (bulk modulus K_I, linear
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
// Li exchange between the RSP and the layered phase (dispersed architecture), per radial shell.
// Chemical potentials of Li (J/mol, vs Li metal), each phase with its own mean-field stress and
// its own partial molar volume:
//   layered: mu_L  = -F U(x) - Omega_L sigma_h,L
//   RSP:     mu_RS = -F U_RS + omega RT ln(theta / (1 - theta)) - Omega_RS sigma_h,RS
// (the RSP's sites as one MSMR gallery, Verbrugge et al., JES 164, E3243 (2017): standard
// potential U_RS, width omega, capacity y_max). mu_RS = mu_L at the occupancy
//   theta_eq(x) = 1 / (1 + exp((U(x) - U_RS + s) / (omega RT/F))),
//   s = (Omega_L sigma_h,L - Omega_RS sigma_h,RS) / F                     (exchange_shift)
// Compression of the RSP (sigma_RS < 0) and tension of the layered phase (sigma_L > 0) both
// raise s: Li is squeezed out of the RSP. Stack pressure enters each phase with its own Omega,
// so it adds (Omega_RS - Omega_L) P_h / F to s instead of cancelling.
HALITE_HD inline double exchange_stress_shift(const CellParams& p, double rsp_fraction) {
  if (!p.rsp_stress_exchange) return 0.0;
  return (p.partial_molar_volume * layered_hydrostatic_stress(p, rsp_fraction) -
          p.rsp_partial_molar_volume * rsp_hydrostatic_stress(p, rsp_fraction)) /
         kFaraday;
}
// The two chemical potentials themselves (J/mol; for reports and tests: the exchange uses
// their difference through theta_eq).
HALITE_HD inline double layered_chemical_potential(const CellParams& p, double x,
                                                   double rsp_fraction) {
  const double sigma = p.rsp_stress_exchange ? layered_hydrostatic_stress(p, rsp_fraction) : 0.0;
  return -kFaraday * ocp_nmc(p, x) - p.partial_molar_volume * sigma;
}
HALITE_HD inline double rsp_chemical_potential(const CellParams& p, double occupancy,
                                               double rsp_fraction) {
  const double sigma = p.rsp_stress_exchange ? rsp_hydrostatic_stress(p, rsp_fraction) : 0.0;
  return -kFaraday * p.rsp_site_potential +
         p.rsp_site_width * kGasConstant * p.temperature * ::log(occupancy / (1.0 - occupancy)) -
         p.rsp_partial_molar_volume * sigma;
}
template <class T>
HALITE_HD T rsp_equilibrium_occupancy(const CellParams& p, double exchange_shift, const T& x) {
  const T a = (ocp_nmc(p, x) - p.rsp_site_potential + exchange_shift) *
              (1.0 / (p.rsp_site_width * p.thermal_voltage()));
  return 1.0 / (1.0 + exp(clamp_value(a, -600.0, 600.0)));
}
// Exchange rate (Li per particle site per second, positive = from the RSP to the layered phase)
// of one shell holding layered stoichiometry x and RSP Li n (per particle site):
//   r = k_ex (n - N_RS theta_eq(x)) 4 x (1 - x).
// First-order relaxation towards mu_RS = mu_L, so r has the sign of mu_RS - mu_L; the factor
// 4 x (1 - x) (1 at x = 1/2) is the layered phase's site availability: r vanishes at x = 0
// and x = 1, so the exchange cannot push x out of [0, 1], and theta_eq in (0, 1) keeps
// n in [0, N_RS]. (A polynomial, not sqrt(x(1-x)): its derivative stays finite at the bounds,
// where the end of a slow discharge brings the outer shells.)
template <class T, class U>
HALITE_HD T rsp_exchange_rate(const CellParams& p, const ParticleCoefficients& pc, const T& x,
                              const U& n) {
  const T xc = clamp_value(x, 0.0, 1.0);
  return pc.exchange_rate *
         (n - pc.rsp_sites * rsp_equilibrium_occupancy(p, pc.exchange_shift, x)) *
         (4.0 * xc * (1.0 - xc));
}

// ---------------------------------------------------------------------------------------------
// Percolation of the Li-conducting network (dispersed architecture). The converted volume f is
// a mixture of rock salt proper and disordered-layered phase (the paper counts both: "RSP plus
// disordered-layered phase"); the disordered-layered share chi still conducts Li (cation-mixed
// layers, 1-TM channels), the rock salt does not. Conducting volume fraction and transport:
//   phi = 1 - (1 - chi) f,   D_eff / D = ((phi - phi_c) / (1 - phi_c))^t  for phi > phi_c,
// else 0 (floored).
HALITE_HD inline double conducting_fraction(const CellParams& p, double rsp_fraction) {
  return 1.0 - (1.0 - p.disordered_share) * rsp_fraction;
}
HALITE_HD inline double percolation_factor(const CellParams& p, double conducting) {
  const double phi_c = p.percolation_threshold;
  const double s = (conducting - phi_c) / (1.0 - phi_c);
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
  c.rsp_sites = f * (1.0 - a.isolated_fraction) * p.rsp_lithium_capacity;
  c.misfit_stress = f * misfit_pressure(p);  // layered phase in tension
  double film = p.transition_layer ? a.layer_thickness / p.layer_conductivity : 0.0;
  if (p.rsp_architecture == RspArchitecture::kDispersed) {
    c.transport_factor = percolation_factor(p, conducting_fraction(p, f));
    if (p.rsp_exchange && c.rsp_sites > 0.0) {
      c.exchange_rate = p.exchange_rate_constant;
      c.exchange_shift = exchange_stress_shift(p, f);
    }
  } else {
    // Surface shell: Li crosses a low-diffusivity, resistive shell in series with the reaction;
    // the shell's Li is dead (no exchange).
    const double s = shell_thickness(p.particle_radius[cls], f);
    film += p.shell_resistivity * s;
    const double core = 1.0 - s / p.particle_radius[cls];
    c.transport_factor = core > 1e-3 ? 1.0 : 1e-3;
  }
  c.film_resistance = film;
  return c;
}

// ---------------------------------------------------------------------------------------------
// Slow-fast splitting. The RSP fraction, cracks and the layer change by ~1e-4 per cycle while the
// electrochemistry moves on seconds; they are advanced once per protocol step from integrals of
// their drivers over the IDA steps of that step (trapezoidal rule), and enter the
// electrochemistry as constant coefficients during a step. The RSP's Li is a DAE unknown and
// moves within every step. Li moved between pools is moved exactly (docs/model.md).
struct AgingAccumulator {
  double time = 0.0;        // s integrated
  double drive = 0.0;       // int formation drive dt
  double mean_x = 0.0;      // int x_mean dt
  double hoop_power = 0.0;  // int max(0, sigma_t)^m dt
  double last_t = 0.0, last_drive = 0.0, last_mean_x = 0.0, last_hoop_power = 0.0;
  bool started = false;
  double max_hoop = -1e300;  // Pa, largest net crack-driving hoop stress (tension > 0)
};

// Misfit stresses are microstresses: they average to zero over the particle (f sigma_RS +
// (1 - f) sigma_L = -P, a uniform eigenstrain strains a free particle without stressing it), and
// vary on the scale of the RSP domains (radius a_inc). A crack of length l > a_inc samples them
// over a_inc only: weight w(l) = sqrt(min(1, a_inc / l)) on the stress intensity. The stack
// pressure acts on the particle scale and is sampled in full.
HALITE_HD inline double microstress_reach(const CellParams& p, double crack_length) {
  const double l = fmax(crack_length, 1e-12);
  return p.inclusion_radius < l ? ::sqrt(p.inclusion_radius / l) : 1.0;
}
// Local hoop tension in the layered matrix at an RSP inclusion's interface: the Eshelby matrix
// field sigma_tt = p_RS/2 (a/r)^3 around an inclusion under pressure p_RS = (1 - f) p0.
HALITE_HD inline double interface_hoop_tension(const CellParams& p, double rsp_fraction) {
  if (rsp_fraction <= 0.0) return 0.0;
  return 0.5 * (1.0 - rsp_fraction) * misfit_pressure(p);
}

// Static (non-cycling) hoop stress a surface crack of length l feels: the layered phase's mean
// misfit tension f p0 and the interface tension, both weighted by w(l), minus the hydrostatic
// stack pressure.
HALITE_HD inline double static_hoop_stress(const CellParams& p, const ParticleAging& a) {
  const double micro =
      a.rsp_fraction * misfit_pressure(p) + interface_hoop_tension(p, a.rsp_fraction);
  return microstress_reach(p, a.crack_length) * micro - p.hydrostatic_stack_pressure();
}
// The cycling part of the surface hoop stress: diffusion-induced, free sphere,
// sigma_t(R) = Omega E c_max (x_mean - x_s) / (3 (1 - nu)) (at r = R the mean inside is the
// particle mean). The net (reported) surface hoop stress is this plus the static part.
HALITE_HD inline double cyclic_hoop_stress(const CellParams& p, double x_mean, double x_surface) {
  return hoop_stress(p, x_mean, x_mean, x_surface);
}
HALITE_HD inline double surface_hoop_stress(const CellParams& p, const ParticleAging& a,
                                            double x_mean, double x_surface) {
  return cyclic_hoop_stress(p, x_mean, x_surface) + static_hoop_stress(p, a);
}
// Stress that drives fatigue growth (Paris: da/dN depends on the cyclic stress intensity range,
// not on a constant load). The static part (misfit, interface tension, stack pressure) does not
// cycle and drives no fatigue growth when tensile, but when compressive it holds the crack
// closed (Elber closure): the cycling stress must first overcome it.
HALITE_HD inline double crack_driving_stress(double cyclic, double static_stress) {
  return fmax(0.0, cyclic + fmin(0.0, static_stress));
}

// Samples one particle at time t (x: its shell stoichiometries) into the accumulator.
HALITE_HD inline void sample_particle_aging(const CellParams& p, const ParticleAging& a,
                                            const double* x, const RadialMesh& mesh, double t,
                                            AgingAccumulator& acc) {
  const int shells = mesh.shells;
  const double x_mean = particle_mean_stoichiometry(x, mesh);
  const double xs = surface_stoichiometry(x[shells >= 2 ? shells - 2 : 0], x[shells - 1], mesh);
  // Dispersed RSP nucleates in the bulk (mean stoichiometry); a shell grows from the surface.
  const double x_drive = p.rsp_architecture == RspArchitecture::kShell ? xs : x_mean;
  const double drive = rsp_formation_drive(p, x_drive);
  // each part once: this runs after every IDA step for every particle
  const double cyclic = cyclic_hoop_stress(p, x_mean, xs), held = static_hoop_stress(p, a);
  const double hoop = cyclic + held;
  const double driving = crack_driving_stress(cyclic, held);
  const double hoop_power = driving > 0.0 ? ::pow(driving, p.crack_exponent) : 0.0;
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

// RSP Li of one particle per particle site: sum of the shells' n weighted by volume.
HALITE_HD inline double particle_rsp_lithium(const double* n, const RadialMesh& mesh) {
  return particle_mean_stoichiometry(n, mesh);
}

// Li per site a newly formed RSP takes from the layered volume it replaces (stoichiometry x):
// what that volume held, up to the RSP's capacity y_max.
HALITE_HD inline double rsp_uptake_per_site(const CellParams& p, double x) {
  return fmin(fmax(x, 0.0), p.rsp_lithium_capacity);
}

// Converts the layered volume d_rsp (per particle volume, accessible) into RSP in every shell:
// the RSP formed takes min(x_m, y_max) Li per site from the layered Li it replaces; the rest stays
// in the remaining layered phase as far as it has sites (x_m <= 1), the RSP keeps what does not
// fit. Li per shell (layered_before x_m + n_m) is unchanged.
HALITE_HD inline void convert_layered_to_rsp(const CellParams& p, const RadialMesh& mesh,
                                             double layered_before, double d_rsp, double* x,
                                             double* n) {
  const double layered_after = layered_before - d_rsp;
  if (d_rsp <= 0.0 || layered_after <= 0.0) return;
  for (int m = 0; m < mesh.shells; ++m) {
    double moved = d_rsp * rsp_uptake_per_site(p, x[m]);
    // the remaining layered phase cannot be filled past x = 1: Li it has no sites for stays with
    // the new RSP (n above its y_max share; the exchange returns it when the layered phase has
    // room). Near the end of a discharge (x -> 1) a large step of formation pushed x past 1.
    moved = fmax(moved, layered_before * x[m] - layered_after);
    n[m] += moved;
    x[m] = (layered_before * x[m] - moved) / layered_after;
  }
}

// The same conversion over a cycle-skipping jump, landing at a cycle start: the new RSP holds
// min(x_m, y_max) Li per site, as in convert_layered_to_rsp, but the layered shells keep their
// stoichiometry. In the skipped cycles the RSP formed at the top of charge and the layered Li
// beyond what it takes went out through the circuit; the end-of-discharge stoichiometry is set by
// the discharge kinetics, so the last integrated cycle's x is the one to land with. (Leaving
// that Li in the layered phase over-lithiated it: the landing cycle's discharge came out 20 %
// low at 70 % RSP.) The Li that leaves is the caller's to book.
HALITE_HD inline void convert_layered_to_rsp_keep_stoichiometry(const CellParams& p,
                                                                const RadialMesh& mesh,
                                                                double d_rsp, const double* x,
                                                                double* n) {
  if (d_rsp <= 0.0) return;
  for (int m = 0; m < mesh.shells; ++m) n[m] += d_rsp * rsp_uptake_per_site(p, x[m]);
}

// Advances one particle's aging state over a protocol step from its accumulator, moving Li
// between the pools exactly: x (layered stoichiometry) and n (RSP Li per particle site) are the
// particle's shells in the DAE state, changed in place.
HALITE_HD inline void advance_particle_aging(const CellParams& p, int cls, const RadialMesh& mesh,
                                             ParticleAging& a, const AgingAccumulator& acc,
                                             double* x, double* n) {
  if (acc.time <= 0.0) return;
  const double radius = p.particle_radius[cls];
  const double f0 = a.rsp_fraction, psi0 = a.isolated_fraction;
  // 1. cracking: dl = k (b sqrt(pi l))^m int sigma+^m dt; isolated fraction follows crack depth
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
  a.crack_length += dl;
  const double psi1 = psi0 + dpsi;
  a.isolated_fraction = psi1;
  // isolated material takes its Li (layered and RSP) with it; x, being intensive, is unchanged
  if (dpsi > 0.0) {
    const double cut = dpsi / (1.0 - psi0);
    const double layered0 = (1.0 - f0) * (1.0 - psi0);
    double lost = 0.0;
    for (int m = 0; m < mesh.shells; ++m) {
      lost += mesh.volume_fraction(m) * cut * (layered0 * x[m] + n[m]);
      n[m] *= 1.0 - cut;
    }
    a.stranded_lithium += lost;
  }
  // 2. RSP formation (explicit over the step: df per step ~1e-4), then the Li it takes over
  double df = 0.0;
  if (p.rsp_formation) {
    df = rsp_formation_rate(p, f0, 1.0) * acc.drive;  // rate per unit drive x int drive dt
    df = fmax(fmin(df, 0.1 * (1.0 - f0)), 0.0);
  }
  a.rsp_fraction = f0 + df;
  convert_layered_to_rsp(p, mesh, (1.0 - f0) * (1.0 - psi1), df * (1.0 - psi1), x, n);
  // 3. oxygen release and the SE transition layer it feeds
  const double d_oxygen = p.oxygen_per_rsp * df * (1.0 - psi1) * p.max_concentration;
  a.oxygen_released += d_oxygen;
  a.layer_thickness += layer_growth(p, d_oxygen, radius);
  a.rsp_lithium = particle_rsp_lithium(n, mesh);
}

}  // namespace halite::models
