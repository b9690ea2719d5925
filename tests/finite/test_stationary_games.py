"""Games played in stationary mode: random (both modes), torus-crowd, sis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mfgtools
from mfgtools.errors import MFGError
from mfgtools.games import game_spec
from mfgtools.games.tabular import tabular_game
from mfgtools.graphs.lattice import grid_moves, noisy_moves


def _simplex(n_states):
    """Strategy: a probability vector of length ``n_states`` (float32, as the kernels use)."""
    weights = st.lists(st.floats(0.0, 1.0), min_size=n_states, max_size=n_states)
    return weights.map(lambda w: np.asarray(w, np.float64) + 1e-9).map(lambda w: (w / w.sum()).astype(np.float32))


# ----- registry and modes -----------------------------------------------------------
@pytest.mark.parametrize("name", ["random", "torus-crowd", "sis"])
def test_registry_declares_both_modes(name):
    spec = game_spec(name)
    assert spec.modes == ("finite-horizon", "stationary")
    assert "mode" in spec.parameters


@pytest.mark.parametrize(
    "name, default_mode", [("random", "finite-horizon"), ("torus-crowd", "stationary"), ("sis", "stationary")]
)
def test_default_modes_and_policy_shapes(name, default_mode):
    small = {"random": dict(n_states=4, horizon=3), "torus-crowd": dict(size=3), "sis": {}}[name]
    game = mfgtools.make_game(name, **small)
    assert game.mode == default_mode and game.parameters["mode"] == default_mode
    other = "stationary" if default_mode == "finite-horizon" else "finite-horizon"
    flipped = mfgtools.make_game(name, mode=other, **small)
    assert flipped.mode == other and flipped.parameters["mode"] == other
    for g in (game, flipped):
        table = (g.n_states, g.n_actions)
        assert g.policy_shape == (table if g.stationary else (g.horizon,) + table)
        assert 0.0 < g.discount <= 1.0 and (g.discount < 1.0 or not g.stationary)


@pytest.mark.parametrize("name", ["random", "torus-crowd", "sis"])
def test_mode_and_discount_are_validated(name):
    with pytest.raises(MFGError, match="unknown mode 'steady'.*finite-horizon, stationary"):
        mfgtools.make_game(name, mode="steady")
    with pytest.raises(MFGError, match="discount must be below 1 in stationary mode"):
        mfgtools.make_game(name, mode="stationary", discount=1.0)
    with pytest.raises(MFGError, match="discount must be"):
        mfgtools.make_game(name, discount=0.0)
    with pytest.raises(MFGError, match="discount must be"):
        mfgtools.make_game(name, discount=1.5)


# ----- random ---------------------------------------------------------------------
def _old_random_draw(n_states=10, n_actions=3, fan_out=2, seed=0, reward_scale=1.0):
    """The draw of make_random before modes existed (same calls on the same generator)."""
    rng = np.random.default_rng(seed)
    next_state = np.stack(
        [rng.choice(n_states, size=fan_out, replace=False) for _ in range(n_states * n_actions)]
    ).reshape(n_states, n_actions, fan_out)
    prob = rng.dirichlet(np.ones(fan_out), size=(n_states, n_actions))
    reward = rng.uniform(0, reward_scale, (n_states, n_actions))
    mu0 = rng.dirichlet(np.ones(n_states))
    return next_state, prob, reward, mu0


def test_random_finite_horizon_reproduces_the_old_draw():
    default = mfgtools.make_game("random")
    explicit = mfgtools.make_game("random", mode="finite-horizon", discount=1.0)
    next_state, prob, reward, mu0 = _old_random_draw()
    for game in (default, explicit):
        assert not game.stationary and game.discount == 1.0 and game.horizon == 10
        np.testing.assert_array_equal(np.asarray(game.next_state), next_state)
        np.testing.assert_array_equal(np.asarray(game.transition_prob), prob.astype(np.float32))
        np.testing.assert_array_equal(
            np.asarray(game.base_reward), np.broadcast_to(reward, (10, 10, 3)).astype(np.float32)
        )
        np.testing.assert_array_equal(np.asarray(game.initial_distribution), mu0.astype(np.float32))
    assert default.parameters["discount"] == 1.0 and default.parameters["mode"] == "finite-horizon"


def test_random_stationary_uses_the_same_draw_and_resolves_the_discount():
    finite = mfgtools.make_game("random", n_states=5, horizon=4, seed=3)
    stationary = mfgtools.make_game("random", n_states=5, horizon=4, seed=3, mode="stationary")
    assert stationary.stationary and stationary.discount == 0.9 and stationary.parameters["discount"] == 0.9
    assert stationary.policy_shape == (5, 3)
    np.testing.assert_array_equal(np.asarray(finite.next_state), np.asarray(stationary.next_state))
    mu = np.full(5, 0.2, np.float32)
    np.testing.assert_allclose(np.asarray(stationary.reward(0, mu)), np.asarray(finite.reward(0, mu)))
    assert mfgtools.make_game("random", mode="stationary", discount=0.5).discount == 0.5


def _tiny_arrays():
    next_state = np.array([[[0, 1]], [[1, 0]]])
    prob = np.full((2, 1, 2), 0.5)
    return dict(next_state=next_state, transition_prob=prob, initial_distribution=[0.5, 0.5], horizon=3)


def test_tabular_stationary_needs_time_homogeneous_rewards():
    reward = np.zeros((3, 2, 1))
    reward[2, 1, 0] = 1.0
    tabular_game(reward=reward, **_tiny_arrays())  # fine over a finite horizon
    with pytest.raises(MFGError, match=r"stationary games need time-homogeneous rewards.*reward\[2\]"):
        tabular_game(reward=reward, stationary=True, **_tiny_arrays())
    homogeneous = tabular_game(reward=np.ones((3, 2, 1)), stationary=True, **_tiny_arrays())
    assert homogeneous.stationary and homogeneous.discount == 0.9 and homogeneous.policy_shape == (2, 1)
    game = tabular_game(reward=[[1.0], [2.0]], stationary=True, discount=0.5, crowd_aversion=0.0, **_tiny_arrays())
    np.testing.assert_array_equal(np.asarray(game.reward(0, np.array([0.5, 0.5]))), [[1.0], [2.0]])
    with pytest.raises(MFGError, match="discount must be below 1 in stationary mode"):
        tabular_game(reward=[[1.0], [2.0]], stationary=True, discount=1.0, **_tiny_arrays())
    assert tabular_game(reward=[[1.0], [2.0]], **_tiny_arrays()).discount == 1.0


# ----- torus-crowd ----------------------------------------------------------------
def test_torus_crowd_defaults():
    game = mfgtools.make_game("torus-crowd")
    assert (game.n_states, game.n_actions, game.fan_out) == (100, 5, 5)
    assert game.grid_shape == (10, 10) and game.free_cells.all()
    assert game.action_names == ("left", "right", "up", "down", "stay")
    assert game.stationary and game.discount == 0.9 and game.horizon == 30
    assert game.policy_shape == (100, 5)
    params = game.parameters
    assert params["target"] == (5, 5) and params["size"] == "10x10" and params["mu0"] == "uniform"
    np.testing.assert_allclose(np.asarray(game.initial_distribution), 0.01)
    rebuilt = mfgtools.make_game("torus-crowd", **params)
    np.testing.assert_array_equal(np.asarray(rebuilt.attraction), np.asarray(game.attraction))


@pytest.mark.parametrize(
    "size, shape", [(3, (3, 3)), ("4", (4, 4)), ("2x5", (2, 5)), ("3X4", (3, 4)), ((1, 2), (1, 2))]
)
def test_torus_crowd_sizes(size, shape):
    game = mfgtools.make_game("torus-crowd", size=size)
    assert game.grid_shape == shape and game.n_states == shape[0] * shape[1]


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(size="ten"), "size 'ten' is not understood.*HxW"),
        (dict(size="3x"), "not understood"),
        (dict(size=1), "too small.*at least 2 cells"),
        (dict(size="0x4"), "too small"),
        (dict(size=2.5), "not understood"),
        (dict(noise=-0.1), "noise must be >= 0"),
        (dict(noise=1.5), "noise must be <= 1"),
        (dict(aversion=-1), "aversion must be >= 0"),
        (dict(floor=0), "floor must be > 0"),
        (dict(move_cost=-0.1), "move_cost must be >= 0"),
        (dict(attraction_weight="big"), "attraction_weight must be a number"),
        (dict(horizon=0), "horizon must be at least 1"),
        (dict(target=(3, 3), size=3), r"target \(3, 3\) is outside the 3x3 map"),
        (dict(target="1,1;2,2"), "target must be a single cell"),
        (dict(mu0="9,9", size=3), "outside"),
        (dict(mu0="a,b"), "write cells as 'row,col'"),
    ],
)
def test_torus_crowd_validation(params, message):
    with pytest.raises(MFGError, match=message):
        mfgtools.make_game("torus-crowd", **params)


def test_torus_moves_wrap_around():
    game = mfgtools.make_game("torus-crowd", size="3x4", noise=0.0)
    assert game.fan_out == 1
    moves = np.asarray(game.next_state)[:, :, 0]
    corner = 0  # (0, 0): left -> (0, 3), right -> (0, 1), up -> (2, 0), down -> (1, 0), stay
    assert list(moves[corner]) == [3, 1, 2 * 4, 4, 0]
    last = 2 * 4 + 3  # (2, 3): left -> (2, 2), right -> (2, 0), up -> (1, 3), down -> (0, 3)
    assert list(moves[last]) == [last - 1, 2 * 4, 1 * 4 + 3, 3, last]
    assert sorted(moves[:, 0]) == list(range(12))  # every move is a permutation of the cells


def test_torus_noise_table_matches_crowd_noise_branch():
    noisy = mfgtools.make_game("torus-crowd", size=3, noise=0.25)
    free = np.ones((3, 3), bool)
    moves, _ = grid_moves(free, mfgtools.games.crowd.MOVES, torus=True)
    np.testing.assert_array_equal(np.asarray(noisy.next_state), np.broadcast_to(moves[:, None, :], (9, 5, 5)))
    prob = np.asarray(noisy.transition_prob)
    np.testing.assert_allclose(prob[0, 2], [0.05, 0.05, 0.8, 0.05, 0.05], atol=1e-7)
    # the shared helper gives crowd.py's noisy table on its own maps
    crowd = mfgtools.make_game("crowd", map="empty:4", noise=0.2, mu0="uniform")
    next_state, table = noisy_moves(grid_moves(np.ones((4, 4), bool), mfgtools.games.crowd.MOVES)[0], 0.2)
    np.testing.assert_array_equal(np.asarray(crowd.next_state), next_state)
    np.testing.assert_array_equal(np.asarray(crowd.transition_prob), table.astype(np.float32))


@settings(max_examples=20, deadline=None)
@given(mu=_simplex(6), noise=st.sampled_from([0.0, 0.1, 1.0]))
def test_torus_transition_rows_sum_to_one(mu, noise):
    game = mfgtools.make_game("torus-crowd", size="2x3", noise=noise)
    prob = np.asarray(game.transition(0, mu))
    assert (prob >= 0).all()
    np.testing.assert_allclose(prob.sum(-1), 1.0, atol=1e-6)


def test_torus_crowd_rewards_match_the_formula():
    game = mfgtools.make_game(
        "torus-crowd", size="4x6", target="1,2", attraction_weight=2.0, aversion=0.5, floor=1e-3, move_cost=0.3
    )
    # wrap-around distances to (1, 2) on 4x6: rows min(|dr|, 4-|dr|) <= 2, cols min(|dc|, 6-|dc|) <= 3
    d_max = 2 + 3
    mu = np.zeros(24, np.float32)
    mu[1 * 6 + 2], mu[3 * 6 + 5], mu[0] = 0.5, 0.25, 0.25
    r = np.asarray(game.reward(0, mu))
    assert r.shape == (24, 5)
    at_target = 2.0 * 1.0 - 0.5 * np.log(0.5 + 1e-3)
    assert r[1 * 6 + 2, 4] == pytest.approx(at_target, rel=1e-6)  # stay: no move cost
    assert r[1 * 6 + 2, 0] == pytest.approx(at_target - 0.3, rel=1e-6)
    # (3, 5): |dr| = 2, |dc| = 3 -> farthest cell, attraction 0
    assert r[3 * 6 + 5, 1] == pytest.approx(-0.5 * np.log(0.25 + 1e-3) - 0.3, rel=1e-6)
    # (0, 0): |dr| = 1, |dc| = 2 -> d = 3
    assert r[0, 4] == pytest.approx(2.0 * (1 - 3 / d_max) - 0.5 * np.log(0.25 + 1e-3), rel=1e-6)
    # (1, 0): |dc| = 2 -> d = 2; an empty cell sees -log(floor)
    assert r[1 * 6 + 0, 4] == pytest.approx(2.0 * (1 - 2 / d_max) - 0.5 * np.log(1e-3), rel=1e-5)
    np.testing.assert_array_equal(np.asarray(game.reward(7, mu)), r)  # time-homogeneous


def test_torus_crowd_mu0_specs():
    one = mfgtools.make_game("torus-crowd", size=3, mu0="0,1")
    assert np.asarray(one.initial_distribution)[1] == 1.0 and one.parameters["mu0"] == "0,1"
    two = mfgtools.make_game("torus-crowd", size=3, mu0=[(0, 0), (2, 2)])
    np.testing.assert_allclose(np.asarray(two.initial_distribution)[[0, 8]], 0.5)
    assert two.parameters["mu0"] == "0,0;2,2"


def test_finite_horizon_torus_crowd_flow_is_a_distribution():
    game = mfgtools.make_game("torus-crowd", size=3, mode="finite-horizon", horizon=4, mu0="0,0")
    assert game.policy_shape == (4, 9, 5)
    flow = np.asarray(mfgtools.mean_field(game, mfgtools.uniform_policy(game)))
    assert flow.shape == (5, 9)
    np.testing.assert_allclose(flow.sum(1), 1.0, atol=1e-5)


# ----- sis ------------------------------------------------------------------------
def test_sis_defaults_and_labels():
    game = mfgtools.make_game("sis")
    assert (game.n_states, game.n_actions, game.fan_out) == (2, 2, 2)
    assert game.action_names == ("go out", "protect")
    assert game.stationary and game.discount == 0.9 and game.horizon == 50 and game.policy_shape == (2, 2)
    np.testing.assert_allclose(np.asarray(game.initial_distribution), [0.5, 0.5])
    np.testing.assert_array_equal(np.asarray(game.next_state), np.broadcast_to([0, 1], (2, 2, 2)))


def test_sis_transition_at_half_infected():
    game = mfgtools.make_game("sis")
    prob = np.asarray(game.transition(0, np.array([0.5, 0.5], np.float32)))
    SUSCEPTIBLE, INFECTED, OUT, PROTECT = 0, 1, 0, 1
    assert prob[SUSCEPTIBLE, OUT, INFECTED] == pytest.approx(0.4) and prob[
        SUSCEPTIBLE, OUT, SUSCEPTIBLE
    ] == pytest.approx(0.6)
    assert prob[SUSCEPTIBLE, PROTECT, INFECTED] == 0.0 and prob[SUSCEPTIBLE, PROTECT, SUSCEPTIBLE] == 1.0
    assert prob[INFECTED, OUT, SUSCEPTIBLE] == pytest.approx(0.3) and prob[
        INFECTED, PROTECT, SUSCEPTIBLE
    ] == pytest.approx(0.3)
    np.testing.assert_allclose(np.asarray(game.transition_prob), prob, atol=1e-7)  # stored at mu0 = (0.5, 0.5)
    partial = mfgtools.make_game("sis", protection=0.25, infection_rate=0.6)
    prob = np.asarray(partial.transition(3, np.array([0.0, 1.0], np.float32)))
    assert prob[SUSCEPTIBLE, OUT, INFECTED] == pytest.approx(0.6) and prob[
        SUSCEPTIBLE, PROTECT, INFECTED
    ] == pytest.approx(0.45)


@settings(max_examples=25, deadline=None)
@given(mu=_simplex(2), rates=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)))
def test_sis_transition_rows_sum_to_one(mu, rates):
    infection_rate, recovery_rate, protection = rates
    game = mfgtools.make_game("sis", infection_rate=infection_rate, recovery_rate=recovery_rate, protection=protection)
    prob = np.asarray(game.transition(0, mu))
    assert prob.shape == (2, 2, 2) and (prob >= 0).all()
    np.testing.assert_allclose(prob.sum(-1), 1.0, atol=1e-6)
    assert prob[0, 0, 1] == pytest.approx(infection_rate * mu[1], abs=1e-6)


def test_sis_rewards_match_the_formula():
    game = mfgtools.make_game("sis", infection_cost=2.0, protection_cost=0.25)
    r = np.asarray(game.reward(0, np.array([0.3, 0.7], np.float32)))
    np.testing.assert_allclose(r, [[0.0, -0.25], [-2.0, -2.25]])


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(infection_rate=1.5), "infection_rate must be <= 1"),
        (dict(recovery_rate=-0.1), "recovery_rate must be >= 0"),
        (dict(protection=2), "protection must be <= 1"),
        (dict(infection_cost=-1), "infection_cost must be >= 0"),
        (dict(protection_cost="x"), "protection_cost must be a number"),
        (dict(mu0=1.2), r"mu0 \(the initial infected fraction\) must be <= 1"),
        (dict(horizon=0), "horizon must be at least 1"),
    ],
)
def test_sis_validation(params, message):
    with pytest.raises(MFGError, match=message):
        mfgtools.make_game("sis", **params)


def test_finite_horizon_sis_flow_follows_the_epidemic():
    game = mfgtools.make_game("sis", mode="finite-horizon", horizon=3, mu0=0.5)
    out = np.zeros(game.policy_shape, np.float32)
    out[..., 0] = 1.0  # everybody goes out
    flow = np.asarray(mfgtools.mean_field(game, out))
    # mu(I)' = mu(S) * 0.8 * mu(I) + mu(I) * 0.7 = 0.5 * 0.4 + 0.35
    assert flow[1, 1] == pytest.approx(0.55, abs=1e-6)
    np.testing.assert_allclose(flow.sum(1), 1.0, atol=1e-6)
