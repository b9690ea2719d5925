"""Proximal policy optimisation (PPO) pieces shared by the ``dec-pomfc`` and ``ippo`` solvers.

Pure functions of explicit arrays and keys:

- :func:`gae`: generalised advantage estimation, one backward ``lax.scan`` over time;
- :func:`normalise`: advantage normalisation;
- :func:`clipped_loss`: PPO's clipped surrogate plus value loss and entropy bonus;
- :func:`sample_categorical`: actions from rows of probabilities;
- :func:`make_optimizer`: Adam (optax) after clipping the global gradient norm;
- :class:`PPOSolver`'s fields: the settings both solvers share, each declared
  once with its default, help and check (the registry reads them);
- :class:`MLP`: the flax network both solvers build their actors and critics from;
- :func:`update`: epochs of shuffled minibatch gradient steps (``lax.scan`` over
  epochs and, inside, over minibatches) on any ``loss(params, batch) -> (loss, diagnostics)``;
- :class:`PPOSolver`: the swarm solver both build on: the shared settings and
  one PPO iteration (sample episodes, GAE on the shared reward, update).

The solvers supply the episodes and the loss inputs: each samples with its own
networks (:meth:`PPOSolver.rollout`) and evaluates them on a minibatch
(:meth:`PPOSolver.evaluate_batch`).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax import lax

from mfgtools.errors import MFGError
from mfgtools.registry import integer, number, optional, positive
from mfgtools.solvers.base import SwarmSolver, setting


def gae(rewards: jax.Array, values: jax.Array, last_value: jax.Array, discount: float, lam: float):
    """Generalised advantage estimates of one or many episodes of length ``T``.

    Args:
      rewards: ``(T, ...)`` rewards ``r_t``.
      values: ``(T, ...)`` critic values ``V(s_t)``.
      last_value: ``(...)`` value of the state after the last step (0 when the
        episode ends there).
      discount, lam: ``gamma`` and the GAE ``lambda``.

    Returns ``(advantages, returns)``, both ``(T, ...)``:
    ``A_t = sum_k (gamma lambda)^k delta_{t+k}`` with
    ``delta_t = r_t + gamma V(s_{t+1}) - V(s_t)``, and ``returns = A + V`` (the
    critic's targets).
    """
    next_values = jnp.concatenate([values[1:], last_value[None]], axis=0)
    deltas = rewards + discount * next_values - values

    def back(carry, delta):
        advantage = delta + discount * lam * carry
        return advantage, advantage

    _, advantages = lax.scan(back, jnp.zeros_like(last_value), deltas, reverse=True)
    return advantages, advantages + values


def normalise(advantages: jax.Array, eps: float = 1e-8) -> jax.Array:
    """Advantages shifted and scaled to mean 0 and standard deviation 1 (over all entries)."""
    return (advantages - advantages.mean()) / (advantages.std() + eps)


def clipped_loss(
    log_prob, old_log_prob, advantages, values, returns, entropy, clip: float, value_coef: float, entropy_coef: float
):
    """PPO's loss on a minibatch of ``B`` samples (every argument ``(B,)`` but the coefficients).

    ``ratio = exp(log_prob - old_log_prob)``; the policy loss is
    ``-mean(min(ratio A, clip(ratio, 1 - eps, 1 + eps) A))``, the value loss
    ``mean((V - returns)^2) / 2`` and the total
    ``policy_loss + value_coef value_loss - entropy_coef mean(entropy)``.

    Returns ``(total, diagnostics)`` with diagnostics ``policy_loss``,
    ``value_loss``, ``entropy``, ``approx_kl`` (``mean((ratio - 1) - log ratio)``)
    and ``clip_fraction``.
    """
    log_ratio = log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    unclipped = ratio * advantages
    clipped = jnp.clip(ratio, 1.0 - clip, 1.0 + clip) * advantages
    policy_loss = -jnp.mean(jnp.minimum(unclipped, clipped))
    value_loss = 0.5 * jnp.mean(jnp.square(values - returns))
    mean_entropy = jnp.mean(entropy)
    total = policy_loss + value_coef * value_loss - entropy_coef * mean_entropy
    diagnostics = {
        "policy_loss": policy_loss,
        "value_loss": value_loss,
        "entropy": mean_entropy,
        "approx_kl": jnp.mean((ratio - 1.0) - log_ratio),
        "clip_fraction": jnp.mean((jnp.abs(ratio - 1.0) > clip).astype(ratio.dtype)),
    }
    return total, diagnostics


def sample_categorical(key: jax.Array, probs: jax.Array) -> jax.Array:
    """``(..., A) -> (...)`` int32: one draw from every row of ``probs`` by inverting its
    cumulative distribution (one uniform number per row)."""
    u = jax.random.uniform(key, probs.shape[:-1], probs.dtype)
    cumulative = jnp.cumsum(probs, axis=-1)
    below = u[..., None] * cumulative[..., -1:] >= cumulative[..., :-1]
    return jnp.sum(below, axis=-1).astype(jnp.int32)


def make_optimizer(learning_rate: float, max_grad_norm: float) -> optax.GradientTransformation:
    """Adam with step ``learning_rate`` after clipping the global gradient norm to ``max_grad_norm``."""
    return optax.chain(optax.clip_by_global_norm(max_grad_norm), optax.adam(learning_rate, eps=1e-5))


def update(
    loss,
    optimizer: optax.GradientTransformation,
    params,
    opt_state,
    batch,
    key: jax.Array,
    epochs: int,
    minibatches: int,
    target_kl: float | None = None,
):
    """PPO's optimisation phase: ``epochs`` passes over ``batch`` in shuffled minibatches.

    Args:
      loss: ``loss(params, minibatch) -> (scalar, diagnostics dict)``.
      optimizer: an optax transformation (:func:`make_optimizer`).
      params, opt_state: the parameters and the optimiser state.
      batch: a pytree of arrays with a common leading sample axis ``B``
        (``B`` divisible by ``minibatches``: extra samples are dropped).
      key: PRNG key of the shuffles.
      epochs, minibatches: static ints.
      target_kl: early stopping: once a minibatch's ``approx_kl`` diagnostic
        (the KL divergence of the current policy from the sampling one) exceeds
        ``1.5 * target_kl``, the remaining gradient steps of the phase are
        skipped. None: never.

    Returns ``(params, opt_state, diagnostics)``: the diagnostics averaged over
    the gradient steps taken (plus ``grad_norm`` and ``updates``, the fraction of
    the ``epochs x minibatches`` steps taken).
    """
    size = jax.tree_util.tree_leaves(batch)[0].shape[0]
    per_batch = size // minibatches
    used = per_batch * minibatches
    gradient = jax.value_and_grad(loss, has_aux=True)

    def minibatch_step(carry, minibatch):
        params, opt_state, stopped = carry
        (_, diagnostics), grads = gradient(params, minibatch)
        if target_kl is not None:
            stopped = stopped | (diagnostics["approx_kl"] > 1.5 * target_kl)

        def apply(operands):
            params, opt_state = operands
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return optax.apply_updates(params, updates), opt_state

        params, opt_state = lax.cond(stopped, lambda operands: operands, apply, (params, opt_state))
        diagnostics = dict(diagnostics, grad_norm=optax.tree.norm(grads))
        taken = 1.0 - stopped.astype(jnp.result_type(float))
        return (params, opt_state, stopped), (diagnostics, taken)

    def epoch(carry, epoch_key):
        order = jax.random.permutation(epoch_key, size)[:used]
        shuffled = jax.tree_util.tree_map(lambda x: x[order].reshape((minibatches, per_batch) + x.shape[1:]), batch)
        return lax.scan(minibatch_step, carry, shuffled)

    carry = (params, opt_state, jnp.zeros((), bool))
    (params, opt_state, _), (diagnostics, taken) = lax.scan(epoch, carry, jax.random.split(key, epochs))
    weights = taken / jnp.maximum(taken.sum(), 1.0)
    averaged = jax.tree_util.tree_map(lambda x: jnp.sum(x * weights.astype(x.dtype)), diagnostics)
    return params, opt_state, dict(averaged, updates=jnp.mean(taken))


# ----- networks ------------------------------------------------------------------------
class MLP(nn.Module):
    """``depth`` tanh hidden layers of ``width`` units, then a linear layer of ``outputs``
    units (orthogonal initialisation; the output layer scaled by ``output_scale``)."""

    width: int
    depth: int
    outputs: int
    output_scale: float = 1.0

    @nn.compact
    def __call__(self, x):
        for _ in range(self.depth):
            x = nn.tanh(nn.Dense(self.width, kernel_init=nn.initializers.orthogonal(2.0**0.5))(x))
        return nn.Dense(self.outputs, kernel_init=nn.initializers.orthogonal(self.output_scale))(x)


def horizon_scale(discount: float, horizon: int) -> float:
    """``sum_{t<T} gamma^t``: critics predict values in units of this (returns of
    rewards of order 1 become of order 1)."""
    return float(sum(discount**t for t in range(horizon)))


@struct.dataclass
class PPOState:
    """The state of a PPO solver: ``params`` of its networks (a flax parameter tree) and ``opt_state``, the
    optimiser's (:func:`make_optimizer`)."""

    opt_state: Any
    params: Any


# ----- the solver ------------------------------------------------------------------------
NOT_SAMPLES = ("reward", "value", "final_order")  # rollout entries that are not per-sample loss inputs


@struct.dataclass
class PPOSolver(SwarmSolver):
    """A swarm solver trained by PPO on the shared reward (the settings of its fields).

    Subclasses define ``init``, ``policy`` and:

    - ``transition(game, params, states, t, key) -> (states, record)``: one step
      of the ``n_envs`` training swarms (states ``(E, N, D)``) under the current
      stochastic policy; ``record`` has ``reward`` ``(E,)`` (the shared reward),
      ``value`` ``(E, ...)`` (critic values in reward units, one per learner:
      ``(E,)`` for one upper-level learner, ``(E, N)`` for N agents),
      ``log_prob`` and the inputs the loss needs, shaped like ``value`` plus
      trailing axes;
    - ``evaluate_batch(game, params, minibatch) -> (log_prob, value, entropy)``,
      each ``(B,)``, value in units of :func:`horizon_scale`;
    - optionally ``extra_metrics(params)``.
    """

    # the settings both solvers share (same defaults: the same budget and PPO for both)
    n_envs: int = setting(
        8,
        "parallel training swarms (episodes per iteration)",
        integer(1, 65536, label="n_envs (parallel training swarms)"),
    )
    n_agents: int | None = setting(
        None,
        "training swarm size (none: the game's n_agents)",
        optional(integer(1, 1_000_000, label="n_agents (training swarm size)")),
    )
    learning_rate: float = setting(1e-3, "Adam step size", number(0.0, 1.0, low_open=True))
    epochs: int = setting(4, "PPO epochs per iteration", integer(1, 1000))
    minibatches: int = setting(4, "minibatches per epoch", integer(1, 1_000_000))
    clip: float = setting(0.2, "PPO clipping epsilon", number(0.0, 1.0, low_open=True, label="clip (PPO epsilon)"))
    gae_lambda: float = setting(0.8, "GAE lambda", number(0.0, 1.0))
    target_kl: float | None = setting(
        0.05,
        "stop an iteration's PPO epochs once the KL divergence from the sampling "
        "policy exceeds 1.5 x target_kl (none: never)",
        optional(positive()),
    )
    entropy_coef: float = setting(0.0, "entropy bonus coefficient", number(0.0))
    value_coef: float = setting(0.5, "value loss coefficient", number(0.0))
    max_grad_norm: float = setting(0.5, "global gradient norm clipping", positive())
    width: int = setting(
        64,
        "hidden units of the actor and critic MLPs (two tanh layers)",
        integer(1, 65536, label="width (hidden units)"),
    )

    def swarm_size(self, game) -> int:
        """The number of agents of a training swarm."""
        return game.n_agents if self.n_agents is None else self.n_agents

    def samples_per_iteration(self, game) -> tuple[int, str]:
        """The number of transitions an iteration learns from, and what they are."""
        return self.n_envs * game.horizon, "upper-level transitions of an iteration (n_envs x horizon)"

    def check(self, game) -> None:
        super().check(game)
        samples, what = self.samples_per_iteration(game)
        if self.minibatches > samples:
            raise MFGError(f"minibatches ({self.minibatches}) exceeds the {samples} {what}; lower minibatches")

    def optimizer(self) -> optax.GradientTransformation:
        return make_optimizer(self.learning_rate, self.max_grad_norm)

    def extra_metrics(self, params) -> dict:
        return {}

    def rollout(self, game, params, key):
        """``n_envs`` episodes of ``swarm_size`` agents from fresh initial states: the
        ``transition`` records stacked over time (``(T, E, ...)``) and ``final_order``
        ``(E,)``, the order parameter after the last step."""
        n = self.swarm_size(game)
        start_key, key = jax.random.split(key)
        states = jax.vmap(lambda k: game.initial_states(k, n))(jax.random.split(start_key, self.n_envs))

        def step(states, xs):
            t, step_key = xs
            return self.transition(game, params, states, t, step_key)

        final, record = lax.scan(step, states, (jnp.arange(game.horizon), jax.random.split(key, game.horizon)))
        record["final_order"] = jax.vmap(game.order_parameter)(final)
        return record

    def step(self, game, state, key):
        """One PPO iteration: ``n_envs`` episodes under the current policy, GAE of the
        shared reward for every learner, ``epochs`` x ``minibatches`` gradient steps."""
        rollout_key, update_key = jax.random.split(key)
        params = state.params
        episodes = self.rollout(game, params, rollout_key)
        rewards, values = episodes["reward"], episodes["value"]
        shared = jnp.reshape(rewards, rewards.shape + (1,) * (values.ndim - rewards.ndim))
        advantages, returns = gae(
            jnp.broadcast_to(shared, values.shape), values, jnp.zeros_like(values[0]), game.discount, self.gae_lambda
        )
        flat = lambda x: x.reshape((-1,) + x.shape[values.ndim :])
        batch = {name: flat(x) for name, x in episodes.items() if name not in NOT_SAMPLES}
        batch["advantage"] = normalise(flat(advantages))
        batch["target"] = flat(returns) / horizon_scale(game.discount, game.horizon)

        def loss(params, minibatch):
            log_prob, value, entropy = self.evaluate_batch(game, params, minibatch)
            return clipped_loss(
                log_prob,
                minibatch["log_prob"],
                minibatch["advantage"],
                value,
                minibatch["target"],
                entropy,
                self.clip,
                self.value_coef,
                self.entropy_coef,
            )

        new_params, opt_state, diagnostics = update(
            loss,
            self.optimizer(),
            params,
            state.opt_state,
            batch,
            update_key,
            self.epochs,
            self.minibatches,
            self.target_kl,
        )
        weights = game.discount ** jnp.arange(game.horizon, dtype=rewards.dtype)
        metrics = {
            "return": jnp.mean(jnp.einsum("te,t->e", rewards, weights)),
            "order_parameter": jnp.mean(episodes["final_order"]),
            **self.extra_metrics(params),
            **diagnostics,
        }
        return PPOState(opt_state=opt_state, params=new_params), metrics
