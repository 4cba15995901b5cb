#!/usr/bin/env python3
"""Compares two halite sweep results case by case (e.g. the same sweep on --backend cpu and
--backend cuda): same cases, same status, and the discharge capacity of every cycle within a
tolerance.

    python3 validation/compare_sweeps.py A.h5 B.h5 [--tolerance-pp 0.5] [--cycles 1,2000,4000]

The capacities are compared as retention (capacity / first-cycle capacity of the case, in
percentage points) at every cycle both files hold, so cycles that one run integrated and the
other extrapolated (cycle skipping) count at the accuracy of skipping itself; the default
tolerance, 0.5 pp, is the skipping accuracy target of issue 5 (docs/performance.md). Cases that
one file has not finished ("not run", "running": e.g. a sweep cut by a timeout) are counted and
left out. Prints the worst case and cycle, a short table at the chosen cycles, and exits 1 if a
case completed in one file and failed in the other, or exceeds the tolerance; 0 otherwise.
"""

import argparse
import sys

import h5py
import numpy as np

CAPACITY = "cycles/Discharge capacity [mA.h.g-1]"


def strings(dataset):
    return [v.decode() if isinstance(v, bytes) else str(v) for v in dataset[()]]


def load(path):
    with h5py.File(path, "r") as f:
        if "cases" not in f or CAPACITY not in f:
            sys.exit(f"{path}: not a halite sweep result (no /cases or {CAPACITY})")
        capacity = np.asarray(f[CAPACITY][()], dtype=float)
        status = strings(f["cases/status"])
        backend = f.attrs.get("backend", b"?")
        backend = backend.decode() if isinstance(backend, bytes) else str(backend)
    return capacity, status, backend


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--tolerance-pp", type=float, default=0.5)
    parser.add_argument("--cycles", default="1,1000,2000,3000,4000")
    args = parser.parse_args(argv)

    cap_a, status_a, backend_a = load(args.a)
    cap_b, status_b, backend_b = load(args.b)
    if cap_a.shape[0] != cap_b.shape[0]:
        sys.exit(f"different numbers of cases: {cap_a.shape[0]} vs {cap_b.shape[0]}")
    cycles = min(cap_a.shape[1], cap_b.shape[1])
    cap_a, cap_b = cap_a[:, :cycles], cap_b[:, :cycles]
    bad = 0
    unfinished = 0
    for i, (sa, sb) in enumerate(zip(status_a, status_b)):
        if "completed" not in (sa, sb) or sa == sb:
            continue
        if sa in ("not run", "running") or sb in ("not run", "running"):
            unfinished += 1  # e.g. a sweep cut by a timeout: compare what both finished
            continue
        print(f"case {i}: status differs: {sa!r} vs {sb!r}")
        bad += 1
    if unfinished:
        print(f"{unfinished} case(s) finished in one file only (not run / running in the other)")
    ok = np.array([s == "completed" for s in status_a]) & np.array([s == "completed" for s in status_b])
    ret_a = 100.0 * cap_a / cap_a[:, :1]
    ret_b = 100.0 * cap_b / cap_b[:, :1]
    diff = np.abs(ret_a - ret_b)
    diff[~ok, :] = 0.0
    both = np.isfinite(ret_a) & np.isfinite(ret_b)
    missing = ok[:, None] & (np.isfinite(ret_a) != np.isfinite(ret_b))
    diff[~both] = 0.0
    worst = np.unravel_index(np.argmax(diff), diff.shape)
    print(f"{args.a} ({backend_a}) vs {args.b} ({backend_b}): {ok.sum()} cases completed in both, "
          f"{cycles} cycles")
    print(f"worst retention difference {diff[worst]:.4f} pp (case {worst[0]}, cycle {worst[1] + 1}); "
          f"tolerance {args.tolerance_pp} pp")
    wanted = [int(c) for c in args.cycles.split(",") if 0 < int(c) <= cycles]
    print(f"{'cycle':>6} {'max |diff| pp':>14} {'mean |diff| pp':>15}")
    for c in wanted:
        col = diff[ok, c - 1]
        print(f"{c:6d} {col.max() if col.size else 0:14.4f} {col.mean() if col.size else 0:15.4f}")
    if missing.any():
        print(f"{int(missing.sum())} (case, cycle) values finite in one file only")
        bad += 1
    if diff[worst] > args.tolerance_pp:
        bad += 1
    print("PASS" if bad == 0 else "FAIL")
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
