"""The N-agent graphex game on its own graph: every vertex an agent, no mean field.

:func:`simulate_on_graph` plays a policy of a contagion game
(:mod:`mfgtools.games.contagion`) with every vertex of the game's graph as an
agent reacting to its actual neighbours, with the same contagion step as the
game (:func:`mfgtools.graphex.contagion.stay_probability`);
:func:`mean_field_gap` compares the result with the game's mean field.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax import lax

from mfgtools.errors import MFGError, as_int, as_seed
from mfgtools.finite.evaluation import as_policy, check_game
from mfgtools.graphex.contagion import stay_probability


@struct.dataclass
class GraphPlay:
    """Sampled play of a contagion game on its graph, every agent reacting to its own neighbours.

    Attributes:
      empirical: ``(seeds, T+1, S)`` share of the vertices in each extended state
        ``(class, x)``, comparable with the game's mean field ``(T+1, S)``.
      action_share: ``(seeds, T, A)`` share of the vertices taking each action.
    """

    empirical: jax.Array
    action_share: jax.Array


def _graph_rollout(game, policy, vertex_class, source, target, key, n_seeds: int):
    n_vertices = vertex_class.shape[0]
    n_epidemic = game.n_epidemic_states
    dtype = jnp.result_type(float)
    within = game.class_shares(game.initial_distribution)  # (C, X)
    start_key, key = jax.random.split(key)
    log_start = jnp.log(within[vertex_class])[:, None, :]  # (N, 1, X)
    states0 = jax.random.categorical(start_key, log_start, shape=(n_vertices, n_seeds)).astype(jnp.int32)
    base = (vertex_class * n_epidemic)[:, None]  # (N, 1)
    seed_index = jnp.arange(n_seeds)[None, :]

    def shares(states):  # (N, seeds) -> (seeds, S)
        counts = jnp.zeros((n_seeds, game.n_states), dtype).at[seed_index, base + states].add(1.0)
        return counts / n_vertices

    def step(states, xs):
        t, step_key = xs
        action_key, move_key = jax.random.split(step_key)
        probs = policy[t][base + states]  # (N, seeds, A)
        actions = jax.random.categorical(action_key, jnp.log(probs)).astype(jnp.int32)
        pair = game.contact.astype(dtype)[states[source], states[target]]  # (2E, seeds)
        counts = jax.ops.segment_sum(pair, source, num_segments=n_vertices, indices_are_sorted=True)
        beta = game.contact_rate.astype(dtype)[states, actions]
        stay = stay_probability(game.spontaneous.astype(dtype)[states, actions], beta, counts)
        moves = jax.random.uniform(move_key, states.shape, dtype) >= stay
        next_states = jnp.where(moves, game.target[states], states)
        acted = jax.nn.one_hot(actions, game.n_actions, dtype=dtype).mean(0)  # (seeds, A)
        return next_states, (shares(states), acted)

    keys = jax.random.split(key, game.horizon)
    final, (empirical, acted) = lax.scan(step, states0, (jnp.arange(game.horizon), keys))
    empirical = jnp.concatenate([empirical, shares(final)[None]], axis=0)
    return GraphPlay(jnp.swapaxes(empirical, 0, 1), jnp.swapaxes(acted, 0, 1))


_graph_rollout_jit = jax.jit(_graph_rollout, static_argnames=("n_seeds",))


def simulate_on_graph(game, policy, n_seeds: int = 100, seed: int = 0) -> GraphPlay:
    """The N-agent contagion game on the game's own graph, ``n_seeds`` independent runs.

    Every vertex is an agent; it plays the row of ``policy`` (``(T, S, A)``) of its
    class and state, and leaves state ``x`` with probability
    ``1 - (1 - spontaneous) * (1 - beta) ** n`` where ``n`` counts its actual
    neighbours in the contact states of ``x``: no mean field anywhere. Starting
    states are drawn per vertex from its class's share of ``mu0``. All seeds run
    as one compiled program (states ``(N, seeds)``; neighbour counts are one
    ``segment_sum`` over the ``2E`` directed edges).
    """
    check_game(game)
    population = getattr(game, "population", None)
    if population is None or not hasattr(population.value, "vertex_class"):
        raise MFGError(
            f"simulate_on_graph needs a game played on a graph (sis-graphex, sir-graphex, "
            f"rumour-graphex), got {game.name!r}; use simulate for other games"
        )
    if game.stationary:
        raise MFGError("simulate_on_graph plays finite-horizon games; build the game with its default mode")
    n_seeds = as_int(n_seeds, "n_seeds", 1)
    seed = as_seed(seed)
    checked = as_policy(game, policy)
    classes = population.value
    source, target = classes.graph.directed_pairs()
    return _graph_rollout_jit(
        game,
        checked,
        jnp.asarray(classes.vertex_class),
        jnp.asarray(source),
        jnp.asarray(target),
        jax.random.PRNGKey(seed),
        n_seeds,
    )


def mean_field_gap(predicted, simulated) -> np.ndarray:
    """The spec's ``dmu = (1 / 2T) sum_{t<T} ||muhat_t - mu_t||_1`` per seed, in ``[0, 1]``.

    Args:
      predicted: ``(T+1, X)`` predicted state distribution ``mu_t``.
      simulated: ``(seeds, T+1, X)`` (or ``(T+1, X)``) empirical distributions ``muhat_t``.

    Returns ``(seeds,)`` (or a scalar): the average over the ``T`` decision times
    ``t = 0..T-1`` of half the L1 distance; ``E[dmu]`` is its mean over seeds.
    """
    predicted = np.asarray(predicted, dtype=np.float64)
    simulated = np.asarray(simulated, dtype=np.float64)
    if predicted.shape != simulated.shape[-2:]:
        raise MFGError(f"prediction {predicted.shape} and simulation {simulated.shape} disagree on (T+1, X)")
    distance = np.abs(simulated - predicted)[..., :-1, :].sum(-1)
    return 0.5 * distance.mean(-1)


__all__ = ["GraphPlay", "simulate_on_graph", "mean_field_gap"]
