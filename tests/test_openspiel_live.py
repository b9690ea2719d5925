"""Live comparison with OpenSpiel (optional extra: pip install '.[openspiel]'); skipped without it."""

from __future__ import annotations

import numpy as np
import pytest

import mfgtools


def _openspiel_figures(pyspiel, params, iterations, learning_rate):
    from open_spiel.python import policy as policy_std
    from open_spiel.python.mfg.algorithms import fictitious_play, mirror_descent, nash_conv

    game = pyspiel.load_game("mfg_crowd_modelling_2d", params)
    uniform = nash_conv.NashConv(game, policy_std.UniformRandomPolicy(game)).nash_conv()
    md = mirror_descent.MirrorDescent(game, lr=learning_rate)
    for _ in range(iterations):
        md.iteration()
    fp = fictitious_play.FictitiousPlay(game)
    for _ in range(iterations):
        fp.iteration()
    return (uniform, nash_conv.NashConv(game, md.get_policy()).nash_conv(),
            nash_conv.NashConv(game, fp.get_policy()).nash_conv())


def test_walls_positions_congestion_and_noise_match_openspiel(pyspiel, x64):
    walls = [(1, 0), (2, 1), (3, 3)]  # OpenSpiel's x|y = column|row
    params = {
        "size": 6, "horizon": 5, "forbidden_states": "[" + ";".join(f"{x}|{y}" for x, y in walls) + "]",
        "positional_reward": "[4|2]", "positional_reward_value": "[2.0]", "with_congestion": True,
        "noise_intensity": 0.5, "initial_distribution": "[0|0;5|5]", "initial_distribution_value": "[0.5;0.5]",
    }
    picture = "\n".join("".join("#" if (x, y) in walls else " " for x in range(6)) for y in range(6))
    mu0 = np.zeros((6, 6))
    mu0[0, 0] = mu0[5, 5] = 0.5
    game = mfgtools.make_game("crowd_modelling_2d", map=picture, horizon=5, positional_reward=[(2, 4)],
                              positional_reward_value=[2.0], with_congestion=True, noise=0.5,
                              only_distribution_reward=False, mu0=mu0)
    expected = _openspiel_figures(pyspiel, params, iterations=3, learning_rate=0.05)
    ours = (
        mfgtools.exploitability(game, mfgtools.uniform_policy(game)),
        mfgtools.solve(game, "omd", iterations=3, learning_rate=0.05).metrics["exploitability"][-1],
        mfgtools.solve(game, "fp", iterations=3).metrics["exploitability"][-1],
    )
    # OpenSpiel parses parameter strings as float32: agreement to ~1e-8, not 1e-15.
    np.testing.assert_allclose(ours, expected, rtol=1e-7)


def test_one_dimensional_game_matches_openspiel_policy_by_policy(pyspiel, x64):
    from open_spiel.python.mfg.algorithms import mirror_descent
    from open_spiel.python.mfg.games import crowd_modelling

    os_game = crowd_modelling.MFGCrowdModellingGame()
    md = mirror_descent.MirrorDescent(os_game, lr=0.01)
    for _ in range(4):
        md.iteration()
    ours = mfgtools.solve(mfgtools.make_game("crowd_modelling"), "omd", iterations=4, learning_rate=0.01).policy
    policy = md.get_policy()
    for x in range(10):  # decision nodes at t = 0 (reachable from the initial chance node)
        state = os_game.new_initial_state().child(x)
        probabilities = policy.action_probabilities(state)
        np.testing.assert_allclose([probabilities[a] for a in range(3)], ours[0, x], rtol=1e-10)
