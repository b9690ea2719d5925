"""N-agent simulator: consistency with the exact flow, shapes, seeds, per-agent policies."""

from __future__ import annotations

import numpy as np
import pytest

import mfgtools
from mfgtools.errors import MFGError
from mfgtools.simulate import simulate


@pytest.fixture(scope="module")
def game():
    return mfgtools.make_game("crowd", map="four_rooms", horizon=8, noise=0.1)


def test_empirical_distribution_approaches_the_mean_field(game):
    policy = mfgtools.uniform_policy(game)
    exact = mfgtools.mean_field(game, policy)
    errors = []
    for n_agents in (100, 10_000):
        runs = simulate(game, policy, n_agents, seed=3, n_seeds=4)
        errors.append(np.abs(np.asarray(runs.empirical) - exact[None]).sum(-1).mean())
    assert errors[1] < 0.35 * errors[0]  # ~ 1/sqrt(N): 10x fewer for 100x the agents
    assert errors[1] < 0.08


def test_trajectories_are_consistent(game):
    policy = mfgtools.uniform_policy(game)
    runs = simulate(game, policy, 50, seed=1)
    states, actions = np.asarray(runs.states), np.asarray(runs.actions)
    assert states.shape == (9, 50) and actions.shape == (8, 50) and runs.rewards.shape == (8, 50)
    assert game.free_cells.reshape(-1)[states].all()  # nobody walks into a wall
    np.testing.assert_allclose(np.asarray(runs.empirical).sum(-1), 1.0, atol=1e-6)
    counts = np.stack([np.bincount(s, minlength=game.n_states) / 50 for s in states])
    np.testing.assert_allclose(np.asarray(runs.empirical), counts, atol=1e-6)
    for t in (0, 5):  # rewards are the game's rewards at the empirical distribution
        expected = np.asarray(game.reward(t, runs.empirical[t]))[states[t], actions[t]]
        np.testing.assert_allclose(np.asarray(runs.rewards[t]), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(runs.log_prob), np.log(0.2), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(runs.returns()), np.asarray(runs.rewards).sum(0), rtol=1e-5)


def test_seeds_differ_and_repeat(game):
    policy = mfgtools.uniform_policy(game)
    a = simulate(game, policy, 30, seed=5, n_seeds=3)
    b = simulate(game, policy, 30, seed=5, n_seeds=3)
    np.testing.assert_array_equal(a.states, b.states)
    assert not np.array_equal(a.states[0], a.states[1])


def test_per_agent_policies(game):
    n_agents = 6
    policies = np.zeros((n_agents, game.horizon, game.n_states, game.n_actions))
    policies[:3, ..., 4] = 1.0  # half the agents stay
    policies[3:, ..., 1] = 1.0  # half move right
    runs = simulate(game, policies, n_agents, seed=0)
    actions = np.asarray(runs.actions)
    assert (actions[:, :3] == 4).all() and (actions[:, 3:] == 1).all()
    with pytest.raises(MFGError, match="agents"):
        simulate(game, policies, 5)
    with pytest.raises(MFGError, match="sum to 1"):
        simulate(game, policies * 2, n_agents)
