#include "host/cpu/sparse_reference.hpp"

#include <nvector/nvector_serial.h>
#include <sunlinsol/sunlinsol_klu.h>
#include <sunmatrix/sunmatrix_sparse.h>

#include <map>
#include <stdexcept>

namespace halite {

SunMatrixPtr assemble_cell_matrix(SUNContext context, const models::CellParams& p,
                                  const models::CellLayout& L, const models::CellJacobianRef& J,
                                  double cj) {
  const int n = L.size(), nr = L.shells, nx = L.x_size();
  const int stride = L.particle_jacobian_stride();
  // column -> (row -> value), then CSC
  std::vector<std::map<int, double>> columns(n);
  auto add = [&](int row, int col, double v) {
    if (v != 0.0) columns[col][row] += v;
  };
  for (int i = 0; i < L.nodes; ++i)
    for (int k = 0; k < L.classes; ++k) {
      const int q = L.particle(i, k), off = L.particle_offset(q);
      const double* block = J.particle_blocks + q * stride;
      const double *sub = block, *diag = block + nr, *sup = block + 2 * nr, *last = block + 3 * nr;
      const double* djdx = block + 4 * nr;
      for (int m = 0; m + 1 < nr; ++m) {
        add(off + m, off + m, diag[m] + cj);
        if (m > 0) add(off + m, off + m - 1, sub[m]);
        add(off + m, off + m + 1, sup[m]);
      }
      for (int m = 0; m < nr; ++m) add(off + nr - 1, off + m, last[m] + (m == nr - 1 ? cj : 0.0));
      // RSP Li of each shell: coupled to its own layered shell only (the exchange)
      const int rsp = L.rsp_offset(q);
      for (int m = 0; m < nr; ++m) {
        add(off + m, rsp + m, block[5 * nr + 2 + m]);
        add(rsp + m, off + m, block[6 * nr + 2 + m]);
        add(rsp + m, rsp + m, block[7 * nr + 2 + m] + cj);
      }
      const double b = block[5 * nr] * block[5 * nr + 1];
      add(off + nr - 1, L.phi_s(i), b);
      add(off + nr - 1, L.phi_e(i), -b);
      // x rows on this particle's shells: through j and through the node mean stoichiometry
      const double w = models::reaction_weight(p, L, k);
      for (int m = 0; m < nr; ++m) {
        add(L.phi_e(i), off + m, -w * djdx[m]);
        add(L.phi_s(i), off + m, w * djdx[m]);
        add(L.charge(), off + m, w * djdx[m]);
        const double mean_weight = p.particle_volume_weight[k] * L.radial().volume_fraction(m);
        for (int r = 0; r < nx; ++r)
          add(L.x_offset() + r, off + m, J.x_mean_coupling[r * L.nodes + i] * mean_weight);
      }
    }
  for (int r = 0; r < nx; ++r)
    for (int c = 0; c < nx; ++c) add(L.x_offset() + r, L.x_offset() + c, J.x_block[r * nx + c]);
  add(L.charge(), L.charge(), cj);
  add(L.energy(), L.energy(), cj);

  std::size_t nnz = 0;
  for (const auto& col : columns) nnz += col.size();
  SUNMatrix A = SUNSparseMatrix(n, n, static_cast<sunindextype>(nnz), CSC_MAT, context);
  if (!A) throw std::bad_alloc();
  sunindextype* colptr = SUNSparseMatrix_IndexPointers(A);
  sunindextype* rowind = SUNSparseMatrix_IndexValues(A);
  double* data = SUNSparseMatrix_Data(A);
  sunindextype k = 0;
  for (int c = 0; c < n; ++c) {
    colptr[c] = k;
    for (const auto& [row, v] : columns[c]) {
      rowind[k] = row;
      data[k] = v;
      ++k;
    }
  }
  colptr[n] = k;
  return SunMatrixPtr(A);
}

std::vector<double> sparse_multiply(SUNMatrix A, const std::vector<double>& x) {
  const sunindextype n = SUNSparseMatrix_Columns(A);
  const sunindextype* colptr = SUNSparseMatrix_IndexPointers(A);
  const sunindextype* rowind = SUNSparseMatrix_IndexValues(A);
  const double* data = SUNSparseMatrix_Data(A);
  std::vector<double> y(SUNSparseMatrix_Rows(A), 0.0);
  for (sunindextype c = 0; c < n; ++c)
    for (sunindextype k = colptr[c]; k < colptr[c + 1]; ++k) y[rowind[k]] += data[k] * x[c];
  return y;
}

std::vector<double> klu_solve(SUNContext context, SUNMatrix A, const std::vector<double>& b) {
  const auto n = static_cast<sunindextype>(b.size());
  N_Vector bv = N_VNew_Serial(n, context);
  N_Vector xv = N_VNew_Serial(n, context);
  std::copy(b.begin(), b.end(), N_VGetArrayPointer(bv));
  SunLinearSolverPtr solver(SUNLinSol_KLU(xv, A, context));
  int flag = solver.get() ? SUNLinSolInitialize(solver.get()) : -1;
  if (flag == 0) flag = SUNLinSolSetup(solver.get(), A);
  if (flag == 0) flag = SUNLinSolSolve(solver.get(), A, xv, bv, 0.0);
  std::vector<double> x(N_VGetArrayPointer(xv), N_VGetArrayPointer(xv) + n);
  N_VDestroy(bv);
  N_VDestroy(xv);
  if (flag != 0) throw std::runtime_error("KLU failed with flag " + std::to_string(flag));
  return x;
}

}  // namespace halite
