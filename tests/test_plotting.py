"""Plotting: figure structure, masked walls, log scales and atomic writes (tiny solves)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # before pyplot: tests never need a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import mfgtools  # noqa: E402
from mfgtools import plotting  # noqa: E402
from mfgtools.errors import MFGError  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def grid_result():
    """Four rooms (walls!) at horizon 4 after 2 OMD iterations."""
    game = mfgtools.make_game("crowd", map="four_rooms", horizon=4)
    return mfgtools.solve(game, "omd", iterations=2)


@pytest.fixture(scope="module")
def ring_result():
    """OpenSpiel's 1D crowd modelling (no grid) at horizon 3."""
    return mfgtools.solve(mfgtools.make_game("crowd_modelling", horizon=3), "fp", iterations=2)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _assert_png(path):
    with open(path, "rb") as handle:
        head = handle.read(8)
    assert head == PNG_MAGIC
    assert os.path.getsize(path) > 10_000


def test_default_times_include_both_ends():
    assert plotting.default_times(40) == [0, 8, 16, 24, 32, 40]
    assert plotting.default_times(4) == [0, 1, 2, 3, 4]
    assert plotting.default_times(1) == [0, 1]


def test_grid_density_panels_mask_walls(grid_result):
    free = np.asarray(grid_result.game.free_cells)
    assert (~free).any(), "four rooms has walls"
    fig = plotting.plot_density(grid_result, times=[0, 2, 4])
    panels = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 3 + 1  # three heatmaps and the shared colour bar
    assert [ax.get_title() for ax in panels] == ["t = 0", "t = 2", "t = 4"]
    norms = {id(ax.images[0].norm) for ax in panels}
    assert len(norms) == 1, "one colour scale shared by all panels"
    assert isinstance(panels[0].images[0].norm, matplotlib.colors.LogNorm)
    for ax in panels:
        shown = ax.images[0].get_array()
        hidden = np.ma.getmaskarray(shown) | ~np.isfinite(np.ma.getdata(shown))
        assert shown.shape == free.shape
        assert hidden[~free].all(), "walls are masked"
        assert not hidden[free].any(), "free cells are drawn"


def test_grid_density_default_times_and_linear_scale(grid_result):
    fig = plotting.plot_density(grid_result, scale="linear")
    assert len(fig.axes) == len(plotting.default_times(4)) + 1
    image = fig.axes[0].images[0]
    assert not isinstance(image.norm, matplotlib.colors.LogNorm)
    assert image.norm.vmin == 0.0


def test_density_into_given_axes(grid_result):
    fig, axes = plt.subplots(1, 2)
    assert plotting.plot_density(grid_result, times=[1, 3], axes=axes, colorbar=False) is fig
    assert all(ax.images for ax in axes)
    with pytest.raises(MFGError, match="one per time step"):
        plotting.plot_density(grid_result, times=[0, 1, 2], axes=axes)


def test_ring_density_is_one_image_over_t_and_state(ring_result):
    fig = plotting.plot_density(ring_result)
    assert len(fig.axes) == 2  # the image and its colour bar
    image = fig.axes[0].images[0]
    assert image.get_array().shape == (10, 4)  # (state, t): t = 0..3 horizontally
    assert fig.axes[0].get_xlabel() == "time step t"


def test_bad_times_are_user_errors(grid_result):
    with pytest.raises(MFGError, match="not in 0..4"):
        plotting.plot_density(grid_result, times=[0, 5])
    with pytest.raises(MFGError, match="integers"):
        plotting.plot_density(grid_result, times=["x"])


def test_exploitability_curve(grid_result, ring_result):
    ax = plotting.plot_exploitability(grid_result)
    (line,) = ax.get_lines()
    np.testing.assert_allclose(line.get_ydata(), grid_result.metrics["exploitability"])
    assert list(line.get_xdata()) == [0, 1, 2]
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "iteration" and ax.get_ylabel() == "exploitability"
    plotting.plot_exploitability(ring_result, ax=ax, label="ring")
    assert len(ax.get_lines()) == 2 and ax.get_legend() is not None


def test_exploitability_axis_is_linear_with_nonpositive_values(grid_result):
    dataset = grid_result.to_xarray()
    dataset["exploitability"][-1] = 0.0
    assert plotting.plot_exploitability(dataset).get_yscale() == "linear"


def test_policy_arrows_and_action_map(grid_result, ring_result):
    ax = plotting.plot_policy(grid_result, t=1)
    assert ax.collections, "arrows (quiver) or dots are drawn"
    with pytest.raises(MFGError, match="decision step"):
        plotting.plot_policy(grid_result, t=4)  # t = T: no decision
    ax = plotting.plot_policy(ring_result)
    assert ax.images[0].get_array().shape == (10, 3)  # (state, decision steps)


def test_plot_result_writes_atomically(tmp_path, grid_result):
    path = tmp_path / "run.png"
    assert plotting.plot_result(grid_result, path) == str(path)
    _assert_png(path)
    assert sorted(os.listdir(tmp_path)) == ["run.png"], "no temporary file left behind"


def test_plot_result_from_saved_file_and_ring(tmp_path, ring_result):
    saved = ring_result.save(str(tmp_path / "ring.nc"))
    plotting.plot_result(saved, tmp_path / "ring.png")  # a path to a result
    _assert_png(tmp_path / "ring.png")
    plotting.plot_result(mfgtools.load_result(saved), tmp_path / "ring.svg")  # a Dataset, another format
    assert (tmp_path / "ring.svg").read_text().lstrip().startswith("<?xml")
    assert sorted(os.listdir(tmp_path)) == ["ring.nc", "ring.png", "ring.svg"]


def test_failed_plot_leaves_no_partial_file(tmp_path, grid_result, monkeypatch):
    path = tmp_path / "run.png"
    path.write_bytes(b"previous figure")

    def broken_savefig(self, filename, **kwargs):
        with open(filename, "wb") as handle:
            handle.write(PNG_MAGIC)  # half a file, then a crash
        raise RuntimeError("disk full")

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError, match="disk full"):
        plotting.plot_result(grid_result, path)
    assert path.read_bytes() == b"previous figure", "the old file is untouched"
    assert os.listdir(tmp_path) == ["run.png"], "the temporary file is removed"


def test_plot_result_rejects_bad_paths_before_drawing(tmp_path, grid_result):
    with pytest.raises(MFGError, match="cannot write a figure as .txt"):
        plotting.plot_result(grid_result, tmp_path / "run.txt")
    with pytest.raises(MFGError, match="does not exist"):
        plotting.plot_result(grid_result, tmp_path / "missing" / "run.png")
    assert os.listdir(tmp_path) == []


def test_title_names_game_solver_and_parameters(grid_result):
    title = plotting.run_title(grid_result)
    assert "crowd" in title and "map=four_rooms" in title and "horizon=4" in title
    assert "omd (learning_rate=0.03)" in title and "2 iterations" in title


def test_not_a_result_is_a_user_error():
    with pytest.raises(MFGError, match="cannot plot"):
        plotting.plot_density(np.zeros((3, 3)))
