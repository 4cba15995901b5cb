#!/usr/bin/env python3
"""Plots a halite sweep (`halite sweep`, layout: docs/sweep.md): capacity retention against
each factor.

    python3 validation/plot_sweep.py SWEEP_RESULT.h5 [--cycle N] [--outdir DIR]

Retention of a case = discharge capacity at cycle N / discharge capacity at cycle 1 (N defaults
to the last cycle in the file). Writes one PNG per factor, retention_<factor>.png, and prints
its path. Numeric factors are plotted on their SI values (log axis when they span more than a
decade and are positive), other factors by category. Failed cases (/cases/status == "failed")
and finished cases without a finite retention at cycle N are drawn as red crosses at the bottom
of the axis. Cases of an interrupted sweep that have no results ("not run", or "running": written
in part) are left out; the title counts them.
"""

import argparse
import os
import re
import sys

import h5py
import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def strings(dataset):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in dataset[()]]


def safe_name(key):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("result", help="HDF5 file written by halite sweep")
    parser.add_argument("--cycle", type=int, default=None, help="cycle N (default: the last)")
    parser.add_argument("--outdir", default=".", help="where the PNG files go")
    args = parser.parse_args(argv)

    with h5py.File(args.result, "r") as f:
        if "cases" not in f:
            sys.exit(f"{args.result}: no /cases group (not a halite sweep result)")
        discharge = np.asarray(f["cycles/Discharge capacity [mA.h.g-1]"][()], dtype=float)
        cycles = discharge.shape[1]
        factors = strings(f["cases/factors"])
        status = strings(f["cases/status"])
        index = np.asarray(f["cases/index"][()])
        values = {k: strings(f["cases"][k]) for k in factors}
        si = {k: np.asarray(f["cases"][k + " [SI]"][()], dtype=float)
              for k in factors if (k + " [SI]") in f["cases"]}
        si_units = {k: f["cases"][k + " [SI]"].attrs.get("units", "") for k in si}
        design = f.attrs.get("sweep_design", "")
    si_units = {k: (u.decode() if isinstance(u, bytes) else str(u)) for k, u in si_units.items()}

    if cycles == 0:
        sys.exit(f"{args.result}: no cycles")
    cycle = args.cycle if args.cycle is not None else cycles
    if not 1 <= cycle <= cycles:
        sys.exit(f"--cycle {cycle}: the file has cycles 1 to {cycles}")
    with np.errstate(invalid="ignore", divide="ignore"):
        retention = discharge[:, cycle - 1] / discharge[:, 0]
    finished = np.array([s in ("completed", "failed") for s in status])
    failed = finished & (np.array([s == "failed" for s in status]) | ~np.isfinite(retention))
    ok = finished & ~failed
    floor = np.nanmin(retention[ok]) if ok.any() else 0.0
    bottom = floor - 0.05 * max(1e-3, (np.nanmax(retention[ok]) - floor) if ok.any() else 1.0)

    os.makedirs(args.outdir, exist_ok=True)
    for key in factors:
        fig, ax = plt.subplots(figsize=(6, 4))
        if key in si:
            x = si[key]
            unit = si_units.get(key, "")
            ax.set_xlabel(f"{key} [{unit}]" if unit else key)
            positive = x[np.isfinite(x)] > 0
            if positive.all() and np.nanmax(x) > 10 * np.nanmin(x):
                ax.set_xscale("log")
        else:
            categories = sorted(set(values[key]))
            x = np.array([categories.index(v) for v in values[key]], dtype=float)
            ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right")
            ax.set_xlabel(key)
        ax.plot(x[ok], 100 * retention[ok], "o", label="completed")
        for i in np.flatnonzero(ok):
            ax.annotate(str(index[i]), (x[i], 100 * retention[i]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        if failed.any():
            ax.plot(x[failed], np.full(failed.sum(), 100 * bottom), "x", color="red",
                    markersize=9, label="failed")
        ax.set_ylabel(f"retention at cycle {cycle} [%]")
        unfinished = len(status) - int(finished.sum())
        ax.set_title(f"{os.path.basename(args.result)} ({design}, {len(status)} cases"
                     + (f", {unfinished} not finished" if unfinished else "") + ")", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        out = os.path.join(args.outdir, f"retention_{safe_name(key)}.png")
        fig.savefig(out, dpi=120)
        plt.close(fig)
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
