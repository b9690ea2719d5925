"""Off-MMD and D-MOMD: Munchausen targets, the tabular minimiser, the network, runs and resumption."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfgtools
from mfgtools import kernels, solvers
from mfgtools.errors import MFGError
from mfgtools.offline import collect_dataset
from mfgtools.solvers.munchausen import Transitions, make_learner

TINY = dict(steps=4, batch_size=16, hidden="8")


@pytest.fixture(scope="module")
def game():
    return mfgtools.make_game("crowd", map="empty:3", horizon=3, mu0=(0, 0))


@pytest.fixture(scope="module")
def data(game):
    return collect_dataset(game, mfgtools.uniform_policy(game), 300, seed=0)


def transitions(data):
    return Transitions.from_episodes(data.state, data.action, data.next_state, data.done)


def dataset_loss(learner, q_taken, q_all, y):
    """The learner's loss over the whole dataset for given Q values."""
    td = np.mean((q_taken - y) ** 2)
    penalty = np.mean(jax.nn.logsumexp(q_all, axis=1) - q_taken)
    return td + learner.cql * penalty


def test_tabular_update_is_the_exact_munchausen_step_without_cql(game, data):
    learner = make_learner(model="tabular", cql=0.0, tau=2.0, alpha=0.9, gamma=0.95)
    rng = np.random.default_rng(0)
    q = jnp.asarray(rng.normal(size=(game.horizon, game.n_states, game.n_actions)), jnp.float32)
    flow = data.state_frequency()
    moves = transitions(data)
    y = learner.targets(game, q, flow, moves)
    new, _ = learner.fit(game, {"q": q}, moves, y, jax.random.PRNGKey(0))
    # closed form: r + alpha tau log pi(a|s) + gamma tau logsumexp(Q(t+1, s') / tau), deterministic moves
    soft = np.asarray(kernels.soft_value(game, q, learner.tau))
    log_pi = np.asarray(jax.nn.log_softmax(q / learner.tau, axis=-1))
    seen = np.zeros(q.shape, bool)
    seen[np.asarray(moves.time), np.asarray(moves.state), np.asarray(moves.action)] = True
    for t in range(game.horizon):
        reward = np.asarray(game.reward(t, flow[t]))
        later = soft[t + 1] if t + 1 < game.horizon else np.zeros(game.n_states)
        successor = np.asarray(game.next_state)[:, :, 0]
        expected = reward + learner.alpha * learner.tau * log_pi[t] + learner.gamma * later[successor]
        np.testing.assert_allclose(np.asarray(new["q"][t])[seen[t]], expected[seen[t]], rtol=1e-5, atol=1e-4)
        np.testing.assert_array_equal(np.asarray(new["q"][t])[~seen[t]], np.asarray(q[t])[~seen[t]])
    assert seen[0, 0].all() and not seen[0, 1:].any()  # everyone starts in (0, 0)


def test_tabular_cql_minimiser_is_optimal(game, data):
    learner = make_learner(model="tabular", cql=3.0)
    moves = transitions(data)
    rng = np.random.default_rng(1)
    y = jnp.asarray(rng.normal(scale=3.0, size=moves.time.shape), jnp.float32)
    q0 = jnp.zeros((game.horizon, game.n_states, game.n_actions))
    new, losses = learner.fit(game, {"q": q0}, moves, y, jax.random.PRNGKey(0))
    q = np.asarray(new["q"], np.float64)
    t, s, a = (np.asarray(x) for x in (moves.time, moves.state, moves.action))
    counts = np.zeros(q.shape)
    np.add.at(counts, (t, s, a), 1.0)
    sums = np.zeros(q.shape)
    np.add.at(sums, (t, s, a), np.asarray(y, np.float64))
    seen = counts > 0
    visited = seen.any(-1)
    assert np.isneginf(q[visited[..., None] & ~seen]).all()  # the penalty pushes unseen actions to -inf
    np.testing.assert_array_equal(q[~visited], 0.0)  # no data: unchanged
    # first-order condition on the seen actions: 2 n (Q - ybar) + c (N p - n) = 0
    means = np.where(seen, sums / np.maximum(counts, 1), 0)
    p = np.where(seen, np.exp(q - np.max(np.where(seen, q, -np.inf), -1, keepdims=True)), 0.0)
    p /= np.where(visited, p.sum(-1), 1.0)[..., None]
    gradient = 2 * counts * (np.where(seen, q, 0) - means) + 3.0 * (counts.sum(-1, keepdims=True) * p - counts)
    scale = counts.sum(-1, keepdims=True) * (1 + np.abs(means))
    assert np.abs(np.where(seen, gradient, 0) / np.maximum(scale, 1)).max() < 1e-4
    # and no small perturbation does better on the dataset loss
    q_taken = q[t, s, a]
    best = dataset_loss(learner, q_taken, np.where(np.isneginf(q[t, s]), -np.inf, q[t, s]), np.asarray(y))
    for _ in range(5):
        bumped = np.where(seen, q + rng.normal(scale=0.05, size=q.shape), q)
        assert dataset_loss(learner, bumped[t, s, a], bumped[t, s], np.asarray(y)) >= best - 1e-6
    assert float(losses["td_loss"]) >= 0 and np.isfinite(float(losses["cql_loss"]))


def test_network_loss_falls_towards_but_not_below_the_tabular_minimum(game, data):
    moves = transitions(data)
    rng = np.random.default_rng(2)
    y = jnp.asarray(rng.normal(scale=2.0, size=moves.time.shape), jnp.float32)
    tabular = make_learner(model="tabular", cql=3.0)
    table, _ = tabular.fit(game, {"q": jnp.zeros((game.horizon, game.n_states, game.n_actions))}, moves, y, None)
    t, s, a = (np.asarray(x) for x in (moves.time, moves.state, moves.action))
    q = np.asarray(table["q"])
    minimum = dataset_loss(tabular, q[t, s, a], q[t, s], np.asarray(y))

    network = make_learner(model="mlp", hidden="32,32", steps=600, batch_size=64, learning_rate=3e-3)
    state = network.init(game, jax.random.PRNGKey(0))

    def loss_of(state):
        q_all = np.asarray(network.q_table(game, state))[t, s]
        return dataset_loss(network, q_all[np.arange(len(a)), a], q_all, np.asarray(y))

    before = loss_of(state)
    trained, losses = network.fit(game, state, moves, y, jax.random.PRNGKey(1))
    after = loss_of(trained)
    assert minimum <= after + 1e-4
    assert after < before
    assert after - minimum < 0.25 * (before - minimum)


def test_off_mmd_runs_one_program_per_iteration_without_retracing(game, data):
    first = mfgtools.solve(game, "off-mmd", iterations=3, dataset=data, **TINY)
    count = solvers.TRACE_COUNT["OfflineMunchausenMirrorDescent"]
    other = collect_dataset(game, mfgtools.uniform_policy(game), 300, seed=1)  # same shapes, other data
    second = mfgtools.solve(game, "off-mmd", iterations=3, dataset=other, **TINY)
    assert solvers.TRACE_COUNT["OfflineMunchausenMirrorDescent"] == count
    assert not np.allclose(first.metrics["td_loss"][1:-1], second.metrics["td_loss"][1:-1])
    for name in ("exploitability", "mis_error", "td_loss", "cql_loss"):
        assert first.metrics[name].shape == (4,)
    assert (first.metrics["exploitability"] >= -1e-4).all()
    assert np.isnan(first.metrics["td_loss"][-1])  # losses exist for iterations, not for the final policy
    np.testing.assert_allclose(first.policy.sum(-1), 1.0, atol=1e-5)
    assert first.solver_params["dataset"].startswith("in-memory")
    assert first.solver_params["hidden"] == (8,)


def test_tabular_off_mmd_learns_from_expert_data(game):
    expert = mfgtools.solve(game, "omd", iterations=300, learning_rate=0.3).policy
    data = collect_dataset(game, expert, 2000, seed=0)
    result = mfgtools.solve(game, "off-mmd", iterations=15, dataset=data, model="tabular", tau=1.0)
    curve = result.metrics["exploitability"]
    assert curve.min() < 0.2 * curve[0]


def test_d_momd_improves_on_the_uniform_policy(game):
    # with exact flows the learner is mirror descent with step 1 / tau
    result = mfgtools.solve(game, "d-momd", iterations=10, episodes=500, model="tabular", tau=5.0)
    curve = result.metrics["exploitability"]
    assert curve[-1] < 0.1 * curve[0]
    assert result.solver_params["cql"] == 0.0


def test_off_mmd_parameters_are_validated(game, data):
    for params, message in [
        (dict(model="transformer"), "unknown model"),
        (dict(hidden="8,x"), "hidden layer width must be an integer"),
        (dict(tau=0), "tau must be >"),
        (dict(cql=-1), "cql must be >="),
        (dict(dataset=""), "dataset must be"),
        (dict(dataset="/no/such/file.nc"), "no such dataset file"),
    ]:
        with pytest.raises(MFGError, match=message):
            mfgtools.solve(game, "off-mmd", iterations=1, **{"dataset": data, **params})
    other = mfgtools.make_game("crowd", map="empty:3", horizon=4, mu0=(0, 0))
    with pytest.raises(MFGError, match="other dynamics"):
        mfgtools.solve(other, "off-mmd", iterations=1, dataset=data)


# ----- checkpoints ------------------------------------------------------------------
class Stop(Exception):
    pass


@pytest.mark.parametrize("solver, params", [("off-mmd", TINY), ("omd", {"learning_rate": 0.3})])
def test_killed_and_resumed_run_matches_the_uninterrupted_one(tmp_path, game, data, solver, params):
    if solver == "off-mmd":
        params = dict(params, dataset=data)
    path = tmp_path / "run.ckpt"
    whole = mfgtools.solve(game, solver, iterations=6, seed=4, **params)

    def kill(done, _):
        if done >= 3:
            raise Stop

    with pytest.raises(Stop):
        mfgtools.solve(game, solver, iterations=6, seed=4, checkpoint=path, checkpoint_every=1, callback=kill,
                       **params)
    assert path.is_file()
    resumed = mfgtools.solve(game, solver, iterations=6, seed=4, checkpoint=path, resume=True, **params)
    np.testing.assert_array_equal(resumed.policy, whole.policy)
    for name, values in whole.metrics.items():
        np.testing.assert_array_equal(resumed.metrics[name], values)
    with pytest.raises(MFGError, match="belongs to another run.*seed"):
        mfgtools.solve(game, solver, iterations=6, seed=5, checkpoint=path, resume=True, **params)
