"""Stationary kernels and policy mirror ascent (spec: pma.md)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mfgtools
from mfgtools import kernels, solvers
from mfgtools.errors import MFGError
from mfgtools.games.tabular import TabularGame, tabular_game
from mfgtools.solvers.pma import mirror_step


def dense_transition(game) -> np.ndarray:
    """``P[S, A, S]`` from the fan-out table (population-independent games)."""
    n_states, n_actions, _ = game.next_state.shape
    dense = np.zeros((n_states, n_actions, n_states))
    rows, cols = np.meshgrid(np.arange(n_states), np.arange(n_actions), indexing="ij")
    for k in range(game.fan_out):
        np.add.at(dense, (rows, cols, np.asarray(game.next_state)[:, :, k]), np.asarray(game.transition_prob)[:, :, k])
    return dense


def random_stationary(seed, n_states=6, discount=0.9):
    return mfgtools.make_game(
        "random", n_states=n_states, n_actions=3, fan_out=3, seed=seed, mode="stationary", discount=discount
    )


def random_policy(game, seed):
    logits = np.random.default_rng(seed).normal(size=(game.n_states, game.n_actions))
    policy = np.exp(logits)
    return policy / policy.sum(-1, keepdims=True)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), discount=st.sampled_from([0.5, 0.9, 0.97]), lam=st.sampled_from([0.0, 0.3]))
def test_stationary_kernels_match_dense_linear_algebra(x64, seed, discount, lam):
    game = random_stationary(seed, discount=discount)
    policy = jnp.asarray(random_policy(game, seed))
    mu, residual, _ = kernels.stationary_population(game, policy)
    p_pi = np.einsum("sa,sat->st", policy, dense_transition(game))
    assert residual <= 1e-12
    np.testing.assert_allclose(np.asarray(mu) @ p_pi, mu, atol=1e-11)  # a fixed point ...
    np.testing.assert_allclose(mu.sum(), 1.0, atol=1e-12)  # ... on the simplex
    assert (np.asarray(mu) >= 0).all()

    reward = np.asarray(game.reward(0, mu))
    entropy_reward = (policy * (reward - lam * np.log(policy))).sum(-1)
    exact = np.linalg.solve(np.eye(game.n_states) - discount * p_pi, entropy_reward)
    q, v, _ = kernels.stationary_evaluate(game, policy, mu, lam)
    np.testing.assert_allclose(v, exact, atol=1e-9)
    np.testing.assert_allclose(q, reward + discount * dense_transition(game) @ exact, atol=1e-9)

    # the (soft) best response satisfies the optimality equation and beats the policy everywhere
    q_star, v_star, response, _ = kernels.stationary_best_response(game, mu, lam)
    backup = reward + discount * dense_transition(game) @ np.asarray(v_star)
    target = lam * np.log(np.exp(backup / lam).sum(-1)) if lam else backup.max(-1)
    np.testing.assert_allclose(v_star, target, atol=1e-9)
    np.testing.assert_allclose(np.asarray(response).sum(-1), 1.0, atol=1e-12)
    assert (np.asarray(v_star) >= np.asarray(v) - 1e-9).all()
    gap = float(kernels.exploitability(game, policy, lam))
    assert gap == pytest.approx(float(np.dot(mu, v_star - v)), abs=1e-9) and gap >= 0


def test_stationary_exploitability_is_zero_at_the_equilibrium_of_a_game_without_interaction(x64):
    """Without population effects the regularised equilibrium is the soft-optimal policy."""
    game = random_stationary(3).replace(crowd_aversion=0.0)
    _, _, soft, _ = kernels.stationary_best_response(game, game.initial_distribution, 0.5)
    assert mfgtools.exploitability(game, soft, temperature=0.5) == pytest.approx(0.0, abs=1e-10)
    assert mfgtools.exploitability(game, mfgtools.uniform_policy(game)) > 0.01


@struct.dataclass(kw_only=True)
class Stampede(TabularGame):
    """Everybody runs to the emptier of two states: the population has no attracting fixed point."""

    def transition(self, t, mu):
        towards = jax.nn.sigmoid(60.0 * (mu[0] - mu[1]))  # probability of going to state 1
        row = jnp.stack([1.0 - towards, towards])
        return jnp.broadcast_to(row, (2, 1, 2))


def test_unconverged_population_is_a_clear_error():
    base = tabular_game(
        next_state=np.broadcast_to(np.arange(2), (2, 1, 2)),
        transition_prob=np.full((2, 1, 2), 0.5),
        reward=np.zeros((2, 1)),
        initial_distribution=[0.7, 0.3],
        horizon=2,
        discount=0.9,
        stationary=True,
    )
    game = Stampede(**{f: getattr(base, f) for f in base.__dataclass_fields__})
    policy = np.ones((2, 1))
    _, residual, steps = jax.jit(kernels.stationary_population)(game, jnp.asarray(policy))
    assert residual > 1e-3 and steps == kernels.MAX_POPULATION_STEPS
    with pytest.raises(MFGError, match="did not converge"):
        mfgtools.mean_field(game, policy)
    with pytest.raises(MFGError, match="did not converge"):
        mfgtools.exploitability(game, policy)


def test_stationary_policies_are_validated():
    game = mfgtools.make_game("sis")
    assert mfgtools.uniform_policy(game).shape == (2, 2)
    with pytest.raises(MFGError, match=r"needs \(S, A\)"):
        mfgtools.exploitability(game, np.full((3, 2, 2), 0.5))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 1000), eta=st.floats(0.01, 10.0), lam=st.floats(0.0, 2.0))
def test_mirror_step_is_the_closed_form(x64, seed, eta, lam):
    game = mfgtools.make_game("random", n_states=4, n_actions=3, mode="stationary")
    rng = np.random.default_rng(seed)
    policy = random_policy(game, seed)
    q = rng.normal(size=policy.shape) * 3
    new = np.exp(np.asarray(mirror_step(game, jnp.log(jnp.asarray(policy)), jnp.asarray(q), eta, lam)))
    expected = policy ** (1 / (1 + eta * lam)) * np.exp(eta * q / (1 + eta * lam))
    np.testing.assert_allclose(new, expected / expected.sum(-1, keepdims=True), rtol=1e-9)


@pytest.mark.parametrize(
    "name, params, eta",
    [("sis", {}, 1.0), ("torus-crowd", {"size": "4x4"}, 0.3), ("random", {"mode": "stationary"}, 1.0)],
)
def test_exact_pma_reaches_the_regularised_equilibrium(x64, name, params, eta):
    game = mfgtools.make_game(name, **params)
    result = mfgtools.solve(game, "pma", iterations=300, learning_rate=eta, temperature=0.1)
    curve = result.metrics["regularised_exploitability"]
    assert curve[0] > 0.1
    assert 0 <= curve[-1] < 1e-6  # the spec's target, in float64
    assert result.metrics["population_residual"][-1] <= 1e-12
    assert mfgtools.exploitability(game, result.policy, temperature=0.1) < 1e-6
    # the same regularised game solved by a damped fixed-point iteration of the soft best response
    # (on the torus a damping of 0.1 still oscillates; 0.03 converges)
    fixed = mfgtools.solve(game, "boltzmann", iterations=600, temperature=0.1, soft=True, damping=0.03)
    assert mfgtools.exploitability(game, fixed.policy, temperature=0.1) < 1e-6
    np.testing.assert_allclose(fixed.policy, result.policy, atol=1e-4)
    np.testing.assert_allclose(fixed.mean_field, result.mean_field, atol=1e-4)


def test_exact_pma_in_finite_horizon_mode(x64):
    game = mfgtools.make_game("random", n_states=6, horizon=5)
    result = mfgtools.solve(game, "pma", iterations=150, learning_rate=1.0, temperature=0.2)
    assert result.policy.shape == (5, 6, 3)
    assert result.metrics["regularised_exploitability"][-1] < 1e-8
    fixed = mfgtools.solve(game, "boltzmann", iterations=600, temperature=0.2, soft=True, damping=0.1)
    np.testing.assert_allclose(fixed.policy, result.policy, atol=1e-6)


def test_too_large_a_step_is_reported_honestly():
    """eta = 1 does not contract on the crowd-averse torus; the metrics show it."""
    game = mfgtools.make_game("torus-crowd", size="4x4")
    curve = mfgtools.solve(game, "pma", iterations=40, learning_rate=1.0).metrics["regularised_exploitability"]
    assert curve[-1] > curve[0]


def test_sampled_pma_learns_and_the_finite_population_shows():
    """On the SIS game ten agents lose the epidemic (it dies out), a thousand keep it:
    the learners' mean-field exploitability is far higher with N = 10."""
    game = mfgtools.make_game("sis")
    floors = {}
    for n in (10, 1000):
        result = mfgtools.solve(game, "pma-sampled", iterations=60, n_agents=n, learning_rate=1.0)
        curve = result.metrics["regularised_exploitability"]
        floors[n] = np.median(curve[-20:])
        assert result.metrics["samples"][-2] == 60 * 220
    assert floors[1000] < 0.05 * result.metrics["regularised_exploitability"][0]
    assert floors[10] > 10 * floors[1000]


def test_independent_learners_keep_their_own_policies():
    game = mfgtools.make_game("sis")
    algorithm = solvers.make_solver("pma-independent", n_agents=50, learning_rate=1.0)
    state = algorithm.init(game, jax.random.PRNGKey(0))
    state, metrics = jax.jit(algorithm.step)(game, state, jax.random.PRNGKey(1))
    policies = np.exp(np.asarray(state.log_policy))
    assert policies.shape == (50, 2, 2)
    np.testing.assert_allclose(policies.sum(-1), 1.0, atol=1e-5)
    assert np.ptp(policies[:, 0, 0]) > 1e-3  # agents learned from different trajectories
    np.testing.assert_allclose(algorithm.policy(game, state), policies.mean(0), atol=1e-6)
    assert float(metrics["agent_exploitability"]) >= 0


def test_seeds_run_vmapped_with_the_iterates_of_single_runs():
    game = mfgtools.make_game("torus-crowd", size="3x3")
    params = dict(n_agents=20, mixing_steps=3, td_steps=10)
    batch = mfgtools.solve_seeds(game, "pma-independent", iterations=5, seeds=[4, 9], **params)
    single = mfgtools.solve(game, "pma-independent", iterations=5, seed=9, **params)
    assert [r.seed for r in batch] == [4, 9]
    np.testing.assert_allclose(batch[1].policy, single.policy, atol=1e-6)
    np.testing.assert_allclose(batch[1].metrics["exploitability"], single.metrics["exploitability"], rtol=1e-5)
    assert not np.allclose(batch[0].policy, batch[1].policy)
    count = solvers.TRACE_COUNT["SampledPolicyMirrorAscent"]
    mfgtools.solve_seeds(game, "pma-independent", iterations=5, seeds=[1, 2], **params)
    mfgtools.solve(game, "pma-independent", iterations=5, seed=3, **params)
    assert solvers.TRACE_COUNT["SampledPolicyMirrorAscent"] == count  # nothing retraced


def test_sampled_pma_needs_a_stationary_game():
    game = mfgtools.make_game("sis", mode="finite-horizon")
    with pytest.raises(MFGError, match="needs a stationary game.*--mode stationary"):
        mfgtools.solve(game, "pma-independent", iterations=1)
    with pytest.raises(MFGError, match="n_agents must be"):
        mfgtools.solve(mfgtools.make_game("sis"), "pma-independent", iterations=1, n_agents=0)
