// Direct solve of one cell's Newton system J dy = b, J = dF/dy + cj dF/dy', exploiting its arrow
// structure: every particle block (tridiagonal plus a dense surface row) couples to the short
// x-system (phi_e, phi_s per node, I, Q, E) only through phi_s - phi_e (one column pair) and
// through two scalars (its reaction current j and its mean stoichiometry). The particle blocks
// are eliminated (Schur complement), the dense x-system (2 N_x + 3 unknowns) is LU-factored,
// and the particles are back-substituted. Cost O(N_x K N_r + N_x^3); no fill-in.
// Host and device share these functions (one thread per cell or per particle).
#pragma once

#include <cmath>

#include "models/cell.hpp"

namespace halite::models {

// Per-particle factor storage: dprime, thomas multipliers, last-row multipliers, w = A^-1 e_last
// (N_r each), then alpha = dj/dx . w, beta = mean-weights . w, b = dF_last/d(phi_s - phi_e),
// then 1/(cj + dF_n/dn) of every shell's RSP row (N_r).
HALITE_HD inline int particle_factor_stride(const CellLayout& L) {
  return 5 * L.shells + 3;
}

// The RSP Li n_m of shell m couples only to x_m (the exchange is local):
//   [ A_x    C  ] [dx]   [b_x]      C = diag(c_m)  (dF_x,m/dn_m)
//   [ E   cj+D  ] [dn] = [b_n]      E = diag(e_m)  (dF_n,m/dx_m),  D = diag(d_m)
// Eliminating dn = (b_n - E dx)/(cj + D) leaves A_x - C E/(cj + D) on the diagonal and
// b_x - C b_n/(cj + D) on the right: the same tridiagonal-plus-surface-row structure.
HALITE_HD inline double rsp_schur_diagonal(int n, const double* block, double inv, int m) {
  return -block[5 * n + 2 + m] * block[6 * n + 2 + m] * inv;
}

// LU of one particle block A = T + cj I (RSP rows eliminated) without pivoting (A is an
// M-matrix plus a rank-one surface row: diagonally dominant for the cj of any BDF step).
// Returns false on a zero pivot.
HALITE_HD inline bool factor_particle(int n, double cj, const double* block, double* factor) {
  const double* sub = block;
  const double* diag = block + n;
  const double* sup = block + 2 * n;
  const double* last = block + 3 * n;
  double* dprime = factor;
  double* thomas = factor + n;
  double* lastmul = factor + 2 * n;
  double* rsp_inverse = factor + 4 * n + 3;
  for (int m = 0; m < n; ++m) rsp_inverse[m] = 1.0 / (cj + block[7 * n + 2 + m]);
  auto shifted = [&](int m) { return cj + rsp_schur_diagonal(n, block, rsp_inverse[m], m); };
  // the surface row is eliminated in a running copy kept in lastmul until its pivots are known
  double running_next = 0.0;
  if (n == 1) {
    dprime[0] = last[0] + shifted(0);
    return dprime[0] != 0.0;
  }
  dprime[0] = diag[0] + shifted(0);
  double running = last[0];
  for (int m = 0; m + 1 < n; ++m) {
    if (dprime[m] == 0.0) return false;
    if (m + 1 <= n - 2) {
      thomas[m + 1] = sub[m + 1] / dprime[m];
      dprime[m + 1] = diag[m + 1] + shifted(m + 1) - thomas[m + 1] * sup[m];
    }
    lastmul[m] = running / dprime[m];
    running_next =
        (m + 1 == n - 1 ? last[m + 1] + shifted(m + 1) : last[m + 1]) - lastmul[m] * sup[m];
    running = running_next;
  }
  dprime[n - 1] = running;
  return dprime[n - 1] != 0.0;
}

// Solve A z = r in place (z may alias r).
HALITE_HD inline void solve_particle(int n, const double* block, const double* factor,
                                     const double* r, double* z) {
  const double* sup = block + 2 * n;
  const double* dprime = factor;
  const double* thomas = factor + n;
  const double* lastmul = factor + 2 * n;
  if (n == 1) {
    z[0] = r[0] / dprime[0];
    return;
  }
  double last_rhs = r[n - 1];
  z[0] = r[0];
  last_rhs -= lastmul[0] * z[0];
  for (int m = 1; m + 1 < n; ++m) {
    z[m] = r[m] - thomas[m] * z[m - 1];
    last_rhs -= lastmul[m] * z[m];
  }
  z[n - 1] = last_rhs / dprime[n - 1];
  for (int m = n - 2; m >= 0; --m) z[m] = (z[m] - sup[m] * z[m + 1]) / dprime[m];
}

// Dense LU with partial pivoting of an n x n row-major matrix. Returns false if singular.
HALITE_HD inline bool dense_lu(int n, double* a, int* pivot) {
  for (int k = 0; k < n; ++k) {
    int p = k;
    double best = fabs(a[k * n + k]);
    for (int i = k + 1; i < n; ++i)
      if (fabs(a[i * n + k]) > best) best = fabs(a[i * n + k]), p = i;
    if (best == 0.0) return false;
    pivot[k] = p;
    if (p != k)
      for (int c = 0; c < n; ++c) {
        const double t = a[k * n + c];
        a[k * n + c] = a[p * n + c];
        a[p * n + c] = t;
      }
    const double inv = 1.0 / a[k * n + k];
    for (int i = k + 1; i < n; ++i) {
      const double f = a[i * n + k] * inv;
      a[i * n + k] = f;
      if (f != 0.0)
        for (int c = k + 1; c < n; ++c) a[i * n + c] -= f * a[k * n + c];
    }
  }
  return true;
}

HALITE_HD inline void dense_lu_solve(int n, const double* lu, const int* pivot, double* b) {
  // dense_lu swaps whole rows (multipliers included), so apply every swap before L.
  for (int k = 0; k < n; ++k) {
    const int p = pivot[k];
    if (p != k) {
      const double t = b[k];
      b[k] = b[p];
      b[p] = t;
    }
  }
  for (int k = 0; k < n; ++k)
    for (int i = k + 1; i < n; ++i) b[i] -= lu[i * n + k] * b[k];
  for (int k = n - 1; k >= 0; --k) {
    double s = b[k];
    for (int c = k + 1; c < n; ++c) s -= lu[k * n + c] * b[c];
    b[k] = s / lu[k * n + k];
  }
}

// Sizes of one cell's Jacobian and factor storage (doubles / ints).
HALITE_HD inline int cell_jacobian_size(const CellLayout& L) {
  return L.particles() * L.particle_jacobian_stride() + L.x_size() * L.x_size() +
         L.x_size() * L.nodes;
}
HALITE_HD inline int cell_factor_size(const CellLayout& L) {
  return L.particles() * particle_factor_stride(L) + L.x_size() * L.x_size();
}

struct CellJacobianRef {
  double* particle_blocks;
  double* x_block;
  double* x_mean_coupling;
};
HALITE_HD inline CellJacobianRef cell_jacobian_ref(const CellLayout& L, double* storage) {
  double* x_block = storage + L.particles() * L.particle_jacobian_stride();
  return {storage, x_block, x_block + L.x_size() * L.x_size()};
}

// Coupling of particle q's shells into the x rows, as the column vector g (length x_size) such
// that C_q v = g_reaction (dj/dx . v) + g_mean (mean-weights . v); this returns
// g_reaction * s_reaction + g_mean * s_mean added into out (scaled by -1 if subtract).
HALITE_HD inline void add_particle_coupling(const CellParams& p, const CellLayout& L,
                                            const CellJacobianRef& J, int node, int cls,
                                            double s_reaction, double s_mean, double* out) {
  const int nx = L.x_size();
  const double w = reaction_weight(p, L, cls) * s_reaction;
  out[L.local_phi_e(node)] -= w;
  out[L.local_phi_s(node)] += w;
  out[L.local_charge()] += w;
  const double m = p.particle_volume_weight[cls] * s_mean;
  if (m != 0.0)
    for (int r = 0; r < nx; ++r) out[r] += J.x_mean_coupling[r * L.nodes + node] * m;
}

// Factor the Newton matrix of one cell for the given cj. scratch: x_size doubles.
HALITE_HD inline bool factor_cell(const CellParams& p, const CellLayout& L, double cj,
                                  const CellJacobianRef& J, double* factors, int* pivots,
                                  double* scratch) {
  const int n = L.shells, nx = L.x_size();
  const RadialMesh mesh = L.radial();
  const int jstride = L.particle_jacobian_stride(), fstride = particle_factor_stride(L);
  double* schur = factors + L.particles() * fstride;
  for (int m = 0; m < nx * nx; ++m) schur[m] = J.x_block[m];
  schur[L.local_charge() * nx + L.local_charge()] += cj;
  schur[L.local_energy() * nx + L.local_energy()] += cj;
  for (int i = 0; i < L.nodes; ++i)
    for (int k = 0; k < L.classes; ++k) {
      const int q = L.particle(i, k);
      const double* block = J.particle_blocks + q * jstride;
      double* f = factors + q * fstride;
      if (!factor_particle(n, cj, block, f)) return false;
      double* w = f + 3 * n;
      for (int m = 0; m < n; ++m) w[m] = 0.0;
      w[n - 1] = 1.0;
      solve_particle(n, block, f, w, w);
      const double* djdx = block + 4 * n;
      double alpha = 0.0, beta = 0.0;
      for (int m = 0; m < n; ++m) {
        alpha += djdx[m] * w[m];
        beta += mesh.volume_fraction(m) * w[m];
      }
      const double b = block[5 * n] * block[5 * n + 1];
      f[4 * n] = alpha;
      f[4 * n + 1] = beta;
      f[4 * n + 2] = b;
      // S -= C_q A_q^-1 B_q, where B_q = b e_last (e_phi_s - e_phi_e)^T
      for (int r = 0; r < nx; ++r) scratch[r] = 0.0;
      add_particle_coupling(p, L, J, i, k, alpha, beta, scratch);
      for (int r = 0; r < nx; ++r) {
        schur[r * nx + L.local_phi_s(i)] -= scratch[r] * b;
        schur[r * nx + L.local_phi_e(i)] += scratch[r] * b;
      }
    }
  return dense_lu(nx, schur, pivots);
}

// Solve J x = b for one cell with the factors from factor_cell (x may alias b).
HALITE_HD inline void solve_cell(const CellParams& p, const CellLayout& L, const CellJacobianRef& J,
                                 const double* factors, const int* pivots, const double* b,
                                 double* x) {
  const int n = L.shells, nx = L.x_size();
  const RadialMesh mesh = L.radial();
  const int jstride = L.particle_jacobian_stride(), fstride = particle_factor_stride(L);
  const double* schur = factors + L.particles() * fstride;
  double* xs = x + L.x_offset();
  for (int r = 0; r < nx; ++r) xs[r] = b[L.x_offset() + r];
  for (int i = 0; i < L.nodes; ++i)
    for (int k = 0; k < L.classes; ++k) {
      const int q = L.particle(i, k);
      const double* block = J.particle_blocks + q * jstride;
      const double* f = factors + q * fstride;
      double* z = x + L.particle_offset(q);
      const double* bx = b + L.particle_offset(q);
      const double* bn = b + L.rsp_offset(q);
      const double* rsp_inverse = f + 4 * n + 3;
      // right-hand side with the RSP rows eliminated (b_n stays in place for the back-solve)
      for (int m = 0; m < n; ++m) z[m] = bx[m] - block[5 * n + 2 + m] * rsp_inverse[m] * bn[m];
      solve_particle(n, block, f, z, z);
      const double* djdx = block + 4 * n;
      double sj = 0.0, sm = 0.0;
      for (int m = 0; m < n; ++m) {
        sj += djdx[m] * z[m];
        sm += mesh.volume_fraction(m) * z[m];
      }
      // rhs_x -= C_q z
      add_particle_coupling(p, L, J, i, k, -sj, -sm, xs);
    }
  dense_lu_solve(nx, schur, pivots, xs);
  for (int i = 0; i < L.nodes; ++i) {
    const double dphi = xs[L.local_phi_s(i)] - xs[L.local_phi_e(i)];
    for (int k = 0; k < L.classes; ++k) {
      const int q = L.particle(i, k);
      const double* f = factors + q * fstride;
      const double* w = f + 3 * n;
      const double scale = f[4 * n + 2] * dphi;
      double* z = x + L.particle_offset(q);
      for (int m = 0; m < n; ++m) z[m] -= w[m] * scale;
      // back-substitute the RSP Li: dn = (b_n - E dx)/(cj + D)
      const double* block = J.particle_blocks + q * jstride;
      const double* rsp_inverse = f + 4 * n + 3;
      const double* bn = b + L.rsp_offset(q);
      double* dn = x + L.rsp_offset(q);
      for (int m = 0; m < n; ++m) dn[m] = (bn[m] - block[6 * n + 2 + m] * z[m]) * rsp_inverse[m];
    }
  }
}

// out = (dF/dy + cj dF/dy') y for one cell, from the same blocks that factor_cell and solve_cell
// use (RSP rows included, not eliminated): the residual b - J x of a solve, for one step of
// iterative refinement. The Schur elimination at a small cj (a long BDF step: the particle
// blocks then nearly singular in their mean mode) loses digits in the x-system rows; one
// refinement step restores a componentwise backward error near machine precision.
HALITE_HD inline void multiply_cell(const CellParams& p, const CellLayout& L,
                                    const CellJacobianRef& J, double cj, const double* y,
                                    double* out) {
  const int n = L.shells, nx = L.x_size();
  const RadialMesh mesh = L.radial();
  const int jstride = L.particle_jacobian_stride();
  const double* ys = y + L.x_offset();
  double* os = out + L.x_offset();
  for (int r = 0; r < nx; ++r) {
    double sum = 0.0;
    for (int c = 0; c < nx; ++c) sum += J.x_block[r * nx + c] * ys[c];
    os[r] = sum;
  }
  os[L.local_charge()] += cj * ys[L.local_charge()];
  os[L.local_energy()] += cj * ys[L.local_energy()];
  for (int i = 0; i < L.nodes; ++i)
    for (int k = 0; k < L.classes; ++k) {
      const int q = L.particle(i, k);
      const double* block = J.particle_blocks + q * jstride;
      const double *sub = block, *diag = block + n, *sup = block + 2 * n, *last = block + 3 * n;
      const double* djdx = block + 4 * n;
      const double *to_rsp = block + 5 * n + 2, *from_layered = block + 6 * n + 2,
                   *rsp_diag = block + 7 * n + 2;
      const double* z = y + L.particle_offset(q);
      const double* dn = y + L.rsp_offset(q);
      double* oz = out + L.particle_offset(q);
      double* on = out + L.rsp_offset(q);
      for (int m = 0; m + 1 < n; ++m)
        oz[m] = (m > 0 ? sub[m] * z[m - 1] : 0.0) + (diag[m] + cj) * z[m] + sup[m] * z[m + 1] +
                to_rsp[m] * dn[m];
      double surface =
          cj * z[n - 1] + to_rsp[n - 1] * dn[n - 1] +
          block[5 * n] * block[5 * n + 1] * (ys[L.local_phi_s(i)] - ys[L.local_phi_e(i)]);
      double sj = 0.0, sm = 0.0;
      for (int m = 0; m < n; ++m) {
        surface += last[m] * z[m];
        on[m] = from_layered[m] * z[m] + (rsp_diag[m] + cj) * dn[m];
        sj += djdx[m] * z[m];
        sm += mesh.volume_fraction(m) * z[m];
      }
      oz[n - 1] = surface;
      add_particle_coupling(p, L, J, i, k, sj, sm, os);
    }
}

// x = J^-1 b for one cell with one step of iterative refinement, x += J^-1 (b - J x) (the
// product from multiply_cell at the factored cj): the one solve the host and the device
// backends use. x may alias b; `work` holds 2 L.size() doubles.
HALITE_HD inline void solve_cell_refined(const CellParams& p, const CellLayout& L,
                                         const CellJacobianRef& J, double cj, const double* factors,
                                         const int* pivots, const double* b, double* x,
                                         double* work) {
  const int n = L.size();
  const double* rhs = b;
  if (x == b) {  // x aliases b: keep b for the residual
    for (int i = 0; i < n; ++i) work[n + i] = b[i];
    rhs = work + n;
  }
  double* residual = work;
  solve_cell(p, L, J, factors, pivots, rhs, x);
  multiply_cell(p, L, J, cj, x, residual);
  for (int i = 0; i < n; ++i) residual[i] = rhs[i] - residual[i];
  solve_cell(p, L, J, factors, pivots, residual, residual);
  for (int i = 0; i < n; ++i) x[i] += residual[i];
}

}  // namespace halite::models
