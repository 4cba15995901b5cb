#!/usr/bin/env python3
"""The calibration targets of the reference cell, simulated and compared with their bands.

Runs `halite run` twice with the same --set overrides: the full reference protocol (4001 cycles
at 1C, then 0.2C, 3C, 1C; cycle skipping on) and the fresh-cell rate check
(validation/configs/fresh_0p2C.yaml: one 1C cycle, then one 0.2C cycle). Prints one table row per
target: measured value, band, simulated value, PASS/FAIL; with --json the numbers as JSON.

Targets (validation/data/nmc721_lspscl_1C_fade.csv and nmc721_lspscl_observations.csv; bands as
in docs/validation.md): first 1C discharge 116 +- 3 mAh/g, initial CE 76 +- 2 %, retention
82 +- 1.5 % at cycle 2000 and 77 +- 1.5 % at 4000, 88.6 +- 3 mAh/g at cycle 4001, fresh 0.2C
discharge 138 +- 13.8 mAh/g, mean RSP fraction >= 0.70 at cycle 4000, transition layer 0.5-2 um
at cycle 4000, no cracks (longest crack < 0.1 um) at 760 MPa.

Usage: python3 validation/targets.py [--halite build/halite] [--set KEY=VALUE]... [--fresh-only]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

TARGETS = [  # key, label, measured, lower, upper, unit
    ("q1", "first 1C discharge", 116.0, 113.0, 119.0, "mAh/g"),
    ("ice", "initial Coulombic efficiency", 76.0, 74.0, 78.0, "%"),
    ("r2000", "retention at cycle 2000", 82.0, 80.5, 83.5, "%"),
    ("r4000", "retention at cycle 4000", 77.0, 75.5, 78.5, "%"),
    ("q4001", "1C discharge at cycle 4001", 88.6, 85.6, 91.6, "mAh/g"),
    ("q02_fresh", "fresh cell, 0.2C discharge", 138.0, 124.2, 151.8, "mAh/g"),
    ("rsp4000", "mean RSP fraction at cycle 4000", 0.70, 0.70, 1.0, "-"),
    ("layer4000", "transition layer at cycle 4000", 1.0, 0.5, 2.0, "um"),
    ("crack4000", "longest crack at cycle 4000 (none observed)", 0.0, 0.0, 0.1, "um"),
]


def run(halite, config, sets, out, extra=()):
    cmd = [halite, "run", "--quiet", "--overwrite", "-o", out] + ([config] if config else [])
    for s in sets:
        cmd += ["--set", s]
    cmd += list(extra)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(" ".join(cmd) + "\n" + r.stderr)


def simulate(halite, sets, fresh_only=False, extra=()):
    import h5py
    import numpy as np

    values = {}
    with tempfile.TemporaryDirectory() as work:
        fresh = os.path.join(work, "fresh.h5")
        run(halite, os.path.join(HERE, "configs", "fresh_0p2C.yaml"), sets, fresh)
        with h5py.File(fresh, "r") as f:
            c = f["cycles"]
            q = c["Discharge capacity [mA.h.g-1]"][0]
            values["q1"] = float(q[0])
            values["ice"] = 100.0 * float(c["Coulombic efficiency"][0][0])
            values["q02_fresh"] = float(q[1])
            values["ce02_fresh"] = float(c["Coulombic efficiency"][0][1])
        if fresh_only:
            return values
        full = os.path.join(work, "full.h5")
        run(halite, None, sets, full, extra)
        with h5py.File(full, "r") as f:
            c = f["cycles"]
            q = c["Discharge capacity [mA.h.g-1]"][0]
            values["r2000"] = 100.0 * float(q[1999] / q[0])
            values["r4000"] = 100.0 * float(q[3999] / q[0])
            values["q4001"] = float(q[4000])
            values["rate_test"] = [float(v) for v in q[4001:]]
            values["rsp4000"] = float(c["Mean RSP fraction"][0][3999])
            values["layer4000"] = 1e6 * float(c["Mean transition layer thickness [m]"][0][3999])
            values["crack4000"] = 1e6 * float(c["Max crack length [m]"][0][3999])
            values["rsp_share4000"] = float(c["RSP lithium taken up on discharge [mA.h.g-1]"][0][3999])
            values["integrated"] = int(np.sum(c["Simulated"][0]))
            values["failed"] = bool(np.any(c["Failed"][0]))
    return values


def table(values):
    rows = ["| quantity | measured | band | model | status |", "|---|---|---|---|---|"]
    ok = True
    for key, label, measured, lo, hi, unit in TARGETS:
        if key not in values:
            continue
        v = values[key]
        passed = lo <= v <= hi
        ok &= passed
        rows.append(f"| {label} | {measured:g} {unit} | {lo:g}-{hi:g} | {v:.4g} {unit} | "
                    f"{'PASS' if passed else 'FAIL'} |")
    return "\n".join(rows), ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--halite", default=os.path.join(ROOT, "build", "halite"))
    ap.add_argument("--set", action="append", default=[], dest="sets")
    ap.add_argument("--fresh-only", action="store_true")
    ap.add_argument("--json", action="store_true")
    args, extra = ap.parse_known_args()
    values = simulate(args.halite, args.sets, args.fresh_only, extra)
    if args.json:
        print(json.dumps(values))
        return 0
    text, ok = table(values)
    print(text)
    for k in ("ce02_fresh", "rate_test", "rsp_share4000", "integrated", "failed"):
        if k in values:
            print(f"{k}: {values[k]}")
    return 0 if ok else 4


if __name__ == "__main__":
    sys.exit(main())
