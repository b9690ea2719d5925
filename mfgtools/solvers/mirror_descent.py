"""Online mirror descent (OMD; Perolat et al. 2022), the exact reference solver.

``y_{k+1} = y_k + eta * Q^{pi_k, mu_k}``, ``pi_{k+1} = softmax(y_{k+1})`` per
``(t, s)`` over legal actions, ``pi_0`` uniform. One iteration is one forward
pass (the flow of ``pi_k``) and one backward pass that evaluates ``pi_k``, the
best response (for the exploitability of ``pi_k``, at little extra cost) and
writes ``y_{k+1}`` and ``pi_{k+1}`` time step by time step.

On OpenSpiel's games (``openspiel_quirks``) the update follows OpenSpiel's
``MirrorDescent`` iterates exactly, including its in-place reads of the
cumulative values (see :mod:`mfgtools.games.openspiel_traversal`); the
exploitability reported is always the true one.

Memory: the backward pass writes ``y_{k+1}[t]`` and ``pi_{k+1}[t]`` in place
into the arrays of the state, and the forward pass writes the flow into the
state's ``flow`` buffer, so an iteration allocates no new ``(T, S, A)`` or
``(T, S)`` arrays when the caller donates the state (as
:func:`mfgtools.solvers.solve` does). To let XLA update in place without
copying the whole array at every time step, the rows ``y_k[t-1]`` and
``pi_k[t-1]`` are read right after row ``t`` has been written and carried to
the next step: the only reader of the incoming arrays is then the in-place
update itself (docs/benchmarks.md).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from jax import lax

from mfgtools.finite import kernels
from mfgtools.registry import boolean, optional, positive
from mfgtools.solvers.base import FiniteSolver, setting
from mfgtools.solvers.registry import register_solver


@struct.dataclass
class MirrorDescentState:
    """OMD's state: ``cumulative`` ``(T, S, A)`` values ``y_k``, ``policy`` ``(T, S, A)`` ``pi_k``, ``flow``
    ``(T, S)`` the mean field the last step evaluated (a buffer reused in place), ``iteration`` ``k``
    (int32 scalar)."""

    cumulative: jax.Array
    flow: jax.Array
    iteration: jax.Array
    policy: jax.Array


@register_solver(
    "omd",
    "online mirror descent (exact reference; follows OpenSpiel's MirrorDescent on its games)",
    requires="joint",
)
@struct.dataclass
class OnlineMirrorDescent(FiniteSolver):
    learning_rate: float = setting(0.03, "step size eta of y += eta * Q", positive(), traced=True)
    openspiel_order: bool | None = setting(
        None, "emulate OpenSpiel's in-place updates (default: on its games)", optional(boolean), traced=False
    )

    def follows_openspiel(self, game) -> bool:
        quirks = getattr(game, "openspiel_quirks", False)
        return quirks if self.openspiel_order is None else (self.openspiel_order and quirks)

    def init(self, game, key):
        del key
        policy = kernels.uniform_policy(game)
        return MirrorDescentState(
            cumulative=jnp.zeros_like(policy),
            flow=jnp.zeros((game.horizon, game.n_states), policy.dtype),
            iteration=jnp.zeros((), jnp.int32),
            policy=policy,
        )

    def policy(self, game, state):
        return state.policy

    def step(self, game, state, key):
        del key
        lr = self.learning_rate
        openspiel = self.follows_openspiel(game)
        started = state.iteration > 0
        flow, last = kernels.flow_into(game, state.policy, state.flow)

        def backward(carry, xs):
            v_pi, v_br, v_update, ys, pis, y_t, pi_t = carry
            t, mu_t = xs
            # pi_t is still the policy of this iteration's flow (row t is rewritten below)
            reward = kernels.reward_at(game, t, mu_t, pi_t)
            values = (v_pi, v_br, v_update) if openspiel else (v_pi, v_br)
            c_pi, c_br, *c_update = kernels.continuations(game, t, mu_t, values, pi_t)
            q_pi = reward + game.discount * c_pi
            q_br = reward + game.discount * c_br
            if openspiel:
                # OpenSpiel accumulates chance-node values and, within an iteration,
                # reads children already updated by an earlier-visited parent:
                # softmax(y_t + [stale] lr * later), written with y_new = y_t + lr * later.
                later = game.discount * c_update[0]
                y_new = y_t + lr * later
                stale = game.mirror_descent_stale[t] & started
                read = kernels.masked_softmax(game, jnp.where(stale, y_new, y_t))
                v_update = kernels.sum_last(read * (reward + later))
            else:
                y_new = y_t + lr * q_pi
            # write row t in place, then read row t - 1 from the updated arrays (see above)
            # Re-centre each row on its best legal action: the softmax is unchanged and the
            # cumulative values stay small, so long float32 runs do not lose precision.
            y_new = y_new - kernels.masked_max(game, y_new)[:, None]
            ys = lax.dynamic_update_index_in_dim(ys, y_new, t, 0)
            pis = lax.dynamic_update_index_in_dim(pis, kernels.masked_softmax(game, y_new), t, 0)
            previous = jnp.maximum(t - 1, 0)
            y_t = lax.dynamic_index_in_dim(ys, previous, keepdims=False)
            carry = (
                kernels.sum_last(pi_t * q_pi),
                kernels.masked_max(game, q_br),
                v_update,
                ys,
                pis,
                y_t,
                lax.dynamic_index_in_dim(pis, previous, keepdims=False),
            )
            return carry, None

        terminal = game.terminal_reward(last)
        ys, pis = state.cumulative, state.policy
        top = game.horizon - 1
        carry = (terminal, terminal, terminal, ys, pis, ys[top], pis[top])
        (v_pi, v_br, _, ys, pis, _, _), _ = lax.scan(backward, carry, (jnp.arange(game.horizon), flow), reverse=True)
        metrics = {"exploitability": kernels.gap_at_start(game, v_br, v_pi)}
        new_state = MirrorDescentState(cumulative=ys, flow=flow, iteration=state.iteration + 1, policy=pis)
        return new_state, metrics
