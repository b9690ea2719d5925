"""The example notebooks run top to bottom (at a tiny budget) and are stored without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat not installed (pip install '.[test]')")
nbclient = pytest.importorskip("nbclient", reason="nbclient not installed (pip install '.[test]')")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
CROWD = NOTEBOOKS / "crowd_equilibria.ipynb"
OFFLINE = NOTEBOOKS / "offline_learning.ipynb"
PMA = NOTEBOOKS / "stationary_pma.ipynb"
GRAPHEX = NOTEBOOKS / "graphex_games.ipynb"
SWARM = NOTEBOOKS / "swarm_control.ipynb"


def test_notebooks_are_stored_without_outputs():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name} has outputs"


def execute(path, tmp_path, monkeypatch, **budget) -> nbformat.NotebookNode:
    """Run a notebook at a tiny budget (environment variables); files land in tmp_path/output."""
    for name, value in budget.items():
        monkeypatch.setenv(f"MFGTOOLS_NB_{name.upper()}", str(value))
    monkeypatch.setenv("MFGTOOLS_NB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the failing cell, on any error
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors
    return notebook


def test_crowd_equilibria_notebook_runs(tmp_path, monkeypatch):
    execute(CROWD, tmp_path, monkeypatch, iterations=2, horizon=4)
    assert (tmp_path / "output" / "four_rooms_exploration.nc").is_file()
    assert (tmp_path / "output" / "four_rooms_exploration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_offline_learning_notebook_runs(tmp_path, monkeypatch):
    # one iteration of a tiny network, few episodes, a short OMD reference
    execute(
        OFFLINE, tmp_path, monkeypatch, iterations=1, steps=10, batch_size=32, hidden=16, episodes=50, omd_iterations=5
    )
    saved = tmp_path / "output" / "omd20_epsilon0.2.nc"
    assert saved.is_file()
    from mfgtools.offline import load_dataset

    assert load_dataset(saved).n_episodes == 50


def test_stationary_pma_notebook_runs(tmp_path, monkeypatch):
    # three PMA iterations, two small populations, two seeds
    execute(PMA, tmp_path, monkeypatch, iterations=3, agents="10,20", seeds=2)
    output = tmp_path / "output"
    from mfgtools import load_result

    saved = load_result(output / "torus_pma.nc")  # the 10 x 10 torus equilibrium, stationary policy
    assert saved.attrs["mode"] == "stationary" and saved["policy"].shape == (10, 10, 5)
    assert (output / "sis_finite_n.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (output / "sis_floors.csv").is_file()


def test_graphex_games_notebook_runs(tmp_path, monkeypatch):
    # tiny graphexes, two iterations, a short horizon, one real network (skipped there when absent)
    execute(GRAPHEX, tmp_path, monkeypatch, iterations=2, seeds=2, nu=20, big_nu=60, horizon=4, networks="ca-grqc")
    from mfgtools import load_result

    saved = load_result(tmp_path / "output" / "sis_graphex_hybrid.nc")
    assert "state_share" in saved and saved.sizes["t"] == 5
    np.testing.assert_allclose(saved["state_share"].values.sum(-1), 1.0, atol=1e-5)


def test_swarm_control_notebook_runs(tmp_path, monkeypatch):
    # one PPO iteration of tiny networks on swarms of 6 agents over 4 steps, one extra task
    execute(
        SWARM,
        tmp_path,
        monkeypatch,
        iterations=1,
        horizon=4,
        train_agents=6,
        agents="4,8",
        seeds=2,
        tasks="aggregation",
        solver="n_envs=2,width=8,epochs=1,minibatches=1,policy_agents=8,policy_rollouts=2",
    )
    from mfgtools import load_result

    saved = load_result(tmp_path / "output" / "vicsek_dec_pomfc.nc")
    assert saved.attrs["kind"] == "swarm" and saved.attrs["solver"] == "dec-pomfc"
    assert saved["policy"].sizes["t"] == 5  # decisions at t = 0..3, NaN at t = T = 4
    np.testing.assert_allclose(saved["policy"].values[:4].sum(-1), 1.0, atol=1e-5)
    assert np.isnan(saved["policy"].values[4]).all()
    assert (tmp_path / "output" / "vicsek.gif").read_bytes()[:6] == b"GIF89a"
