"""Swarm games through solve, Result, netCDF, figures and the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_error_line, assert_png, run_cli

import mfgtools
from mfgtools.errors import MFGError
from mfgtools.plotting import (
    animate_swarm,
    plot_order_parameter,
    plot_result,
    plot_swarm_mean_field,
    plot_swarm_policy,
    plot_swarm_snapshots,
)
from mfgtools.simulate import simulate_swarm

# a tiny budget of the PPO solvers
TINY_PPO = dict(n_envs=2, width=8, epochs=1, minibatches=1)
TINY_FLAGS = [f"-p{key}={value}" for key, value in TINY_PPO.items()] + ["-ppolicy_agents=8"]


@pytest.fixture(scope="module")
def results():
    """dec-pomfc on a tiny Vicsek swarm (1-D observations) and a tiny aggregation swarm (2-D)."""
    vicsek = mfgtools.make_game("vicsek", n_agents=6, horizon=4)
    aggregation = mfgtools.make_game("aggregation", n_agents=6, horizon=4)
    return {
        game.name: mfgtools.solve(game, "dec-pomfc", iterations=2, policy_agents=8, **TINY_PPO)
        for game in (vicsek, aggregation)
    }


def test_result_dataset_layout_and_round_trip(results, tmp_path):
    vicsek, aggregation = results["vicsek"], results["aggregation"]
    data = vicsek.to_xarray()
    assert data.attrs["kind"] == "swarm" and data.attrs["mode"] == "finite-horizon"
    assert data["policy"].dims == ("t", "relative_heading", "action")
    assert data["mean_field"].dims == ("t", "phi") and data.sizes["phi"] == 32
    np.testing.assert_allclose(data["policy"].isel(t=slice(0, -1)).sum("action"), 1.0, atol=1e-5)
    assert np.isnan(data["policy"].isel(t=-1)).all()  # no decision at the horizon
    np.testing.assert_allclose(data["mean_field"].sum("phi"), 1.0, atol=1e-5)
    assert data["order"].shape == (5,) and ((data["order"] >= 0) & (data["order"] <= 1)).all()
    assert data["return"].shape == (3,) and data["order_parameter"].shape == (3,)
    grid = aggregation.to_xarray()
    assert grid["policy"].dims == ("t", "offset_x", "offset_y", "action")
    assert grid["mean_field"].dims == ("t", "x", "y")
    path = vicsek.save(tmp_path / "vicsek.nc")
    loaded = mfgtools.load_result(path)
    assert loaded.attrs["kind"] == "swarm"
    np.testing.assert_allclose(loaded["policy"].values, data["policy"].values)
    with pytest.raises(MFGError, match="no exploitability"):
        _ = vicsek.exploitability


def test_swarm_policy_is_what_the_result_tabulates(results):
    result = results["vicsek"]
    game = result.game
    grid = np.asarray(game.observation_grid(), np.float32)
    table = np.stack([np.asarray(result.swarm_policy.probabilities(t, grid)) for t in range(game.horizon)])
    np.testing.assert_allclose(table, result.policy, atol=1e-5)
    # executed decentralised by a bigger swarm than the one it was trained with
    play = simulate_swarm(game, result.swarm_policy, n_agents=50, n_seeds=3)
    assert play.order.shape == (3, game.horizon + 1) and np.isfinite(np.asarray(play.returns())).all()


def test_swarm_figures(results, tmp_path):
    for name, result in results.items():
        assert_png(Path(plot_result(result, tmp_path / f"{name}.png")))
        plot_swarm_policy(result, t=1)
        plot_swarm_mean_field(result)
        plot_order_parameter(result)
    with pytest.raises(MFGError, match="times do not apply"):
        plot_result(results["vicsek"], tmp_path / "x.png", times=[0, 1])
    game = results["vicsek"].game
    play = simulate_swarm(game, results["vicsek"].swarm_policy, n_agents=12, record_states=True)
    assert play.states.shape == (1, game.horizon + 1, 12, 3)
    plot_swarm_snapshots(game, play.states[0], times=[0, 4])
    with pytest.raises(MFGError, match="outside the episode"):
        plot_swarm_snapshots(game, play.states[0], times=[9])
    animate_swarm(game, play.states[0], tmp_path / "swarm.gif")
    assert (tmp_path / "swarm.gif").read_bytes()[:6] == b"GIF89a"
    with pytest.raises(MFGError, match=".gif"):
        animate_swarm(game, play.states[0], tmp_path / "swarm.avi")


def test_cli_solves_a_swarm_game_with_dec_pomfc_by_default(tmp_path):
    process = run_cli(
        "solve",
        "--game",
        "kuramoto",
        "-pn_agents=6",
        "--horizon",
        "3",
        "--iterations",
        "2",
        *TINY_FLAGS,
        "--out",
        "k.nc",
        "--plot",
        "k.png",
        "-q",
        cwd=tmp_path,
    )
    assert process.returncode == 0, process.stderr
    assert "dec-pomfc" in process.stdout and "return" in process.stdout
    assert "order parameter R" in process.stdout and "exploitability" not in process.stdout
    assert_png(tmp_path / "k.png")
    saved = mfgtools.load_result(tmp_path / "k.nc")
    assert saved.attrs["solver"] == "dec-pomfc" and saved.attrs["game"] == "kuramoto"
    replot = run_cli("plot", "k.nc", "--out", "again.png", cwd=tmp_path)
    assert replot.returncode == 0, replot.stderr
    assert_png(tmp_path / "again.png")


def test_cli_errors_on_swarm_games(tmp_path):
    wrong = run_cli("solve", "--game", "vicsek", "--solver", "omd", "--iterations", "1", cwd=tmp_path)
    assert_one_error_line(wrong, "needs a finite", "'vicsek' is swarm")
    bad = run_cli("solve", "--game", "vicsek", "-pradius=0.7", "--iterations", "1", cwd=tmp_path)
    assert_one_error_line(bad, "radius")
    assert not list(tmp_path.glob("*.nc"))
