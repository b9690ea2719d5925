"""Swarm simulation: decentralised episodes of N agents, on one device or split over several.

:func:`swarm_rollout` is one pure, jit-able episode (one ``lax.scan`` over the
horizon); :func:`simulate_swarm` runs validated batches of them (vmapped over
seeds), optionally with the agents split over devices
(:func:`simulate_swarm_split`: the ``(N, D)`` states sharded along a mesh
axis ``"agents"`` and constrained after every move; GSPMD gathers positions for
the neighbour sums); :func:`swarm_flow` estimates the mean field a policy
induces (what the engine and plots use).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from flax import struct
from jax import lax
from jax.sharding import NamedSharding, PartitionSpec

from mfgtools.errors import MFGError, as_int, as_seed
from mfgtools.parallel.devices import AGENTS, mesh_of, replicate
from mfgtools.registry import family_of
from mfgtools.resources import check_bytes
from mfgtools.swarm.policies import check_swarm_policy


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


def simulate_swarm(
    game,
    policy,
    n_agents: int | None = None,
    n_seeds: int = 1,
    seed: int = 0,
    record_states: bool = False,
    devices=None,
) -> SwarmPlay:
    """Play ``policy`` in the swarm game ``game`` with ``n_agents`` agents (default: ``game.n_agents``).

    ``n_seeds`` independent episodes run as one compiled, vmapped program. With
    ``record_states`` the states of every agent at every step are kept
    (``(seeds, T+1, N, D)``: for snapshots and animations). ``devices`` (a
    count, or a list of JAX devices): split the agents of each episode over
    them (:func:`simulate_swarm_split`); the same play as on one device, up to
    float rounding. None: one device.
    """

    if not family_of(game).particles:
        raise MFGError(
            f"simulate_swarm plays swarm games (kuramoto, vicsek, aggregation), got "
            f"{getattr(game, 'name', type(game).__name__)!r}; use simulate for finite games"
        )
    check_swarm_policy(game, policy)
    n_agents = game.n_agents if n_agents is None else as_int(n_agents, "n_agents", 1)
    n_seeds = as_int(n_seeds, "n_seeds", 1)
    seed = as_seed(seed)

    # per agent: states, observations and neighbour structures (about 16 (2 D + 8) bytes); with
    # record_states every step's states too
    per_agent = 16 * (2 * game.state_dim + 8) + (4 * game.state_dim * (game.horizon + 1) if record_states else 0)
    check_bytes(
        f"simulating {n_seeds:,} x {n_agents:,} agents of {game.name!r} for T={game.horizon:,} steps",
        n_seeds * (n_agents * per_agent + (game.horizon + 1) * 16),
        "n_agents or n_seeds",
    )
    keys = jax.random.split(jax.random.PRNGKey(seed), n_seeds)
    if devices is not None:
        return simulate_swarm_split(game, policy, keys, n_agents, bool(record_states), devices)
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


# ----- the agents split over devices ------------------------------------------------------
class _AgentsSplit:
    """A swarm game whose agents' states stay split over the mesh: every method is
    the game's own; the states it creates (:meth:`initial_states`, :meth:`move`) are
    constrained to the ``"agents"`` sharding."""

    def __init__(self, game, sharding):
        self._game, self._sharding = game, sharding

    def __getattr__(self, name):
        return getattr(self._game, name)

    def initial_states(self, key, n):
        return jax.lax.with_sharding_constraint(self._game.initial_states(key, n), self._sharding)

    def move(self, states, actions, key):
        return jax.lax.with_sharding_constraint(self._game.move(states, actions, key), self._sharding)


@partial(jax.jit, static_argnames=("n_agents", "record_states", "sharding"))
def _swarm_program(game, policy, keys, n_agents, record_states, sharding):
    split = _AgentsSplit(game, sharding)
    return jax.vmap(lambda k: swarm_rollout(split, policy, k, n_agents, record_states))(keys)


def simulate_swarm_split(game, policy, keys, n_agents: int, record_states: bool, devices):
    """Episodes of :func:`simulate_swarm` with the agents split over ``devices``.

    ``keys`` ``(seeds, 2)``; returns the same :class:`SwarmPlay`
    (the recorded states, if any, split along the agents when ``N`` is a
    multiple of the device count).
    """
    mesh = mesh_of(devices, AGENTS)
    replicated = NamedSharding(mesh, PartitionSpec())
    agents = NamedSharding(mesh, PartitionSpec(AGENTS))
    return _swarm_program(
        game, replicate(policy, replicated), jax.device_put(keys, replicated), n_agents, record_states, agents
    )


__all__ = ["SwarmPlay", "swarm_rollout", "simulate_swarm", "simulate_swarm_split", "swarm_flow"]
