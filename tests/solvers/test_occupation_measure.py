"""MF-OMI-FBS (``mf-omi-fbs``): the projection onto the flows, the policy of an occupation measure, inputs.
Its agreement with MFGLib: tests/games/test_mfglib_games.py (recorded) and test_mfglib_live.py (live)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import mfgtools
from mfgtools import kernels
from mfgtools.errors import MFGError
from mfgtools.solvers.occupation_measure import flow_matrix, frozen_model, policy_of, project_flows

pytestmark = pytest.mark.usefixtures("x64_module")


def test_projection_is_the_nearest_flow():
    """The projection of a perturbed occupation measure is a flow (constraints to 1e-13, no negative mass,
    nothing on illegal actions) and the nearest one: ``(y - d).(f - d) <= 0`` for the flows ``f`` of other
    policies (the variational inequality of a Euclidean projection), on a game whose transitions read mu."""
    game = mfgtools.make_game("mfglib/susceptible_infected", T=4)

    @jax.jit
    def prepare():
        policy = kernels.uniform_policy(game)
        d = kernels.mean_field(game, policy)[:-1, :, None] * policy
        _, probs, tables, _ = frozen_model(game, d)
        return d, probs, tables, flow_matrix(game, probs, tables)

    d, probs, tables, matrix = prepare()
    rhs = np.zeros(d.shape[:2]).copy()
    rhs[0] = game.initial_distribution
    rng = np.random.default_rng(0)
    y = np.asarray(d) + rng.normal(size=d.shape) * 0.5
    mask = np.ones(y.size, bool)
    project = jax.jit(project_flows, static_argnums=(5, 6))
    flat, lam, residual, steps = project(matrix, rhs.reshape(-1), mask, y.reshape(-1), 0 * rhs.reshape(-1), 1e-13, 100)
    projected = np.asarray(flat).reshape(d.shape)
    assert residual <= 1e-13 and 0 < steps < 100
    assert (projected >= 0).all() and (projected == 0).any()  # the perturbation left the set
    np.testing.assert_allclose(projected.sum((1, 2)), 1.0, atol=1e-12)
    for _ in range(3):  # the flows of other policies (the model frozen at d: the mean field of uniform)
        other = rng.dirichlet(np.ones(2), d.shape[:2])
        frozen = _flow_with_frozen_model(game, probs, tables, other)
        assert np.vdot(y - projected, frozen - projected) <= 1e-12
    again, _, _, more = project(matrix, rhs.reshape(-1), mask, flat, 0 * lam, 1e-13, 100)  # a flow: itself
    np.testing.assert_allclose(again, flat, atol=1e-13)
    assert more == 0


def _flow_with_frozen_model(game, probs, tables, policy):
    """Occupation measure of ``policy`` under the frozen transitions ``probs``/``tables`` ``(T, S, A, K)``."""
    mu = np.asarray(game.initial_distribution)
    rows = []
    for t in range(game.horizon):
        rows.append(mu[:, None] * np.asarray(policy[t]))
        mu = np.bincount(np.asarray(tables[t]).ravel(), (rows[-1][..., None] * np.asarray(probs[t])).ravel(), mu.size)
    return np.stack(rows)


def test_policy_of_an_occupation_measure():
    """``d / sum_a d`` after zeroing masses up to the threshold; uniform on states without mass."""
    game = mfgtools.make_game("mfglib/left_right")
    d = np.zeros(game.policy_shape)
    d[0, 0] = [0.2, 0.6]
    d[0, 1] = [1e-9, 0.3]
    d[0, 2] = [1e-9, 0.0]
    policy = np.asarray(policy_of(game, d, 1e-7))
    np.testing.assert_allclose(policy[0], [[0.25, 0.75], [0.0, 1.0], [0.5, 0.5]])
    np.testing.assert_allclose(policy[1], 0.5)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"alpha": 0}, "alpha"),
        ({"eta": -1}, "eta"),
        ({"threshold": -1e-7}, "threshold"),
        ({"tolerance": 0}, "tolerance"),
        ({"max_newton": 0}, "max_newton"),
    ],
)
def test_inputs_are_checked(params, message):
    game = mfgtools.make_game("mfglib/left_right")
    with pytest.raises(MFGError, match=message):
        mfgtools.solve(game, "mf-omi-fbs", iterations=1, progress=False, **params)


def test_converges_on_left_right_without_retracing():
    """MFGLib's left_right (the CI's REFERENCE mu0): 0.25 at the uniform policy, 0.0245 after 10 iterations
    with alpha = 0.1 (MFGLib's figure, benchmarks/mfglib_games.py --omi 0.1), falling at every iteration; a
    second run reuses the compiled program."""
    from mfgtools import solvers

    game = mfgtools.make_game("mfglib/left_right", mu0=[0.5, 0.3, 0.2])
    first = mfgtools.solve(game, "mf-omi-fbs", iterations=10, alpha=0.1, progress=False)
    count = solvers.TRACE_COUNT["OccupationMeasureInclusion"]
    again = mfgtools.solve(game, "mf-omi-fbs", iterations=10, alpha=0.1, progress=False)
    assert solvers.TRACE_COUNT["OccupationMeasureInclusion"] == count
    np.testing.assert_array_equal(first.metrics["exploitability"], again.metrics["exploitability"])
    assert first.metrics["exploitability"][0] == pytest.approx(0.25)
    assert first.metrics["exploitability"][10] == pytest.approx(0.024482335333354033, rel=1e-9)
    assert np.all(np.diff(first.metrics["exploitability"]) < 0)
