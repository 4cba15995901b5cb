"""The Python package against the command line: same numbers to the last bit, same errors.

Run by tests/run_all.sh after `pip install .` into a fresh virtual environment:
    HALITE_BINARY=build/halite python -m pytest tests/python
"""

import os
import subprocess
import threading
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

import halite

ROOT = Path(__file__).resolve().parents[2]
BINARY = os.environ.get("HALITE_BINARY", str(ROOT / "build" / "halite"))
PRESSURE = {"cell.mechanics.stack_pressure": "300 MPa"}


def cli_run(tmp_path, *args):
    out = tmp_path / "cli.h5"
    cmd = [BINARY, "run", "-q", "-o", str(out), *args]
    subprocess.run(cmd, check=True)
    return out


def assert_same_as_file(result, path):
    """Every /cycles column, the step end times, every curve and the status equal the file's."""
    with h5py.File(path, "r") as f:
        cycles = f["cycles"]
        written = int(cycles.attrs["cycles_written"])
        table = result.cycles
        assert len(table) == written
        names = [n for n in cycles.keys() if n != "Step end times [s]"]
        assert set(names) == set(table.columns)
        for name in names:
            expected = cycles[name][0, :written]
            got = table[name].to_numpy()
            # bit for bit: integers and flags equal, floats equal including NaN
            assert np.array_equal(got.astype(expected.dtype), expected, equal_nan=True), name
            assert table.attrs["units"][name] == cycles[name].attrs["units"]
        steps = cycles["Step end times [s]"][0, :written, :]
        assert np.array_equal(result.step_end_times, steps, equal_nan=True)
        curves = f["curves/cell_0"]
        assert sorted(result.curves) == sorted(int(k.split("_")[1]) for k in curves)
        for cycle, frame in result.curves.items():
            group = curves[f"cycle_{cycle}"]
            for column in frame.columns:
                assert np.array_equal(frame[column].to_numpy(), group[column][...]), (cycle, column)
        assert f["cells/status"].asstr()[0] == result.status
        # the same configuration (the header comment names the build, which may differ)
        def values(yaml):
            return [l for l in yaml.splitlines() if not l.lstrip().startswith("#")]
        assert values(f.attrs["resolved_config_yaml"]) == values(
            result.provenance["resolved_config_yaml"])


def test_run_equals_the_cli_hdf5_to_the_last_bit(tmp_path):
    path = cli_run(tmp_path, "--cycles", "3", "--set", "cell.mechanics.stack_pressure=300 MPa")
    result = halite.run(cycles=3, set=PRESSURE, progress=False)
    assert result.status == "completed"
    assert list(result.cycles["Cycle number"]) == [1, 2, 3]
    assert result.cycles["Discharge capacity [mA.h.g-1]"].iloc[0] > 100.0
    assert result.provenance["config_source"] == "<embedded reference>"
    assert_same_as_file(result, path)
    # halite.load reads the CLI's file to the same numbers
    loaded = halite.load(path)
    pd.testing.assert_frame_equal(loaded.cycles, result.cycles, check_exact=True)
    assert loaded.provenance["date"] != "" and loaded.path == str(path)


def test_output_writes_the_same_file_as_the_cli(tmp_path):
    out = tmp_path / "py.h5"
    result = halite.run(cycles=2, output=out)
    assert out.exists()
    assert_same_as_file(result, out)
    with pytest.raises(halite.OutputError, match="exists"):
        halite.run(cycles=2, output=out)


def test_config_errors_raise_with_the_cli_message_and_location(tmp_path):
    with pytest.raises(halite.ConfigError) as info:
        halite.run(cycles=1, set={"cell.mechanics.stack_pressure": "-3 MPa"}, progress=False)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.key == "cell.mechanics.stack_pressure"
    assert "allowed range 0 MPa <= stack_pressure <= 2000 MPa" in str(err)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ncell:\n  temperature: 298 K\n  mechanics:\n    stack_presure: 1 MPa\n")
    with pytest.raises(halite.ConfigError) as info:
        halite.config(bad)
    assert info.value.file == str(bad) and info.value.line == 5
    assert "stack_pressure" in str(info.value)  # did-you-mean
    # the CLI says the same
    cli = subprocess.run([BINARY, "config", str(bad)], capture_output=True, text=True)
    assert cli.returncode == 2 and str(info.value) in cli.stderr
    with pytest.raises(halite.HaliteError, match="backend"):
        halite.run(cycles=1, backend="tpu", progress=False)
    with pytest.raises(halite.OutputError):
        halite.load(bad)


def test_config_returns_the_resolved_configuration():
    cfg = halite.config(set=PRESSURE)
    assert cfg["cell"]["mechanics"]["stack_pressure"].replace(" ", "") == "300MPa"
    assert cfg["protocol"]["blocks"][0]["repeat"] == 4001
    assert halite.config()["cell"]["mechanics"]["stack_pressure"].replace(" ", "") == "760MPa"
    columns = halite.cycle_columns()
    assert "Discharge capacity [mA.h.g-1]" in set(columns["name"])


def test_yaml_text_and_batches():
    text = "name: text cell\nmesh:\n  radial_shells: 12\n"
    a = halite.run(text, cycles=2, progress=False)
    assert a.cells[0].name == "text cell" and a.status == "completed"
    batch = halite.run([text, text], cycles=2, set=PRESSURE, progress=False)
    assert len(batch.cells) == 2
    all_cycles = batch.all_cycles()
    assert list(all_cycles["Cell"]) == ["text cell"] * 4
    with pytest.raises(ValueError, match="2 cells"):
        batch.cycles


def test_three_case_sweep(tmp_path):
    sweep_file = tmp_path / "sweep.yaml"
    sweep_file.write_text(
        "name: three pressures\n"
        "set:\n  - mesh.radial_shells=10\n"
        "factors:\n  - key: cell.mechanics.stack_pressure\n"
        "    values: [300 MPa, 500 MPa, 760 MPa]\n"
        "design: full_factorial\n")
    result = halite.sweep(sweep_file, output=tmp_path / "sweep.h5", cycles=2, threads=2)
    assert len(result.cells) == 3
    assert all(c.status == "completed" for c in result.cells)
    # each case equals a run of that case alone (a batch shares IDA's steps: to 1e-4 relative)
    for cell, pressure in zip(result.cells, ["300 MPa", "500 MPa", "760 MPa"]):
        alone = halite.run(cycles=2, progress=False, set={
            "mesh.radial_shells": 10, "cell.mechanics.stack_pressure": pressure})
        np.testing.assert_allclose(cell.cycles["Discharge capacity [mA.h.g-1]"],
                                   alone.cycles["Discharge capacity [mA.h.g-1]"], rtol=1e-4)


def test_the_gil_is_released_while_the_engine_integrates():
    ticks = []
    done = threading.Event()

    def count():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.005)

    thread = threading.Thread(target=count)
    thread.start()
    start = time.perf_counter()
    halite.run(cycles=3, progress=False, skipping=False)
    stop = time.perf_counter()
    done.set()
    thread.join()
    during = [t for t in ticks if start < t < stop]
    # a held GIL would starve the counter for the whole run
    assert len(during) >= 0.2 * (stop - start) / 0.005


def test_progress_sees_every_cycle_and_an_interrupt_keeps_the_finished_ones():
    seen = []
    r = halite.run(cycles=3, skipping=False, progress=lambda cycle, *rest: seen.append(cycle))
    assert seen == [1, 2, 3] and r.status == "completed"

    def interrupt(cycle, *rest):  # what Ctrl-C in a notebook raises
        if cycle == 2:
            raise KeyboardInterrupt

    with pytest.warns(RuntimeWarning, match="interrupted"):
        r = halite.run(cycles=4, skipping=False, progress=interrupt)
    assert r.status == "interrupted"
    assert list(r.cycles["Cycle number"]) == [1, 2]
