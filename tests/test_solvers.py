"""Solvers: registry, one compiled program per run, convergence, Result contents."""

from __future__ import annotations

import re

import numpy as np
import pytest

import mfgtools
from mfgtools import solvers
from mfgtools.errors import MFGError
from mfgtools.registry import requirement_name, satisfies

TINY_GAMES = {
    "crowd": dict(map="empty:4", horizon=4, mu0=(0, 0)),
    "crowd_modelling": dict(horizon=3),
    "crowd_modelling_2d": dict(size=4, horizon=3),
    "random": dict(n_states=5, horizon=3),
    "sis": dict(horizon=3),
    "torus-crowd": dict(size="3x3", horizon=3),
    "sis-graphex": dict(nu=20, L=100, horizon=3, k_max=3, core_bins=2),
    "sir-graphex": dict(nu=20, L=100, horizon=3, k_max=3, core_bins=2),
    "rumour-graphex": dict(nu=20, L=100, horizon=3, k_max=3, core_bins=2),
    "kuramoto": dict(n_agents=6, horizon=3),
    "vicsek": dict(n_agents=6, horizon=3),
    "aggregation": dict(n_agents=6, horizon=3),
    # MFGLib's games: one state-only (mu-dependent transitions) and one joint game run every solver;
    # tests/test_mfglib_games.py runs omd and fp on all of them against MFGLib's figures
    "mfglib/linear_quadratic": dict(T=1, el=2, m=1),
    "mfglib/equilibrium_price": dict(T=1, s_inv=1, Q=1, H=1),
}
# registered games the solver sweep leaves to their own test module (same kinds as a game above)
COVERED_ELSEWHERE = {f"mfglib/{name}" for name in (
    "beach_bar", "building_evacuation", "crowd_motion", "left_right", "rock_paper_scissors",
    "susceptible_infected", "conservative_treasure_hunting", "random_linear")}
# learning solvers at a tiny budget (their defaults are the papers' settings)
TINY_LEARNER = dict(steps=3, batch_size=8, hidden="8")


TINY_SAMPLED = dict(n_agents=8, mixing_steps=2, td_steps=4)


TINY_PPO = dict(n_envs=2, width=8, epochs=1, minibatches=1)


def tiny_instances():
    """Every registered finite game in every mode it declares, at a tiny size."""
    for name, spec in mfgtools.list_games().items():
        if name in COVERED_ELSEWHERE:
            continue
        for mode in spec.modes:
            params = dict(TINY_GAMES[name])
            if len(spec.modes) > 1:
                params["mode"] = mode
            yield name, mode, mfgtools.make_game(name, **params)


def tiny_solver_params(solver_name: str, game) -> dict:
    if solver_name == "off-mmd":
        from mfgtools.offline import collect_dataset

        return dict(TINY_LEARNER, dataset=collect_dataset(game, mfgtools.uniform_policy(game), 16))
    if solver_name == "d-momd":
        return dict(TINY_LEARNER, episodes=16)
    if solver_name in ("pma-sampled", "pma-independent"):
        return dict(TINY_SAMPLED)
    if solver_name == "dec-pomfc":
        return dict(TINY_PPO, policy_agents=8, policy_rollouts=2)
    if solver_name == "ippo":
        return dict(TINY_PPO)
    return {}


def test_default_iterations_are_the_solvers():
    assert mfgtools.default_iterations("omd") == 100
    assert mfgtools.default_iterations("dec-pomfc") == mfgtools.default_iterations("ippo") == 2000
    game = mfgtools.make_game("crowd", map="empty:3", horizon=3)
    assert mfgtools.solve(game, "omd").iterations == 100
    with pytest.raises(MFGError, match="unknown solver 'nope'"):
        mfgtools.solve(game, "nope")


def test_every_compatible_game_and_solver_pair_runs():
    games = mfgtools.list_games()
    assert set(TINY_GAMES) | COVERED_ELSEWHERE == set(games)
    pairs = set()
    for game_name, mode, game in tiny_instances():
        assert game.mode == mode
        for solver_name, spec in mfgtools.list_solvers().items():
            if not satisfies(games[game_name].kind, spec.requires):
                needed = re.escape(requirement_name(spec.requires))
                with pytest.raises(MFGError, match=f"needs a {needed} game.*{needed} games: "):
                    mfgtools.solve(game, solver_name, iterations=2)
                continue
            if mode not in spec.modes:
                with pytest.raises(MFGError, match=f"needs a .*{spec.modes[0]}"):
                    mfgtools.solve(game, solver_name, iterations=2)
                continue
            pairs.add((solver_name, mode))
            result = mfgtools.solve(game, solver_name, iterations=2, **tiny_solver_params(solver_name, game))
            if game.kind == "swarm":  # mean-field control: returns, a decentralised policy, a histogram flow
                grid = game.observation_grid()
                assert result.policy.shape == (game.horizon, len(grid), game.n_actions)
                np.testing.assert_allclose(result.policy.sum(-1), 1.0, atol=1e-5)
                assert result.mean_field.shape == (game.horizon + 1, *game.histogram_shape)
                np.testing.assert_allclose(result.mean_field.reshape(game.horizon + 1, -1).sum(-1), 1.0, atol=1e-5)
                assert len(result.metrics["return"]) == 3 and np.isfinite(result.metrics["return"]).all()
                assert result.swarm_policy is not None
                continue
            assert result.policy.shape == game.policy_shape
            np.testing.assert_allclose(result.policy.sum(-1), 1.0, atol=1e-5)
            assert (result.policy >= 0).all()
            np.testing.assert_allclose(result.mean_field.sum(-1), 1.0, atol=1e-5)
            assert len(result.metrics["exploitability"]) == 3
            assert (result.metrics["exploitability"] >= -1e-4).all()
    # every solver ran in every mode it declares
    assert pairs == {(name, mode) for name, spec in mfgtools.list_solvers().items() for mode in spec.modes}


def test_iterating_never_retraces():
    game = mfgtools.make_game("crowd", map="empty:4", horizon=4, mu0=(0, 0))
    mfgtools.solve(game, "omd", iterations=45, learning_rate=0.3)  # chunks of 2 and a partial one
    count = solvers.TRACE_COUNT["OnlineMirrorDescent"]
    result = mfgtools.solve(game, "omd", iterations=45, learning_rate=0.3)
    assert solvers.TRACE_COUNT["OnlineMirrorDescent"] == count
    assert len(result.metrics["exploitability"]) == 46
    assert np.isfinite(result.metrics["exploitability"]).all()


def test_chunked_run_equals_one_long_scan():
    game = mfgtools.make_game("crowd", map="empty:4", horizon=4, mu0=(0, 0))
    long = mfgtools.solve(game, "omd", iterations=45, learning_rate=0.3)
    short = mfgtools.solve(game, "omd", iterations=7, learning_rate=0.3)
    np.testing.assert_allclose(long.metrics["exploitability"][:8], short.metrics["exploitability"], rtol=1e-5)


def test_mirror_descent_converges_on_four_rooms_exploration():
    game = mfgtools.make_game("crowd", map="four_rooms", task="exploration", horizon=20)
    result = mfgtools.solve(game, "omd", iterations=150, learning_rate=0.1)
    curve = result.metrics["exploitability"]
    assert curve[0] > 10.0
    assert curve[-1] < 0.05 * curve[0]
    explored = (result.mean_field[-1] > 1e-3).sum()
    assert explored > 40  # the crowd spreads over the rooms


def test_fixed_point_solvers_agree_with_regularised_equilibrium():
    """Boltzmann iteration's fixed point is the entropy-regularised equilibrium."""
    game = mfgtools.make_game("crowd_modelling", horizon=4, openspiel_quirks=False)
    result = mfgtools.solve(game, "boltzmann", iterations=60, temperature=1.0, damping=0.5)
    regularised = mfgtools.exploitability(game, result.policy, temperature=1.0)
    assert regularised < 1e-3


@pytest.mark.parametrize(
    "solver, params, message",
    [
        ("simplex", {}, "unknown solver"),
        ("omd", {"learning_rate": -1}, "learning_rate must be >"),
        ("omd", {"learning_rate": "fast"}, "must be a number"),
        ("omd", {"momentum": 0.9}, "no parameter 'momentum'"),
        ("fixed-point", {"damping": 0}, "damping must be >"),
    ],
)
def test_solver_errors(solver, params, message):
    game = mfgtools.make_game("crowd_modelling", horizon=2)
    with pytest.raises(MFGError, match=message):
        mfgtools.solve(game, solver, iterations=1, **params)


def test_iterations_are_validated():
    game = mfgtools.make_game("crowd_modelling", horizon=2)
    with pytest.raises(MFGError, match="iterations must be at least 0"):
        mfgtools.solve(game, "omd", iterations=-3)
    assert len(mfgtools.solve(game, "omd", iterations=0).metrics["exploitability"]) == 1
