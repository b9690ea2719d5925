"""Marginalised importance sampling (MIS): the mean field of a target policy estimated from data."""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax

from mfgtools.offline.dataset import state_frequency


@partial(jax.jit, static_argnames=("n_states", "normalise"))
def mis_mean_field(
    state,
    action,
    next_state,
    log_prob,
    policy,
    n_states: int,
    normalise: bool = True,
    clip: float | jax.Array = jnp.inf,
) -> jax.Array:
    """Marginalised importance-sampling estimate of the flow of ``policy`` from data.

    ``muhat_0 = d_0``; ``muhat_{t+1}(s') = (1/E) sum_i w_t^i [s_{t+1}^i = s']`` with
    ``w_t^i = muhat_t(s_t^i) / d_t(s_t^i) * policy_t(a_t^i | s_t^i) / beta(a_t^i | s_t^i)``
    and ``d_t`` the data's empirical state distribution. Weights above ``clip``
    are clipped; ``normalise`` rescales each ``muhat_t`` to sum to 1 (the official
    code's convention: since ``muhat_{t+1}`` is linear in ``muhat_t``, normalising
    each step or once at the end is the same). NaNs (no mass at all) become 0.

    Args:
      state, action, next_state, log_prob: ``(E, T)`` dataset arrays.
      policy: ``(T, S, A)`` target policy.

    Returns:
      ``(T+1, S)`` estimated mean field; equal to ``d`` when ``policy`` is the
      behaviour policy.
    """
    frequency = state_frequency(state, next_state, n_states)
    n_episodes = state.shape[0]
    dtype = frequency.dtype

    def advance(mu_t, xs):
        t, s, a, s_next, log_beta, d_t = xs
        ratio = jnp.exp(jnp.log(policy[t, s, a]) - log_beta.astype(dtype))
        weight = jnp.minimum(mu_t[s] / d_t[s] * ratio, clip)
        mu_next = jax.ops.segment_sum(weight, s_next, n_states) / n_episodes
        if normalise:
            mu_next = mu_next / jnp.sum(mu_next)
        mu_next = jnp.nan_to_num(mu_next, nan=0.0, posinf=0.0)
        return mu_next, mu_next

    xs = (jnp.arange(state.shape[1]), state.T, action.T, next_state.T, log_prob.T, frequency[:-1])
    _, later = lax.scan(advance, frequency[0], xs)
    return jnp.concatenate([frequency[:1], later], axis=0)


__all__ = ["mis_mean_field"]
