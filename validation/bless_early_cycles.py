#!/usr/bin/env python3
"""Regenerates tests/data/reference_early_cycles.csv, the stored ("blessed") first cycles of the
calibrated reference cell that tests/test_regression.cpp compares against.

Run it only when a deliberate change of the model or of its calibrated defaults moves them, and
say so in the commit message. Usage: python3 validation/bless_early_cycles.py [--halite PATH]
"""
import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLUMNS = ["Charge capacity [mA.h.g-1]", "Discharge capacity [mA.h.g-1]", "Coulombic efficiency",
           "Discharge energy [mW.h.g-1]", "Mean RSP fraction", "Total cathode lithium [mol.m-2]"]
CYCLES = 5


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--halite", default=os.path.join(ROOT, "build", "halite"))
    args = ap.parse_args()
    import h5py

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "early.h5")
        subprocess.run([args.halite, "run", "--quiet", "--no-skip", "--cycles", str(CYCLES),
                        "--output", out], check=True)
        with h5py.File(out, "r") as f:
            table = {c: f["cycles"][c][0] for c in COLUMNS}
    path = os.path.join(ROOT, "tests", "data", "reference_early_cycles.csv")
    with open(path, "w") as f:
        f.write("# First cycles of the calibrated reference cell (embedded default, no skipping),\n")
        f.write("# written by validation/bless_early_cycles.py. Compared by tests/test_regression.cpp.\n")
        f.write("cycle," + ",".join(f'"{c}"' for c in COLUMNS) + "\n")
        for k in range(CYCLES):
            f.write(f"{k + 1}," + ",".join(f"{table[c][k]:.10g}" for c in COLUMNS) + "\n")
    print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
