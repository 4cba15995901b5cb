#!/usr/bin/env python3
"""Markdown table of configs/sweep_pressure.yaml's result: per stack pressure and cracking
switch, retention at cycles 2000 and 4000, longest crack, mean RSP fraction, the RSP's share of
the cycle-4000 discharge, and the layered phase's largest hydrostatic stress.
Usage: python3 validation/pressure_table.py SWEEP.h5
"""
import sys

import h5py
import numpy as np


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def main():
    with h5py.File(sys.argv[1], "r") as f:
        cases, cyc = f["cases"], f["cycles"]
        pressure = cases["cell.mechanics.stack_pressure [SI]"][:] / 1e6
        cracking = [text(v) for v in cases["aging.submodels.cracking"][:]]
        status = [text(v) for v in cases["status"][:]]
        q = cyc["Discharge capacity [mA.h.g-1]"][:]
        crack = cyc["Max crack length [m]"][:]
        rsp = cyc["Mean RSP fraction"][:]
        share = cyc["RSP lithium taken up on discharge [mA.h.g-1]"][:]
        sigma_l = cyc["Max layered tensile stress [Pa]"][:]
        print("| stack pressure (MPa) | cracking | R2000 (%) | R4000 (%) | longest crack at 4000 (um) "
              "| mean RSP fraction | RSP share of discharge at 4000 (mAh/g) | layered stress at 4000 (MPa) | status |")
        print("|---|---|---|---|---|---|---|---|---|")
        for i in sorted(range(len(status)), key=lambda i: (cracking[i] != "true", pressure[i])):
            print(f"| {pressure[i]:.1f} | {'on' if cracking[i] == 'true' else 'off'} "
                  f"| {100 * q[i][1999] / q[i][0]:.1f} | {100 * q[i][3999] / q[i][0]:.1f} "
                  f"| {1e6 * crack[i][3999]:.2f} | {rsp[i][3999]:.3f} | {share[i][3999]:.2f} "
                  f"| {sigma_l[i][3999] / 1e6:.0f} | {status[i]} |")


if __name__ == "__main__":
    main()
