"""Dec-POMFC and IPPO: kernel representations, PPO pieces, both solvers on tiny swarms."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfgtools
from mfgtools import representations as rep
from mfgtools import solvers
from mfgtools.engine import PROGRAMS
from mfgtools.errors import MFGError
from mfgtools.simulate import simulate_swarm
from mfgtools.solvers import dec_pomfc, ippo, ppo
from mfgtools.swarm_policies import check_swarm_policy, uniform_policy


# ----- PPO pieces ------------------------------------------------------------------------
def numpy_gae(rewards, values, discount, lam):
    """Direct computation: A_t = sum_k (gamma lam)^k delta_{t+k}, delta with V(s_T) = 0."""
    horizon = len(rewards)
    next_values = np.concatenate([values[1:], np.zeros_like(values[:1])])
    deltas = rewards + discount * next_values - values
    advantages = np.zeros_like(rewards)
    for t in range(horizon):
        advantages[t] = sum((discount * lam) ** k * deltas[t + k] for k in range(horizon - t))
    return advantages, advantages + values


def test_gae_matches_a_direct_computation():
    rng = np.random.default_rng(0)
    rewards, values = rng.normal(size=(7, 3)), rng.normal(size=(7, 3))
    advantages, returns = ppo.gae(jnp.asarray(rewards), jnp.asarray(values), jnp.zeros(3), 0.9, 0.8)
    expected_advantages, expected_returns = numpy_gae(rewards, values, 0.9, 0.8)
    np.testing.assert_allclose(advantages, expected_advantages, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(returns, expected_returns, rtol=1e-5, atol=1e-5)
    # lambda = 1: discounted reward-to-go; lambda = 0: one-step TD errors
    _, to_go = ppo.gae(jnp.asarray(rewards), jnp.asarray(values), jnp.zeros(3), 0.9, 1.0)
    np.testing.assert_allclose(to_go[-2], rewards[-2] + 0.9 * rewards[-1], rtol=1e-5, atol=1e-5)
    td, _ = ppo.gae(jnp.asarray(rewards), jnp.asarray(values), jnp.zeros(3), 0.9, 0.0)
    np.testing.assert_allclose(td[0], rewards[0] + 0.9 * values[1] - values[0], rtol=1e-5, atol=1e-5)


def test_clipped_loss_hand_values():
    # ratios 1.5, 0.5, 1.1, 0.7 with advantages +1, +1, -2, -1 and clip 0.2:
    # min(r A, clip(r) A) = 1.2, 0.5, -2.2, -0.8 -> policy loss -(1.2 + 0.5 - 2.2 - 0.8) / 4
    ratio = jnp.array([1.5, 0.5, 1.1, 0.7])
    advantages = jnp.array([1.0, 1.0, -2.0, -1.0])
    old = jnp.zeros(4)
    values, targets = jnp.array([0.0, 1.0, 2.0, 3.0]), jnp.array([1.0, 1.0, 0.0, 3.0])
    entropy = jnp.array([0.5, 0.5, 1.5, 1.5])
    total, info = ppo.clipped_loss(jnp.log(ratio), old, advantages, values, targets, entropy, 0.2, 0.5, 0.1)
    assert float(info["policy_loss"]) == pytest.approx(-(1.2 + 0.5 - 2.2 - 0.8) / 4, rel=1e-5)
    assert float(info["value_loss"]) == pytest.approx(0.5 * (1 + 0 + 4 + 0) / 4, rel=1e-5)
    assert float(info["entropy"]) == pytest.approx(1.0)
    assert float(total) == pytest.approx(0.325 + 0.5 * 0.625 - 0.1, rel=1e-5)
    assert float(info["clip_fraction"]) == pytest.approx(0.75)


def test_normalise_and_minibatch_epochs():
    advantages = ppo.normalise(jnp.arange(10.0))
    assert float(advantages.mean()) == pytest.approx(0.0, abs=1e-6)
    assert float(advantages.std()) == pytest.approx(1.0, rel=1e-4)
    # least squares by minibatch Adam: moves towards the solution, diagnostics averaged
    x = jnp.linspace(-1.0, 1.0, 64)
    batch = {"x": x, "y": 3.0 * x}

    def loss(params, minibatch):
        error = jnp.mean(jnp.square(params["w"] * minibatch["x"] - minibatch["y"]))
        return error, {"error": error}

    optimizer = ppo.make_optimizer(0.1, 10.0)
    params = {"w": jnp.zeros(())}
    params, _, info = ppo.update(
        loss, optimizer, params, optimizer.init(params), batch, jax.random.PRNGKey(0), epochs=5, minibatches=4
    )
    assert 1.0 < float(params["w"]) <= 3.5
    assert set(info) == {"error", "grad_norm", "updates"} and np.isfinite(float(info["error"]))
    assert float(info["updates"]) == 1.0

    # early stopping: a "KL" that grows with the distance travelled stops the phase
    def far(params, minibatch):
        error, _ = loss(params, minibatch)
        return error, {"approx_kl": jnp.abs(params["w"])}

    start = {"w": jnp.zeros(())}
    stopped, _, info = ppo.update(
        far,
        optimizer,
        start,
        optimizer.init(start),
        batch,
        jax.random.PRNGKey(0),
        epochs=5,
        minibatches=4,
        target_kl=0.2,
    )
    assert 0.0 < float(info["updates"]) < 0.5
    assert 0.3 <= float(stopped["w"]) < 1.0  # stopped soon after |w| passed 1.5 x 0.2


# ----- representations -------------------------------------------------------------------
CIRCLE = [("periodic", -math.pi, 2.0 * math.pi)]
DISC = [("bounded", -1.0, 1.0), ("bounded", -1.0, 1.0)]


def random_tables(m, a, seed=0):
    return jax.nn.softmax(jax.random.normal(jax.random.PRNGKey(seed), (m, a)) * 2.0, axis=-1)


@pytest.mark.parametrize("kind", rep.KINDS)
@pytest.mark.parametrize("box,shape", [(CIRCLE, (8,)), (DISC, (4, 4))])
def test_mixture_rows_on_the_simplex(kind, box, shape):
    basis = rep.make_basis(box, shape, kind)
    y = jax.random.uniform(jax.random.PRNGKey(1), (50, len(shape)), minval=-3.0, maxval=3.0)  # some outside the box
    probs = rep.mixture_probabilities(basis, random_tables(basis.size, 3), y)
    assert probs.shape == (50, 3)
    assert bool(jnp.all(probs >= 0.0))
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)


def test_kernel_mixture_is_lipschitz_and_histogram_piecewise_constant():
    y = (-math.pi + 2.0 * math.pi * jnp.arange(2000) / 2000)[:, None]
    step = float(y[1, 0] - y[0, 0])
    tables = random_tables(8, 3)
    kernel = rep.mixture_probabilities(rep.make_basis(CIRCLE, (8,), "kernel"), tables, y)
    jumps = jnp.abs(jnp.diff(kernel, axis=0)).max()
    assert float(jumps) < 5.0 * step  # Lipschitz constant of a few units for a smooth kernel
    wrapped = rep.mixture_probabilities(rep.make_basis(CIRCLE, (8,), "kernel"), tables, y + 2.0 * math.pi)
    np.testing.assert_allclose(wrapped, kernel, atol=1e-5)  # periodic
    histogram = rep.mixture_probabilities(rep.make_basis(CIRCLE, (8,), "histogram"), tables, y)
    changes = int(jnp.sum(jnp.any(jnp.abs(jnp.diff(histogram, axis=0)) > 1e-6, axis=1)))
    assert changes == 7  # one jump between neighbouring bins, 8 bins around the circle
    rows = {tuple(np.round(np.asarray(row), 5)) for row in histogram}
    assert rows == {tuple(np.round(np.asarray(row), 5)) for row in tables}


@pytest.mark.parametrize("box,shape", [(CIRCLE, (8,)), (DISC, (4, 4))])
def test_mixture_at_a_centre_is_its_table_when_the_bandwidth_is_small(box, shape):
    basis = rep.make_basis(box, shape, "kernel", bandwidth=0.05)
    tables = random_tables(basis.size, 5)
    probs = rep.mixture_probabilities(basis, tables, jnp.asarray(basis.centres))
    np.testing.assert_allclose(probs, tables, atol=1e-5)


def test_mean_field_features():
    basis = rep.make_basis(CIRCLE, (8,), "kernel")
    x = jax.random.uniform(jax.random.PRNGKey(2), (40, 1), minval=-math.pi, maxval=math.pi)
    features = rep.mean_field_features(basis, x)
    centres = np.asarray(basis.centres)[:, 0]
    kappa = float(basis.widths[0])
    direct = np.exp(kappa * (np.cos(np.asarray(x) - centres[None, :]) - 1.0)).mean(0)
    np.testing.assert_allclose(features, direct, rtol=1e-5)
    # one point at a centre: k(c_0, c_b), summing to the kernel mass
    at_centre = rep.mean_field_features(basis, jnp.asarray(basis.centres[:1]))
    assert float(at_centre[0]) == pytest.approx(1.0)
    assert float(at_centre.sum()) == pytest.approx(rep.kernel_mass(basis), rel=1e-5)
    # histogram: bin shares
    bins = rep.make_basis(DISC, (4, 4), "histogram")
    points = jnp.array([[-0.9, -0.9], [-0.8, -0.6], [0.1, 0.1], [0.9, 0.9]])
    shares = rep.mean_field_features(bins, points)
    np.testing.assert_allclose(shares.sum(), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.sort(np.asarray(shares))[-3:], [0.25, 0.25, 0.5])
    assert float(shares[0]) == pytest.approx(0.5)  # both first points in the corner bin


def test_default_bases_and_validation():
    kuramoto = mfgtools.make_game("kuramoto", n_agents=8, horizon=3)
    aggregation = mfgtools.make_game("aggregation", n_agents=8, horizon=3)
    assert rep.feature_basis(kuramoto).shape == (16,)
    assert rep.feature_basis(aggregation).shape == (8, 8)
    assert rep.observation_basis(kuramoto).shape == (8,)
    assert rep.observation_basis(aggregation).shape == (4, 4)
    assert rep.observation_basis(aggregation, centres=(3, 5)).size == 15
    with pytest.raises(MFGError, match="representation"):
        rep.make_basis(CIRCLE, (8,), "voronoi")
    with pytest.raises(MFGError, match="bandwidth"):
        rep.make_basis(CIRCLE, (8,), "kernel", bandwidth=0.0)
    with pytest.raises(MFGError, match="observation_centres"):
        rep.observation_basis(aggregation, centres=(3, 4, 5))


# ----- the solvers on tiny swarms --------------------------------------------------------
TINY = dict(n_envs=2, epochs=2, minibatches=2, width=8)


def tiny_game():
    return mfgtools.make_game("vicsek", n_agents=8, horizon=5)


@pytest.mark.parametrize(
    "name,params,full",
    [
        ("dec-pomfc", dict(TINY, policy_rollouts=2), True),
        ("dec-pomfc", dict(TINY, policy_rollouts=2, representation="histogram"), False),
        ("ippo", TINY, True),
    ],
)
def test_solvers_iterate_without_retracing(name, params, full):
    game = tiny_game()
    solver = solvers.make_solver(name, **params)
    solver.check(game)
    carry = PROGRAMS.init(solver, game, jax.random.PRNGKey(0))
    structure = jax.tree_util.tree_structure(carry.state)
    shapes = [(x.shape, x.dtype) for x in jax.tree_util.tree_leaves(carry.state)]
    kind = type(solver).__name__
    history = []
    for index in range(2):
        carry, metrics = PROGRAMS.advance(
            solver, game, carry, jax.random.PRNGKey(1), np.int32(2 * index), np.int32(2), cap=2
        )
        if index == 0:
            count = solvers.TRACE_COUNT[kind]
        history.append(jax.device_get(metrics))
    assert solvers.TRACE_COUNT[kind] == count  # the second chunk reused the compiled program
    state = carry.state
    assert jax.tree_util.tree_structure(state) == structure
    assert [(x.shape, x.dtype) for x in jax.tree_util.tree_leaves(state)] == shapes
    for metrics in history:
        assert {"return", "order_parameter", "policy_loss", "value_loss", "entropy", "updates"} <= set(metrics)
        for value in metrics.values():
            assert np.all(np.isfinite(value))
    policy = solver.policy(game, state)
    probs = policy.probabilities(jnp.int32(2), game.observe(game.initial_states(jax.random.PRNGKey(3), 8)))
    assert probs.shape == (8, game.n_actions)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    if full:  # executed decentralised by another swarm size
        check_swarm_policy(game, policy)
        play = simulate_swarm(game, policy, n_agents=12, n_seeds=2)
        assert np.all(np.isfinite(play.returns(game.discount)))


def test_dec_pomfc_step_in_float64(x64):
    game = tiny_game()
    solver = dec_pomfc.make_dec_pomfc(**TINY)
    state = solver.init(game, jax.random.PRNGKey(0))
    new_state, metrics = jax.jit(solver.step, static_argnums=0)(game, state, jax.random.PRNGKey(1))
    assert all(np.isfinite(float(value)) for value in metrics.values())
    assert float(metrics["return"]) != 0.0 and metrics["return"].dtype == jnp.float64
    assert jax.tree_util.tree_structure(new_state) == jax.tree_util.tree_structure(state)
    table = jnp.full((game.horizon, 8, game.n_actions), 1.0 / game.n_actions)
    policy = rep.MixturePolicy(solver.observation_basis(game), table)
    assert policy.probabilities(0, jnp.zeros((3, 1))).dtype == jnp.float64


def test_parameters_are_validated():
    for name in ("dec-pomfc", "ippo"):
        with pytest.raises(MFGError, match="n_envs"):
            solvers.make_solver(name, n_envs=0)
        with pytest.raises(MFGError, match="learning_rate"):
            solvers.make_solver(name, learning_rate=-1)
        with pytest.raises(MFGError, match="clip"):
            solvers.make_solver(name, clip=2)
        with pytest.raises(MFGError, match="gae_lambda"):
            solvers.make_solver(name, gae_lambda=1.5)
        with pytest.raises(MFGError, match="minibatches"):
            solvers.make_solver(name, minibatches=10_000, n_envs=1).check(tiny_game())
    with pytest.raises(MFGError, match="representation"):
        solvers.make_solver("dec-pomfc", representation="fourier")
    with pytest.raises(MFGError, match="policy_agents"):
        solvers.make_solver("dec-pomfc", policy_agents=0)
    with pytest.raises(MFGError, match="feature_centres"):
        solvers.make_solver("dec-pomfc", feature_centres="4,x")
    with pytest.raises(MFGError, match="has no parameter 'horizon'"):
        dec_pomfc.make_dec_pomfc(horizon=3)
    assert solvers.make_solver("dec-pomfc", feature_centres="4,6").feature_centres == (4, 6)
    assert ippo.make_ippo().gae_lambda == 0.99 and dec_pomfc.make_dec_pomfc().gae_lambda == 0.8
    spec = solvers.solver_spec("dec-pomfc")
    assert spec.requires == "swarm"
    with pytest.raises(MFGError, match="needs a swarm game"):
        mfgtools.solve(mfgtools.make_game("sis", horizon=3), "dec-pomfc", iterations=1)


def test_dec_pomfc_learns_to_align_a_small_flock():
    # 300 iterations on 30 agents over 30 steps (seconds): executed decentralised by a fresh
    # swarm, the learned policy aligns it far better than random turns (about 14 against 5)
    game = mfgtools.make_game("vicsek", n_agents=30, horizon=30)
    result = mfgtools.solve(game, "dec-pomfc", iterations=300, n_envs=4, width=16, policy_rollouts=4)
    learned = simulate_swarm(game, result.swarm_policy, n_agents=30, n_seeds=16, seed=5)
    random = simulate_swarm(game, uniform_policy(game), n_agents=30, n_seeds=16, seed=5)
    assert float(learned.returns(game.discount).mean()) > float(random.returns(game.discount).mean()) + 4.0
    assert float(learned.order[:, -1].mean()) > float(random.order[:, -1].mean()) + 0.2
