#!/usr/bin/env python3
"""Plots a halite run from its HDF5 result file (layout: docs/output.md).

    python3 validation/plot_run.py RUN.h5 [--outdir DIR] [--measured CSV]

Writes PNG files and prints their paths:
  capacity.png          charge and discharge capacity [mAh/g] vs cycle, every cell
  retention.png         discharge capacity / first-cycle discharge capacity vs cycle
  voltage_cell_<k>.png  every stored voltage curve of cell k, voltage vs capacity [mAh/g]
                        (vs time when the file has no active mass per area)

Extrapolated cycles (Simulated == 0, cycle jumping) are drawn as hollow markers, failed cycles
as red crosses. The measured fade of the reference cell
(validation/data/nmc721_lspscl_1C_fade.csv, sources in docs/sources.md, or --measured) is
overlaid when the file says it models the reference cell (root attribute reference_cell = 1), or
when --measured is given explicitly. Only the HDF5 file is read; missing optional pieces
(curves, extra columns, active mass, measured data) are skipped with a note.
"""

import argparse
import csv
import math
import os
import sys

import h5py
import numpy as np

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The measured 1C fade of the reference cell ships with the repository (docs/sources.md,
# "Measured data in this repository").
DEFAULT_MEASURED = os.path.join(REPO, "validation", "data", "nmc721_lspscl_1C_fade.csv")
MAH_PER_G_PER_C_PER_KG = 1.0 / 3600.0  # 1 mAh/g = 3.6 C / 1e-3 kg = 3600 C/kg


def text(value, default=""):
    """An HDF5 string attribute as str (h5py returns str for UTF-8, bytes for ASCII)."""
    if value is None:
        return default
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return text(value[()], default)
    return str(value)


def number(attrs, key, default=math.nan):
    try:
        return float(attrs[key])
    except (KeyError, TypeError, ValueError):
        return default


def read_measured(path):
    """cycle, capacity, retention columns of the measured CSV ('#' comments, empty = NaN)."""
    rows = []
    with open(path, newline="") as f:
        lines = [line for line in f if not line.lstrip().startswith("#") and line.strip()]
    for row in csv.DictReader(lines):

        def val(key):
            try:
                return float(row.get(key, "") or "nan")
            except ValueError:
                return math.nan

        rows.append((val("cycle"), val("capacity_mAh_per_g"), val("retention")))
    data = np.array(rows, dtype=float).reshape(-1, 3)
    return data[:, 0], data[:, 1], data[:, 2]


def open_h5(path):
    """Opens read-only without taking a file lock (the run may still be writing the file)."""
    if not os.path.exists(path):
        raise SystemExit("plot_run.py: %s does not exist" % path)
    try:
        try:
            return h5py.File(path, "r", locking=False)
        except TypeError:  # h5py < 3.5 has no locking argument
            return h5py.File(path, "r")
    except OSError as e:
        raise SystemExit("plot_run.py: cannot open %s as HDF5: %s" % (path, e))


def read_run(path):
    run = {"curves": {}}
    with open_h5(path) as f:
        attrs = f.attrs
        run["voltage_reference"] = text(attrs.get("voltage_reference"), "?")
        run["config_name"] = text(attrs.get("config_name"))
        run["config_source"] = text(attrs.get("config_source"))
        run["reference_cell"] = attrs.get("reference_cell")
        run["mass"] = number(attrs, "active_mass_per_area [kg.m-2]")
        run["title"] = run["config_name"] or os.path.basename(path)
        if "version" in attrs:
            run["title"] += "  (halite %s %s)" % (
                text(attrs.get("version")),
                text(attrs.get("git_commit")),
            )

        cycles = f.get("cycles")
        if cycles is None:
            raise SystemExit("%s: no /cycles group; is this a halite result file?" % path)
        n = None
        if "cycles_written" in cycles.attrs:
            n = int(cycles.attrs["cycles_written"])

        def column(name, dtype=float):
            if name not in cycles:
                return None
            data = np.asarray(cycles[name][()], dtype=dtype)
            return data[:, :n] if n is not None else data

        run["cycle"] = column("Cycle number")
        run["charge"] = column("Charge capacity [mA.h.g-1]")
        run["discharge"] = column("Discharge capacity [mA.h.g-1]")
        run["simulated"] = column("Simulated")
        run["failed"] = column("Failed")
        if run["discharge"] is None:
            raise SystemExit("%s: no 'Discharge capacity [mA.h.g-1]' in /cycles" % path)
        cells = run["discharge"].shape[0]
        if run["cycle"] is None:
            run["cycle"] = np.tile(np.arange(1, run["discharge"].shape[1] + 1), (cells, 1))

        names = ["cell_%d" % k for k in range(cells)]
        if "cells" in f and "name" in f["cells"]:
            stored = [text(x) for x in f["cells"]["name"][()]]
            if len(stored) == cells:
                names = stored
        run["names"] = names

        curves = f.get("curves")
        if curves is not None:
            for cell_key in curves:
                if not cell_key.startswith("cell_"):
                    continue
                try:
                    k = int(cell_key[len("cell_") :])
                except ValueError:
                    continue
                items = []
                for cycle_key, g in curves[cell_key].items():
                    needed = ("Time [s]", "Voltage [V]")
                    if not isinstance(g, h5py.Group) or any(x not in g for x in needed):
                        continue
                    cycle = int(g.attrs.get("cycle", cycle_key.replace("cycle_", "") or 0))
                    t = np.asarray(g["Time [s]"][()], dtype=float)
                    v = np.asarray(g["Voltage [V]"][()], dtype=float)
                    i = (
                        np.asarray(g["Current density [A.m-2]"][()], dtype=float)
                        if "Current density [A.m-2]" in g
                        else None
                    )
                    if t.size > 1:
                        items.append((cycle, t, v, i))
                items.sort(key=lambda x: x[0])
                if items:
                    run["curves"][k] = items
    return run


def cell_label(run, k):
    return run["names"][k] if run["names"][k] else "cell_%d" % k


def draw_series(ax, run, k, x, y, color, label, linestyle="-"):
    """One cell's per-cycle series: line, filled markers for simulated cycles, hollow for
    extrapolated ones, red crosses for failed ones."""
    ok = np.isfinite(x) & np.isfinite(y)
    ax.plot(x[ok], y[ok], linestyle, color=color, lw=1.2, label=label)
    sim = run["simulated"][k][: len(x)] if run["simulated"] is not None else np.ones_like(x)
    few = ok.sum() <= 300
    if few:
        m = ok & (sim != 0)
        ax.plot(x[m], y[m], "o", color=color, ms=3.5)
    m = ok & (sim == 0)
    if m.any():
        ax.plot(x[m], y[m], "o", mfc="none", mec=color, ms=5, alpha=0.8)
    if run["failed"] is not None:
        m = ok & (run["failed"][k][: len(x)] != 0)
        if m.any():
            ax.plot(x[m], y[m], "x", color="red", ms=7, mew=1.5)


def legend_extras(ax, run):
    handles = []
    if run["simulated"] is not None and (run["simulated"] == 0).any():
        handles.append(
            plt.Line2D([], [], ls="none", marker="o", mfc="none", mec="k", label="extrapolated")
        )
    if run["failed"] is not None and (run["failed"] != 0).any():
        handles.append(plt.Line2D([], [], ls="none", marker="x", color="red", label="failed"))
    existing, labels = ax.get_legend_handles_labels()
    ax.legend(existing + handles, labels + [h.get_label() for h in handles], fontsize=8)


def plot_capacity(run, measured, outdir):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.cm.tab10.colors
    for k in range(run["discharge"].shape[0]):
        c = colors[k % len(colors)]
        x = run["cycle"][k].astype(float)
        draw_series(ax, run, k, x, run["discharge"][k], c, cell_label(run, k) + " discharge")
        if run["charge"] is not None:
            ok = np.isfinite(run["charge"][k])
            ax.plot(x[ok], run["charge"][k][ok], "--", color=c, lw=0.8, alpha=0.7,
                    label=cell_label(run, k) + " charge")
    if measured is not None:
        cyc, cap, _ = measured
        ok = np.isfinite(cap)
        if ok.any():
            ax.plot(cyc[ok], cap[ok], "ks", ms=7, label="measured (discharge)")
    ax.set_xlabel("Cycle")
    ax.set_ylabel("Capacity [mAh/g]")
    ax.set_title(run["title"], fontsize=9)
    ax.grid(alpha=0.3)
    legend_extras(ax, run)
    path = os.path.join(outdir, "capacity.png")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_retention(run, measured, outdir):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = plt.cm.tab10.colors
    for k in range(run["discharge"].shape[0]):
        d = run["discharge"][k]
        finite = np.flatnonzero(np.isfinite(d) & (d != 0))
        if finite.size == 0:
            continue
        first = d[0] if np.isfinite(d[0]) and d[0] != 0 else d[finite[0]]
        x = run["cycle"][k].astype(float)
        draw_series(ax, run, k, x, d / first, colors[k % len(colors)], cell_label(run, k))
    if measured is not None:
        cyc, _, ret = measured
        ok = np.isfinite(ret)
        if ok.any():
            ax.plot(cyc[ok], ret[ok], "ks", ms=7, label="measured")
    ax.set_xlabel("Cycle")
    ax.set_ylabel("Retention (discharge / cycle-1 discharge)")
    ax.set_title(run["title"], fontsize=9)
    ax.grid(alpha=0.3)
    legend_extras(ax, run)
    path = os.path.join(outdir, "retention.png")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_voltage(run, k, outdir):
    items = run["curves"][k]
    mass = run["mass"]
    by_capacity = math.isfinite(mass) and mass > 0
    fig, ax = plt.subplots(figsize=(7, 4.5))
    cmap = plt.cm.viridis
    cycles = [c for c, *_ in items]
    lo, hi = min(cycles), max(cycles)
    few = len(items) <= 12
    for rank, (cycle, t, v, i) in enumerate(items):
        # a few stored cycles (first, last, rate test) get distinct colours; many, a colour scale
        color = (plt.cm.tab10.colors[rank % 10] if few
                 else cmap(0.0 if hi == lo else (cycle - lo) / (hi - lo)))
        if by_capacity and i is not None:
            # Trapezoidal charge per interval [C/m^2]; positive current = discharge.
            dq = 0.5 * (i[1:] + i[:-1]) * np.diff(t)
            q_dis = np.concatenate([[0.0], np.cumsum(np.clip(dq, 0, None))])
            q_chg = np.concatenate([[0.0], np.cumsum(np.clip(-dq, 0, None))])
            scale = MAH_PER_G_PER_C_PER_KG / mass
            chg = i < 0
            dis = i > 0
            ax.plot(q_chg[chg] * scale, v[chg], color=color, lw=1, label="cycle %d" % cycle)
            ax.plot(q_dis[dis] * scale, v[dis], color=color, lw=1, ls="-")
        else:
            ax.plot((t - t[0]) / 3600.0, v, color=color, lw=1, label="cycle %d" % cycle)
    ax.set_xlabel("Capacity [mAh/g]" if by_capacity else "Time in cycle [h]")
    ax.set_ylabel("Voltage [V] vs %s" % run["voltage_reference"])
    ax.set_title(run["title"], fontsize=9)
    ax.grid(alpha=0.3)
    if few:
        ax.legend(fontsize=8)
    else:
        sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(lo, hi))
        fig.colorbar(sm, ax=ax, label="Cycle")
    path = os.path.join(outdir, "voltage_cell_%d.png" % k)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("h5file", help="halite result file (RUN.h5)")
    parser.add_argument("--outdir", help="where to write the PNGs (default: RUN_plots/)")
    parser.add_argument(
        "--measured",
        help="measured fade CSV to overlay (default: the reference cell's, overlaid only when "
        "the run models the reference cell)",
    )
    args = parser.parse_args(argv)

    run = read_run(args.h5file)
    outdir = args.outdir or os.path.splitext(args.h5file)[0] + "_plots"
    os.makedirs(outdir, exist_ok=True)

    measured = None
    ref = run["reference_cell"]
    if ref is not None:
        is_reference = int(ref) == 1
    else:  # files without the attribute: fall back to the config's name or source
        hint = (run["config_name"] + " " + run["config_source"]).lower()
        is_reference = "reference" in hint
    if args.measured or is_reference:
        path = args.measured or DEFAULT_MEASURED
        if os.path.exists(path):
            try:
                measured = read_measured(path)
            except (OSError, ValueError, KeyError) as e:
                print("note: could not read measured data %s: %s" % (path, e), file=sys.stderr)
        else:
            print("note: measured data %s not found; no overlay" % path, file=sys.stderr)

    written = [plot_capacity(run, measured, outdir), plot_retention(run, measured, outdir)]
    if not run["curves"]:
        print("note: no voltage curves stored in %s" % args.h5file, file=sys.stderr)
    elif not (math.isfinite(run["mass"]) and run["mass"] > 0):
        print("note: no active_mass_per_area; voltage curves plotted vs time", file=sys.stderr)
    for k in sorted(run["curves"]):
        written.append(plot_voltage(run, k, outdir))
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
