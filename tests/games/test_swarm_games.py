"""Invariants of the swarm games (Kuramoto, Vicsek, aggregation) and of their simulator.

Small swarms (N <= 50) and short episodes (horizon 5): one compiled rollout per
game, shared by the tests through a module fixture.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfgtools
from mfgtools.errors import MFGError
from mfgtools.particles import periodic_difference
from mfgtools.simulate import simulate_swarm
from mfgtools.swarm_policies import idle_policy, uniform_policy

GAMES = ("kuramoto", "vicsek", "aggregation")
ANGLE = {"kuramoto": 2, "vicsek": 2}  # the column of the state that is an angle
N_AGENTS, N_SEEDS, HORIZON = 40, 3, 5


@pytest.fixture(scope="module", params=GAMES)
def played(request):
    """``(game, play)``: a recorded uniform-policy rollout, 3 seeds of 40 agents, 5 steps."""
    game = mfgtools.make_game(request.param, n_agents=N_AGENTS, horizon=HORIZON)
    play = simulate_swarm(game, uniform_policy(game), n_seeds=N_SEEDS, seed=7, record_states=True)
    return game, play


def test_simulate_swarm_shapes(played):
    game, play = played
    assert play.order.shape == (N_SEEDS, HORIZON + 1)
    assert play.rewards.shape == play.effort.shape == (N_SEEDS, HORIZON)
    assert play.states.shape == (N_SEEDS, HORIZON + 1, N_AGENTS, game.state_dim)
    assert play.returns(game.discount).shape == (N_SEEDS,)
    assert np.isfinite(np.asarray(play.rewards)).all()
    effort = np.asarray(play.effort)  # uniform policy: most agents act
    assert ((effort >= 0) & (effort <= 1)).all() and effort.mean() > 0.5


def test_states_stay_on_the_torus(played):
    game, play = played
    states = np.asarray(play.states)
    positions = states[..., :2]
    assert ((positions >= 0) & (positions < 1)).all()
    if game.name in ANGLE:
        angles = states[..., ANGLE[game.name]]
        assert ((angles >= 0) & (angles < 2 * math.pi)).all()
    if game.name == "kuramoto":  # oscillators do not move, nor change their natural frequency
        fixed = states[..., [0, 1, 3]]  # x, y, omega
        np.testing.assert_array_equal(fixed, np.broadcast_to(fixed[:, :1], fixed.shape))


def test_observations_within_bounds(played):
    game, play = played
    states = np.asarray(play.states).reshape(-1, N_AGENTS, game.state_dim)
    observations = np.asarray(jax.jit(jax.vmap(game.observe))(jnp.asarray(states)))
    assert observations.shape == (states.shape[0], N_AGENTS, game.observation_dim)
    for k, (low, high) in enumerate(game.observation_bounds):
        assert ((observations[..., k] >= low) & (observations[..., k] <= high)).all()


def test_order_parameter_range(played):
    game, play = played
    order = np.asarray(play.order)
    high = 2.0 if game.name == "aggregation" else 1.0
    assert ((order >= 0) & (order <= high + 1e-6)).all()
    if game.name == "aggregation":  # spread uniformly: close to 2
        assert order[:, 0].min() > 1.5
    else:  # random phases or headings: far from agreement
        assert order[:, 0].max() < 0.6


def test_seeds_are_independent_and_reproducible(played):
    game, play = played
    order = np.asarray(play.order)
    assert not np.allclose(order[0], order[1]) and not np.allclose(order[1], order[2])
    again = simulate_swarm(game, uniform_policy(game), n_seeds=N_SEEDS, seed=7, record_states=True)
    for a, b in ((play.order, again.order), (play.rewards, again.rewards), (play.states, again.states)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other = simulate_swarm(game, uniform_policy(game), n_seeds=N_SEEDS, seed=8, record_states=True)
    assert not np.array_equal(np.asarray(other.states[:, 0]), np.asarray(play.states[:, 0]))


def test_reward_is_task_reward_minus_action_cost(played):
    game, play = played
    states = play.states[0, 2]
    actions = jax.random.randint(jax.random.PRNGKey(0), (N_AGENTS,), 0, game.n_actions)
    effort = np.mean(np.asarray(actions) != game.idle_action)
    expected = float(game.task_reward(states)) - game.action_cost * effort
    assert float(game.reward(states, actions)) == pytest.approx(expected, abs=1e-6)
    idle = jnp.full((N_AGENTS,), game.idle_action)
    assert float(game.reward(states, idle)) == pytest.approx(float(game.task_reward(states)), abs=1e-7)


@pytest.mark.parametrize("name", GAMES)
def test_consensus_and_a_lonely_agent(name):
    game = mfgtools.make_game(name, n_agents=10, horizon=HORIZON)
    states = np.array(game.initial_states(jax.random.PRNGKey(1), 10))
    # everyone shares one state: perfect order (spread 0 for aggregation)
    same = jnp.asarray(np.broadcast_to(states[:1], states.shape))
    expected = 0.0 if name == "aggregation" else 1.0
    assert float(game.order_parameter(same)) == pytest.approx(expected, abs=1e-6)
    # agent 0 alone at the centre, the others in a corner: it sees nobody, so observes 0
    states[:, :2] = 0.02 * np.random.default_rng(0).random((10, 2))
    states[0, :2] = 0.5
    observations = np.asarray(game.observe(jnp.asarray(states)))
    np.testing.assert_allclose(observations[0], 0.0, atol=1e-6)
    assert np.abs(observations[1:]).max() > 1e-3  # the crowd sees itself (not all zero by accident)


def test_kuramoto_idle_without_noise_turns_at_natural_frequency(x64):
    game = mfgtools.make_game("kuramoto", n_agents=50, horizon=HORIZON, noise=0.0, coupling=0.0)
    states = game.initial_states(jax.random.PRNGKey(2), 50)
    idle = jnp.full((50,), game.idle_action)
    moved = np.asarray(jax.jit(game.move)(states, idle, jax.random.PRNGKey(3)))
    states = np.asarray(states)
    # exactly up to the rounding of the multiply-add (XLA may fuse it)
    np.testing.assert_allclose(moved[:, 2], (states[:, 2] + game.dt * states[:, 3]) % (2 * math.pi), rtol=0, atol=1e-14)
    np.testing.assert_array_equal(np.delete(moved, 2, axis=1), np.delete(states, 2, axis=1))


def test_kuramoto_coupling_pulls_towards_neighbours(x64):
    """Two oscillators within the radius, no noise, equal frequencies: the gap closes by dt * coupling * sin."""
    game = mfgtools.make_game("kuramoto", n_agents=2, horizon=HORIZON, noise=0.0, coupling=0.5, radius=0.25)
    states = jnp.asarray([[0.5, 0.5, 1.0, 0.3], [0.6, 0.5, 1.4, 0.3]])
    moved = np.asarray(game.move(states, jnp.full((2,), game.idle_action), jax.random.PRNGKey(0)))
    # mean over neighbours (itself included) of sin(theta_j - theta_i) = sin(gap) / 2
    pull = 0.5 * math.sin(0.4)
    np.testing.assert_allclose(
        moved[:, 2], [1.0 + game.dt * (0.3 + 0.5 * pull), 1.4 + game.dt * (0.3 - 0.5 * pull)], atol=1e-12
    )


def test_vicsek_idle_without_noise_moves_at_speed(x64):
    game = mfgtools.make_game("vicsek", n_agents=50, horizon=HORIZON, noise=0.0)
    states = game.initial_states(jax.random.PRNGKey(4), 50)
    idle = jnp.full((50,), game.idle_action)
    moved = jax.jit(game.move)(states, idle, jax.random.PRNGKey(5))
    np.testing.assert_array_equal(np.asarray(moved[:, 2]), np.asarray(states[:, 2]))  # headings kept
    step = np.asarray(periodic_difference(moved[:, :2], states[:, :2]))
    heading = np.asarray(states[:, 2])
    np.testing.assert_allclose(step, game.speed * game.dt * np.stack([np.cos(heading), np.sin(heading)], 1), atol=1e-12)
    np.testing.assert_allclose(np.hypot(step[:, 0], step[:, 1]), game.speed * game.dt, rtol=1e-12)


def test_idle_policy_simulation_keeps_vicsek_headings():
    game = mfgtools.make_game("vicsek", n_agents=20, horizon=HORIZON, noise=0.0)
    play = simulate_swarm(game, idle_policy(game), n_seeds=1, seed=0, record_states=True)
    headings = np.asarray(play.states[0, :, :, 2])
    np.testing.assert_array_equal(headings, np.broadcast_to(headings[:1], headings.shape))
    np.testing.assert_allclose(np.asarray(play.effort), 0.0)
    np.testing.assert_allclose(np.asarray(play.rewards[0]), np.asarray(play.order[0, :-1]), atol=1e-6)


@pytest.mark.parametrize("name", GAMES)
@pytest.mark.parametrize(
    "param, value", [("radius", 0.7), ("radius", 0.0), ("n_agents", 0), ("dt", -1), ("horizon", 0), ("discount", 1.5)]
)
def test_invalid_parameters_are_mfg_errors(name, param, value):
    with pytest.raises(MFGError, match=param):
        mfgtools.make_game(name, **{param: value})


def test_simulate_swarm_rejects_bad_arguments():
    game = mfgtools.make_game("aggregation", n_agents=8, horizon=HORIZON)
    with pytest.raises(MFGError, match="n_seeds"):
        simulate_swarm(game, uniform_policy(game), n_seeds=0)
    with pytest.raises(MFGError, match="n_agents"):
        simulate_swarm(game, uniform_policy(game), n_agents=0)
    with pytest.raises(MFGError, match="swarm"):
        simulate_swarm(mfgtools.make_game("crowd"), uniform_policy(game))
