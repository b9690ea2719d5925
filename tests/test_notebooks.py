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


def test_graphex_games_notebook_runs(tmp_path, monkeypatch):
    # tiny graphexes, two iterations, a short horizon, one real network (skipped there when absent)
    execute(GRAPHEX, tmp_path, monkeypatch, iterations=2, seeds=2, nu=20, big_nu=60, horizon=4, networks="ca-grqc")
    from mfgtools import load_result

    saved = load_result(tmp_path / "output" / "sis_graphex_hybrid.nc")
    assert "state_share" in saved and saved.sizes["t"] == 5
    np.testing.assert_allclose(saved["state_share"].values.sum(-1), 1.0, atol=1e-5)
