"""N-agent simulation of any finite game.

``N`` agents start from ``mu0``; at every step each samples an action from its
policy, the empirical distribution ``mu_N`` of their states drives the rewards
``r_t(s, a, mu_N)`` and the transitions ``p_t(. | s, a, mu_N)``, and each agent
samples its successor. Agents' states are an int array; one ``lax.scan`` over
time, ``vmap`` over seeds. Offline datasets, policy mirror ascent and the
finite-population evaluation of every solver's policy are built on it.

Policies are shared ``(T, S, A)`` or per agent ``(N, T, S, A)``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax import lax

from mfgtools.errors import MFGError, as_int, as_seed
from mfgtools.evaluation import as_policy, check_game


@struct.dataclass
class Trajectories:
    """Sampled play of ``N`` agents (a leading seed axis when vmapped).

    Attributes:
      states: ``(T+1, N)`` int32 states.
      actions: ``(T, N)`` int32 actions.
      rewards: ``(T, N)`` rewards received.
      empirical: ``(T+1, S)`` empirical state distributions ``mu_N``.
      log_prob: ``(T, N)`` log-probability of each action under the policy.
    """

    states: jax.Array
    actions: jax.Array
    rewards: jax.Array
    empirical: jax.Array
    log_prob: jax.Array

    def returns(self, discount: float = 1.0) -> jax.Array:
        """Discounted return of every agent, ``(..., N)``."""
        horizon = self.rewards.shape[-2]
        weights = discount ** jnp.arange(horizon, dtype=self.rewards.dtype)
        return jnp.einsum("...tn,t->...n", self.rewards, weights)


def empirical_distribution(states: jax.Array, n_states: int) -> jax.Array:
    """Fraction of agents in each state: ``(N,) int -> (S,)``."""
    counts = jax.ops.segment_sum(jnp.ones(states.shape, jnp.result_type(float)), states, n_states)
    return counts / states.shape[0]


def agents_step(game, t, states: jax.Array, probs: jax.Array, mu_t: jax.Array, key: jax.Array):
    """One step of ``N`` agents: each samples an action from its row ``probs``
    ``(N, A)``, receives ``r_t(s, a, mu_t)`` and samples a successor from
    ``p_t(. | s, a, mu_t)``.

    Returns ``(actions, rewards, successors, log_prob)``, each ``(N,)``.
    """
    action_key, move_key = jax.random.split(key)
    log_probs = jnp.log(probs)
    actions = jax.random.categorical(action_key, log_probs).astype(jnp.int32)
    rewards = game.reward(t, mu_t)[states, actions]
    successor_prob = game.transition(t, mu_t)[states, actions]  # (N, K)
    branch = jax.random.categorical(move_key, jnp.log(successor_prob))
    successors = game.next_state[states, actions, branch]
    chosen = jnp.take_along_axis(log_probs, actions[:, None], axis=1)[:, 0]
    return actions, rewards, successors, chosen


def simulate_agents(game, policy: jax.Array, key: jax.Array, n_agents: int, flow: jax.Array | None = None
                    ) -> Trajectories:
    """Pure, jit-able N-agent rollout of ``policy`` (``(T,S,A)`` or ``(N,T,S,A)``).

    With ``flow`` (``(T+1, S)``), rewards and transitions see ``flow[t]`` instead of
    the agents' empirical distribution (independent agents in a given mean field,
    as online learners sample them); ``empirical`` still records ``mu_N``.
    Stationary games: policies ``(S, A)`` or ``(N, S, A)``, ``game.horizon`` steps
    of the sample path from ``mu0``; ``flow``, if given, is the population ``(S,)``.
    """
    n_states = game.n_states
    per_agent = policy.ndim == len(game.policy_shape) + 1
    agents = jnp.arange(n_agents)
    start_key, key = jax.random.split(key)
    log_mu0 = jnp.log(game.initial_distribution)
    states0 = jax.random.categorical(start_key, log_mu0, shape=(n_agents,)).astype(jnp.int32)

    def rows(t, states):
        if game.stationary:
            return policy[agents, states] if per_agent else policy[states]
        return policy[agents, t, states] if per_agent else policy[t][states]

    def step(states, xs):
        t, step_key = xs
        mu_n = empirical_distribution(states, n_states)
        if flow is None:
            mu_t = mu_n
        else:
            mu_t = flow if game.stationary else flow[t]
        model_t = 0 if game.stationary else t
        actions, rewards, next_states, chosen = agents_step(game, model_t, states, rows(t, states), mu_t, step_key)
        return next_states, (states, actions, rewards, mu_n, chosen)

    keys = jax.random.split(key, game.horizon)
    final, (states, actions, rewards, empirical, log_prob) = lax.scan(
        step, states0, (jnp.arange(game.horizon), keys)
    )
    states = jnp.concatenate([states, final[None]], axis=0)
    empirical = jnp.concatenate([empirical, empirical_distribution(final, n_states)[None]], axis=0)
    return Trajectories(states, actions, rewards, empirical, log_prob)


@partial(jax.jit, static_argnames=("n_agents",))
def simulate_seeds(game, policy, keys, n_agents):
    """``simulate_agents`` vmapped over a batch of PRNG keys ``(n_seeds, 2)``."""
    return jax.vmap(lambda k: simulate_agents(game, policy, k, n_agents))(keys)


def simulate(game, policy, n_agents: int, seed: int = 0, n_seeds: int | None = None) -> Trajectories:
    """Simulate ``n_agents`` agents playing ``policy`` in ``game`` (validated).

    Returns :class:`Trajectories`; with ``n_seeds`` every array gains a leading
    seed axis (independent runs, one compiled, vmapped program).
    """
    check_game(game)
    n_agents = as_int(n_agents, "n_agents", 1)
    seed = as_seed(seed)
    policy = np.asarray(policy)
    if policy.ndim == len(game.policy_shape) + 1:
        if policy.shape[0] != n_agents:
            raise MFGError(f"per-agent policy has {policy.shape[0]} agents, expected n_agents = {n_agents}")
        checked = as_policy(game, policy, batched=True)
    else:
        checked = as_policy(game, policy)
    count = 1 if n_seeds is None else as_int(n_seeds, "n_seeds", 1)
    from mfgtools.resources import check_bytes

    # per agent and step: state, action, reward, log-probability; per step the empirical flow
    check_bytes(f"simulating {count:,} x {n_agents:,} agents for T={game.horizon:,} steps",
                count * (game.horizon + 1) * (n_agents * 16 * 2 + game.n_states * 8), "n_agents or n_seeds")
    keys = jax.random.split(jax.random.PRNGKey(seed), count)
    runs = simulate_seeds(game, checked, keys, n_agents)
    if n_seeds is None:
        runs = jax.tree_util.tree_map(lambda x: x[0], runs)
    return runs


# ----- agents on a graph ------------------------------------------------------------
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
        spontaneous = game.spontaneous.astype(dtype)[states, actions]
        stay = (1.0 - spontaneous) * jnp.power(1.0 - beta, counts)
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
        raise MFGError(f"simulate_on_graph needs a game played on a graph (sis-graphex, sir-graphex, "
                       f"rumour-graphex), got {game.name!r}; use simulate for other games")
    if game.stationary:
        raise MFGError("simulate_on_graph plays finite-horizon games; build the game with its default mode")
    n_seeds = as_int(n_seeds, "n_seeds", 1)
    seed = as_seed(seed)
    checked = as_policy(game, policy)
    classes = population.value
    source, target = classes.graph.directed_pairs()
    return _graph_rollout_jit(game, checked, jnp.asarray(classes.vertex_class), jnp.asarray(source),
                              jnp.asarray(target), jax.random.PRNGKey(seed), n_seeds)


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


# ----- swarms -------------------------------------------------------------------------
@struct.dataclass
class SwarmPlay:
    """Sampled play of a swarm game (a leading seed axis from :func:`simulate_swarm`).

    Attributes:
      order: ``(seeds, T+1)`` the game's order parameter at every step.
      rewards: ``(seeds, T)`` the shared reward ``r(mu_N, u)`` of every step.
      effort: ``(seeds, T)`` mean action effort (fraction of agents acting).
      states: ``(seeds, T+1, N, D)`` the agents' states, or None when not recorded.
    """

    order: jax.Array
    rewards: jax.Array
    effort: jax.Array
    states: jax.Array | None = None

    def returns(self, discount: float = 1.0) -> jax.Array:
        """Discounted shared return of every seed, ``(seeds,)``."""
        horizon = self.rewards.shape[-1]
        weights = discount ** jnp.arange(horizon, dtype=self.rewards.dtype)
        return jnp.einsum("...t,t->...", self.rewards, weights)


def swarm_rollout(game, policy, key: jax.Array, n_agents: int, record_states: bool = False) -> SwarmPlay:
    """Pure, jit-able episode of ``n_agents`` agents executing ``policy`` decentralised.

    Every step each agent samples its action from ``policy.probabilities(t, y_i)``
    with its own observation ``y_i`` only; the swarm then moves. One ``lax.scan``
    over the ``game.horizon`` steps.
    """
    start_key, key = jax.random.split(key)
    states0 = game.initial_states(start_key, n_agents)

    def step(states, xs):
        t, step_key = xs
        action_key, move_key = jax.random.split(step_key)
        probs = policy.probabilities(t, game.observe(states))
        actions = jax.random.categorical(action_key, jnp.log(probs)).astype(jnp.int32)
        reward = game.reward(states, actions)
        effort = jnp.mean(game.effort(actions))
        record = (game.order_parameter(states), reward, effort) + ((states,) if record_states else ())
        return game.move(states, actions, move_key), record

    keys = jax.random.split(key, game.horizon)
    final, record = lax.scan(step, states0, (jnp.arange(game.horizon), keys))
    order = jnp.concatenate([record[0], game.order_parameter(final)[None]])
    states = jnp.concatenate([record[3], final[None]]) if record_states else None
    return SwarmPlay(order, record[1], record[2], states)


@partial(jax.jit, static_argnames=("n_agents", "record_states"))
def _swarm_seeds(game, policy, keys, n_agents, record_states):
    return jax.vmap(lambda k: swarm_rollout(game, policy, k, n_agents, record_states))(keys)


def simulate_swarm(game, policy, n_agents: int | None = None, n_seeds: int = 1, seed: int = 0,
                   record_states: bool = False, devices=None) -> SwarmPlay:
    """Play ``policy`` in the swarm game ``game`` with ``n_agents`` agents (default: ``game.n_agents``).

    ``n_seeds`` independent episodes run as one compiled, vmapped program. With
    ``record_states`` the states of every agent at every step are kept
    (``(seeds, T+1, N, D)``: for snapshots and animations). ``devices`` (a
    count, or a list of JAX devices): split the agents of each episode over
    them (:mod:`mfgtools.sharding`); the same play as on one device, up to
    float rounding. None: one device.
    """
    from mfgtools.swarm_policies import check_swarm_policy

    if getattr(game, "kind", None) != "swarm":
        raise MFGError(f"simulate_swarm plays swarm games (kuramoto, vicsek, aggregation), got "
                       f"{getattr(game, 'name', type(game).__name__)!r}; use simulate for finite games")
    check_swarm_policy(game, policy)
    n_agents = game.n_agents if n_agents is None else as_int(n_agents, "n_agents", 1)
    n_seeds = as_int(n_seeds, "n_seeds", 1)
    seed = as_seed(seed)
    from mfgtools.resources import check_bytes

    # per agent: states, observations and neighbour structures (about 16 (2 D + 8) bytes); with
    # record_states every step's states too
    per_agent = 16 * (2 * game.state_dim + 8) + (4 * game.state_dim * (game.horizon + 1) if record_states else 0)
    check_bytes(f"simulating {n_seeds:,} x {n_agents:,} agents of {game.name!r} for T={game.horizon:,} steps",
                n_seeds * (n_agents * per_agent + (game.horizon + 1) * 16), "n_agents or n_seeds")
    keys = jax.random.split(jax.random.PRNGKey(seed), n_seeds)
    if devices is not None:
        from mfgtools import sharding

        return sharding.simulate_swarm(game, policy, keys, n_agents, bool(record_states), devices)
    return _swarm_seeds(game, policy, keys, n_agents, bool(record_states))


def swarm_flow(game, policy, keys: jax.Array, n_agents: int):
    """The mean field a swarm policy induces, estimated from episodes: pure, jit-able.

    Returns ``(histogram (T+1, *game.histogram_shape), order (T+1,))``: the
    share of agents in every bin of the mean-field coordinates and the order
    parameter at every step, averaged over the episodes of ``keys`` ``(seeds, 2)``.
    """
    play = jax.vmap(lambda k: swarm_rollout(game, policy, k, n_agents, record_states=True))(keys)
    histograms = jax.vmap(jax.vmap(game.histogram))(play.states)
    return histograms.mean(0), play.order.mean(0)
