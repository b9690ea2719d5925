"""Exact kernels: OpenSpiel's reference numbers, invariants on random games, closed forms."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mfgtools
from mfgtools import kernels
from mfgtools.errors import MFGError
from mfgtools.finite.game import fan_out_fields
from mfgtools.games.tabular import tabular_game

# ----- OpenSpiel's own figures (kernels.md; OpenSpiel's tests) ------------------------------


def test_openspiel_crowd_modelling_uniform_exploitability(x64):
    game = mfgtools.make_game("crowd_modelling")
    value = mfgtools.exploitability(game, mfgtools.uniform_policy(game))
    assert value == pytest.approx(2.8135365543870385, rel=1e-6)


def test_openspiel_crowd_modelling_mirror_descent(x64):
    game = mfgtools.make_game("crowd_modelling")
    result = mfgtools.solve(game, "omd", iterations=10, learning_rate=0.01)
    assert result.metrics["exploitability"][-1] == pytest.approx(2.2730324915546056, rel=1e-6)
    assert result.metrics["exploitability"][0] == pytest.approx(2.8135365543870385, rel=1e-6)


def test_openspiel_crowd_modelling_fictitious_play(x64):
    game = mfgtools.make_game("crowd_modelling")
    result = mfgtools.solve(game, "fp", iterations=10)
    assert round(result.metrics["exploitability"][-1], 3) == 0.991


# Recorded from OpenSpiel 2.0.2 (pyspiel.load_game("mfg_crowd_modelling_2d", ...), NashConv of
# UniformRandomPolicy and of MirrorDescent(lr=0.05) after K iterations), so CI checks the 2D game
# without installing OpenSpiel. tests/games/test_openspiel_live.py re-derives such figures when it is.
OPENSPIEL_2D = [
    (dict(horizon=6), 3, 2.291039040000001, 1.8855113969302906),
    (dict(setting="four_rooms", horizon=12), 3, 24.388856779250432, 15.854909293555579),
    (dict(setting="four_rooms", horizon=8, only_distribution_reward=False), 3, 10.653898782449563, 7.656460031281501),
    (dict(setting="maze", horizon=30), 2, 203.53791971252377, 96.37391616246808),
]


@pytest.mark.parametrize("params, iterations, uniform, after", OPENSPIEL_2D)
def test_openspiel_crowd_modelling_2d_recorded(x64, params, iterations, uniform, after):
    game = mfgtools.make_game("crowd_modelling_2d", **params)
    assert mfgtools.exploitability(game, mfgtools.uniform_policy(game)) == pytest.approx(uniform, rel=1e-9)
    result = mfgtools.solve(game, "omd", iterations=iterations, learning_rate=0.05)
    assert result.metrics["exploitability"][-1] == pytest.approx(after, rel=1e-9)


def test_quirks_change_the_numbers(x64):
    """The clean game is a different game: its numbers must differ from OpenSpiel's."""
    clean = mfgtools.make_game("crowd_modelling", openspiel_quirks=False)
    value = mfgtools.exploitability(clean, mfgtools.uniform_policy(clean))
    assert value > 0 and abs(value - 2.8135365543870385) > 1e-3


# ----- random games -------------------------------------------------------------------------
SHAPES = [(5, 3, 2, 4), (8, 2, 3, 6), (3, 4, 1, 3)]  # (S, A, K, T): few shapes, few compiles


def random_game(seed: int, shape, aversion: float):
    n_states, n_actions, fan_out, horizon = shape
    return mfgtools.make_game(
        "random",
        n_states=n_states,
        n_actions=n_actions,
        fan_out=fan_out,
        horizon=horizon,
        seed=seed,
        crowd_aversion=aversion,
    )


def random_policy(seed: int, game) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(game.horizon, game.n_states, game.n_actions)) * rng.uniform(0.1, 5)
    policy = np.exp(logits - logits.max(-1, keepdims=True))
    return policy / policy.sum(-1, keepdims=True)


def dense_transition(game) -> np.ndarray:
    dense = np.zeros((game.n_states, game.n_actions, game.n_states))
    s, a, k = np.indices(game.next_state.shape)
    np.add.at(dense, (s, a, np.asarray(game.next_state)), np.asarray(game.transition_prob))
    return dense


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), shape=st.sampled_from(SHAPES), aversion=st.sampled_from([0.0, 1.0]))
def test_random_games_invariants(seed, shape, aversion):
    game = random_game(seed, shape, aversion)
    policy = random_policy(seed, game)
    flow = mfgtools.mean_field(game, policy)
    assert flow.shape == (game.horizon + 1, game.n_states)
    assert (flow >= -1e-7).all()
    np.testing.assert_allclose(flow.sum(axis=1), 1.0, atol=1e-5)  # mass conserved
    # sparse fan-out kernel == dense S x A x S computation
    dense = dense_transition(game)
    mu = np.asarray(game.initial_distribution, dtype=np.float64)
    for t in range(game.horizon):
        mu = np.einsum("s,sa,sap->p", mu, policy[t], dense)
        np.testing.assert_allclose(flow[t + 1], mu, atol=1e-5)
    assert mfgtools.exploitability(game, policy) >= 0.0
    response = mfgtools.best_response(game, policy)
    assert set(np.unique(response)) <= {0.0, 1.0}
    np.testing.assert_allclose(response.sum(-1), 1.0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), shape=st.sampled_from(SHAPES))
def test_best_response_is_an_equilibrium_without_population_effects(seed, shape):
    """With rewards and dynamics independent of mu, the MFG is an MDP: its optimal
    policy is a Nash equilibrium, and no policy beats it."""
    game = random_game(seed, shape, aversion=0.0)
    optimal = mfgtools.best_response(game, mfgtools.uniform_policy(game))
    assert mfgtools.exploitability(game, optimal) == pytest.approx(0.0, abs=1e-4)
    assert mfgtools.exploitability(game, random_policy(seed, game)) >= 0.0


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10**6), shape=st.sampled_from(SHAPES), temperature=st.sampled_from([0.3, 1.0]))
def test_soft_best_response_is_the_regularised_equilibrium(seed, shape, temperature):
    game = random_game(seed, shape, aversion=0.0)
    soft = mfgtools.best_response(game, mfgtools.uniform_policy(game), temperature=temperature)
    np.testing.assert_allclose(soft.sum(-1), 1.0, atol=1e-5)
    assert mfgtools.exploitability(game, soft, temperature=temperature) == pytest.approx(0.0, abs=1e-4)
    other = random_policy(seed, game)
    assert mfgtools.exploitability(game, other, temperature=temperature) >= 0.0


@pytest.mark.parametrize("n_states, n_actions", [(7, 3), (12, 4)])
def test_crowd_aversion_on_a_circulant_game_has_the_uniform_equilibrium(n_states, n_actions):
    """Closed form: every action shifts the state by a fixed amount and the reward is
    -log mu(s). From a uniform mu0 the uniform policy keeps mu uniform, every state pays
    the same, so no deviation helps: the exploitability is exactly 0. A skewed policy
    concentrates the crowd and is exploitable."""
    shifts = np.arange(n_actions)
    next_state = ((np.arange(n_states)[:, None] + shifts[None]) % n_states)[:, :, None]
    game = tabular_game(
        next_state=next_state,
        transition_prob=np.ones(next_state.shape),
        reward=np.zeros((n_states, n_actions)),
        initial_distribution=np.full(n_states, 1 / n_states),
        horizon=5,
        crowd_aversion=1.0,
    )
    uniform = mfgtools.uniform_policy(game)
    np.testing.assert_allclose(mfgtools.mean_field(game, uniform), 1 / n_states, atol=1e-6)
    assert mfgtools.exploitability(game, uniform) == pytest.approx(0.0, abs=1e-5)
    skewed = np.zeros_like(uniform)
    skewed[..., 0] = 1.0
    skewed[:, : n_states // 2] = uniform[:, : n_states // 2]
    assert mfgtools.exploitability(game, skewed) > 0.1


def test_rounding_below_the_resolution_is_reported_as_zero():
    """On an empty map with a uniform start the uniform policy is an equilibrium; in
    float32 the two values differ by a few units in the last place, in either direction.
    The reported exploitability is never negative and within the documented resolution."""
    game = mfgtools.make_game("crowd", map="empty:6x9", mu0="uniform", horizon=10)
    uniform = mfgtools.uniform_policy(game)
    flow = kernels.mean_field(game, uniform)
    _, v_pi = kernels.evaluate_policy(game, uniform, flow)
    _, v_best, _ = kernels.best_response(game, flow)
    raw = float(jnp.dot(game.initial_distribution, v_best[0] - v_pi[0]))
    scale = jnp.dot(game.initial_distribution, jnp.abs(v_best[0]) + jnp.abs(v_pi[0]))
    resolution = float(kernels.exploitability_resolution(scale, game.horizon + 1))
    assert abs(raw) < resolution < 1e-3  # rounding, well below any exploitability worth reading
    assert float(kernels.exploitability(game, uniform)) == max(raw, 0.0)
    assert float(kernels.gap_at_start(game, v_best[0], v_pi[0])) == max(raw, 0.0)  # what solvers log


def test_round_off_keeps_real_negatives_and_positives():
    """Only negatives smaller than the resolution become 0: a larger negative is an
    error to see, not rounding."""
    scale = jnp.float32(100.0)
    resolution = float(kernels.exploitability_resolution(scale, 11))
    assert resolution == pytest.approx(11 * float(jnp.finfo(jnp.float32).eps) * 100.0)
    gaps = jnp.array([-0.5 * resolution, -2.0 * resolution, 0.5 * resolution, 3.0], jnp.float32)
    rounded = np.asarray(kernels._round_off_negative(gaps, scale, 11, 0.0))
    np.testing.assert_array_equal(rounded, [0.0, gaps[1], gaps[2], 3.0])


def test_value_of_a_known_policy_by_hand(x64):
    """Two states, deterministic moves, reward 1 in state 1: V by hand."""
    next_state = np.array([[[0], [1]], [[0], [1]]])  # action 0 -> state 0, action 1 -> state 1
    reward = np.array([[0.0, 0.0], [1.0, 1.0]])
    game = tabular_game(
        next_state=next_state,
        transition_prob=np.ones((2, 2, 1)),
        reward=reward,
        initial_distribution=np.array([1.0, 0.0]),
        horizon=3,
    )
    always_one = np.zeros((3, 2, 2))
    always_one[..., 1] = 1
    flow = kernels.mean_field(game, jnp.asarray(always_one))
    np.testing.assert_allclose(flow, [[1, 0], [0, 1], [0, 1], [0, 1]])
    _, values = kernels.evaluate_policy(game, jnp.asarray(always_one), flow)
    np.testing.assert_allclose(values[0], [2.0, 3.0])  # from state 0: 0 + 1 + 1
    assert mfgtools.exploitability(game, always_one) == pytest.approx(0.0)
    stay_zero = np.zeros((3, 2, 2))
    stay_zero[..., 0] = 1
    assert mfgtools.exploitability(game, stay_zero) == pytest.approx(2.0)


# ----- validation ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def crowd_game():
    return mfgtools.make_game("crowd", map="empty:4", horizon=3)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda p: p[:, :5], "shape"),
        (lambda p: p * 2, "sum to 1"),
        (lambda p: np.where(np.arange(5) == 0, -0.5, p + 0.125), "negative"),
        (lambda p: np.full_like(p, np.nan), "NaN"),
    ],
)
def test_invalid_policies_are_rejected(crowd_game, mutate, message):
    policy = mfgtools.uniform_policy(crowd_game)
    with pytest.raises(MFGError, match=message):
        mfgtools.exploitability(crowd_game, mutate(policy))


def test_mass_on_illegal_actions_is_rejected():
    game = mfgtools.make_game("crowd_modelling_2d", setting="four_rooms", horizon=2)
    policy = np.full((2, game.n_states, game.n_actions), 0.2)
    with pytest.raises(MFGError, match="illegal actions"):
        mfgtools.mean_field(game, policy)


def test_kernels_compile_once_per_game_structure():
    """Games that differ only in values (rewards, probabilities, mu0, parameters shown in
    results) share one compiled program; only shapes and static choices recompile."""
    structure = random_game(0, SHAPES[0], 1.0)
    compiled = jax.jit(lambda game, policy: kernels.exploitability(game, policy))  # a cache of its own

    def variant(seed):
        rng = np.random.default_rng(seed)
        n_states, n_actions, fan_out, horizon = SHAPES[0]
        return tabular_game(
            next_state=np.asarray(structure.next_state),
            transition_prob=rng.dirichlet(np.ones(fan_out), size=(n_states, n_actions)),
            reward=rng.normal(size=(n_states, n_actions)),
            initial_distribution=rng.dirichlet(np.ones(n_states)),
            horizon=horizon,
            crowd_aversion=1.0,
            params={"seed": seed},
        )

    compiled(variant(0), jnp.asarray(random_policy(0, structure)))
    before = compiled._cache_size()
    for seed in range(1, 4):
        compiled(variant(seed), jnp.asarray(random_policy(seed, structure)))
    assert compiled._cache_size() == before == 1


@pytest.mark.parametrize("to_sink, path", [(0, "unrolled"), (60, "reduction"), (2000, "scatter")])
def test_forward_paths_agree_with_the_dense_equation(x64, to_sink, path):
    """The forward step sums predecessor slots unrolled (few slots), as a reduction (many) or adds
    masses into successors (an inverse table that is mostly padding: a sink): all equal the dense
    ``mu P`` product. ``to_sink`` of the ``(s, a, k)`` entries lead to state 0."""
    rng = np.random.default_rng(7)
    n_states, n_actions, fan_out = 120, 9, 2
    next_state = rng.integers(0, n_states, (n_states, n_actions, fan_out)).reshape(-1)
    next_state[rng.permutation(next_state.size)[:to_sink]] = 0
    next_state = next_state.reshape(n_states, n_actions, fan_out)
    game = tabular_game(
        next_state=next_state,
        transition_prob=rng.dirichlet(np.ones(fan_out), (n_states, n_actions)),
        reward=rng.normal(size=(n_states, n_actions)),
        initial_distribution=np.full(n_states, 1 / n_states),
        horizon=3,
    )
    slots = game.incoming.shape[1]
    padding = slots * n_states / next_state.size
    chosen = "scatter" if padding > kernels._SCATTER_PADDING else "unrolled" if slots <= 64 else "reduction"
    assert chosen == path
    policy = random_policy(3, game)
    flow = np.asarray(mfgtools.mean_field(game, policy))
    dense, mu = dense_transition(game), np.asarray(game.initial_distribution)
    for t in range(game.horizon):
        mu = np.einsum("s,sa,sap->p", mu, policy[t], dense)
        np.testing.assert_allclose(flow[t + 1], mu, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    "name, params",
    [
        ("crowd_modelling_2d", dict(size=5, horizon=4)),
        ("crowd_modelling", {}),
        ("mfglib/crowd_motion", dict(torus_l=4, torus_w=3, T=2)),  # moves land on a grid with a border
    ],
)
@pytest.mark.parametrize("forward", ["scatter", "gather"])
def test_staged_transitions_agree_with_the_table(x64, name, params, forward, monkeypatch, request):
    """OpenSpiel's crowd games and MFGLib's crowd motion carry their transition as a move then a noise step
    (``game.stages``): the kernels' two small stages (scattered forward on small games, gathered through the
    inverse tables on large ones) give the flows, values and exploitability of the full ``(S, A, K)`` table."""
    if forward == "gather":  # compiled afresh, and not left in the caches for the tests after it
        monkeypatch.setattr(kernels, "_STAGED_SCATTER_ENTRIES", 0)
        jax.clear_caches()
        request.addfinalizer(jax.clear_caches)
    staged = mfgtools.make_game(name, **params)
    assert staged.stages is not None
    flat = staged.replace(stages=None)
    policy = random_policy(5, staged)
    np.testing.assert_allclose(mfgtools.mean_field(staged, policy), mfgtools.mean_field(flat, policy), rtol=1e-13)
    flow = kernels.mean_field(flat, jnp.asarray(policy))
    for a, b in zip(kernels.evaluate_policy(staged, policy, flow), kernels.evaluate_policy(flat, policy, flow)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)
    assert mfgtools.exploitability(staged, policy) == pytest.approx(mfgtools.exploitability(flat, policy), rel=1e-12)
    with pytest.raises(ValueError, match="do not compose"):
        fan_out_fields(
            np.asarray(flat.next_state),
            np.asarray(flat.transition_prob) * 0.5,
            stages=(
                np.asarray(staged.stages.move),
                np.asarray(staged.stages.noise_next),
                np.asarray(staged.stages.noise_prob),
            ),
        )
