"""Plotting: figure structure, masked walls, log scales and atomic writes (tiny solves)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # before pyplot: tests never need a display

import matplotlib.pyplot as plt
import numpy as np
import pytest

import mfgtools
from mfgtools import plotting
from mfgtools.errors import MFGError
from mfgtools.results import Result

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


def _stationary(game) -> Result:
    """A hand-built result of ``game`` in stationary mode (discount 0.9): (S, A) policy, (S,) population."""
    game = game.replace(stationary=True, discount=0.9)
    rng = np.random.default_rng(1)
    policy = rng.random(game.policy_shape) * np.asarray(game.action_mask)
    mu = rng.random(game.n_states) ** 4  # spread over a few decades
    return Result(
        game=game,
        solver="omd",
        solver_params={"learning_rate": 0.03},
        policy=policy / policy.sum(-1, keepdims=True),
        mean_field=mu / mu.sum(),
        metrics={"exploitability": np.array([1.0, 0.4, 0.1])},
        iterations=2,
        seed=0,
        wall_time=0.1,
    )


@pytest.fixture(scope="module")
def stationary_grid():
    return _stationary(mfgtools.make_game("crowd", map="four_rooms", horizon=4))


@pytest.fixture(scope="module")
def stationary_states():
    return _stationary(mfgtools.make_game("random", n_states=6, horizon=3))


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


def _curves(ax):
    return [line for line in ax.get_lines() if line.get_gid() != plotting.REFERENCE]


def _references(ax):
    return {line.get_label(): line for line in ax.get_lines() if line.get_gid() == plotting.REFERENCE}


def test_exploitability_curve(grid_result, ring_result):
    ax = plotting.plot_exploitability(grid_result)
    (line,) = _curves(ax)
    np.testing.assert_allclose(line.get_ydata(), grid_result.metrics["exploitability"])
    assert list(line.get_xdata()) == [0, 1, 2]
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "iteration" and ax.get_ylabel() == "exploitability"
    plotting.plot_exploitability(ring_result, ax=ax, label="ring")
    assert len(_curves(ax)) == 2 and ax.get_legend() is not None


def _curve_result(values, solver="omd", **fields) -> Result:
    game = mfgtools.make_game("random", n_states=4, horizon=2)
    policy = np.asarray(mfgtools.uniform_policy(game))
    return Result(
        game=game,
        solver=solver,
        solver_params={},
        policy=policy,
        mean_field=np.asarray(mfgtools.mean_field(game, policy)),
        metrics={"exploitability": np.asarray(values, dtype=float)},
        iterations=len(values) - 1,
        seed=0,
        wall_time=0.1,
        **fields,
    )


def test_exploitability_references_and_best_iterate():
    """A run from the uniform policy that gets better, then worse: the uniform policy's
    level as a reference line, a star on the lowest iterate."""
    result = _curve_result([5.0, 1.0, 0.5, 2.0])
    ax = plotting.plot_exploitability(result)
    references = _references(ax)
    uniform = references["uniform policy (5)"]
    assert list(uniform.get_ydata()) == [5.0, 5.0] and ax.get_yscale() == "log"
    (star,) = [line for label, line in references.items() if label.startswith("lowest")]
    assert list(star.get_xdata()) == [2] and list(star.get_ydata()) == [0.5]
    assert "equilibrium (0)" not in references  # a log axis cannot show 0
    assert ax.get_legend() is not None
    # the same uniform reference is drawn once for two runs on one Axes
    plotting.plot_exploitability(_curve_result([5.0, 3.0, 2.0, 1.0]), ax=ax, label="other")
    assert sum(label.startswith("uniform") for label in _references(ax)) == 1


def test_exploitability_best_iteration_attribute_and_linear_references():
    """The best iterate kept by the run (attribute) wins over the curve's minimum; with a
    0 on the curve the axis is linear and the equilibrium's 0 is drawn; an offline run
    that knows its behaviour's exploitability shows it; a run from a learned start has no
    uniform reference."""
    uniform = _curve_result([3.0, 1.0, 0.0, 0.5])
    dataset = plotting.as_dataset(uniform)
    dataset.attrs["best_iteration"] = 1
    ax = plotting.plot_exploitability(dataset)
    references = _references(ax)
    assert ax.get_yscale() == "linear" and "equilibrium (0)" in references
    (star,) = [line for label, line in references.items() if label.startswith("lowest")]
    assert list(star.get_xdata()) == [1]
    offline = plotting.as_dataset(_curve_result([3.0, 2.0, 1.0], solver="off-mmd"))
    offline.attrs["behaviour_exploitability"] = 1.5
    ax = plotting.plot_exploitability(offline)
    labels = set(_references(ax))
    assert "behaviour policy (1.5)" in labels and not any(label.startswith("uniform") for label in labels)
    assert not any(label.startswith("lowest") for label in labels)  # the last iterate is the best


def test_offline_runs_show_the_papers_score_beside_the_clean_one(tmp_path):
    """An Off-MMD run's paper score (discount 0.99, greedy V at t = 0) is drawn dashed in the curve's colour,
    its final value in the legend, and the run's figure names it in the title and the facts."""
    result = _curve_result([300.0, 80.0, 60.0], solver="off-mmd")
    result.metrics["paper_exploitability"] = np.asarray([250.0, 70.0, 44.0])
    ax = plotting.plot_exploitability(result)
    clean, paper = _curves(ax)
    np.testing.assert_allclose(paper.get_ydata(), [250.0, 70.0, 44.0])
    assert paper.get_linestyle() == "--" and paper.get_color() == clean.get_color()
    assert "paper's score" in paper.get_label() and "final 44" in paper.get_label()
    assert len(_curves(plotting.plot_exploitability(result, paper_score=False))) == 1
    assert "paper's score 44" in plotting.figures.run_title(result)


def test_exploitability_axis_is_linear_with_nonpositive_values(grid_result):
    dataset = grid_result.to_xarray()
    dataset["exploitability"][-1] = 0.0
    assert plotting.plot_exploitability(dataset).get_yscale() == "linear"


def test_policy_arrows_and_action_map(grid_result, ring_result):
    ax = plotting.plot_policy(grid_result, t=1)
    assert ax.collections, "arrows (quiver) or dots are drawn"
    assert "t = 0" in plotting.plot_policy(grid_result).get_title()  # default: the first decision
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


# ----- stationary results ---------------------------------------------------------------
def test_stationary_grid_density_is_one_heatmap(stationary_grid):
    free = np.asarray(stationary_grid.game.free_cells)
    fig = plotting.plot_density(stationary_grid)
    panels = [ax for ax in fig.axes if ax.images]
    assert len(fig.axes) == 2 and len(panels) == 1  # one heatmap and its colour bar
    shown = panels[0].images[0].get_array()
    assert shown.shape == free.shape and np.ma.getmaskarray(shown)[~free].all(), "walls are masked"
    assert panels[0].get_title() == "stationary population (discount 0.9)"
    assert "mu(s)" in fig.axes[1].get_ylabel()


def test_stationary_state_density_is_one_bar_per_state(stationary_states):
    fig = plotting.plot_density(stationary_states)
    (ax,) = fig.axes
    assert len(ax.patches) == 6 and ax.get_yscale() == "log"
    heights = [bar.get_height() for bar in ax.patches]
    np.testing.assert_allclose(heights, stationary_states.mean_field)
    assert "stationary" in ax.get_title() and "0.9" in ax.get_title()
    assert plotting.plot_density(stationary_states, scale="linear").axes[0].get_yscale() == "linear"


def test_stationary_policy_maps(stationary_grid, stationary_states):
    ax = plotting.plot_policy(stationary_grid)
    assert ax.collections and "stationary" in ax.get_title()
    assert plotting.plot_policy(stationary_grid, t=0).collections  # t = 0 is accepted
    ax = plotting.plot_policy(stationary_states)
    assert ax.images[0].get_array().shape == (6, 1)  # one column of states
    best = np.argmax(stationary_states.policy, axis=-1)
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array())[:, 0], best)


def test_time_steps_of_stationary_results_are_user_errors(stationary_grid, stationary_states, tmp_path):
    for result in (stationary_grid, stationary_states):
        with pytest.raises(MFGError, match="t = 2 does not apply to a stationary result"):
            plotting.plot_policy(result, t=2)
        with pytest.raises(MFGError, match="times does not apply to a stationary result"):
            plotting.plot_density(result, times=[0])
        with pytest.raises(MFGError, match="times does not apply to a stationary result"):
            plotting.plot_result(result, tmp_path / "run.png", times=[0, 1])
    assert os.listdir(tmp_path) == []


def test_plot_stationary_results(stationary_grid, stationary_states, tmp_path):
    plotting.plot_result(stationary_grid, tmp_path / "grid.png")
    _assert_png(tmp_path / "grid.png")
    saved = stationary_states.save(str(tmp_path / "states.nc"))
    plotting.plot_result(saved, tmp_path / "states.png")  # from a saved file
    _assert_png(tmp_path / "states.png")
    assert sorted(os.listdir(tmp_path)) == ["grid.png", "states.nc", "states.png"]


def test_stationary_title_says_stationary_and_discount(stationary_grid, stationary_states):
    title = plotting.run_title(stationary_grid)
    assert "map=four_rooms" in title and "stationary, discount=0.9" in title and "horizon" not in title
    assert plotting.run_title(stationary_states).startswith("random (stationary, discount=0.9)")
