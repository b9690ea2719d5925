"""MF-OMO (``mf-omo``): the simplex projection, the hat start, residual balancing, inputs.
Its agreement with MFGLib: tests/games/test_mfglib_games.py (recorded) and test_mfglib_live.py (live)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfgtools
from mfgtools.errors import MFGError
from mfgtools.solvers import make_solver
from mfgtools.solvers.mf_omo import project_simplex

pytestmark = pytest.mark.usefixtures("x64_module")


def test_projection_onto_the_simplex():
    """Onto ``{p >= 0, sum p = r, p = 0 off mask}``: ``p = max(x - theta, 0)`` on the mask, with ``x - p``
    equal to ``theta`` on the support and ``x <= theta`` off it (the projection's optimality conditions);
    MFGLib's uniform fallback where the threshold is lost to rounding."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 7)) * 3
    mask = rng.random((6, 7)) < 0.7
    mask[:, 0] = True
    project = jax.jit(project_simplex)
    for radius in (1.0, 5.0):
        p = np.asarray(project(x, radius, mask))
        np.testing.assert_allclose(p.sum(-1), radius, rtol=1e-14)
        assert (p >= 0).all() and (p[~mask] == 0).all()
        for row, values, legal in zip(p, x, mask):
            support = row > 0
            theta = (values - row)[support]
            np.testing.assert_allclose(theta, theta[0], atol=1e-12)
            assert (values[legal & ~support] <= theta[0] + 1e-12).all()
    inside = np.array([[0.2, 0.5, 0.3]])  # on the simplex already: itself
    np.testing.assert_allclose(project(inside, 1.0, np.ones((1, 3), bool)), inside, rtol=1e-15)
    huge = np.array([[3e21, 3e21, -1.0, 0.5]])  # x - theta rounds to 0 everywhere
    np.testing.assert_array_equal(project(huge, 1.0, np.array([[True, True, True, False]])), [[1 / 3] * 3 + [0.0]])


@pytest.mark.parametrize("name", ["dynamic_routing", "sis", "linear_quadratic"])
def test_hat_start_is_dual_feasible(name):
    """``y = -gamma^t V*``, ``z = gamma^t (V* - Q*)`` of the model read at the start ``L = pi / S``:
    ``A_L^T y + z = c_L`` exactly (the dual residual is 0), ``z >= 0``, and ``z`` and ``L`` are 0 on
    illegal actions; on a game with action masks and a terminal reward (dynamic_routing), a discounted
    one (sis) and one whose reward is an ``(S, 1)`` table (OpenSpiel's linear_quadratic). The
    parameterised start maps to the same ``L`` and ``y``."""
    from helpers import TINY_GAMES

    modes = {"mode": "finite-horizon"} if len(mfgtools.list_games()[name].modes) > 1 else {}
    game = mfgtools.make_game(name, **modes, **TINY_GAMES[name])
    solver, free = make_solver("mf-omo"), make_solver("mf-omo", parameterize=True)

    @jax.jit
    def start(game):
        state = solver.init(game, None)
        mapped = free.variables(game, free.init(game, None).params, state.r_max)
        return state.params, solver.terms(game, *state.params), mapped

    (occupation, slack, dual), (o1, o2, o3), mapped = start(game)
    assert o1 >= 0 and abs(o2) < 1e-24 and o3 >= 0  # o1 = 0 where L = pi / S is already a flow
    legal = np.broadcast_to(np.asarray(game.action_mask), occupation.shape)
    assert (np.asarray(slack) >= 0).all() and (np.asarray(slack)[~legal] == 0).all()
    assert (np.asarray(occupation)[~legal] == 0).all()
    np.testing.assert_allclose(occupation.sum((1, 2)), 1.0, rtol=1e-14)
    np.testing.assert_allclose(mapped[0], occupation, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(mapped[2], dual, rtol=1e-13, atol=1e-14)


def test_residual_balancing_rules():
    """``c1`` times ``m2`` when its term is over ``m1`` times the others' largest, divided by ``m2`` when under
    ``m3`` times the others' smallest (that rule last), capped at 1e3; likewise ``c2``; a zero denominator
    skips its rule."""
    solver = make_solver("mf-omo", rb_freq=1)

    def balanced(o1, o2, o3, c=(1.0, 1.0), solver=solver):
        return tuple(float(w) for w in solver._balanced(*c, *(jnp.asarray(o) for o in (o1, o2, o3))))

    assert balanced(100.0, 1.0, 2.0) == (2.0, 1.0)
    assert balanced(1.0, 50.0, 2.0) == (1.0, 2.0)
    assert balanced(0.01, 1.0, 2.0) == (0.5, 1.0)
    assert balanced(1.0, 0.01, 2.0) == (1.0, 0.5)
    assert balanced(100.0, 0.0, 0.0) == (1.0, 1.0)  # o2 = o3 = 0: c1's rules skipped; c2's down rule too
    assert balanced(100.0, 1.0, 2.0, c=(800.0, 1.0)) == (1000.0, 1.0)
    both = make_solver("mf-omo", rb_freq=1, m1=0.5, m3=5.0)  # both of c1's rules hold: division wins
    assert balanced(1.0, 0.5, 1.5, solver=both)[0] == 0.5


@pytest.mark.parametrize(
    "params, message",
    [
        ({"loss": "l3"}, "loss"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"lr": 0}, "lr"),
        ({"rb_freq": 0}, "rb_freq"),
        ({"m2": -2}, "m2"),
        ({"c1": -1}, "c1"),
        ({"r_max": 0}, "r_max"),
        ({"parameterize": "maybe"}, "parameterize"),
    ],
)
def test_inputs_are_checked(params, message):
    game = mfgtools.make_game("mfglib/left_right")
    with pytest.raises(MFGError, match=message) as error:
        mfgtools.solve(game, "mf-omo", iterations=1, progress=False, **params)
    assert "\n" not in str(error.value)


def test_converges_on_left_right_without_retracing():
    """MFGLib's left_right at its defaults (everybody starts at the start): exploitability 0.25 at the
    uniform policy, 1.6e-4 after 100 iterations of MFGLib's defaults (not monotonically: Adam oscillates);
    a second run reuses the compiled program."""
    from mfgtools import solvers

    game = mfgtools.make_game("mfglib/left_right")
    first = mfgtools.solve(game, "mf-omo", iterations=100, progress=False)
    count = solvers.TRACE_COUNT["MFOMO"]
    again = mfgtools.solve(game, "mf-omo", iterations=100, progress=False)
    assert solvers.TRACE_COUNT["MFOMO"] == count
    scores = first.metrics["exploitability"]
    np.testing.assert_array_equal(scores, again.metrics["exploitability"])
    assert scores[0] == pytest.approx(0.25) and scores[100] < 1e-3
