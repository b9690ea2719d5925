"""Decentralised policies of swarm games: each agent maps its own observation to actions.

A swarm policy is a pytree (a ``flax.struct`` dataclass) with
``probabilities(t, observations) -> (N, A)``: the action distribution of every
agent at decision step ``t`` (a traced int) given its own observation
``(N, O)`` and nothing else, which is what decentralised execution means. The
simulator (:func:`mfgtools.swarm.rollouts.simulate_swarm`) and the solvers use only
this method, so baselines, Dec-POMFC's kernel policies and IPPO's networks are
interchangeable.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from mfgtools.errors import MFGError


@struct.dataclass
class IdlePolicy:
    """The uncontrolled swarm: every agent always takes ``action`` (the game's idle action)."""

    n_actions: int = struct.field(pytree_node=False)
    action: int = struct.field(pytree_node=False)

    def probabilities(self, t, observations):
        del t
        return jnp.broadcast_to(
            jax.nn.one_hot(self.action, self.n_actions, dtype=observations.dtype),
            (observations.shape[0], self.n_actions),
        )


@struct.dataclass
class UniformPolicy:
    """The random swarm: every agent picks an action uniformly at random."""

    n_actions: int = struct.field(pytree_node=False)

    def probabilities(self, t, observations):
        del t
        return jnp.full((observations.shape[0], self.n_actions), 1.0 / self.n_actions, observations.dtype)


def idle_policy(game) -> IdlePolicy:
    """The uncontrolled swarm of ``game``."""
    return IdlePolicy(game.n_actions, game.idle_action)


def uniform_policy(game) -> UniformPolicy:
    """The random swarm of ``game``."""
    return UniformPolicy(game.n_actions)


def check_swarm_policy(game, policy) -> None:
    """Clear error when ``policy`` is not a swarm policy for ``game``."""
    if not callable(getattr(policy, "probabilities", None)):
        raise MFGError(
            f"a swarm policy needs a probabilities(t, observations) method, got {type(policy).__name__}; "
            "use mfgtools.swarm.policies.idle_policy(game), uniform_policy(game) or a solver's policy"
        )
    probe = jax.eval_shape(
        policy.probabilities, jnp.int32(0), jax.ShapeDtypeStruct((2, game.observation_dim), jnp.result_type(float))
    )
    if probe.shape != (2, game.n_actions):
        raise MFGError(
            f"policy gives action distributions of shape {probe.shape[1:]} per agent, but game "
            f"{game.name!r} has {game.n_actions} actions"
        )
