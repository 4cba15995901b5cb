"""halite: long-cycle aging of all-solid-state lithium cells (P2D + rock-salt phase), from Python.

    import halite
    r = halite.run("my_cell.yaml", cycles=200, set={"cell.mechanics.stack_pressure": "300 MPa"})
    r.cycles                 # pandas DataFrame, one row per cycle, columns as in the HDF5 /cycles
    r.curves[1]              # the voltage curve of cycle 1 as a DataFrame
    r.provenance             # dict: version, git commit, resolved config YAML, ...
    halite.config()          # the resolved reference configuration as a dict
    halite.load("run.h5")    # a result file of `halite run` or `halite sweep`
    halite.sweep("sweep.yaml", output="sweep.h5")

Errors raise halite.ConfigError (a ValueError; .file, .line, .column, .key), halite.OutputError
(an OSError) or halite.HaliteError (a RuntimeError), with the messages of the command line.
docs/python.md has the whole story.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np
import pandas as pd

from . import _halite
from ._halite import ConfigError, HaliteError, OutputError

__all__ = [
    "run", "sweep", "load", "config", "Result", "CellResult", "cycle_columns",
    "ConfigError", "HaliteError", "OutputError", "__version__", "api_version",
]

__version__ = _halite.version()
api_version = tuple(_halite.api_version)

PathLike = Union[str, "os.PathLike[str]"]


def _overrides(set: Optional[Union[Mapping[str, Any], Iterable[str]]]) -> list[str]:
    """{"key.path": value} or ["key.path=value", ...] -> the CLI's --set strings, in order."""
    if set is None:
        return []
    if isinstance(set, Mapping):
        out = []
        for key, value in set.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, (list, tuple)):
                value = "[" + ", ".join(str(v) for v in value) + "]"
            out.append(f"{key}={value}")
        return out
    if isinstance(set, str):
        return [set]
    return [str(s) for s in set]


def _load(config: Optional[PathLike], set) -> _halite.Config:
    if config is None:
        return _halite.load_config("", _overrides(set))
    if isinstance(config, _halite.Config):
        if set:
            raise TypeError("set= applies to a config file or text, not to a resolved Config")
        return config
    text = os.fspath(config)
    if "\n" in text:  # YAML text rather than a path
        return _halite.parse_config(text, _overrides(set), "<string>")
    return _halite.load_config(text, _overrides(set))


def config(config: Optional[PathLike] = None, *, set=None) -> dict:
    """The resolved configuration (defaults filled in, --set overrides applied) as a dict.

    Values are as the resolved YAML writes them: numbers with their units as text
    ("760 MPa"). Raises ConfigError with the file, line and key of a bad value.
    """
    import yaml

    return yaml.safe_load(_load(config, set).resolved_yaml)


def cycle_columns() -> pd.DataFrame:
    """Every per-cycle column: name, units, description and kind (float, int, flag)."""
    return pd.DataFrame(_halite.cycle_columns(), columns=["name", "units", "description", "kind"])


def _frame(cell: dict) -> pd.DataFrame:
    data = {}
    for name, kind, values in zip(cell["columns"], cell["kinds"], cell["values"]):
        if kind == "int":
            data[name] = values.astype(np.int64)
        elif kind == "flag":
            data[name] = values.astype(bool)
        else:
            data[name] = values
    frame = pd.DataFrame(data)
    frame.attrs["units"] = dict(zip(cell["columns"], cell["units"]))
    frame.attrs["descriptions"] = dict(zip(cell["columns"], cell["descriptions"]))
    return frame


def _curve_frame(curve: dict) -> pd.DataFrame:
    return pd.DataFrame({
        "Time [s]": curve["time"],
        "Voltage [V]": curve["voltage"],
        "Current density [A.m-2]": curve["current_density"],
        "Step index": curve["step"].astype(np.int32),
    })


@dataclass
class CellResult:
    """One cell (one row of /cycles): its per-cycle table, curves and how it ended."""

    name: str
    status: str
    reason: str
    cycles: pd.DataFrame
    curves: dict[int, pd.DataFrame]
    step_end_times: np.ndarray  # (cycles, steps), s since the cycle start, NaN past the last step


@dataclass
class Result:
    """A run or a result file. For one cell, .cycles/.curves/.status are that cell's."""

    provenance: dict[str, str]
    cells: list[CellResult] = field(default_factory=list)
    path: Optional[str] = None  # the HDF5 file, for results read from or written to one

    def _single(self) -> CellResult:
        if len(self.cells) != 1:
            raise ValueError(f"this result holds {len(self.cells)} cells: use .cells[k] "
                             "(or .all_cycles() for one table)")
        return self.cells[0]

    @property
    def cycles(self) -> pd.DataFrame:
        return self._single().cycles

    @property
    def curves(self) -> dict[int, pd.DataFrame]:
        return self._single().curves

    @property
    def status(self) -> str:
        return self._single().status

    @property
    def reason(self) -> str:
        return self._single().reason

    @property
    def step_end_times(self) -> np.ndarray:
        return self._single().step_end_times

    def all_cycles(self) -> pd.DataFrame:
        """Every cell's table stacked, with a leading "Cell" (name) column."""
        frames = [c.cycles.assign(**{"Cell": c.name})[["Cell", *c.cycles.columns]]
                  for c in self.cells]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def __repr__(self) -> str:
        cells = ", ".join(f"{c.name!r}: {c.status}, {len(c.cycles)} cycles" for c in self.cells)
        return f"<halite.Result {cells}>"


def _result(raw: dict, path: Optional[str] = None) -> Result:
    cells = [CellResult(name=c["name"], status=c["status"], reason=c["reason"],
                        cycles=_frame(c), curves={k["cycle"]: _curve_frame(k) for k in c["curves"]},
                        step_end_times=c["step_end_times"])
             for c in raw["cells"]]
    return Result(provenance=dict(raw["provenance"]), cells=cells, path=path)


class _Progress:
    """tqdm bar (notebook-aware) when tqdm is installed, else nothing."""

    def __init__(self, enabled: bool):
        self.bar = None
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                tqdm = None
            self.tqdm = tqdm
        else:
            self.tqdm = None

    def __call__(self, cycle, total, discharge, retention, elapsed):
        if self.tqdm is None:
            return
        if self.bar is None:
            self.bar = self.tqdm(total=total, unit="cycle", desc="halite")
        self.bar.n = cycle
        self.bar.set_postfix(discharge=f"{discharge:.1f} mAh/g", retention=f"{100 * retention:.1f} %",
                             refresh=False)
        self.bar.refresh()

    def close(self):
        if self.bar is not None:
            self.bar.close()


def run(config: Optional[Union[PathLike, Sequence[PathLike]]] = None, *, cycles: Optional[int] = None,
        set=None, skipping: bool = True, skip_tolerance: float = 3e-3, retries: int = 2,
        backend: str = "cpu", progress=True, output: Optional[PathLike] = None,
        overwrite: bool = False) -> Result:
    """Run a configuration (a YAML path, YAML text, or None for the reference cell).

    cycles: stop after this many cycles (default: the whole protocol).
    set: overrides, {"key.path": "value with unit"} or ["key.path=value"], as --set.
    progress: True = a tqdm progress bar (if tqdm is installed); or a callable
        f(cycle, total_cycles, discharge_mAh_per_g, retention, elapsed_s) called after every cycle.
    output: also write the run to this HDF5 file exactly as `halite run -o` does (then read it
        back); without it the run stays in memory.
    A list of configs runs them as one batch (same mesh and protocol; one IDA instance).
    A failed solve does not raise: the cell's status is "failed" and .reason says why; every
    finished cycle is in the result. Ctrl-C stops at the next cycle boundary and returns the
    finished cycles with status "interrupted".
    """
    max_cycles = -1 if cycles is None else int(cycles)
    if max_cycles == 0 or max_cycles < -1:
        raise ValueError("cycles must be a positive number of cycles (or None for all)")
    if output is not None:
        if isinstance(config, (list, tuple)):
            raise ValueError("output= takes one config, not a batch")
        path = os.fspath(output)
        code = _halite.run_to_file(_load(config, set), path, max_cycles, skipping,
                                   skip_tolerance, retries, backend, overwrite)
        if code == 2:
            raise OutputError(f"halite could not write {path}: it is locked by another run "
                              "(the message above says which)")
        if code >= 128:
            raise KeyboardInterrupt(f"halite run stopped by a signal; the finished cycles are in "
                                    f"{path} (resume with `halite run ... --resume {path}`)")
        return load(path)
    configs = ([_load(c, set) for c in config] if isinstance(config, (list, tuple))
               else [_load(config, set)])
    bar = progress if callable(progress) else _Progress(bool(progress))
    try:
        raw = _halite.run(configs, max_cycles, skipping, skip_tolerance, retries, backend, bar)
    finally:
        if isinstance(bar, _Progress):
            bar.close()
    result = _result(raw)
    if raw["interrupted"]:
        warnings.warn("halite.run interrupted: the result holds the cycles finished so far",
                      RuntimeWarning, stacklevel=2)
    for cell in result.cells:
        if cell.status == "failed":
            warnings.warn(f"halite: cell {cell.name!r} failed: {cell.reason}", RuntimeWarning,
                          stacklevel=2)
    return result


def sweep(sweep_file: PathLike, *, output: PathLike = "halite_sweep.h5",
          cycles: Optional[int] = None, threads: int = 0, skipping: bool = True,
          retries: int = 2, backend: str = "cpu", overwrite: bool = False,
          quiet: bool = True) -> Result:
    """Run a sweep file (docs/sweep.md) into `output` as `halite sweep` does; returns it loaded
    (one CellResult per case, named after the case)."""
    path = os.fspath(output)
    code = _halite.sweep(os.fspath(sweep_file), path, -1 if cycles is None else int(cycles),
                         int(threads), skipping, retries, backend, overwrite, quiet)
    if code == 2:
        raise OutputError(f"halite could not write {path}: it is locked by another run "
                          "(the message above says which)")
    if code >= 128:
        raise KeyboardInterrupt(f"halite sweep stopped by a signal; finished cases are in {path}")
    return load(path)


def load(path: PathLike) -> Result:
    """A result file of `halite run` or `halite sweep` (every curve included)."""
    path = os.fspath(path)
    return _result(_halite.read_result(path), path=path)
