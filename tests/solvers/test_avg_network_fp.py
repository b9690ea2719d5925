"""Average-network fictitious play (``avg-network-fp``): its reservoir, its invariants, its convergence.

Its network is trained on random samples, so its numbers cannot be OpenSpiel's;
these tests check what must hold whatever the draws: the reservoir keeps a
uniform sample of every offer, the policy is a distribution over the legal
actions, a seed fixes the run, and the exploitability falls like exact
fictitious play's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfgtools
from mfgtools.errors import MFGError
from mfgtools.solvers import make_solver
from mfgtools.solvers.avg_network_fp import ReservoirBuffer

# a small network trained briefly: 10 iterations on crowd_modelling compile and run in about 3 s
SMALL = dict(hidden="16", steps=100, batch_size=32, episodes=50, min_buffer_size=32, buffer_capacity=2000)
ITERATIONS = 10


def test_the_reservoir_fills_in_order_then_replaces_as_one_by_one_offers_would():
    buffer = ReservoirBuffer.empty(6)
    items = jnp.arange(4, dtype=jnp.int32)
    buffer = buffer.add(items, items + 100, items + 200, jax.random.PRNGKey(0))
    assert int(buffer.seen) == 4 and int(buffer.size()) == 4
    np.testing.assert_array_equal(buffer.time[:4], [0, 1, 2, 3])
    np.testing.assert_array_equal(buffer.state[:4], [100, 101, 102, 103])
    # 20 more offers at once (several draw the same slot): the result of Vitter's algorithm R, offer by offer,
    # with the same draws
    more = jnp.arange(4, 24, dtype=jnp.int32)
    key = jax.random.PRNGKey(3)
    after = buffer.add(more, more + 100, more + 200, key)
    drawn = np.asarray(jax.random.randint(key, (20,), 0, jnp.arange(4, 24, dtype=jnp.int32) + 1, dtype=jnp.int32))
    expected = list(np.asarray(buffer.time))
    for offset, item in enumerate(range(4, 24)):
        if item < 6:
            expected[item] = item
        elif drawn[offset] < 6:
            expected[drawn[offset]] = item
    np.testing.assert_array_equal(after.time, expected)
    np.testing.assert_array_equal(after.action, np.asarray(expected) + 200)
    assert int(after.seen) == 24 and int(after.size()) == 6


def test_the_reservoir_holds_a_uniform_sample_of_everything_offered():
    """After 500 offers in 10 calls, each item is held with probability 20 / 500, early or late: counts over
    4000 runs (binomial, mean 160, sd 12.4) within 5 sd for every item, and per call (mean 8000; per run
    hypergeometric, sd 1.32, so 83 over the runs) within 5 sd."""
    capacity, calls, per_call, runs = 20, 10, 50, 4000
    offered = calls * per_call

    def run(key):
        def offer(buffer, xs):
            call, call_key = xs
            items = call * per_call + jnp.arange(per_call, dtype=jnp.int32)
            return buffer.add(items, items, items, call_key), None

        steps = (jnp.arange(calls, dtype=jnp.int32), jax.random.split(key, calls))
        return jax.lax.scan(offer, ReservoirBuffer.empty(capacity), steps)[0].time

    held = np.asarray(jax.jit(jax.vmap(run))(jax.random.split(jax.random.PRNGKey(7), runs)))
    assert all(len(set(row)) == capacity for row in held)  # each item is held at most once
    counts = np.bincount(held.ravel(), minlength=offered)
    mean = runs * capacity / offered
    sd = np.sqrt(runs * (capacity / offered) * (1 - capacity / offered))
    assert np.abs(counts - mean).max() < 5 * sd
    per_call_counts = counts.reshape(calls, per_call).sum(1)
    share = per_call / offered
    per_call_sd = np.sqrt(runs * capacity * share * (1 - share) * (offered - capacity) / (offered - 1))
    assert np.abs(per_call_counts - mean * per_call).max() < 5 * per_call_sd
    chi2 = ((counts - mean) ** 2 / mean).sum()  # about offered - 1 = 499 degrees of freedom
    assert 400 < chi2 < 600


def test_the_buffer_samples_uniformly_from_the_samples_it_holds():
    buffer = ReservoirBuffer.empty(10)
    items = jnp.arange(5, dtype=jnp.int32)
    buffer = buffer.add(items, items, items, jax.random.PRNGKey(0))
    time, _, _ = buffer.sample(jax.random.PRNGKey(1), 50_000)
    counts = np.bincount(np.asarray(time), minlength=10)
    assert counts[5:].sum() == 0  # never an empty slot
    np.testing.assert_allclose(counts[:5], 10_000, rtol=0.04)


def _ignore(done, metrics):
    pass


@pytest.fixture(scope="module")
def runs():
    game = mfgtools.make_game("crowd_modelling")
    # a callback makes the engine run chunk by chunk, as a checkpointed run does: one compiled program for all
    chunked = dict(iterations=ITERATIONS, progress=False, callback=_ignore, **SMALL)
    first = mfgtools.solve(game, "avg-network-fp", seed=0, **chunked)
    again = mfgtools.solve(game, "avg-network-fp", seed=0, **chunked)
    other = mfgtools.solve(game, "avg-network-fp", seed=1, **chunked)
    exact = mfgtools.solve(game, "fp", iterations=ITERATIONS, progress=False)
    return game, first, again, other, exact


def test_the_policy_is_a_distribution_over_the_legal_actions(runs):
    game, first, *_ = runs
    policy = np.asarray(first.policy)
    assert policy.shape == game.policy_shape
    assert (policy >= 0).all()
    np.testing.assert_allclose(policy.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(first.mean_field, mfgtools.mean_field(game, first.policy), atol=1e-6)
    # on a game with illegal actions (dynamic_routing: 85 % of its (state, action) pairs), the network's
    # policy puts no mass on them
    routing = mfgtools.make_game("dynamic_routing", max_num_time_step=4)
    solver = make_solver("avg-network-fp", hidden="8")
    policy = np.asarray(jax.jit(lambda key: solver.policy(routing, solver.init(routing, key)))(jax.random.PRNGKey(0)))
    mask = np.broadcast_to(np.asarray(routing.action_mask), policy.shape)
    assert not mask.all() and (policy[~mask] == 0).all() and (policy[mask] > 0).all()
    np.testing.assert_allclose(policy.sum(-1), 1.0, atol=1e-6)


def test_a_seed_fixes_the_run(runs):
    _, first, again, other, _ = runs
    np.testing.assert_array_equal(first.policy, again.policy)
    np.testing.assert_array_equal(first.metrics["exploitability"], again.metrics["exploitability"])
    np.testing.assert_array_equal(first.metrics["loss"], again.metrics["loss"])
    assert not np.array_equal(first.policy, other.policy)


class Stop(Exception):
    pass


def test_a_killed_run_resumes_from_its_checkpoint_to_the_same_result(runs, tmp_path):
    """The reservoir, the optimiser's state and the keys travel in the checkpoint."""
    game, first, *_ = runs
    path = tmp_path / "run.ckpt"

    def kill(done, _):
        if done >= 3:
            raise Stop

    common = dict(iterations=ITERATIONS, seed=0, progress=False, checkpoint=path, **SMALL)
    with pytest.raises(Stop):
        mfgtools.solve(game, "avg-network-fp", checkpoint_every=1, callback=kill, **common)
    resumed = mfgtools.solve(game, "avg-network-fp", resume=True, **common)
    np.testing.assert_array_equal(resumed.policy, first.policy)
    np.testing.assert_array_equal(resumed.metrics["exploitability"], first.metrics["exploitability"])


def test_metrics_count_the_buffer_and_the_loss(runs):
    game, first, *_ = runs
    held = first.metrics["buffer_size"][:-1]  # the last entry is the final policy's evaluation
    np.testing.assert_array_equal(held, np.minimum(SMALL["episodes"] * game.horizon * np.arange(1, 11), 2000))
    loss = first.metrics["loss"][:-1]
    assert np.isfinite(loss).all() and (loss > 0).all() and loss[-1] < np.log(3)  # below the uniform guess


def test_the_exploitability_falls_like_exact_fictitious_plays(runs):
    """On crowd_modelling (uniform policy 2.81) exact FP is at 0.99 after 10 iterations (0.46 to 0.99 over its
    last five); the network's policy, over 12 seeds, ends at 0.67 to 1.05 (seed 0: 0.72)."""
    game, first, _, other, exact = runs
    uniform = mfgtools.exploitability(game, mfgtools.uniform_policy(game))
    assert uniform > 2.5
    for run in (first, other):
        curve = run.metrics["exploitability"]
        assert curve[-1] < 0.5 * uniform
        assert abs(curve[-1] - exact.metrics["exploitability"][-1]) < 0.5
        assert curve[-1] < 0.5 * curve[0]


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(batch_size=64, buffer_capacity=32), r"^batch_size=64 is more than buffer_capacity=32: .*lower batch"),
        (
            dict(min_buffer_size=100, buffer_capacity=32, batch_size=8),
            r"^min_buffer_size=100 is more than buffer_capacity=32",
        ),
        (dict(optimizer="rmsprop"), r"optimizer"),
        (dict(hidden=""), r"hidden needs at least one layer width"),
        (dict(tau=0), r"tau must be > 0"),
    ],
)
def test_settings_are_validated_in_one_line(params, message):
    game = mfgtools.make_game("crowd_modelling", horizon=3)
    with pytest.raises(MFGError, match=message) as error:
        mfgtools.solve(game, "avg-network-fp", iterations=1, progress=False, **params)
    assert "\n" not in str(error.value)
