"""N-agent simulation of any finite game.

``N`` agents start from ``mu0``; at every step each samples an action from its
policy, the empirical distribution ``mu_N`` of their states drives the rewards
``r_t(s, a, mu_N)`` and the transitions ``p_t(. | s, a, mu_N)``, and each agent
samples its successor. Agents' states are an int array; one ``lax.scan`` over
time, ``vmap`` over seeds. Offline datasets, policy mirror ascent and the
finite-population evaluation of every solver's policy are built on it.

The other families have their own simulators: agents on a graph in
:mod:`mfgtools.graphex.simulate`, swarms in :mod:`mfgtools.swarm.rollouts`.

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
from mfgtools.finite import kernels
from mfgtools.finite.evaluation import as_policy, check_game


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
    successors = kernels.successors_at(game, t, mu_t)[states, actions, branch]
    chosen = jnp.take_along_axis(log_probs, actions[:, None], axis=1)[:, 0]
    return actions, rewards, successors, chosen


def simulate_agents(
    game, policy: jax.Array, key: jax.Array, n_agents: int, flow: jax.Array | None = None
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
    final, (states, actions, rewards, empirical, log_prob) = lax.scan(step, states0, (jnp.arange(game.horizon), keys))
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
    check_bytes(
        f"simulating {count:,} x {n_agents:,} agents for T={game.horizon:,} steps",
        count * (game.horizon + 1) * (n_agents * 16 * 2 + game.n_states * 8),
        "n_agents or n_seeds",
    )
    keys = jax.random.split(jax.random.PRNGKey(seed), count)
    runs = simulate_seeds(game, checked, keys, n_agents)
    if n_seeds is None:
        runs = jax.tree_util.tree_map(lambda x: x[0], runs)
    return runs


__all__ = ["Trajectories", "empirical_distribution", "agents_step", "simulate_agents", "simulate_seeds", "simulate"]
