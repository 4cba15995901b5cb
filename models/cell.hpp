// The P2D residual of one solid-state cell, F(t, y, y') = 0, and its exact Jacobian in the
// structured ("arrow") form that the Schur-complement solver uses. Host and device share it.
//
// Unknowns of one cell (see CellLayout): for every cathode node i and particle class k, the Li
// stoichiometry x of the layered phase in each of N_r radial shells; then, for every particle,
// the Li n held by its rock-salt phase in each shell (per particle site); then per node the SE
// potential phi_e and the
// solid potential phi_s; then the applied current density I (A/m^2, positive on discharge),
// the charge Q (C/m^2) passed through the NMC | SE interface since the step started, and the
// energy E (J/m^2) delivered at the terminals since the step started.
// Potentials are measured against the Li-In anode's current collector (phi = 0 there).
#pragma once

#include "models/aging.hpp"
#include "models/constants.hpp"
#include "models/dual.hpp"
#include "models/kinetics.hpp"
#include "models/ocp.hpp"
#include "models/params.hpp"
#include "models/particle_geometry.hpp"
#include "models/stress.hpp"
#include "models/transport.hpp"

namespace halite::models {

struct CellLayout {
  int nodes = 8;               // cathode finite volumes in x
  int classes = 3;             // particle-size classes per node
  int shells = 10;             // radial finite volumes per particle
  double shell_stretch = 0.0;  // kappa of the graded radial mesh (RadialMesh); 0 = uniform

  HALITE_HD RadialMesh radial() const { return {shells, shell_stretch}; }
  HALITE_HD int particles() const { return nodes * classes; }
  HALITE_HD int particle(int node, int cls) const { return node * classes + cls; }
  HALITE_HD int particle_offset(int p) const { return p * shells; }
  // RSP Li of particle p's shells: after every particle's layered shells
  HALITE_HD int rsp_offset(int p) const { return (particles() + p) * shells; }
  HALITE_HD int x_offset() const { return 2 * particles() * shells; }
  // x-system local indices (0-based within the x block)
  HALITE_HD int local_phi_e(int i) const { return 2 * i; }
  HALITE_HD int local_phi_s(int i) const { return 2 * i + 1; }
  HALITE_HD int local_current() const { return 2 * nodes; }
  HALITE_HD int local_charge() const { return 2 * nodes + 1; }
  HALITE_HD int local_energy() const { return 2 * nodes + 2; }
  HALITE_HD int x_size() const { return 2 * nodes + 3; }
  // global indices within the cell
  HALITE_HD int phi_e(int i) const { return x_offset() + local_phi_e(i); }
  HALITE_HD int phi_s(int i) const { return x_offset() + local_phi_s(i); }
  HALITE_HD int current() const { return x_offset() + local_current(); }
  HALITE_HD int charge() const { return x_offset() + local_charge(); }
  HALITE_HD int energy() const { return x_offset() + local_energy(); }
  HALITE_HD int size() const { return x_offset() + x_size(); }
  // Jacobian storage of one particle block: sub, diag, sup, last row, dj/dx (N_r each), then
  // dF_last/dj and dj/d(phi_s - phi_e), then the RSP exchange per shell (N_r each): dF_x/dn
  // (layered row on the shell's RSP Li), dF_n/dx and dF_n/dn (RSP row, without cj).
  HALITE_HD int particle_jacobian_stride() const { return 8 * shells + 2; }
};

// How the cell is driven during a protocol step.
enum class ControlMode : int { kCurrent = 0, kVoltage = 1 };
struct CellControl {
  ControlMode mode = ControlMode::kCurrent;
  double current_density = 0.0;  // A/m^2, positive = discharge (kCurrent)
  double cell_voltage = 0.0;     // V vs the Li-In anode (kVoltage)
};

// ---------------------------------------------------------------------------------------------
// Geometry of the radial finite volumes (RadialMesh, graded toward the surface). Volumes and
// areas are relative to the particle (4 pi cancels): V_m = (r_{m+1/2}^3 - r_{m-1/2}^3)/3,
// A = r^2.

// Area of the outer face of shell m divided by the volume of shell `owner` (1/m).
HALITE_HD inline double face_area_over_volume(int face_outer_of, int owner, const RadialMesh& mesh,
                                              double radius) {
  const double rf = mesh.face(face_outer_of + 1);
  return 3.0 * rf * rf / (mesh.volume_fraction(owner) * radius);
}

// Interfacial area of class k per composite volume (1/m): 3 eps_AM w_k f_contact / R_k.
HALITE_HD inline double specific_contact_area(const CellParams& p, int cls) {
  return 3.0 * p.active_volume_fraction * p.particle_volume_weight[cls] * p.contact_fraction /
         p.particle_radius[cls];
}
// Weight of a class's reaction current in the x-system rows: a_k * dx (m^0: A/m^2 per A/m^2).
// Sign convention in the rows: electrolyte row -w j, solid row +w j, charge row +w j.
HALITE_HD inline double reaction_weight(const CellParams& p, const CellLayout& L, int cls) {
  return specific_contact_area(p, cls) * p.cathode_thickness / L.nodes;
}
// dF(last shell)/dj: Li flux through the surface per unit reaction current, scaled to the shell.
HALITE_HD inline double surface_flux_coefficient(const CellParams& p, const CellLayout& L,
                                                 int cls) {
  return face_area_over_volume(L.shells - 1, L.shells - 1, L.radial(), p.particle_radius[cls]) *
         p.contact_fraction / (kFaraday * p.max_concentration);
}

// Butler-Volmer with a resistive film in series: j = BV(i0, eta0 - j R). Solved for the true
// overpotential eta (eta + R BV(eta) = eta0 is monotone in eta, the root lies between 0 and
// eta0); derivatives by the implicit-function theorem, so Dual inputs get exact derivatives.
HALITE_HD inline double film_overpotential(double i0, double eta0, double film, double alpha,
                                           double vt) {
  double lo = eta0 < 0.0 ? eta0 : 0.0, hi = eta0 < 0.0 ? 0.0 : eta0;
  // start from the linearised solution (exact for small eta), then safeguarded Newton
  double eta = eta0 / (1.0 + film * i0 / vt);
  for (int it = 0; it < 60; ++it) {
    const double ea = ::exp(alpha * eta / vt);
    const double ec = alpha == 0.5 ? 1.0 / ea : ::exp(-(1.0 - alpha) * eta / vt);
    const double g = eta + film * i0 * (ea - ec) - eta0;
    if (g > 0.0)
      hi = eta;
    else
      lo = eta;
    const double dg = 1.0 + film * i0 * (alpha * ea + (1.0 - alpha) * ec) / vt;
    double next = eta - g / dg;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    // Newton converges quadratically: stop when the step is at round-off of eta0
    if (::fabs(next - eta) <= 1e-13 * (::fabs(eta0) + vt)) return next;
    eta = next;
  }
  return eta;
}
template <class T>
HALITE_HD T butler_volmer_with_film(const T& i0, const T& eta0, double film, double alpha,
                                    double vt) {
  if (film == 0.0) return butler_volmer(i0, eta0, alpha, vt);
  const double eta = film_overpotential(value(i0), value(eta0), film, alpha, vt);
  if constexpr (sizeof(T) == sizeof(double)) {
    return T(value(i0) * (::exp(alpha * eta / vt) - ::exp(-(1.0 - alpha) * eta / vt)));
  } else {
    // j = BV(i0, eta); eta0 = eta + R j  =>  dj = (dBV/di0 di0 + dBV/deta deta0)/(1 + R dBV/deta)
    const double ea = ::exp(alpha * eta / vt), ec = ::exp(-(1.0 - alpha) * eta / vt);
    const double j = value(i0) * (ea - ec);
    const double dj_deta = value(i0) * (alpha * ea + (1.0 - alpha) * ec) / vt;
    const double denom = 1.0 + film * dj_deta;
    T r(j);
    for (int k = 0; k < int(sizeof(r.d) / sizeof(double)); ++k)
      r.d[k] = ((ea - ec) * i0.d[k] + dj_deta * eta0.d[k]) / denom;
    return r;
  }
}

// Reaction current density (A/m^2 of contact, positive = delithiation) at a particle surface:
// eta0 = phi_s - phi_e - U(x_s) - Omega sigma_h,s / F (stress-shifted equilibrium potential),
// j = BV(i0(x_s), eta0 - j R_film).
template <class T>
HALITE_HD T particle_reaction_current(const CellParams& p, const T& x_surface,
                                      const T& sigma_h_surface, const T& phi_s_minus_phi_e,
                                      double film_resistance = 0.0) {
  const T equilibrium =
      ocp_nmc(p, x_surface) + (p.partial_molar_volume / kFaraday) * sigma_h_surface;
  return butler_volmer_with_film(nmc_exchange_current(p, x_surface),
                                 phi_s_minus_phi_e - equilibrium, film_resistance,
                                 p.transfer_coefficient, p.thermal_voltage());
}

// Li-In plateau under the stack pressure (V vs Li+/Li at ambient pressure): hydrostatic
// compression raises the chemical potential of Li in the alloy by Omega_a P_h, lowering the
// In/InLi potential (docs/model.md, "Stack pressure").
HALITE_HD inline double anode_equilibrium_potential(const CellParams& p) {
  return p.anode_ocp - p.anode_partial_molar_volume * p.hydrostatic_stack_pressure() / kFaraday;
}

// Li-In side: SE potential at the separator | cathode interface for current density I.
template <class T>
HALITE_HD T separator_interface_potential(const CellParams& p, const T& current_density) {
  return -anode_equilibrium_potential(p) - anode_overpotential(p, current_density) -
         current_density * (p.separator_thickness / p.electrolyte_conductivity);
}

// Terminal voltage vs the Li-In anode: the solid potential extrapolated to the current collector.
template <class T>
HALITE_HD T terminal_voltage(const CellParams& p, const CellLayout& L, const T& phi_s_last,
                             const T& current_density, const T& x_mean_last) {
  const double half_dx = 0.5 * p.cathode_thickness / L.nodes;
  return phi_s_last - current_density * half_dx / effective_electronic_conductivity(p, x_mean_last);
}

// ---------------------------------------------------------------------------------------------
// Radial transport rows of one particle: x'_m + (A_out N_out - A_in N_in)/V_m over the interior
// faces (the surface flux is added by the caller). res (if not null) receives N_r rows; jac (if
// not null) the tridiagonal part of dF/dx (sub, diag, sup; the last row goes to `last`).
// The flux through face m+1/2 uses the distance between the nodal points of shells m and m+1.
HALITE_HD inline void particle_transport_rows(const CellParams& p, const RadialMesh& mesh,
                                              double radius, const double* x, const double* xdot,
                                              double x_mean, double* res, double* jac,
                                              double transport_scale = 1.0) {
  const int n = mesh.shells;
  double *sub = nullptr, *diag = nullptr, *sup = nullptr, *last = nullptr;
  if (jac) {
    sub = jac;
    diag = jac + n;
    sup = jac + 2 * n;
    last = jac + 3 * n;
  }
  if (res)
    for (int m = 0; m < n; ++m) res[m] = xdot[m];
  // running geometry: faces m, m+1, m+2 (radius units) and the volume of shell m
  double f_lo = 0.0, f_mid = mesh.face(1);
  double vol_m = f_mid * f_mid * f_mid;
  for (int m = 0; m + 1 < n; ++m) {
    const double f_hi = mesh.face(m + 2);
    const double vol_next = f_hi * f_hi * f_hi - f_mid * f_mid * f_mid;
    const double dr = 0.5 * (f_hi - f_lo) * radius;  // centre(m+1) - centre(m)
    // transport_scale = D_eff/D / a_L: percolation of the layered network over its volume
    const double area = 3.0 * f_mid * f_mid / radius;
    const double g_out = transport_scale * area / vol_m;
    const double g_in = transport_scale * area / vol_next;
    if (!jac) {
      const double d = solid_diffusivity(p, 0.5 * (x[m] + x[m + 1]));
      const double flux =
          stress_coupled_flux(p, d, x[m], x[m + 1], hydrostatic_stress(p, x_mean, x[m]),
                              hydrostatic_stress(p, x_mean, x[m + 1]), dr);
      res[m] += g_out * flux;
      res[m + 1] -= g_in * flux;
    } else {
      using D2 = Dual<2>;
      const D2 xa = D2::variable(x[m], 0), xb = D2::variable(x[m + 1], 1);
      // x_mean enters sigma_h at both points and cancels in the difference: exact to hold fixed.
      const D2 d = solid_diffusivity(p, 0.5 * (xa + xb));
      const D2 flux = stress_coupled_flux(p, d, xa, xb, hydrostatic_stress(p, x_mean, xa),
                                          hydrostatic_stress(p, x_mean, xb), dr);
      if (res) {
        res[m] += g_out * flux.v;
        res[m + 1] -= g_in * flux.v;
      }
      diag[m] += g_out * flux.d[0];
      sup[m] += g_out * flux.d[1];
      if (m + 1 == n - 1) {
        last[m] -= g_in * flux.d[0];
        last[m + 1] -= g_in * flux.d[1];
      } else {
        sub[m + 1] -= g_in * flux.d[0];
        diag[m + 1] -= g_in * flux.d[1];
      }
    }
    f_lo = f_mid;
    f_mid = f_hi;
    vol_m = vol_next;
  }
}

// ---------------------------------------------------------------------------------------------
// Particle pass: residual rows of one particle, its reaction current and mean stoichiometry.
// x, xdot point at the particle's layered shells, n, ndot at its RSP Li (CellLayout::rsp_offset);
// res / res_rsp (if not null) receive N_r rows each. If jac is not null, the exact Jacobian block
// (without the cj terms) is written in the layout of CellLayout::particle_jacobian_stride().
// Rows:  layered  x'_m + transport/a_L + surface flux/a_L - r_m / a_L = 0
//        RSP      n'_m + r_m = 0            (r_m: rsp_exchange_rate, RSP -> layered)
// so a_L x'_m + n'_m changes only by transport: the exchange conserves Li exactly.
HALITE_HD inline void particle_pass(const CellParams& p, const CellLayout& L, int cls,
                                    const ParticleCoefficients& pc, const double* x,
                                    const double* xdot, const double* n_rsp, const double* ndot_rsp,
                                    double phi_s_minus_phi_e, double* res, double* res_rsp,
                                    double* reaction_current, double* mean_x, double* jac) {
  const int n = L.shells;
  const RadialMesh mesh = L.radial();
  const double x_mean = particle_mean_stoichiometry(x, mesh);
  double* last = nullptr;
  double* djdx = nullptr;
  if (jac) {
    last = jac + 3 * n;
    djdx = jac + 4 * n;
    for (int m = 0; m < 8 * n + 2; ++m) jac[m] = 0.0;
  }
  particle_transport_rows(p, mesh, p.particle_radius[cls], x, xdot, x_mean, res, jac,
                          pc.transport_factor / pc.layered_fraction);

  // Surface: Butler-Volmer reaction current drives the Li flux out of the outer shell; the
  // layered phase holds a_L of the particle volume, so the same flux moves x by 1/a_L as much.
  const double surface_coef = surface_flux_coefficient(p, L, cls) / pc.layered_fraction;
  const int inner = n >= 2 ? n - 2 : n - 1;
  // sigma_h at the surface: diffusion-induced + layered-phase misfit + stack pressure
  double j;
  if (!jac) {
    const double xs = surface_stoichiometry(x[inner], x[n - 1], mesh);
    j = particle_reaction_current(p, xs, hydrostatic_stress(p, x_mean, xs) + pc.misfit_stress,
                                  phi_s_minus_phi_e, pc.film_resistance);
  } else {
    using D4 = Dual<4>;  // seeds: x[n-2], x[n-1], x_mean, phi_s - phi_e
    const D4 xi = D4::variable(x[inner], 0), xo = D4::variable(x[n - 1], 1);
    const D4 xm = D4::variable(x_mean, 2), dphi = D4::variable(phi_s_minus_phi_e, 3);
    const D4 xs = surface_stoichiometry(xi, xo, mesh);
    const D4 jd = particle_reaction_current(p, xs, hydrostatic_stress(p, xm, xs) + pc.misfit_stress,
                                            dphi, pc.film_resistance);
    j = jd.v;
    for (int m = 0; m < n; ++m) djdx[m] = jd.d[2] * mesh.volume_fraction(m);
    if (n >= 2) djdx[n - 2] += jd.d[0];
    djdx[n - 1] += jd.d[1];
    for (int m = 0; m < n; ++m) last[m] += surface_coef * djdx[m];
    jac[5 * n] = surface_coef;
    jac[5 * n + 1] = jd.d[3];
  }
  if (res) res[n - 1] += surface_coef * j;

  // RSP <-> layered exchange, shell by shell (models/aging.hpp).
  if (res_rsp)
    for (int m = 0; m < n; ++m) res_rsp[m] = ndot_rsp[m];
  if (pc.exchange_rate > 0.0) {
    const double to_layered = 1.0 / pc.layered_fraction;
    for (int m = 0; m < n; ++m) {
      if (!jac) {
        const double r = rsp_exchange_rate(p, pc, x[m], n_rsp[m]);
        res[m] -= to_layered * r;
        if (res_rsp) res_rsp[m] += r;
      } else {
        using D2 = Dual<2>;  // seeds: x_m, n_m
        const D2 r = rsp_exchange_rate(p, pc, D2::variable(x[m], 0), D2::variable(n_rsp[m], 1));
        if (res) res[m] -= to_layered * r.v;
        if (res_rsp) res_rsp[m] += r.v;
        if (m == n - 1)
          last[m] -= to_layered * r.d[0];
        else
          jac[n + m] -= to_layered * r.d[0];  // diag
        jac[5 * n + 2 + m] = -to_layered * r.d[1];
        jac[6 * n + 2 + m] = r.d[0];
        jac[7 * n + 2 + m] = r.d[1];
      }
    }
  }
  *reaction_current = j;
  *mean_x = x_mean;
}

// ---------------------------------------------------------------------------------------------
// x-system rows of node i: SE charge conservation (row phi_e) and electronic charge conservation
// (row phi_s), without the reaction term (added by the caller with reaction_weight()).
// Templated so the same code gives values (T = double) and derivatives (T = Dual).
template <class T>
HALITE_HD void node_rows(const CellParams& p, const CellLayout& L, int i, const T* phi_e,
                         const T* phi_s, const T* x_mean, const T& current, T* res_e, T* res_s) {
  const int n = L.nodes;
  const double dx = p.cathode_thickness / n;
  const double kappa = effective_ionic_conductivity(p);
  // phi_e[-1..1], phi_s[-1..1], x_mean[-1..1] are the values at nodes i-1, i, i+1.
  T ie_left, ie_right, is_left, is_right;
  if (i == 0) {
    ie_left = -kappa * (phi_e[1] - separator_interface_potential(p, current)) * (2.0 / dx);
    is_left = T(0.0);
  } else {
    ie_left = -kappa * (phi_e[1] - phi_e[0]) * (1.0 / dx);
    const T sigma = face_conductivity(effective_electronic_conductivity(p, x_mean[0]),
                                      effective_electronic_conductivity(p, x_mean[1]));
    is_left = -sigma * (phi_s[1] - phi_s[0]) * (1.0 / dx);
  }
  if (i == n - 1) {
    ie_right = T(0.0);
    is_right = current;
  } else {
    ie_right = -kappa * (phi_e[2] - phi_e[1]) * (1.0 / dx);
    const T sigma = face_conductivity(effective_electronic_conductivity(p, x_mean[1]),
                                      effective_electronic_conductivity(p, x_mean[2]));
    is_right = -sigma * (phi_s[2] - phi_s[1]) * (1.0 / dx);
  }
  *res_e = ie_right - ie_left;
  *res_s = is_right - is_left;
}

// Control row (the current unknown): I = I_set, or terminal voltage = V_set.
template <class T>
HALITE_HD T control_row(const CellParams& p, const CellLayout& L, const CellControl& control,
                        const T& phi_s_last, const T& current, const T& x_mean_last) {
  if (control.mode == ControlMode::kVoltage)
    return terminal_voltage(p, L, phi_s_last, current, x_mean_last) - control.cell_voltage;
  return current - control.current_density;
}

// Node mean stoichiometry: volume-weighted over the classes of node i.
HALITE_HD inline double node_mean_stoichiometry(const CellParams& p, const CellLayout& L, int i,
                                                const double* particle_mean) {
  double s = 0.0;
  for (int k = 0; k < L.classes; ++k)
    s += p.particle_volume_weight[k] * particle_mean[L.particle(i, k)];
  return s;
}

// Scratch needed by cell_residual / cell_jacobian: 2 * particles + nodes doubles.
HALITE_HD inline int cell_scratch_size(const CellLayout& L) {
  return 2 * L.particles() + L.nodes;
}

// The whole residual of one cell.
// coeffs: one ParticleCoefficients per particle (index CellLayout::particle), or null = fresh.
HALITE_HD inline void cell_residual(const CellParams& p, const CellLayout& L,
                                    const CellControl& control, const double* y, const double* ydot,
                                    double* res, double* scratch,
                                    const ParticleCoefficients* coeffs = nullptr) {
  const ParticleCoefficients fresh;
  double* j = scratch;
  double* mean = scratch + L.particles();
  double* node_mean = scratch + 2 * L.particles();
  for (int i = 0; i < L.nodes; ++i) {
    const double dphi = y[L.phi_s(i)] - y[L.phi_e(i)];
    for (int k = 0; k < L.classes; ++k) {
      const int q = L.particle(i, k);
      const int off = L.particle_offset(q);
      const int rsp = L.rsp_offset(q);
      particle_pass(p, L, k, coeffs ? coeffs[q] : fresh, y + off, ydot + off, y + rsp, ydot + rsp,
                    dphi, res + off, res + rsp, &j[q], &mean[q], nullptr);
    }
  }
  for (int i = 0; i < L.nodes; ++i) node_mean[i] = node_mean_stoichiometry(p, L, i, mean);

  const double current = y[L.current()];
  double reaction_total = 0.0;  // sum of w_k j over the electrode (A/m^2)
  for (int i = 0; i < L.nodes; ++i) {
    const int lo = i > 0 ? i - 1 : i, hi = i + 1 < L.nodes ? i + 1 : i;
    const double pe[3] = {y[L.phi_e(lo)], y[L.phi_e(i)], y[L.phi_e(hi)]};
    const double ps[3] = {y[L.phi_s(lo)], y[L.phi_s(i)], y[L.phi_s(hi)]};
    const double xm[3] = {node_mean[lo], node_mean[i], node_mean[hi]};
    double re, rs;
    node_rows(p, L, i, pe, ps, xm, current, &re, &rs);
    double reaction = 0.0;
    for (int k = 0; k < L.classes; ++k) reaction += reaction_weight(p, L, k) * j[L.particle(i, k)];
    res[L.phi_e(i)] = re - reaction;
    res[L.phi_s(i)] = rs + reaction;
    reaction_total += reaction;
  }
  const double phi_s_last = y[L.phi_s(L.nodes - 1)];
  const double x_last = node_mean[L.nodes - 1];
  res[L.current()] = control_row(p, L, control, phi_s_last, current, x_last);
  res[L.charge()] = ydot[L.charge()] + reaction_total;
  res[L.energy()] =
      ydot[L.energy()] - current * terminal_voltage(p, L, phi_s_last, current, x_last);
}

// Structured Jacobian of one cell, dF/dy (the cj dF/dy' part is the identity on the particle
// shells, Q and E, and is added by the solver):
//   particle blocks  : see particle_pass (tridiagonal + dense last row, coupling to phi_s - phi_e)
//   x_block          : dense x_size^2, row-major, dF_x/dx including the phi-dependence of j
//   x_mean_coupling  : x_size * nodes, row-major, dF_x/d(node mean stoichiometry)
// The x rows depend on particle shells only through j (weights reaction_weight) and through the
// node mean stoichiometry (weights w_k * shell_volume_fraction).
HALITE_HD inline void cell_jacobian(const CellParams& p, const CellLayout& L,
                                    const CellControl& control, const double* y,
                                    double* particle_blocks, double* x_block,
                                    double* x_mean_coupling, double* scratch,
                                    const ParticleCoefficients* coeffs = nullptr) {
  const ParticleCoefficients fresh;
  const int nx = L.x_size();
  const int stride = L.particle_jacobian_stride();
  double* j = scratch;
  double* mean = scratch + L.particles();
  double* node_mean = scratch + 2 * L.particles();
  for (int m = 0; m < nx * nx; ++m) x_block[m] = 0.0;
  for (int m = 0; m < nx * L.nodes; ++m) x_mean_coupling[m] = 0.0;
  for (int i = 0; i < L.nodes; ++i) {
    const double dphi = y[L.phi_s(i)] - y[L.phi_e(i)];
    for (int k = 0; k < L.classes; ++k) {
      const int q = L.particle(i, k);
      const int off = L.particle_offset(q);
      double* block = particle_blocks + q * stride;
      particle_pass(p, L, k, coeffs ? coeffs[q] : fresh, y + off, nullptr, y + L.rsp_offset(q),
                    nullptr, dphi, nullptr, nullptr, &j[q], &mean[q], block);
      const double djdphi = block[5 * L.shells + 1];
      const int rows[3] = {L.local_phi_e(i), L.local_phi_s(i), L.local_charge()};
      for (const int row : rows) {
        const double sign = row == L.local_phi_e(i) ? -1.0 : 1.0;
        const double c = sign * reaction_weight(p, L, k) * djdphi;
        x_block[row * nx + L.local_phi_s(i)] += c;
        x_block[row * nx + L.local_phi_e(i)] -= c;
      }
    }
  }
  for (int i = 0; i < L.nodes; ++i) node_mean[i] = node_mean_stoichiometry(p, L, i, mean);

  using D10 = Dual<10>;  // seeds: phi_e[i-1..i+1], phi_s[i-1..i+1], mean[i-1..i+1], I
  const double current = y[L.current()];
  for (int i = 0; i < L.nodes; ++i) {
    const int nb[3] = {i > 0 ? i - 1 : i, i, i + 1 < L.nodes ? i + 1 : i};
    D10 pe[3], ps[3], xm[3];
    for (int s = 0; s < 3; ++s) {
      pe[s] = D10::variable(y[L.phi_e(nb[s])], s);
      ps[s] = D10::variable(y[L.phi_s(nb[s])], 3 + s);
      xm[s] = D10::variable(node_mean[nb[s]], 6 + s);
    }
    const D10 cur = D10::variable(current, 9);
    D10 re, rs;
    node_rows(p, L, i, pe, ps, xm, cur, &re, &rs);
    const int rows[2] = {L.local_phi_e(i), L.local_phi_s(i)};
    const D10* vals[2] = {&re, &rs};
    for (int r = 0; r < 2; ++r) {
      double* row = x_block + rows[r] * nx;
      double* coupling = x_mean_coupling + rows[r] * L.nodes;
      for (int s = 0; s < 3; ++s) {
        row[L.local_phi_e(nb[s])] += vals[r]->d[s];
        row[L.local_phi_s(nb[s])] += vals[r]->d[3 + s];
        coupling[nb[s]] += vals[r]->d[6 + s];
      }
      row[L.local_current()] += vals[r]->d[9];
    }
  }
  // Control and energy rows depend on phi_s(last), I and the last node's mean stoichiometry.
  using D3 = Dual<3>;
  const int last = L.nodes - 1;
  const D3 ps = D3::variable(y[L.phi_s(last)], 0), cur = D3::variable(current, 1),
           xm = D3::variable(node_mean[last], 2);
  const D3 ctrl = control_row(p, L, control, ps, cur, xm);
  const D3 power = -1.0 * cur * terminal_voltage(p, L, ps, cur, xm);
  const int rows[2] = {L.local_current(), L.local_energy()};
  const D3* vals[2] = {&ctrl, &power};
  for (int r = 0; r < 2; ++r) {
    x_block[rows[r] * nx + L.local_phi_s(last)] += vals[r]->d[0];
    x_block[rows[r] * nx + L.local_current()] += vals[r]->d[1];
    x_mean_coupling[rows[r] * L.nodes + last] += vals[r]->d[2];
  }
  (void)j;
}

// Terminal voltage vs the Li-In anode of a whole cell state y (the protocol's cut-offs and the
// recorded curves use it): the solid potential at the last node, extrapolated to the current
// collector with the conductivity at that node's volume-weighted mean stoichiometry.
HALITE_HD inline double cell_terminal_voltage(const CellParams& p, const CellLayout& L,
                                              const double* y) {
  const int last = L.nodes - 1;
  double node_mean = 0.0;
  for (int k = 0; k < L.classes; ++k)
    node_mean +=
        p.particle_volume_weight[k] *
        particle_mean_stoichiometry(y + L.particle_offset(L.particle(last, k)), L.radial());
  return terminal_voltage(p, L, y[L.phi_s(last)], y[L.current()], node_mean);
}

// Lithium in the layered phase of the cathode particles per electrode area (mol/m^2).
HALITE_HD inline double cathode_lithium(const CellParams& p, const CellLayout& L, const double* y,
                                        const ParticleCoefficients* coeffs = nullptr) {
  const double dx = p.cathode_thickness / L.nodes;
  double total = 0.0;
  for (int i = 0; i < L.nodes; ++i)
    for (int k = 0; k < L.classes; ++k) {
      const int q = L.particle(i, k);
      const double layered = coeffs ? coeffs[q].layered_fraction : 1.0;
      total += p.active_volume_fraction * p.particle_volume_weight[k] * dx * layered *
               particle_mean_stoichiometry(y + L.particle_offset(q), L.radial());
    }
  return total * p.max_concentration;
}

// Lithium held by the rock-salt phase of the cathode particles per electrode area (mol/m^2).
HALITE_HD inline double cathode_rsp_lithium(const CellParams& p, const CellLayout& L,
                                            const double* y) {
  const double dx = p.cathode_thickness / L.nodes;
  double total = 0.0;
  for (int i = 0; i < L.nodes; ++i)
    for (int k = 0; k < L.classes; ++k)
      total += p.active_volume_fraction * p.particle_volume_weight[k] * dx *
               particle_rsp_lithium(y + L.rsp_offset(L.particle(i, k)), L.radial());
  return total * p.max_concentration;
}

}  // namespace halite::models
