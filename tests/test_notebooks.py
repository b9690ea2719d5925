"""The example notebooks run top to bottom (at a tiny budget) and are stored without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat not installed (pip install '.[test]')")
nbclient = pytest.importorskip("nbclient", reason="nbclient not installed (pip install '.[test]')")

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
CROWD = NOTEBOOKS / "crowd_equilibria.ipynb"


def test_notebooks_are_stored_without_outputs():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name} has outputs"


def test_crowd_equilibria_notebook_runs(tmp_path, monkeypatch):
    # Tiny budget; files the notebook writes land in tmp_path, whatever the working directory.
    monkeypatch.setenv("MFGTOOLS_NB_ITERATIONS", "2")
    monkeypatch.setenv("MFGTOOLS_NB_HORIZON", "4")
    monkeypatch.setenv("MFGTOOLS_NB_OUTPUT", str(tmp_path / "output"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    notebook = nbformat.read(CROWD, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the failing cell, on any error

    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.outputs if output.output_type == "error"]
    assert not errors
    assert (tmp_path / "output" / "four_rooms_exploration.nc").is_file()
    assert (tmp_path / "output" / "four_rooms_exploration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
