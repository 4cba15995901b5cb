#!/usr/bin/env python3
"""Table of the one-at-a-time +-20 % sweep (validation/make_oat_sweep.py): for every parameter,
its default, the retention at cycles 2000 and 4000 at 0.8x and 1.2x, and the change against the
default run (reference: `--reference RUN.h5`, a `halite run` of the defaults; otherwise the
changes are left out). Prints markdown; exits 1 if any case failed or did not complete.
Usage: python3 validation/oat_table.py SWEEP.h5 [--reference RUN.h5]
"""
import argparse
import sys

import h5py
import numpy as np


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def retention(q, cycle):
    return 100.0 * q[cycle - 1] / q[0] if len(q) >= cycle and np.isfinite(q[cycle - 1]) else np.nan


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("sweep")
    ap.add_argument("--reference")
    args = ap.parse_args()
    ref = None
    if args.reference:
        with h5py.File(args.reference, "r") as f:
            q = f["cycles"]["Discharge capacity [mA.h.g-1]"][0]
            ref = (retention(q, 2000), retention(q, 4000))
    bad = 0
    with h5py.File(args.sweep, "r") as f:
        status = [text(s) for s in f["cases"]["status"][:]]
        reasons = [text(s) for s in f["cases"]["failure reason"][:]]
        q_all = f["cycles"]["Discharge capacity [mA.h.g-1]"][:]
        keys = [k for k in f["cases"].keys()
                if "." in k or k == "initial_stoichiometry"]
        keys = [k for k in keys if not k.endswith("[SI]")]
        n = len(status)
        print("| parameter | 0.8x value | R2000 / R4000 (%) | 1.2x value | R2000 / R4000 (%) |"
              + (" change at 4000, -20 % / +20 % (pp) |" if ref else ""))
        print("|---|---|---|---|---|" + ("---|" if ref else ""))
        for key in keys:
            vals = [text(v) for v in f["cases"][key][:]]
            # the two cases where this key differs from its most common value
            common = max(set(vals), key=vals.count)
            cases = [i for i in range(n) if vals[i] != common]
            cells = []
            for i in cases:
                if status[i] != "completed":
                    bad += 1
                r = (retention(q_all[i], 2000), retention(q_all[i], 4000))
                cells.append((vals[i], r, status[i], reasons[i]))
            row = f"| `{key}` (default {common}) |"
            for v, r, s, why in cells:
                row += f" {v} | {r[0]:.1f} / {r[1]:.1f}{'' if s == 'completed' else ' ' + s + ': ' + why} |"
            if len(cells) == 1:  # 1.2x capped at the default (a stoichiometry below 1)
                row += " capped at the default | - |"
                if ref:
                    row += f" {cells[0][1][1] - ref[1]:+.1f} / - |"
            if ref and len(cells) == 2:
                row += f" {cells[0][1][1] - ref[1]:+.1f} / {cells[1][1][1] - ref[1]:+.1f} |"
            print(row)
    print(f"\n{n} cases, {n - bad if bad <= n else 0} completed without a solver failure"
          if bad == 0 else f"\n{bad} case(s) failed or did not complete")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
