"""Independent PPO (IPPO), the multi-agent baseline of Dec-POMFC (spec ``dec_pomfc.md``).

Every agent is a learner: it acts from its own observation and the time with
an actor ``pi(u | y_i, t)``, estimates its values with a critic ``V(y_i, t)``
and learns from the shared reward, treating the other agents as part of the
environment. The actor and critic parameters are shared by all agents (flax
MLPs on :func:`mfgtools.swarm.representations.observation_features`: angles as
``(cos, sin)``, bounded coordinates in ``[-1, 1]``, plus ``2 t / T - 1``), so
every agent's transitions feed one PPO update: GAE per agent on the shared
reward, clipped surrogate, minibatch epochs stopped early at ``target_kl``
(:mod:`mfgtools.solvers.ppo`).

Same budget knobs and defaults as ``dec-pomfc``
(the settings of :class:`~mfgtools.solvers.ppo.PPOSolver`): each iteration samples
``n_envs`` episodes of swarms of ``n_agents`` agents (default: the game's),
that is ``n_agents`` times as many (agent-level) transitions as the
upper-level transitions ``dec-pomfc`` learns from. The policy is
decentralised by construction: :class:`NetworkPolicy` wraps the actor's
parameters and needs only each agent's own observation and the time.

Metrics of :meth:`IPPO.step` (training episodes, before the update):
``return``, ``order_parameter`` (as in ``dec-pomfc``), and the PPO
diagnostics ``policy_loss``, ``value_loss``, ``entropy``, ``approx_kl``,
``clip_fraction``, ``grad_norm`` and ``updates``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from mfgtools.registry import number, parameters_of
from mfgtools.solvers import ppo
from mfgtools.solvers.base import setting
from mfgtools.solvers.registry import register_solver
from mfgtools.swarm import representations as rep


def agent_inputs(observation_periods, observation_bounds, horizon, observations, t):
    """``(..., N, O) -> (..., N, O' + 1)``: network inputs of every agent: its observation
    features (:func:`~mfgtools.swarm.representations.observation_features`) and the time ``2 t / T - 1``."""
    features = rep.observation_features(observation_periods, observation_bounds, observations)
    time = 2.0 * jnp.asarray(t, features.dtype) / horizon - 1.0
    return jnp.concatenate([features, jnp.broadcast_to(time, features.shape[:-1] + (1,))], axis=-1)


def actor_network(width: int, n_actions: int) -> ppo.MLP:
    return ppo.MLP(width, 2, n_actions, output_scale=0.01)


@struct.dataclass
class NetworkPolicy:
    """IPPO's decentralised swarm policy: ``softmax(actor(y_i, t))`` for every agent.

    Attributes:
      params: the actor's flax parameters.
      width, n_actions, horizon, observation_periods, observation_bounds: static
        description of the network and of its inputs.
    """

    params: dict
    width: int = struct.field(pytree_node=False)
    n_actions: int = struct.field(pytree_node=False)
    horizon: int = struct.field(pytree_node=False)
    observation_periods: tuple = struct.field(pytree_node=False)
    observation_bounds: tuple = struct.field(pytree_node=False)

    def logits(self, t, observations):
        inputs = agent_inputs(self.observation_periods, self.observation_bounds, self.horizon, observations, t)
        return actor_network(self.width, self.n_actions).apply(self.params, inputs)

    def probabilities(self, t, observations):
        """``(N, O) -> (N, A)``: the action distribution of every agent at step ``t``."""
        return jax.nn.softmax(self.logits(t, observations).astype(observations.dtype), axis=-1)


@struct.dataclass
class IPPO(ppo.PPOSolver):
    """Independent PPO with parameters shared by all agents (see the module docstring)."""

    # the agents' critics see their own observations only: a poor estimate of the shared value,
    # so the advantages lean on the sampled returns (a lower lambda biases them, at times the wrong way)
    gae_lambda: float = setting(0.99, "GAE lambda", number(0.0, 1.0))

    def samples_per_iteration(self, game) -> tuple[int, str]:
        return (
            self.n_envs * game.horizon * self.swarm_size(game),
            "agent transitions of an iteration (n_envs x horizon x n_agents)",
        )

    def networks(self, game):
        return actor_network(self.width, game.n_actions), ppo.MLP(self.width, 2, 1, output_scale=1.0)

    def inputs(self, game, observations, t):
        return agent_inputs(game.observation_periods, game.observation_bounds, game.horizon, observations, t)

    def init(self, game, key):
        actor, critic = self.networks(game)
        probe = self.inputs(game, jnp.zeros((1, game.observation_dim), jnp.result_type(float)), 0)
        actor_key, critic_key = jax.random.split(key)
        params = {"actor": actor.init(actor_key, probe), "critic": critic.init(critic_key, probe)}
        return ppo.PPOState(opt_state=self.optimizer().init(params), params=params)

    def heads(self, game, params, inputs):
        actor, critic = self.networks(game)
        return actor.apply(params["actor"], inputs), critic.apply(params["critic"], inputs)[..., 0]

    def transition(self, game, params, states, t, key):
        """One step of the ``n_envs`` training swarms: the next states and ``(E, N, ...)``
        ``inputs``, ``action``, ``log_prob``, ``value`` (reward units), and ``(E,)`` ``reward``."""
        action_key, move_key = jax.random.split(key)
        inputs = self.inputs(game, jax.vmap(game.observe)(states), t)  # (E, N, K)
        logits, value = self.heads(game, params, inputs)
        log_probs = jax.nn.log_softmax(logits, axis=-1)
        actions = ppo.sample_categorical(action_key, jnp.exp(log_probs))  # (E, N)
        log_prob = jnp.take_along_axis(log_probs, actions[..., None], axis=-1)[..., 0]
        reward = jax.vmap(game.reward)(states, actions).astype(value.dtype)
        states = jax.vmap(game.move)(states, actions, jax.random.split(move_key, self.n_envs))
        scale = ppo.horizon_scale(game.discount, game.horizon)
        return states, {
            "inputs": inputs,
            "action": actions,
            "log_prob": log_prob,
            "value": scale * value,
            "reward": reward,
        }

    def evaluate_batch(self, game, params, minibatch):
        logits, value = self.heads(game, params, minibatch["inputs"])
        log_probs = jax.nn.log_softmax(logits, axis=-1)
        log_prob = jnp.take_along_axis(log_probs, minibatch["action"][:, None], axis=-1)[:, 0]
        return log_prob, value, -jnp.sum(jnp.exp(log_probs) * log_probs, axis=-1)

    def policy(self, game, state):
        return NetworkPolicy(
            state.params["actor"],
            self.width,
            game.n_actions,
            game.horizon,
            tuple(game.observation_periods),
            tuple(game.observation_bounds),
        )


@register_solver(
    "ippo",
    "independent PPO baseline: every agent learns pi(u | own observation, t) from the shared "
    "reward (parameters shared)",
    parameters_of(IPPO),
    requires="swarm",
    iterations=2000,
)
def make_ippo(**params) -> IPPO:
    """``ippo`` with validated parameters (declared on the fields of :class:`IPPO`)."""
    return IPPO(**params)
