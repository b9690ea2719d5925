"""The fault suite: SIGKILL at random points of a solve, a sweep and a dataset collection.

A killed command leaves no partial output; a killed solve resumes from its
checkpoint (``--resume``) to the result of an uninterrupted run, bit for bit
(iterates never depend on where a run is cut), and so does a killed sweep (its
batch in progress and its finished batches are checkpointed); a killed
collection, run again, gives the uninterrupted result. The kill points are drawn from a
fixed seed so that a failure can be replayed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr
from helpers import cli_env, run_cli, signal_when_running

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
KILLS = random.Random(16)  # the kill points, replayable


def same_result(a, b, names=("policy", "mean_field", "exploitability")) -> None:
    with xr.open_dataset(a) as left, xr.open_dataset(b) as right:
        for name in names:
            np.testing.assert_array_equal(left[name].values, right[name].values, err_msg=name)


def leftovers(folder, keep, locks: bool = True) -> list[str]:
    """Files in ``folder`` beyond ``keep``; ``locks=False`` ignores ``PATH.lock`` files (a killed writer's lock
    file stays until the next writer takes it over: the kernel released the lock itself)."""
    return sorted(name for name in os.listdir(folder) if name not in keep and (locks or not name.endswith(".lock")))


@pytest.mark.parametrize(
    "solver, game",
    [
        ("omd", ["--game", "crowd", "--map", "empty:6", "--horizon", "6"]),
        (
            "pma-sampled",
            [
                "--game",
                "torus-crowd",
                "--mode",
                "stationary",
                "-p",
                "size=3x3",
                "-p",
                "n_agents=8",
                "-p",
                "mixing_steps=2",
                "-p",
                "td_steps=4",
            ],
        ),
    ],
)
def test_killed_solve_resumes_to_the_uninterrupted_result(tmp_path, solver, game):
    iterations = "200000" if solver == "omd" else "20000"
    args = ["solve", *game, "--solver", solver, "--iterations", iterations, "--checkpoint-every", "1"]
    delay = KILLS.uniform(0.0, 0.5)
    status, stderr = signal_when_running(
        [*args, "--out", "run.nc"], tmp_path, signal.SIGKILL, meanwhile=lambda _: time.sleep(delay)
    )
    assert status == -signal.SIGKILL, stderr
    assert not (tmp_path / "run.nc").exists()  # no partial result
    # a kill during a checkpoint write may leave that write's temporary; nothing else
    assert [
        name for name in leftovers(tmp_path, {"run.nc.ckpt"}, locks=False) if not name.startswith(".run.nc.ckpt.tmp-")
    ] == []
    assert (tmp_path / "run.nc.ckpt").exists()  # progress kept
    resumed = run_cli(*args, "--out", "run.nc", "--resume", "-q", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert not (tmp_path / "run.nc.ckpt").exists()  # removed once the result is saved
    reference = run_cli(*args, "--out", "reference.nc", "-q", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr
    same_result(tmp_path / "run.nc", tmp_path / "reference.nc")
    assert leftovers(tmp_path, {"run.nc", "reference.nc"}) == []  # the resumed run removed any stale temporary


def test_killed_sweep_resumes_to_the_uninterrupted_result(tmp_path):
    """Two batches (one run each): a kill leaves the batch in progress and any finished batch in checkpoints
    (OUT.ckpt, OUT.ckpt.batch-K) and no partial sweep; --resume ends with the uninterrupted sweep's dataset."""
    args = [
        "sweep",
        "--game",
        "crowd",
        "--map",
        "empty:6",
        "--horizon",
        "6",
        "--solver",
        "omd",
        "--iterations",
        "100000",
        "--grid",
        "learning_rate=0.1,0.3",
        "--batch-size",
        "1",
        "--checkpoint-every",
        "1",
    ]
    delay = KILLS.uniform(0.0, 1.5)
    status, stderr = signal_when_running(
        [*args, "--out", "sweep.nc"], tmp_path, signal.SIGKILL, meanwhile=lambda _: time.sleep(delay)
    )
    assert status == -signal.SIGKILL, stderr
    left = leftovers(tmp_path, set(), locks=False)
    assert "sweep.nc" not in left  # no partial sweep
    assert all(name == "sweep.nc.ckpt" or name.startswith(("sweep.nc.ckpt.batch-", ".sweep.nc.ckpt.")) for name in left)
    done = run_cli(*args, "--out", "sweep.nc", "--resume", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    reference = run_cli(*args, "--out", "reference.nc", "-q", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr
    same_result(tmp_path / "sweep.nc", tmp_path / "reference.nc")
    # the checkpoints went once the sweep was saved; the stale locks and temporaries were taken over and removed
    assert leftovers(tmp_path, {"sweep.nc", "reference.nc"}) == []


def test_killed_dataset_collection_leaves_nothing_and_reruns_to_the_same_dataset(tmp_path):
    args = [
        "dataset",
        "collect",
        "--game",
        "crowd",
        "--map",
        "empty:6",
        "--horizon",
        "6",
        "--policy",
        "uniform",
        "--episodes",
        "20000",
    ]
    process = subprocess.Popen(
        [sys.executable, "-m", "mfgtools", *args, "--out", "data.nc"],
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(KILLS.uniform(2.0, 6.0))
    process.kill()
    process.communicate(timeout=60)
    # nothing partial: either no dataset, or (a kill after the atomic rename, the process not yet gone) a whole one
    assert leftovers(tmp_path, {"data.nc"}, locks=False) == []
    if (tmp_path / "data.nc").exists():
        from mfgtools.offline import load_dataset

        assert load_dataset(tmp_path / "data.nc").n_episodes == 20000
    for out in ("data.nc", "reference.nc"):
        done = run_cli(*args, "--out", out, "--overwrite", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert leftovers(tmp_path, {"data.nc", "reference.nc"}) == []
    with xr.open_dataset(tmp_path / "data.nc") as left, xr.open_dataset(tmp_path / "reference.nc") as right:
        for name in left.data_vars:
            np.testing.assert_array_equal(left[name].values, right[name].values, err_msg=name)
