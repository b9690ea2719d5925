"""D-MOMD's official online learner (collection=official): buffer, schedules, learning, validation."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfgtools
from mfgtools import kernels, solvers
from mfgtools.errors import MFGError
from mfgtools.solvers.d_momd import ReplayBuffer, epsilon_greedy, linear_epsilon
from mfgtools.solvers.munchausen import Transitions, soft_value_under

# 40 updates per iteration of batch 16, one every 10 environment steps of 5 environments: 80 rounds,
# 400 environment steps per iteration
TINY = dict(
    collection="official",
    num_updates=40,
    buffer_batch_size=16,
    hidden="16",
    buffer_size=64,
    training_starts=50,
    epsilon_steps=1000,
    target_interval=40,
)


@pytest.fixture(scope="module")
def game():
    return mfgtools.make_game("crowd", map="empty:5", horizon=5, mu0=(0, 0))


@pytest.fixture(scope="module")
def run(game):
    return mfgtools.solve(game, "d-momd", iterations=4, tau=1.0, **TINY)


def rows(start, n):
    index = jnp.arange(start, start + n, dtype=jnp.int32)
    return Transitions(index, index, index % 5, index, jnp.zeros(n))


def test_buffer_never_holds_more_than_its_size_and_keeps_the_newest_rows():
    buffer = ReplayBuffer.empty(7)
    for round_ in range(5):
        buffer = buffer.add(rows(5 * round_, 5))
        assert int(buffer.count) == min(5 * (round_ + 1), 7)
        assert buffer.data.time.shape == (7,)
    # 25 rows written into 7 slots: rows 18..24 remain, row r in slot r % 7
    assert sorted(np.asarray(buffer.data.time).tolist()) == list(range(18, 25))
    assert int(buffer.position) == 25 % 7
    drawn = buffer.sample(jax.random.PRNGKey(0), 1000)
    assert set(np.asarray(drawn.time).tolist()) == set(range(18, 25))


def test_a_partly_filled_buffer_samples_only_written_rows():
    buffer = ReplayBuffer.empty(100).add(rows(1, 3))
    drawn = buffer.sample(jax.random.PRNGKey(1), 500)
    assert set(np.asarray(drawn.time).tolist()) == {1, 2, 3}


def test_epsilon_schedule_is_linear_from_one_to_a_tenth_over_a_million_steps():
    solver = solvers.make_solver("d-momd", collection="official")
    assert (solver.epsilon_start, solver.epsilon_end, solver.epsilon_steps) == (1.0, 0.1, 1_000_000)
    for steps, expected in [(0, 1.0), (250_000, 0.775), (500_000, 0.55), (1_000_000, 0.1), (3_000_000, 0.1)]:
        epsilon, _, _ = solver.schedule(jnp.asarray(steps), 0)
        np.testing.assert_allclose(float(epsilon), expected, rtol=1e-6)
    np.testing.assert_allclose(float(linear_epsilon(40_000, 1.0, 0.1, 1_000_000)), 0.964, rtol=1e-6)


def test_epsilon_greedy_splits_ties_and_spreads_epsilon_over_legal_actions():
    q = jnp.array([[1.0, 3.0, 3.0, 0.0], [5.0, 9.0, 0.0, 0.0]])
    legal = jnp.array([[True, True, True, True], [True, False, True, True]])
    probs = np.asarray(epsilon_greedy(q, legal, 0.2))
    np.testing.assert_allclose(probs[0], [0.05, 0.45, 0.45, 0.05], rtol=1e-6)
    np.testing.assert_allclose(probs[1], [0.8 + 0.2 / 3, 0.0, 0.2 / 3, 0.2 / 3], rtol=1e-6)


def test_official_defaults_and_update_and_refresh_cadence():
    solver = solvers.make_solver("d-momd", collection="official")
    learner = solver.learner
    assert (learner.steps, learner.batch_size, learner.td_weight, learner.cql, learner.tau) == (4000, 256, 0.5, 0, 20)
    assert (solver.buffer_size, solver.n_envs, solver.target_interval) == (100_000, 5, 200)
    assert (solver.training_starts, solver.update_interval, solver.rounds) == (1000, 10, 8000)
    # the episodes mode keeps its own defaults
    assert (solvers.make_solver("d-momd").learner.steps, solvers.make_solver("d-momd").learner.batch_size) == (
        2000,
        512,
    )
    # one iteration's schedule: env steps 0, 5, ..., 39995 (a full buffer)
    steps = jnp.arange(solver.rounds) * solver.n_envs
    _, update, refresh = solver.schedule(steps, 100_000)
    assert int(update.sum()) == 4000 - 100  # every 10 steps from step 1000 on
    assert int(refresh.sum()) == 200  # every 200 steps
    assert np.all(np.asarray(steps)[np.asarray(refresh)] % 200 == 0)


def test_run_counts_updates_refreshes_and_the_buffer_as_scheduled(run):
    m = {key: np.asarray(value)[:-1] for key, value in run.metrics.items()}  # the last row is the final policy
    # iteration 1: env steps 0..395; updates at multiples of 10 from 50 on with 16 rows buffered
    assert m["updates"].tolist() == [35, 38, 38, 38]  # later: steps k*400 and k*400+10 find < 16 rows
    assert m["target_refreshes"].tolist() == [10, 10, 10, 10]
    assert m["buffered"].tolist() == [64, 64, 64, 64]  # 400 rows through a 64-row buffer
    # epsilon at the last round of iteration k: env steps k * 400 + 395 of a 1000-step decay
    expected = [max(1.0 - 0.9 * (400 * k + 395) / 1000, 0.1) for k in range(4)]
    np.testing.assert_allclose(m["epsilon"], expected, rtol=1e-5)


def test_official_learner_returns_a_proper_simplex(game, run):
    policy = np.asarray(run.policy)
    assert policy.shape == (game.horizon, game.n_states, game.n_actions)
    assert np.all(policy >= 0)
    np.testing.assert_allclose(policy.sum(-1), 1.0, rtol=1e-5)
    assert np.isfinite(np.asarray(run.metrics["exploitability"])).all()


def test_official_learner_beats_the_uniform_policy_on_tiny_navigation():
    game = mfgtools.make_game("crowd", map="empty:5", horizon=5, mu0=(0, 0), task="navigation")
    params = dict(
        TINY,
        num_updates=100,
        buffer_batch_size=32,
        hidden="32",
        buffer_size=1000,
        epsilon_steps=2000,
        target_interval=20,
    )
    result = mfgtools.solve(game, "d-momd", iterations=5, tau=1.0, **params)
    uniform = float(mfgtools.exploitability(game, mfgtools.uniform_policy(game)))  # 1.97
    curve = np.asarray(result.metrics["exploitability"])  # 1.59 (initial network) ... 0.99
    assert curve[-1] < 0.6 * uniform
    assert curve[-1] < curve[0]


def test_soft_value_under_its_own_softmax_is_tau_logsumexp(game):
    q = jax.random.normal(jax.random.PRNGKey(0), (game.horizon, game.n_states, game.n_actions)) * 3.0
    log_pi = jax.nn.log_softmax(jnp.where(game.action_mask, q / 2.0, -jnp.inf), axis=-1)
    np.testing.assert_allclose(
        np.asarray(soft_value_under(log_pi, q, 2.0)), np.asarray(kernels.soft_value(game, q, 2.0)), rtol=1e-5
    )


def test_official_parameters_are_validated(game):
    for params, message in [
        (dict(collection="replay"), "collection"),
        (dict(TINY, buffer_size=8), "buffer_size=8 is below buffer_batch_size=16"),
        (dict(TINY, model="tabular"), "model=mlp"),
        (dict(TINY, epsilon_start=2), "epsilon_start"),
        (dict(TINY, target_interval=0), "target_interval"),
        (dict(TINY, num_updates=1, update_interval=1, n_envs=5), "no round of play"),
        (dict(TINY, num_updates=0), "num_updates"),
        # each mode's own count and batch: the other mode's would be silently ignored
        (dict(TINY, steps=100), "steps do not act with collection=official: give num_updates and buffer_batch"),
        (dict(num_updates=100), "num_updates do not act with collection=episodes: give steps and batch_size"),
    ]:
        with pytest.raises(MFGError, match=message):
            mfgtools.solve(game, "d-momd", iterations=1, **params)


def test_official_iterations_never_retrace(game, run):
    count = solvers.TRACE_COUNT["OnlineMunchausenMirrorDescent"]
    again = mfgtools.solve(game, "d-momd", iterations=4, tau=1.0, **TINY)
    assert solvers.TRACE_COUNT["OnlineMunchausenMirrorDescent"] == count
    # the same seed gives the same run
    np.testing.assert_array_equal(np.asarray(again.metrics["updates"]), np.asarray(run.metrics["updates"]))
    np.testing.assert_allclose(np.asarray(again.policy), np.asarray(run.policy), rtol=1e-6)
