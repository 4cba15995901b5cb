#!/usr/bin/env python3
"""Full-protocol validation of the reference cell against the measured points, and the loss
split by mechanism for the reference cell and its variants.

Runs `halite run` (cycle skipping on) for configs/reference (embedded default),
configs/shell_architecture.yaml and configs/stack_pressure_low.yaml over the full protocol
(4001 cycles at 1C, then 0.2C, 3C, 1C), and prints two Markdown tables:
  1. model vs measured (first 1C discharge, initial Coulombic efficiency, retention at cycles
     2000 and 4000, 1C discharge at cycle 4001) with the accepted tolerance and PASS/MISS;
  2. capacity loss at cycle 4000 split into active material, lithium inventory and kinetic /
     resistive parts (the /cycles loss columns), with RSP fraction and transition layer.
Writes the HDF5 files and the tables under --outdir (default out/validation).

Usage: python3 validation/validate.py [--halite build/halite] [--outdir out/validation]
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CASES = [
    ("reference (dispersed RSP, 760 MPa)", None),
    ("shell architecture (liquid-like)", os.path.join(ROOT, "configs", "shell_architecture.yaml")),
    ("low stack pressure (50 MPa)", os.path.join(ROOT, "configs", "stack_pressure_low.yaml")),
]

MEASURED = [  # name, cycle index (0-based) or key, target, tolerance, unit
    ("first 1C discharge", "q1", 116.0, 3.0, "mAh/g"),
    ("initial Coulombic efficiency", "ice", 76.0, 2.0, "%"),
    ("retention at cycle 2000", "r2000", 82.0, 1.5, "%"),
    ("retention at cycle 4000", "r4000", 77.0, 1.5, "%"),
    ("1C discharge at cycle 4001", "q4001", 88.6, 3.0, "mAh/g"),
]


def run_case(halite, config, out):
    cmd = [halite, "run", "--quiet", "--overwrite", "--output", out]
    if config:
        cmd.insert(2, config)
    subprocess.run(cmd, check=False)
    import h5py

    with h5py.File(out, "r") as f:
        c = f["cycles"]
        get = lambda name: c[name][0]
        q = get("Discharge capacity [mA.h.g-1]")
        n = len(q)
        res = {
            "cycles": n,
            "integrated": int(get("Simulated").sum()),
            "q1": q[0],
            "ice": 100 * get("Coulombic efficiency")[0],
        }
        if n >= 4001:
            res.update(r2000=100 * q[1999] / q[0], r4000=100 * q[3999] / q[0], q4001=q[4000])
            for key, col in [("loss", "Capacity loss [mA.h.g-1]"),
                             ("lam", "Loss of active material [mA.h.g-1]"),
                             ("lli", "Loss of lithium inventory [mA.h.g-1]"),
                             ("kin", "Kinetic and resistive loss [mA.h.g-1]"),
                             ("rsp", "Mean RSP fraction"),
                             ("layer", "Mean transition layer thickness [m]"),
                             ("crack", "Max crack length [m]")]:
                res[key] = get(col)[3999]
            if n >= 4004:
                res.update(q02=q[4001], q3=q[4002], q1b=q[4003])
        return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--halite", default=os.path.join(ROOT, "build", "halite"))
    ap.add_argument("--outdir", default=os.path.join(ROOT, "out", "validation"))
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    results = []
    for name, config in CASES:
        out = os.path.join(args.outdir, (os.path.basename(config).replace(".yaml", "") if config
                                         else "reference") + ".h5")
        results.append((name, run_case(args.halite, config, out)))
    ref = results[0][1]
    lines = ["| quantity | measured | model | tolerance | status |", "|---|---|---|---|---|"]
    for label, key, target, tol, unit in MEASURED:
        value = ref.get(key, float("nan"))
        ok = abs(value - target) <= tol
        lines.append(f"| {label} | {target:g} {unit} | {value:.1f} {unit} | ±{tol:g} | "
                     f"{'PASS' if ok else 'MISS'} |")
    lines.append("")
    lines.append("| case | retention 4000 | loss at 4000 (mAh/g) | active material | Li inventory | "
                 "kinetic/resistive | mean RSP fraction | transition layer | max crack | "
                 "0.2C / 3C / 1C after aging (mAh/g) |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results:
        if "r4000" not in r:
            lines.append(f"| {name} | run ended at cycle {r['cycles']} | | | | | | | | |")
            continue
        lines.append(
            f"| {name} | {r['r4000']:.1f} % | {r['loss']:.1f} | {r['lam']:.1f} | {r['lli']:.1f} | "
            f"{r['kin']:.1f} | {r['rsp']:.3f} | {1e9 * r['layer']:.0f} nm | {1e9 * r['crack']:.0f} nm | "
            f"{r.get('q02', float('nan')):.1f} / {r.get('q3', float('nan')):.1f} / "
            f"{r.get('q1b', float('nan')):.1f} |")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(args.outdir, "validation_table.md"), "w") as f:
        f.write(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
