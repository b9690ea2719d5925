"""Sweeps over seeds x parameter grids (mfgtools.sweep): same iterates as solve, sharding, CLI, multi-host env.

Tiny games and a few iterations: compilation dominates. The sharded case runs
in a subprocess with 8 simulated CPU devices, so that the rest of the suite
keeps one device.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr
from helpers import assert_one_error_line, assert_png, cli_env, run_cli, with_xla_flag

import mfgtools
from mfgtools.distributed import initialize_from_environment, requested, settings_from_environment
from mfgtools.errors import MFGError
from mfgtools.sweeps import best_point, parse_seeds

RATES = [0.1, 0.3, 1.0]


@pytest.fixture(scope="module")
def game():
    return mfgtools.make_game("crowd", map="empty:4", horizon=4)


def assert_same_as_solve(dataset, game, solver, seeds, iterations, points, atol=1e-6, **fixed):
    """Every (seed, point) of the sweep against its own ``solve`` run."""
    for seed in seeds:
        for point in points:
            single = mfgtools.solve(game, solver, iterations=iterations, seed=seed, **point, **fixed).to_xarray()
            run = dataset.sel(seed=seed, **point)
            for name in single.data_vars:
                np.testing.assert_allclose(
                    run[name].values,
                    single[name].values,
                    atol=atol,
                    rtol=1e-5,
                    err_msg=f"{name} at seed {seed}, {point}",
                )


def test_sweep_gives_the_iterates_of_sequential_solves(game):
    dataset = mfgtools.sweep(game, "omd", grid={"learning_rate": RATES}, seeds=[0, 1], iterations=4)
    assert dataset["policy"].dims == ("seed", "learning_rate", "t", "row", "col", "action")
    assert dataset["exploitability"].dims == ("seed", "learning_rate", "iteration")
    assert dataset["free"].dims == ("row", "col")  # the game's, not stacked
    assert dict(dataset.sizes) == {
        "seed": 2,
        "learning_rate": 3,
        "t": 5,
        "row": 4,
        "col": 4,
        "action": 5,
        "iteration": 5,
    }
    assert list(dataset["seed"].values) == [0, 1]
    np.testing.assert_allclose(dataset["learning_rate"].values, RATES)
    attrs = dataset.attrs
    assert attrs["game"] == "crowd" and attrs["solver"] == "omd" and attrs["iterations"] == 4
    assert json.loads(attrs["grid"]) == ["learning_rate"] and json.loads(attrs["vmapped"]) == ["learning_rate"]
    assert attrs["programs"] == 1 and attrs["devices"] == 1 and attrs["wall_time_s"] > 0
    assert json.loads(attrs["solver_params"]) == {"openspiel_order": None}
    assert_same_as_solve(dataset, game, "omd", [0, 1], 4, [{"learning_rate": rate} for rate in RATES])

    best = best_point(dataset)
    finals = dataset["exploitability"].isel(iteration=-1).mean("seed")
    assert best["point"] == {"learning_rate": float(finals.idxmin())}
    assert best["mean"] == pytest.approx(float(finals.min()))


class Interrupted(Exception):
    pass


def test_a_killed_sweep_resumes_from_its_checkpoints_to_the_same_dataset(game, tmp_path):
    """Three batches (batch_size 1): the batch in progress and the finished ones are checkpointed; resuming
    reads the finished batches back, continues the one in progress and gives the uninterrupted dataset."""
    kw = dict(grid={"learning_rate": RATES}, seeds=[2], iterations=6, batch_size=1, progress=False)
    whole = mfgtools.sweep(game, "omd", **kw)
    path = tmp_path / "sweep.ckpt"
    calls = []

    def stop(done, _):
        calls.append(done)
        if len(calls) == 4:  # during the second batch (each has 6 iterations in chunks of 1, 2, ...)
            raise Interrupted

    with pytest.raises(Interrupted):
        mfgtools.sweep(game, "omd", checkpoint=path, checkpoint_every=1, callback=stop, **kw)
    assert sorted(os.listdir(tmp_path)) == ["sweep.ckpt", "sweep.ckpt.batch-0"]
    assert mfgtools.checkpoints.peek(path)[1]["batches"] == 3
    with pytest.raises(MFGError, match="pass --resume"):
        mfgtools.sweep(game, "omd", checkpoint=path, **kw)
    with pytest.raises(MFGError, match="belongs to another run"):  # another grid is another sweep
        mfgtools.sweep(game, "omd", checkpoint=path, resume=True, **dict(kw, grid={"learning_rate": [0.1, 0.2]}))
    resumed = mfgtools.sweep(game, "omd", checkpoint=path, resume=True, remove_checkpoint=False, **kw)
    for name in ("exploitability", "policy", "mean_field"):
        np.testing.assert_array_equal(resumed[name].values, whole[name].values)
    assert sorted(os.listdir(tmp_path)) == ["sweep.ckpt", "sweep.ckpt.batch-0", "sweep.ckpt.batch-1"]
    mfgtools.sweeps.remove_checkpoint_files(path)
    (tmp_path / "sweep.ckpt.batch-0").write_text("my notes")  # not ours: refused, never deleted
    with pytest.raises(MFGError, match="not an mfgtools checkpoint"):
        mfgtools.sweep(game, "omd", checkpoint=path, restart=True, **kw)
    assert os.listdir(tmp_path) == ["sweep.ckpt.batch-0"]


def test_parameters_that_cannot_be_vmapped_run_in_an_outer_loop():
    # boltzmann's temperature is read by Python (`if not self.temperature`): tracing it fails,
    # so it becomes an outer loop; damping is vmapped
    small = mfgtools.make_game("crowd", map="empty:3", horizon=3)
    grid = {"temperature": [0.5, 1.0], "damping": [0.5, 1.0]}
    dataset = mfgtools.sweep(small, "boltzmann", grid=grid, seeds=[3], iterations=2)
    assert json.loads(dataset.attrs["vmapped"]) == ["damping"] and dataset.attrs["programs"] == 2
    assert dataset["exploitability"].dims == ("seed", "temperature", "damping", "iteration")
    # both programs, both vmapped values
    assert_same_as_solve(
        dataset,
        small,
        "boltzmann",
        [3],
        2,
        [{"temperature": 0.5, "damping": 0.5}, {"temperature": 1.0, "damping": 1.0}],
    )
    # a bool (not a float) is never vmapped; on crowd_modelling (OpenSpiel's) it changes the iterates
    ring = mfgtools.make_game("crowd_modelling", size=5, horizon=3)
    grid = {"openspiel_order": [False, True], "learning_rate": ["0.5", 2]}
    dataset = mfgtools.sweep(ring, "omd", grid=grid, seeds=[0], iterations=2)
    assert json.loads(dataset.attrs["vmapped"]) == ["learning_rate"] and dataset.attrs["programs"] == 2
    assert list(dataset["openspiel_order"].values) == ["false", "true"]
    finals = dataset["exploitability"].isel(seed=0, iteration=-1).values
    assert not np.allclose(finals[0], finals[1])  # the two programs differ
    for order, rate in ((False, 2.0), (True, 0.5)):
        single = mfgtools.solve(ring, "omd", iterations=2, openspiel_order=order, learning_rate=rate)
        run = dataset.sel(seed=0, openspiel_order=str(order).lower(), learning_rate=rate)
        np.testing.assert_allclose(run["exploitability"].values, single.metrics["exploitability"], rtol=1e-5)


SHARDED = textwrap.dedent("""
    import json, jax, numpy as np, mfgtools
    game = mfgtools.make_game("crowd", map="empty:4", horizon=4)
    kw = dict(grid={"learning_rate": [0.1, 0.3, 1.0]}, seeds=[0, 1, 2], iterations=3)  # 9 runs on 8 devices
    runs = {"sharded": mfgtools.sweep(game, "omd", **kw),
            "one": mfgtools.sweep(game, "omd", devices=jax.devices()[:1], **kw),
            "batches": mfgtools.sweep(game, "omd", batch_size=4, **kw),
            "batches_one": mfgtools.sweep(game, "omd", batch_size=4, devices=1, **kw)}
    reference = runs["sharded"]
    print(json.dumps({
        "devices": len(jax.devices()),
        "reported": {k: int(v.attrs["devices"]) for k, v in runs.items()},
        "batch": {k: int(v.attrs["batch_size"]) for k, v in runs.items()},
        "diff": {k: max(float(np.nanmax(np.abs(v[name].values - reference[name].values)
                                        / (1 + np.abs(reference[name].values))))
                        for name in ("policy", "mean_field", "exploitability")) for k, v in runs.items()},
    }))
""")


def test_sharded_over_8_devices_matches_one_device_and_batches(tmp_path):
    env = dict(cli_env(), XLA_FLAGS=with_xla_flag("--xla_force_host_platform_device_count=8"), JAX_PLATFORMS="cpu")
    process = subprocess.run(
        [sys.executable, "-c", SHARDED], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert process.returncode == 0, process.stderr
    report = json.loads(process.stdout.strip().splitlines()[-1])
    assert report["devices"] == 8
    assert report["reported"] == {"sharded": 8, "one": 1, "batches": 8, "batches_one": 1}
    # padded to a multiple of the devices: 9 runs -> 16; batches of 4 runs -> 8 on 8 devices, 4 on one
    assert report["batch"] == {"sharded": 16, "one": 9, "batches": 8, "batches_one": 4}
    assert max(report["diff"].values()) < 1e-6, report["diff"]  # relative (float32: one ulp of 10 is 1e-6)


def test_inputs_are_validated_before_anything_runs(game):
    with pytest.raises(MFGError, match="learning_rate must be a number, got 'abc'"):
        mfgtools.sweep(game, "omd", grid={"learning_rate": [0.1, "abc"]})
    with pytest.raises(MFGError, match="learning_rate must be > 0"):
        mfgtools.sweep(game, "omd", grid={"learning_rate": [0.0]})
    with pytest.raises(MFGError, match="solver 'omd' has no parameter 'nope'"):
        mfgtools.sweep(game, "omd", grid={"nope": [1]})
    with pytest.raises(MFGError, match="repeats 0.1"):
        mfgtools.sweep(game, "omd", grid={"learning_rate": [0.1, "0.1"]})
    with pytest.raises(MFGError, match="both swept"):
        mfgtools.sweep(game, "omd", grid={"learning_rate": [0.1]}, learning_rate=0.2)
    with pytest.raises(MFGError, match="needs a swarm game"):
        mfgtools.sweep(game, "ippo")
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7] and parse_seeds(5) == [5] and parse_seeds(range(2)) == [0, 1]
    for bad, message in (
        ("x", "seeds must be seeds such as"),
        ("3-1", "is empty"),
        ("1,1", "repeats seed 1"),
        ([], "at least one seed"),
        ([-1], "at least 0"),
    ):
        with pytest.raises(MFGError, match=message):
            parse_seeds(bad)


def test_cli_sweep_writes_the_dataset_figure_and_best_point(tmp_path):
    process = run_cli(
        "sweep",
        "--map",
        "empty:4",
        "--horizon",
        "4",
        "--iterations",
        "3",
        "--seeds",
        "0-1",
        "--grid",
        "learning_rate=0.1,1",
        "--out",
        "sweep.nc",
        "--plot",
        "sweep.png",
        cwd=tmp_path,
    )
    assert process.returncode == 0, process.stderr
    assert "Traceback" not in process.stderr
    out = process.stdout
    assert "runs            4 = 2 seeds x learning_rate (2 values); vmapped: learning_rate" in out
    best = next(line for line in out.splitlines() if line.startswith("best"))
    with xr.open_dataset(tmp_path / "sweep.nc") as saved:
        dataset = saved.load()
    assert dict(dataset.sizes) == {
        "seed": 2,
        "learning_rate": 2,
        "t": 4 + 1,
        "row": 4,
        "col": 4,
        "action": 5,
        "iteration": 4,
    }
    point = best_point(dataset)
    assert best.startswith(
        f"best            learning_rate={point['point']['learning_rate']:g}: final exploitability {point['mean']:.6g}"
    )
    start = float(dataset["exploitability"].isel(iteration=0).mean())
    assert best.endswith(f"; initial policy: {start:.6g})")  # how much better than where the runs began
    assert_png(tmp_path / "sweep.png")
    assert sorted(os.listdir(tmp_path)) == ["sweep.nc", "sweep.png"]


SWEEP_ERRORS = {
    "bad grid value": (["--grid", "learning_rate=abc"], ["learning_rate must be a number, got 'abc'"]),
    "unknown grid parameter": (["--grid", "nope=1"], ["solver 'omd' has no parameter 'nope'", "learning_rate"]),
    "grid over a game parameter": (["--grid", "horizon=3,4"], ["'horizon' is a parameter of game 'crowd'"]),
    "bad seeds": (["--seeds", "x"], ["--seeds must be seeds such as 0-7 or 0,1,2"]),
}


@pytest.mark.parametrize("case", list(SWEEP_ERRORS))
def test_cli_sweep_errors_are_one_line_and_write_nothing(tmp_path, case):
    args, fragments = SWEEP_ERRORS[case]
    process = run_cli(
        "sweep", "--map", "empty:4", "--iterations", "1", *args, "--out", "s.nc", "--plot", "s.png", cwd=tmp_path
    )
    assert_one_error_line(process, *fragments)
    assert os.listdir(tmp_path) == []


def test_distributed_settings_come_from_the_environment_and_are_validated(monkeypatch, capsys, tmp_path):
    assert not requested({}) and not requested({"MFGTOOLS_DISTRIBUTED": "0"})
    assert requested({"MFGTOOLS_DISTRIBUTED": "1"}) and requested({"MFGTOOLS_DISTRIBUTED": "true"})
    with pytest.raises(MFGError, match="MFGTOOLS_DISTRIBUTED must be true or false"):
        requested({"MFGTOOLS_DISTRIBUTED": "maybe"})
    assert settings_from_environment({}) == {}  # JAX detects the cluster (Slurm, ...)
    full = {"MFGTOOLS_COORDINATOR": "node001:1234", "MFGTOOLS_NUM_PROCESSES": "4", "MFGTOOLS_PROCESS_ID": "3"}
    assert settings_from_environment(full) == {
        "coordinator_address": "node001:1234",
        "num_processes": 4,
        "process_id": 3,
    }
    for change, message in (
        ({"MFGTOOLS_NUM_PROCESSES": "four"}, "MFGTOOLS_NUM_PROCESSES must be an integer, got 'four'"),
        ({"MFGTOOLS_NUM_PROCESSES": "0"}, "MFGTOOLS_NUM_PROCESSES must be at least 1"),
        ({"MFGTOOLS_PROCESS_ID": "4"}, "MFGTOOLS_PROCESS_ID must be below MFGTOOLS_NUM_PROCESSES"),
        ({"MFGTOOLS_PROCESS_ID": "-1"}, "MFGTOOLS_PROCESS_ID must be at least 0"),
        ({"MFGTOOLS_COORDINATOR": "node001"}, "MFGTOOLS_COORDINATOR must be HOST:PORT"),
        ({"MFGTOOLS_COORDINATOR": ""}, "set MFGTOOLS_COORDINATOR too"),
    ):
        with pytest.raises(MFGError, match=message):
            settings_from_environment({**full, **change})
    # not asked: nothing is validated or initialised
    assert initialize_from_environment(environ={"MFGTOOLS_NUM_PROCESSES": "four"}) is False
    with pytest.raises(MFGError, match="MFGTOOLS_NUM_PROCESSES must be an integer"):  # before JAX is touched
        initialize_from_environment(environ={**full, "MFGTOOLS_DISTRIBUTED": "1", "MFGTOOLS_NUM_PROCESSES": "x"})
    # the command line: one error line, before JAX is initialised or anything is written
    from mfgtools.cli import main

    monkeypatch.setenv("MFGTOOLS_NUM_PROCESSES", "x")
    for command in ("sweep", "solve"):
        status = main([command, "--distributed", "--out", str(tmp_path / "s.nc")])
        err = capsys.readouterr().err
        assert status == 2 and err.strip().splitlines() == [
            "mfgtools: error: set MFGTOOLS_COORDINATOR, MFGTOOLS_PROCESS_ID too (or none of MFGTOOLS_COORDINATOR, "
            "MFGTOOLS_NUM_PROCESSES, MFGTOOLS_PROCESS_ID, to let JAX detect the cluster, e.g. under Slurm)"
        ], err
    assert os.listdir(tmp_path) == []


def test_a_sweep_takes_from_the_declaration_whether_a_parameter_is_traced(monkeypatch):
    """``Parameter.traced`` decides without a trial trace: True vmaps, False never does (the trial runs only
    for parameters that do not say)."""
    from mfgtools import sweeps
    from mfgtools.solvers import make_solver, solver_spec

    tried = []
    monkeypatch.setattr(sweeps, "_traces", lambda base, game, paths: tried.append(paths) or True)
    game = mfgtools.make_game("random", n_states=3, n_actions=2, horizon=2)

    def vmappable(solver, name, values):
        solvers = {(i,): make_solver(solver, **{name: value}) for i, value in enumerate(values)}
        return sweeps._vmappable(game, solvers, (name,), {name: values}, solver_spec(solver).parameters)

    assert solver_spec("omd").parameters["learning_rate"].traced is True
    assert vmappable("omd", "learning_rate", [0.1, 0.2]) == (("learning_rate", ("learning_rate",)),)
    assert solver_spec("boltzmann").parameters["temperature"].traced is False
    assert vmappable("boltzmann", "temperature", [0.5, 1.0]) == ()
    assert tried == []
    assert solver_spec("pma-sampled").parameters["n_agents"].traced is None  # not declared: the trial decides
