"""The N-player game behind a finite MFG: a deviator's gain, against the mean-field exploitability."""

from __future__ import annotations

import jax
import jax.extend
import numpy as np
import pytest

import mfgtools
from mfgtools.errors import MFGError
from mfgtools.finite.simulate import n_player_exploitability, n_player_returns, slots
from mfgtools.games.tabular import tabular_game

SIZES = [10, 100, 1000]  # one compiled program (1024 slots) for all three


def ring(crowd_aversion: float):
    """Four states on a ring (stay or step), most of the crowd starting in state 0, ``-c log(mu + 0.01)``."""
    n = 4
    successors = np.stack([np.arange(n), (np.arange(n) + 1) % n], axis=1)[:, :, None]
    reward = np.array([[0.0, 0.0], [0.0, 0.2], [0.5, 0.0], [0.0, 0.3]])
    return tabular_game(
        next_state=successors,
        transition_prob=np.ones((n, 2, 1)),
        reward=reward,
        initial_distribution=np.array([0.85, 0.05, 0.05, 0.05]),
        horizon=4,
        crowd_aversion=crowd_aversion,
        floor=0.01,
    )


@pytest.fixture(scope="module")
def game():
    return ring(1.0)


@pytest.fixture(scope="module")
def estimates(game):
    return n_player_exploitability(game, mfgtools.uniform_policy(game), SIZES, episodes=512, deviator="mean-field")


def test_gain_tends_to_the_mean_field_exploitability(game, estimates):
    exact = mfgtools.exploitability(game, mfgtools.uniform_policy(game))
    small, middle, large = estimates
    assert exact > 0.5 and small.mean_field == pytest.approx(exact, rel=1e-6)
    assert [e.n_players for e in estimates] == SIZES and all(e.episodes == 512 for e in estimates)
    # at N = 1000 the deviator's gain is the mean-field exploitability within its standard error...
    assert 0 < large.stderr < 0.1
    assert abs(large.gain - exact) < 3 * large.stderr
    # ... at N = 10 it is clearly less: the deviator's own mass 1/N crowds the states it flees to
    assert small.gain < exact - 3 * small.stderr
    assert large.gain == pytest.approx(large.deviator_return - large.policy_return)
    assert abs(large.gain - exact) < abs(small.gain - exact) and 0 < middle.stderr < 0.1


def test_no_gain_at_an_equilibrium_without_population_effects():
    game = ring(0.0)  # rewards and moves ignore the crowd: the N-player game is N copies of one MDP
    optimal = mfgtools.best_response(game, mfgtools.uniform_policy(game))
    assert mfgtools.exploitability(game, optimal) == 0.0
    for deviator in ("mean-field", "empirical"):
        estimate = n_player_exploitability(game, optimal, 10, episodes=64, deviator=deviator)
        # the deviator plays the policy itself: paired episodes are identical, the gain exactly 0
        assert estimate.gain == 0.0 and estimate.stderr == 0.0
        # the mean return is the MDP's value sum mu0 V_0 = 1.255 (V_0 = 1.2, 1.7, 2, 1; sd 0.2 over starts)
        assert estimate.policy_return == pytest.approx(1.255, abs=0.15)


def test_the_empirical_deviator_also_converges(game, estimates):
    policy = mfgtools.uniform_policy(game)
    large = n_player_exploitability(game, policy, 1000, episodes=512)
    assert large.deviator == "empirical"
    assert abs(large.gain - large.mean_field) < 3 * large.stderr + 0.02


def test_one_program_for_every_size_and_call(game, estimates):
    """vmapped episodes and a scan over time: the program does not grow with N or the episodes, and
    new policies, seeds and sizes up to the same slots reuse it."""
    before = n_player_returns._cache_size()
    policy = mfgtools.uniform_policy(game)
    again = n_player_exploitability(
        game, 0.5 * policy + 0.5 * np.roll(policy, 1, -1), [20, 600], 512, seed=4, deviator="mean-field"
    )
    assert len(again) == 2 and n_player_returns._cache_size() == before
    assert slots(10) == slots(16) == 16 and slots(17) == 32 and slots(1000) == 1024

    def size(episodes, capacity):  # equations of the program, sub-programs (the scans' bodies) included
        keys = jax.random.split(jax.random.PRNGKey(0), episodes)
        closed = jax.make_jaxpr(n_player_returns, static_argnums=5)(game, policy, policy, keys, 10, capacity)

        def count(jaxpr):
            inner = [count(sub) for eqn in jaxpr.eqns for sub in jax.extend.core.jaxprs_in_params(eqn.params)]
            return (
                len(jaxpr.eqns) + sum(n for n, _ in inner),
                sum(s for _, s in inner) + sum(eqn.primitive.name == "scan" for eqn in jaxpr.eqns),
            )

        return count(closed.jaxpr)

    small = size(4, 16)
    assert size(64, 16) == small  # episodes: vmapped
    assert size(4, 1024)[0] < 1.1 * small[0]  # 64x the agents, the same program (no loop over agents)
    assert size(4, 16)[1] == 2  # one scan over time per paired episode


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_players=1), "n_players must be at least 2, got 1"),
        (dict(n_players=[]), "n_players is an empty list"),
        (dict(n_players=[10, 2.5]), "n_players must be an integer, got 2.5"),
        (dict(episodes=0), "episodes must be at least 2, got 0"),
        (dict(deviator="exact"), "unknown deviator 'exact'; choose one of empirical, mean-field"),
        (dict(seed=-1), "seed"),
    ],
)
def test_inputs_are_checked(game, kwargs, message):
    arguments = dict(n_players=10, episodes=4) | kwargs
    with pytest.raises(MFGError, match=message):
        n_player_exploitability(game, mfgtools.uniform_policy(game), **arguments)


def test_games_and_policies_are_checked(game):
    with pytest.raises(MFGError, match=r"policy has shape \(4, 2\), but game 'tabular'"):
        n_player_exploitability(game, np.full((4, 2), 0.5), 10)
    with pytest.raises(MFGError, match="needs a finite game from mfgtools.make_game"):
        n_player_exploitability(mfgtools.make_game("vicsek", n_agents=6, horizon=3), None, 10)
    stationary = mfgtools.make_game("random", n_states=5, horizon=4, seed=3, mode="stationary")
    with pytest.raises(MFGError, match="needs a finite-horizon game; 'random' is stationary"):
        n_player_exploitability(stationary, mfgtools.uniform_policy(stationary), 10)
