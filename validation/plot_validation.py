#!/usr/bin/env python3
"""Plots of a `halite validate` file (halite writes this script next to the plots with --plots).

  fade.png    per-cycle quantities of every run (lines) with the measured points and their bands
  points.png  every compared value: measured, simulated and band, normalised by the band
  profiles.png  a `halite fit` file: the profile chi^2 of each parameter, with the 95 % level

Usage: python3 plot_validation.py VALIDATION.h5 [--outdir DIR]
Needs h5py, numpy and matplotlib.
"""
import argparse
import os

import h5py
import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLUMNS = {  # quantity -> /cycles column and factor to the stored display unit
    "discharge_capacity": ("Discharge capacity [mA.h.g-1]", 1.0),
    "charge_capacity": ("Charge capacity [mA.h.g-1]", 1.0),
    "coulombic_efficiency": ("Coulombic efficiency", 100.0),
    "mean_rsp_fraction": ("Mean RSP fraction", 1.0),
    "transition_layer_thickness": ("Mean transition layer thickness [m]", 1e6),
    "max_crack_length": ("Max crack length [m]", 1e6),
    "rsp_lithium_on_discharge": ("RSP lithium taken up on discharge [mA.h.g-1]", 1.0),
}


def text(values):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--outdir", default=".")
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    with h5py.File(args.file, "r") as f:
        v = f["validation"]
        quantity = text(v["quantity"][...])
        unit = text(v["unit"][...])
        dataset = text(v["dataset"][...])
        cycle = v["cycle"][...]
        run = v["run"][...]
        measured, simulated = v["measured"][...], v["simulated"][...]
        lower, upper, passed = v["lower"][...], v["upper"][...], v["pass"][...]
        cycles = f["cycles"]
        table = {name: cycles[name][...] for name in cycles if cycles[name].ndim == 2}

        kinds = sorted({q for q in quantity if q != "voltage_rms"})
        fig, axes = plt.subplots(len(kinds), 1, figsize=(7, 2.6 * len(kinds)), squeeze=False)
        for ax, q in zip(axes[:, 0], kinds):
            rows = [i for i, name in enumerate(quantity) if name == q]
            for r in sorted({int(run[i]) for i in rows}):
                if q == "retention":
                    d = table["Discharge capacity [mA.h.g-1]"][r]
                    y = 100.0 * d / d[0]
                else:
                    column, factor = COLUMNS[q]
                    y = factor * table[column][r]
                n = np.arange(1, len(y) + 1)
                ax.plot(n, y, lw=1, label=f"simulated, run {r}")
            for i in rows:
                lo = lower[i] if np.isfinite(lower[i]) else measured[i]
                hi = upper[i] if np.isfinite(upper[i]) else measured[i]
                ax.errorbar([cycle[i]], [measured[i]], yerr=[[measured[i] - lo], [hi - measured[i]]],
                            fmt="o", color="k" if passed[i] else "r", capsize=3)
            ax.set_ylabel(f"{q} [{unit[rows[0]]}]" if unit[rows[0]] else q)
            ax.set_xlabel("cycle")
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(os.path.join(args.outdir, "fade.png"), dpi=120)
        plt.close(fig)

        fig, ax = plt.subplots(figsize=(7, 0.35 * len(quantity) + 1.2))
        for i in range(len(quantity)):
            lo, hi = lower[i], upper[i]
            centre = measured[i] if np.isfinite(measured[i]) else 0.5 * (lo + hi)
            half = max((hi - centre) if np.isfinite(hi) else 0, (centre - lo) if np.isfinite(lo) else 0)
            half = half if half > 0 else 1.0
            ax.plot([(lo - centre) / half if np.isfinite(lo) else -1.5, (hi - centre) / half if np.isfinite(hi) else 1.5],
                    [i, i], color="0.7", lw=6)
            ax.plot([(simulated[i] - centre) / half], [i], "o", color="k" if passed[i] else "r")
        ax.set_yticks(range(len(quantity)))
        ax.set_yticklabels([f"{dataset[i]}: {quantity[i]} @ {cycle[i]}" for i in range(len(quantity))], fontsize=7)
        ax.axvline(0, color="0.4", lw=0.8)
        ax.set_xlabel("(simulated - measured) / half band")
        fig.tight_layout()
        fig.savefig(os.path.join(args.outdir, "points.png"), dpi=120)
        plt.close(fig)
        if "fit" in f and "profiles" in f["fit"] and len(f["fit/profiles"]) > 0:
            keys = text(f["fit/parameters/key"][...])
            units = text(f["fit/parameters/unit"][...])
            best = f["fit/parameters/best"][...]
            chi2 = float(f.attrs["fit_chi2"])
            n = len(keys)
            fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.2), squeeze=False)
            for j, ax in enumerate(axes[0]):
                group = f["fit/profiles"][str(j)]
                x, c = group["value"][...], group["chi2"][...]
                if len(x) == 0:
                    ax.set_visible(False)
                    continue
                ax.plot(x, c - chi2, "o-")
                ax.axhline(3.84, color="r", lw=0.8, label="95 %")
                ax.axvline(best[j], color="0.5", lw=0.8)
                ax.set_xlabel(f"{keys[j]} [{units[j]}]" if units[j] else keys[j], fontsize=7)
                ax.set_ylabel("delta chi^2")
                if min(x) > 0 and max(x) / min(x) > 20:
                    ax.set_xscale("log")
                ax.legend(fontsize=7)
            fig.tight_layout()
            fig.savefig(os.path.join(args.outdir, "profiles.png"), dpi=120)
            plt.close(fig)
    print(f"plots in {args.outdir}")


if __name__ == "__main__":
    main()
