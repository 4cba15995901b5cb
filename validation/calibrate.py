#!/usr/bin/env python3
"""Superseded by `halite fit` (docs/validation.md, "Fitting a cell"): validation/fit_fresh.yaml and
validation/fit_aging.yaml are its two stages as FIT.yaml files (same parameters, targets and
bands; the fresh stage reproduces this script's result). Kept because the calibration recorded
in docs/validation.md was made with it.

Calibrate the reference cell at its converged mesh and report the fit's uncertainty.

Two stages, each a Levenberg-Marquardt least-squares fit on the weighted residuals
r_i = (model_i - measured_i) / sigma_i (sigma_i = the half-width of the target's band in
docs/validation.md, taken as one standard deviation of the measurement):

  fresh   2 parameters -> 3 targets of the fresh cell (validation/configs/fresh_0p2C.yaml,
          seconds per evaluation): first 1C discharge 116 +- 3 mAh/g, initial CE 76 +- 2 %,
          fresh 0.2C discharge 138 +- 13.8 mAh/g.
  aging   3 parameters -> 5 targets of the full reference protocol (cycle skipping on, about
          30 s per evaluation): retention 82 +- 1.5 % at cycle 2000 and 77 +- 1.5 % at 4000,
          88.6 +- 3 mAh/g at cycle 4001, transition layer 1.0 +- 0.75 um at cycle 4000, and the
          mean RSP (+ disordered) fraction at cycle 4000, "over 70 %" in the paper, read as
          0.80 +- 0.10. (As a one-sided bound >= 0.70 it is inactive at the optimum and adds no
          information: with the site potential fitted, the formation rate and the site potential
          then acted on the two retentions almost collinearly, correlation +1.00.)

The fresh targets barely depend on the aging parameters (aging is negligible over two cycles),
so the stages are sequential: aging is fitted with the fresh parameters at their optimum.
The aging stage fits the formation rate, the conducting share chi of the converted volume and
the layer's volume per O; the RSP's stress-free site potential is held at 4.05 V (the top of
the interval the fade points alone allow; docs/validation.md, "Calibration", says why).
Every other parameter keeps its sourced or assumed default (docs/model.md, "Parameters").
Five fitted parameters against nine targets (the crack observation is checked, not fitted).
The cycle-4001 capacity is nearly the cycle-4000 retention times the first capacity, so the
aging stage has four independent targets for its three parameters: with the RSP's Li capacity
y_max fitted as well (a fourth), the Fisher matrix was singular (correlations +-1.00), so y_max
is held at 0.5 (LiMO2 stoichiometry of a cation-disordered rock salt, docs/model.md).

At the optimum the script reports, per stage, each parameter with its 95 % confidence interval
from the Fisher information (J^T J)^-1 of the weighted residuals (forward differences), the
correlation matrix, the residuals, and the parameter set as --set arguments. Log-scale
parameters are fitted and reported in log10.

Usage: python3 validation/calibrate.py [--halite build/halite] [--stage fresh|aging|both]
                                       [--iterations 8] [--set KEY=VALUE]...
Start values are the embedded defaults (`halite config`); --set changes the fixed parameters.
"""
import argparse
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import targets  # noqa: E402  (validation/targets.py: runs halite and reads the targets)
from make_oat_sweep import resolved_values  # noqa: E402  (`halite config` as key -> (value, unit))

# key, unit, lower, upper, log10-scale, finite-difference step (in fitted coordinates)
STAGES = {
    "fresh": {
        "parameters": [
            ("cell.cathode.inactive_fraction", "", 0.0, 0.6, False, 0.005),
            ("cell.conductivity.nmc_lithiated", "S/m", 1e-4, 1e-1, True, 0.01),
        ],
        "targets": [("q1", 116.0, 3.0, False), ("ice", 76.0, 2.0, False),
                    ("q02_fresh", 138.0, 13.8, False)],
        "fresh_only": True,
    },
    "aging": {
        "parameters": [
            ("aging.rsp.rate_constant", "1/s", 1e-8, 1e-5, True, 0.01),
            ("aging.percolation.disordered_share", "", 0.3, 0.95, False, 0.01),
            ("aging.transition_layer.volume_per_oxygen", "cm3/mol", 1.0, 500.0, True, 0.01),
        ],
        "targets": [("r2000", 82.0, 1.5, False), ("r4000", 77.0, 1.5, False),
                    ("q4001", 88.6, 3.0, False), ("layer4000", 1.0, 0.75, False),
                    ("rsp4000", 0.80, 0.10, False)],
        "fresh_only": False,
    },
}


class Stage:
    def __init__(self, name, halite, fixed, start):
        spec = STAGES[name]
        self.name, self.halite, self.fixed = name, halite, list(fixed)
        self.parameters, self.targets = spec["parameters"], spec["targets"]
        self.fresh_only = spec["fresh_only"]
        self.theta0 = np.array([self.to_fit(p, start[p[0]][0]) for p in self.parameters])
        self.evaluations = 0

    @staticmethod
    def to_fit(p, v):
        return math.log10(v) if p[4] else v

    @staticmethod
    def from_fit(p, t):
        return 10.0 ** t if p[4] else t

    def clip(self, theta):
        lo = [self.to_fit(p, p[2]) for p in self.parameters]
        hi = [self.to_fit(p, p[3]) for p in self.parameters]
        return np.minimum(np.maximum(theta, lo), hi)

    def sets(self, theta):
        out = []
        for p, t in zip(self.parameters, theta):
            v = self.from_fit(p, t)
            out.append(f"{p[0]}={v:.6g} {p[1]}".rstrip())
        return out

    def evaluate(self, theta):
        self.evaluations += 1
        values = targets.simulate(self.halite, self.fixed + self.sets(theta), self.fresh_only)
        res = []
        for key, measured, sigma, one_sided in self.targets:
            r = (values[key] - measured) / sigma
            res.append(min(r, 0.0) if one_sided else r)
        if values.get("failed"):
            res = [r + 100.0 for r in res]  # a failed solve is never an optimum
        return np.array(res), values

    def jacobian(self, theta, r0):
        cols = []
        for i, p in enumerate(self.parameters):
            t = theta.copy()
            t[i] += p[5]
            r, _ = self.evaluate(t)
            cols.append((r - r0) / p[5])
        return np.array(cols).T

    def fit(self, iterations):
        theta = self.theta0.copy()
        r, values = self.evaluate(theta)
        cost = float(r @ r)
        lam = 1e-2
        print(f"[{self.name}] start cost {cost:.4g}: " + ", ".join(self.sets(theta)), flush=True)
        J = None
        for it in range(iterations):
            J = self.jacobian(theta, r)
            if cost < 1e-4:
                break
            A, g = J.T @ J, J.T @ r
            improved = False
            for _ in range(6):
                step = -np.linalg.solve(A + lam * np.diag(np.diag(A) + 1e-12), g)
                trial = self.clip(theta + step)
                rt, vt = self.evaluate(trial)
                ct = float(rt @ rt)
                if ct < cost:
                    theta, r, values, cost = trial, rt, vt, ct
                    lam = max(lam / 5.0, 1e-6)
                    improved = True
                    break
                lam *= 5.0
            print(f"[{self.name}] iteration {it + 1}: cost {cost:.4g}, lambda {lam:.2g}: "
                  + ", ".join(self.sets(theta)), flush=True)
            if not improved:
                break
        J = self.jacobian(theta, r)  # at the optimum, for the Fisher information
        return theta, r, values, J

    def report(self, theta, r, values, J):
        print(f"\n### Stage '{self.name}' ({self.evaluations} evaluations)\n")
        print("| target | measured | sigma | model | weighted residual |")
        print("|---|---|---|---|---|")
        for (key, measured, sigma, one_sided), ri in zip(self.targets, r):
            bound = ">= " if one_sided else ""
            print(f"| {key} | {bound}{measured:g} | {sigma:g} | {values[key]:.4g} | {ri:+.2f} |")
        names = [p[0] + (" [log10]" if p[4] else "") for p in self.parameters]
        # Fisher information of the weighted residuals; one-sided targets that are inactive add
        # no information (zero rows)
        F = J.T @ J
        try:
            cov = np.linalg.inv(F)
            sd = np.sqrt(np.maximum(np.diag(cov), 0.0))
            corr = cov / np.outer(sd, sd)
        except np.linalg.LinAlgError:
            cov, sd, corr = None, np.full(len(theta), np.inf), None
        print("\n| parameter | value | 95 % CI (Fisher) | value (linear) |")
        print("|---|---|---|---|")
        for p, name, t, s in zip(self.parameters, names, theta, sd):
            print(f"| {name} | {t:.4g} | [{t - 1.96 * s:.4g}, {t + 1.96 * s:.4g}] | "
                  f"{self.from_fit(p, t):.4g} {p[1]} |")
        if corr is not None:
            print("\nCorrelation matrix (order as above):\n")
            print("| | " + " | ".join(str(i + 1) for i in range(len(theta))) + " |")
            print("|---" * (len(theta) + 1) + "|")
            for i, row in enumerate(corr):
                print(f"| {i + 1} | " + " | ".join(f"{c:+.2f}" for c in row) + " |")
        print("\nFitted set: " + " ".join(f"--set '{s}'" for s in self.sets(theta)))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--halite", default=os.path.join(ROOT, "build", "halite"))
    ap.add_argument("--stage", choices=["fresh", "aging", "both"], default="both")
    ap.add_argument("--iterations", type=int, default=8)
    ap.add_argument("--set", action="append", default=[], dest="sets")
    args = ap.parse_args()
    start = resolved_values(args.halite)
    fixed = list(args.sets)
    for name in (["fresh", "aging"] if args.stage == "both" else [args.stage]):
        stage = Stage(name, args.halite, fixed, start)
        theta, r, values, J = stage.fit(args.iterations)
        stage.report(theta, r, values, J)
        fixed += stage.sets(theta)  # the next stage keeps this one's optimum
    return 0


if __name__ == "__main__":
    sys.exit(main())
