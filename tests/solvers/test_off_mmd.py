"""Off-MMD and D-MOMD: Munchausen targets, the tabular minimiser, the network, runs and resumption."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import mfgtools
from mfgtools import kernels, solvers
from mfgtools.errors import MFGError
from mfgtools.offline import collect_dataset
from mfgtools.solvers.munchausen import Transitions, make_learner, munchausen_loss

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
    """The learner's loss over the whole dataset for given Q values (official scaling:
    ``0.5 * mean(l2_loss) = 0.25 * MSE`` plus ``cql`` times the CQL(H) penalty)."""
    td = 0.25 * np.mean((q_taken - y) ** 2)
    penalty = np.mean(jax.nn.logsumexp(q_all, axis=1) - q_taken)
    return td + learner.cql * penalty


def test_loss_scaling_is_the_official_one_on_a_hand_made_batch():
    # two transitions, two actions: Q rows (1, 2) and (0, 0), actions 1 and 0, targets 3 and 1
    q_all = jnp.array([[1.0, 2.0], [0.0, 0.0]])
    action = jnp.array([1, 0])
    y = jnp.array([3.0, 1.0])
    # official: 0.5 * mean(optax.l2_loss(q, y)) with l2_loss = 0.5 (q - y)^2; both errors are -1
    td = 0.5 * np.mean([0.5 * 1.0, 0.5 * 1.0])  # = 0.25
    # CQL(H): mean(logsumexp_a Q - Q(s, a_t)) = mean(log(e + e^2) - 2, log 2 - 0)
    penalty = np.mean([np.log(np.e + np.e**2) - 2.0, np.log(2.0)])
    learner = make_learner()  # the defaults are the official ones: td_weight 0.25, cql 3
    assert (learner.td_weight, learner.cql) == (0.25, 3.0)
    loss, (td_term, cql_term) = munchausen_loss(q_all, action, y, learner.td_weight, learner.cql)
    assert td == 0.25
    np.testing.assert_allclose(float(td_term), 0.25, rtol=1e-6)
    np.testing.assert_allclose(float(cql_term), penalty, rtol=1e-6)
    np.testing.assert_allclose(float(loss), 0.25 + 3.0 * penalty, rtol=1e-6)
    np.testing.assert_allclose(float(loss), 1.7596, atol=1e-4)  # 0.25 + 3 * 0.50320
    # the same number from optax's l2_loss, as the official code computes it
    official = 0.5 * np.mean(optax.l2_loss(q_all[np.arange(2), action], y)) + 3.0 * penalty
    np.testing.assert_allclose(float(loss), float(official), rtol=1e-6)
    # D-MOMD's online loss is mean(l2_loss) = 0.5 * MSE, no CQL
    assert make_learner(td_weight=0.5, cql=0.0).td_weight == 0.5
    assert solvers.make_solver("d-momd").learner.td_weight == 0.5


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
    # first-order condition on the seen actions: 0.5 n (Q - ybar) + c (N p - n) = 0
    means = np.where(seen, sums / np.maximum(counts, 1), 0)
    p = np.where(seen, np.exp(q - np.max(np.where(seen, q, -np.inf), -1, keepdims=True)), 0.0)
    p /= np.where(visited, p.sum(-1), 1.0)[..., None]
    # (official scaling: 0.25 * MSE, so the quadratic term's gradient is 0.5 n (Q - ybar))
    gradient = 0.5 * counts * (np.where(seen, q, 0) - means) + 3.0 * (counts.sum(-1, keepdims=True) * p - counts)
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
        mfgtools.solve(game, solver, iterations=6, seed=4, checkpoint=path, checkpoint_every=1, callback=kill, **params)
    assert path.is_file()
    resumed = mfgtools.solve(game, solver, iterations=6, seed=4, checkpoint=path, resume=True, **params)
    np.testing.assert_array_equal(resumed.policy, whole.policy)
    for name, values in whole.metrics.items():
        np.testing.assert_array_equal(resumed.metrics[name], values)
    with pytest.raises(MFGError, match="belongs to another run.*seed"):
        mfgtools.solve(game, solver, iterations=6, seed=5, checkpoint=path, resume=True, **params)


# ----- transition pairing, averaging, the paper's score ------------------------------
def test_consecutive_pairing_drops_the_last_step_of_every_episode(game, data):
    every = transitions(data)
    paired = Transitions.from_episodes(data.state, data.action, data.next_state, data.done, drop_last=True)
    episodes, horizon = data.state.shape
    assert every.time.shape == (episodes * horizon,) and paired.time.shape == (episodes * (horizon - 1),)
    assert int(paired.time.max()) == horizon - 2 and float(paired.done.max()) == 0.0
    assert float(every.done.sum()) == episodes
    # each kept transition is (s_t, a_t, s_{t+1}) of one episode, as the official format_dataset pairs them
    np.testing.assert_array_equal(
        np.asarray(paired.next_state).reshape(episodes, horizon - 1), np.asarray(data.state)[:, 1:]
    )
    solver = solvers.make_solver("off-mmd", dataset=data, pairing="consecutive").prepare(game)
    assert solver.transitions.time.shape == paired.time.shape
    with pytest.raises(MFGError, match="unknown pairing .pairs.: choose one of all, consecutive"):
        solvers.make_solver("off-mmd", dataset=data, pairing="pairs")


@pytest.mark.parametrize("average", ["uniform", "linear"])
def test_averaged_policy_weighs_iterates_by_their_estimated_flows(game, data, average):
    solver = solvers.make_solver("off-mmd", dataset=data, model="tabular", tau=1.0, average=average).prepare(game)
    state = solver.init(game, jax.random.PRNGKey(0))
    iterates, estimates, reported = [], [], []
    for k in range(3):
        iterate = solver.learner.policy(game, solver.learner.q_table(game, state.learner))
        iterates.append(np.asarray(iterate, np.float64))
        estimates.append(np.asarray(solver.mean_field_estimate(game, iterate), np.float64)[:-1])
        state, metrics = solver.step(game, state, jax.random.PRNGKey(k))
        reported.append(float(metrics["exploitability"]))
    iterates.append(np.asarray(solver.learner.policy(game, solver.learner.q_table(game, state.learner)), np.float64))
    estimates.append(np.asarray(solver.mean_field_estimate(game, jnp.asarray(iterates[-1])), np.float64)[:-1])

    def by_hand(k):  # pi_0..pi_k, weights w_j * muhat_j(t, s)
        w = [1.0 if average == "uniform" else j + 1.0 for j in range(k + 1)]
        num = sum(w[j] * estimates[j][..., None] * iterates[j] for j in range(k + 1))
        den = sum(w[j] * estimates[j] for j in range(k + 1))[..., None]
        return np.where(den > 0, num / np.where(den > 0, den, 1), iterates[k])

    np.testing.assert_allclose(np.asarray(solver.policy(game, state)), by_hand(3), rtol=1e-5, atol=1e-6)
    for k in range(3):
        np.testing.assert_allclose(reported[k], mfgtools.exploitability(game, by_hand(k)), rtol=1e-4, atol=1e-5)
    assert not np.allclose(by_hand(3), iterates[3])  # the average is not the last iterate


def test_paper_score_reproduces_the_official_uniform_numbers():
    from mfgtools.solvers.off_mmd import paper_score

    # the official evaluation (discount 0.99, greedy value at t = 0) of the uniform policy
    for task, expected, clean in (("exploration", 279.394, 351.774), ("navigation", 2111.657, 2716.520)):
        crowd = mfgtools.make_game("crowd", map="four_rooms", task=task)
        uniform = mfgtools.uniform_policy(crowd)
        np.testing.assert_allclose(float(paper_score(crowd, uniform)), expected, rtol=2e-5)
        np.testing.assert_allclose(mfgtools.exploitability(crowd, uniform), clean, rtol=2e-5)
        assert crowd.discount == 1.0  # the score does not change the game


def test_off_mmd_learner_defaults_differ_from_the_official_only_where_documented():
    # off-mmd: alpha 0.9, tau 10 (docs/offline.md, "Convergence"); the official learner on request;
    # d-momd keeps the official memory and temperature
    from mfgtools.solvers.off_mmd import OFFLINE_DEFAULTS

    offline = solvers.make_solver("off-mmd").learner
    assert (offline.alpha, offline.tau) == (OFFLINE_DEFAULTS["alpha"], OFFLINE_DEFAULTS["tau"]) == (0.9, 10.0)
    assert (offline.gamma, offline.cql, offline.td_weight, offline.steps, offline.batch_size) == (
        0.99,
        3.0,
        0.25,
        2000,
        512,
    )
    official = solvers.make_solver("off-mmd", alpha=0.99, tau=20.0).learner
    assert (official.alpha, official.tau) == (0.99, 20.0)
    online = solvers.make_solver("d-momd").learner
    assert (online.alpha, online.tau) == (0.99, 20.0)
