"""Multi-population games (mfgtools.finite.populations): the product-space design, its invariants, NashConv,
results and plots with a population coordinate, the command line, and the OpenSpiel games' facts.

OpenSpiel's figures for predator_prey and crowd_avoidance are in test_openspiel_games.py (recorded) and
test_openspiel_live.py (live)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import mfgtools
from mfgtools.errors import MFGError
from mfgtools.finite import kernels

TINY = dict(size=3, horizon=3)


@pytest.fixture(scope="module")
def game():
    return mfgtools.make_game("predator_prey", **TINY)


@pytest.fixture(scope="module")
def result(game):
    return mfgtools.solve(game, "omd", iterations=2, progress=False)


def test_product_space_layout_and_invariants(game):
    assert game.kind == "multi-population" and game.populations == 3 and game.states_per_population == 9
    assert game.n_states == 27 and game.population_names == ("0", "1", "2")
    # transitions never leave a population's block
    blocks = np.asarray(game.next_state) // 9
    assert (blocks == np.arange(27)[:, None, None] // 9).all()
    # mass 1/P per population at every step: the flow stays a probability vector over (population, state)
    flow = mfgtools.mean_field(game, mfgtools.uniform_policy(game))
    np.testing.assert_allclose(flow.reshape(4, 3, 9).sum(-1), 1.0 / 3.0, atol=1e-6)
    per_population = game.population_flows(flow)
    assert per_population.shape == (3, 4, 9)
    np.testing.assert_allclose(per_population.sum(-1), 1.0, atol=1e-6)
    # OpenSpiel's default starts, one corner each (cell x + y * size)
    np.testing.assert_array_equal(per_population[:, 0].argmax(-1), [0, 2, 6])
    policy = mfgtools.uniform_policy(game)
    assert game.population_policies(policy).shape == (3, 3, 9, 5)
    grid = game.to_grid(flow)
    assert grid.shape == (4, 3, 3, 3)
    np.testing.assert_array_equal(game.from_grid(grid), flow)
    assert game.to_grid(policy).shape == (3, 3, 3, 3, 5)


def test_exploitability_is_the_sum_of_the_populations_gaps(x64):
    # populations that do not interact (reward matrix 0) play one-population games: NashConv is the sum of theirs
    starts = np.zeros((2, 9))
    starts[0, 0] = 1.0
    starts[1, [4, 8]] = 0.5
    both = mfgtools.make_game("predator_prey", **TINY, players=2, reward_matrix="0 0 0 0", init_distrib=starts)
    alone = [
        mfgtools.make_game("predator_prey", **TINY, players=1, reward_matrix="0", init_distrib=start)
        for start in starts
    ]
    rng = np.random.default_rng(0)
    policy = rng.dirichlet(np.ones(5), size=(3, 18))
    gaps = [mfgtools.exploitability(single, policy[:, 9 * p : 9 * (p + 1)]) for p, single in enumerate(alone)]
    assert min(gaps) > 0.1
    np.testing.assert_allclose(mfgtools.exploitability(both, policy), sum(gaps), rtol=1e-12)


def test_rewards_read_every_population_and_openspiels_first_step():
    game = mfgtools.make_game("predator_prey")
    mu = np.asarray(game.initial_distribution)
    later = np.asarray(game.reward(1, mu))[:, 0].reshape(3, 25)
    # population 0 on its own start (0, 0): -log(1 + 1e-25) + R[0] . (1, 0, 0) = 0
    assert later[0, 0] == 0.0
    # population 1 at cell 0, where population 0 is: -log(1e-25) + R[1, 0] * 1 = 57.56... + 1
    np.testing.assert_allclose(later[1, 0], -np.log(1e-25) + 1.0, rtol=1e-6)
    # at t = 0 OpenSpiel reads its population-major start string at population-minor indices: population 1 on
    # its own start (4, 0) sees entry 1 + 3 (0 + 5 * 4) = 61 of the string, which is 0, not its mass 1
    first = np.asarray(game.reward(0, mu))[:, 0].reshape(3, 25)
    np.testing.assert_allclose(first[1, 4], -np.log(1e-25), rtol=1e-6)
    clean = mfgtools.make_game("predator_prey", openspiel_quirks=False)
    assert np.asarray(clean.reward(0, mu))[25 + 4, 0] == 0.0
    # that first reward does not depend on the action or the policy: values move, exploitabilities do not;
    # OMD's iterates differ (OpenSpiel's in-place reads of MirrorDescent's cumulative values)
    small = [mfgtools.make_game("predator_prey", **TINY, openspiel_quirks=quirks) for quirks in (True, False)]
    uniform = mfgtools.uniform_policy(small[0])
    np.testing.assert_allclose(*[mfgtools.exploitability(g, uniform) for g in small], rtol=1e-5)
    omd = [mfgtools.solve(g, "omd", iterations=2, learning_rate=0.5, progress=False) for g in small]
    assert abs(omd[0].exploitability - omd[1].exploitability) > 1e-3


def test_crowd_avoidance_walls_targets_and_moves():
    game = mfgtools.make_game("crowd_avoidance", horizon=2)
    assert game.populations == 2 and game.grid_shape == (7, 7)
    free = game.free_cells
    assert free.sum() == 49 - 27 and not free[0].any() and not free[1, 3] and free[2, 3]
    # from [x, y] = [1, 1], moving up (y - 1) hits the border: the agent stays; moving down reaches [1, 2]
    post = np.asarray(game.next_state)[8, :, 0]  # noise outcome 0 is "no noise"
    assert post[3] == 8 and post[2] == 8 + 7 and post[4] == 8
    # targets: population 0 at [5, 3], population 1 at [1, 3]
    reward = np.asarray(game.reward(1, game.initial_distribution))[:, 0].reshape(2, 49)
    assert reward[0, 5 + 3 * 7] == 1.0 and reward[1, 1 + 3 * 7] == 1.0 and reward.sum() == 2.0


@pytest.mark.parametrize(
    "name, params, message",
    [
        ("predator_prey", dict(players=2), "default reward matrices for 3 and 4 players"),
        ("predator_prey", dict(reward_matrix="0 1 2"), "reward_matrix must hold 9 numbers"),
        ("predator_prey", dict(reward_matrix="0 1 x 0 0 0 0 0 0"), "space-separated numbers"),
        ("predator_prey", dict(init_distrib=np.ones((3, 25))), "must sum to 1"),
        ("predator_prey", dict(geometry="sphere"), "geometry"),
        ("predator_prey", dict(noise_probability=1.5), "noise_probability must be <= 1"),
        ("crowd_avoidance", dict(players=3), "exactly 2 populations"),
        ("crowd_avoidance", dict(size=5), "needs size >= 6"),
        ("crowd_avoidance", dict(forbidden_states="1|1"), "forbidden_states must look like"),
        ("crowd_avoidance", dict(forbidden_states="[1|2|3]"), "forbidden_states must be pairs"),
    ],
)
def test_parameters_are_validated(name, params, message):
    with pytest.raises(MFGError, match=message):
        mfgtools.make_game(name, **params)


def test_every_finite_solver_updates_every_population(game):
    result = mfgtools.solve(game, "fp", iterations=2, progress=False)
    flows = game.population_flows(result.mean_field)
    np.testing.assert_allclose(flows.sum(-1), 1.0, atol=1e-5)
    # each population leaves its corner
    assert (flows[:, -1].max(-1) < 0.9).all()
    assert kernels.gap_at_start(game, jax.numpy.ones(27), jax.numpy.zeros(27)) == pytest.approx(3.0)


def test_results_carry_a_population_coordinate(game, result, tmp_path):
    dataset = result.to_xarray()
    assert dataset["mean_field"].dims == ("t", "population", "row", "col")
    assert dataset["policy"].dims == ("t", "population", "row", "col", "action")
    assert list(dataset["population"].values) == ["0", "1", "2"]
    assert dataset.attrs["populations"] == 3 and dataset.attrs["kind"] == "multi-population"
    np.testing.assert_allclose(dataset["mean_field"].sum(("row", "col")), 1.0, atol=1e-5)
    np.testing.assert_allclose(
        dataset["policy"].sel(population="1").isel(t=0).values.reshape(9, 5), result.policy[0, 9:18]
    )
    path = result.save(str(tmp_path / "run.nc"))
    loaded = mfgtools.load_result(path)
    assert loaded["mean_field"].dims == dataset["mean_field"].dims
    np.testing.assert_allclose(loaded["mean_field"].values, dataset["mean_field"].values)


def test_plots_draw_every_population_or_one(result, tmp_path):
    from mfgtools.plotting import plot_density, plot_policy, plot_result

    figure = plot_density(result, times=[0, 3])
    assert [ax.get_title() for ax in figure.axes if ax.get_title()][:3] == [
        "population 0, t = 0",
        "population 0, t = 3",
        "population 1, t = 0",
    ]
    assert len([ax for ax in figure.axes if ax.get_title()]) == 6
    assert len([ax for ax in plot_density(result, times=[0, 3], population="2").axes if ax.get_title()]) == 2
    assert plot_policy(result, t=1, population=2) is not None
    with pytest.raises(MFGError, match="unknown population 'wolves'"):
        plot_policy(result, population="wolves")
    assert (tmp_path / "run.png").exists() is False
    plot_result(result, tmp_path / "run.png")
    assert (tmp_path / "run.png").stat().st_size > 0


def test_command_line_solves_and_lists_the_games(tmp_path, capsys):
    from mfgtools.cli import main

    out = tmp_path / "x.nc"
    argv = ["solve", "--game", "crowd_avoidance", "-p", "horizon=2", "--solver", "omd", "--iterations", "2"]
    assert main(argv + ["--out", str(out)]) == 0
    assert mfgtools.load_result(str(out))["mean_field"].dims == ("t", "population", "row", "col")
    capsys.readouterr()
    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "predator_prey: OpenSpiel's multi-population predator-prey" in listing and "crowd_avoidance:" in listing
