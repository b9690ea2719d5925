"""Fictitious play's tie rule (``ties="first"|"split"``) and MFGLib's ``alpha`` blend."""

from __future__ import annotations

import numpy as np
import pytest

import mfgtools
from mfgtools.errors import MFGError
from mfgtools.games.tabular import tabular_game
from mfgtools.solvers.fictitious_play import FictitiousPlay, split_greedy_policy


def tied_game():
    """Two states, three actions, everyone stays put; actions 0 and 1 pay exactly 1, action 2 pays 0."""
    reward = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    stay = np.broadcast_to(np.arange(2)[:, None, None], (2, 3, 1))
    return tabular_game(
        next_state=stay,
        transition_prob=np.ones((2, 3, 1)),
        reward=reward,
        initial_distribution=np.array([0.5, 0.5]),
        horizon=2,
    )


def test_split_spreads_the_response_over_exactly_tied_actions():
    game = tied_game()
    split = mfgtools.solve(game, "fp", iterations=1, ties="split", progress=False)
    first = mfgtools.solve(game, "fp", iterations=1, progress=False)
    third = 1.0 / 3.0
    # one FP step: weight 1/2 on the response, state distributions equal, so the average is (uniform + BR) / 2
    np.testing.assert_allclose(
        split.policy, np.broadcast_to([third / 2 + 0.25, third / 2 + 0.25, third / 2], (2, 2, 3)), rtol=1e-6
    )
    np.testing.assert_allclose(
        first.policy, np.broadcast_to([third / 2 + 0.5, third / 2, third / 2], (2, 2, 3)), rtol=1e-6
    )
    q = np.array([[2.0, 2.0, 1.0], [0.0, 3.0, 3.0]], np.float32)
    np.testing.assert_array_equal(split_greedy_policy(game, q), [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    masked = tabular_game(
        next_state=np.zeros((2, 3, 1), np.int32),
        transition_prob=np.ones((2, 3, 1)),
        reward=np.zeros((2, 3)),
        initial_distribution=np.array([0.5, 0.5]),
        horizon=2,
        action_mask=np.array([[True, False, True], [True, True, True]]),
    )
    np.testing.assert_array_equal(
        split_greedy_policy(masked, np.zeros((2, 3), np.float32)),
        np.array([[0.5, 0, 0.5], [1 / 3, 1 / 3, 1 / 3]], np.float32),
    )


def test_default_is_the_first_maximiser_and_alpha_is_a_constant_weight():
    game = mfgtools.make_game("random", n_states=6, horizon=4, seed=2)
    default = mfgtools.solve(game, "fp", iterations=4, progress=False)
    first = mfgtools.solve(game, FictitiousPlay(), iterations=4, progress=False)
    np.testing.assert_array_equal(default.policy, first.policy)
    assert mfgtools.solvers.make_solver("fp") == FictitiousPlay(ties="first")
    # no exact ties in a random game: the rules agree to the bit
    split = mfgtools.solve(game, "fp", iterations=4, ties="split", progress=False)
    np.testing.assert_array_equal(split.policy, default.policy)
    # MFGLib's alpha: a constant weight, our fixed point's damping; 0 is fictitious play's 1/(k+2)
    blended = mfgtools.solve(game, "fp", iterations=4, alpha=0.3, progress=False)
    damped = mfgtools.solve(game, "fixed-point", iterations=4, damping=0.3, progress=False)
    np.testing.assert_array_equal(blended.policy, damped.policy)
    assert not np.array_equal(blended.policy, default.policy)
    np.testing.assert_array_equal(
        mfgtools.solve(game, "fp", iterations=4, alpha=0, progress=False).policy, default.policy
    )


@pytest.mark.parametrize(
    "params, message",
    [
        ({"ties": "random"}, "unknown ties 'random': choose one of first, split"),
        ({"alpha": 1.5}, "alpha must be <= 1.0, got 1.5"),
        ({"alpha": -0.1}, "alpha must be >= 0.0, got -0.1"),
    ],
)
def test_parameters_are_validated(params, message):
    with pytest.raises(MFGError, match=message):
        mfgtools.solvers.make_solver("fp", **params)
