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
update itself (docs/benchmarks.md). Games with a long horizon and small tables
take another order of the same operations (:data:`ROWS_AFTER_HORIZON`): the
backward pass keeps only value vectors and the rows are written after it.
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
        if game.horizon >= ROWS_AFTER_HORIZON and game.horizon * game.n_states * game.n_actions <= ROWS_AFTER_THE_PASS:
            return self._step_rows_after(game, state)
        lr = self.learning_rate
        openspiel = self.follows_openspiel(game)
        started = state.iteration > 0
        flow, last, models = kernels.flow_into(game, state.policy, state.flow, keep_model=True)

        def backward(carry, xs):
            v_pi, v_br, v_update, ys, pis, y_t, pi_t = carry
            t, mu_t, model = xs
            # pi_t is still the policy of this iteration's flow (row t is rewritten below)
            q_pi, q_br, later, v_update = self._backward_step(
                game, t, mu_t, pi_t, y_t, v_pi, v_br, v_update, started, model
            )
            y_new = y_t + lr * (later if openspiel else q_pi)
            # write row t in place, then read row t - 1 from the updated arrays (see above)
            # Re-centre each row on its best legal action: the softmax is unchanged and the
            # cumulative values stay small, so long float32 runs do not lose precision.
            y_new, pi_new = _softmax(game, y_new)
            ys = lax.dynamic_update_index_in_dim(ys, y_new, t, 0)
            pis = lax.dynamic_update_index_in_dim(pis, pi_new, t, 0)
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
        times = jnp.arange(game.horizon)
        (v_pi, v_br, _, ys, pis, _, _), _ = lax.scan(backward, carry, (times, flow, models), reverse=True)
        metrics = {"exploitability": kernels.gap_at_start(game, v_br, v_pi)}
        new_state = MirrorDescentState(cumulative=ys, flow=flow, iteration=state.iteration + 1, policy=pis)
        return new_state, metrics

    def _backward_step(self, game, t, mu_t, pi_t, y_t, v_pi, v_br, v_update, started, model=None):
        """What both orders of :meth:`step` compute at time ``t`` from the values at ``t + 1``:
        ``(Q^pi_t, Q*_t, later, V^update_t)`` ``(S, A), (S, A), (S, A) or None, (S,)``.

        In OpenSpiel's order the update reads ``later = gamma E[V^update_{t+1}]`` and OpenSpiel, which
        accumulates chance-node values and reads children already updated by an earlier-visited parent,
        evaluates ``softmax(y_t + [stale] lr * later)``; otherwise ``later`` is None and ``V^update`` passes.
        """
        reward = kernels.reward_at(game, t, mu_t, pi_t)
        openspiel = self.follows_openspiel(game)
        values = (v_pi, v_br, v_update) if openspiel else (v_pi, v_br)
        c_pi, c_br, *c_update = kernels.continuations(game, t, mu_t, values, pi_t, model)
        q_pi = reward + game.discount * c_pi
        q_br = reward + game.discount * c_br
        if not openspiel:
            return q_pi, q_br, None, v_update
        later = game.discount * c_update[0]
        stale = game.mirror_descent_stale[t] & started
        read = _softmax(game, jnp.where(stale, y_t + self.learning_rate * later, y_t))[1]
        return q_pi, q_br, later, kernels.sum_last(read * (reward + later))

    def _step_rows_after(self, game, state):
        """:meth:`step` for games whose ``(T, S, A)`` tables are small: the backward pass carries and keeps
        only ``(S,)`` value vectors, and every row of ``y_{k+1}`` and ``pi_{k+1}`` is written after it, for
        all ``t`` at once, from the kept values (the same operations, so the same iterates)."""
        lr = self.learning_rate
        openspiel = self.follows_openspiel(game)
        started = state.iteration > 0
        pis, ys = state.policy, state.cumulative
        flow, last, models = kernels.flow_into(game, pis, state.flow, keep_model=True)
        times = jnp.arange(game.horizon)

        def backward(carry, xs):
            v_pi, v_br, v_update = carry
            t, mu_t, pi_t, y_t, model = xs
            kept = v_update if openspiel else v_pi  # V_{t+1}, which the update of row t reads
            q_pi, q_br, _, v_update = self._backward_step(
                game, t, mu_t, pi_t, y_t, v_pi, v_br, v_update, started, model
            )
            return (kernels.sum_last(pi_t * q_pi), kernels.masked_max(game, q_br), v_update), kept

        terminal = game.terminal_reward(last)
        (v_pi, v_br, _), kept = lax.scan(
            backward,
            (terminal, terminal, terminal),
            (times, flow, pis, ys if openspiel else times, models),
            reverse=True,
        )

        def row(t, mu_t, pi_t, y_t, v_next, model):
            later = game.discount * kernels.continuations(game, t, mu_t, (v_next,), pi_t, model)[0]
            y_new = y_t + lr * (later if openspiel else kernels.reward_at(game, t, mu_t, pi_t) + later)
            return y_new

        ys, pis = jax.vmap(lambda y: _softmax(game, y))(jax.vmap(row)(times, flow, pis, ys, kept, models))
        metrics = {"exploitability": kernels.gap_at_start(game, v_br, v_pi)}
        new_state = MirrorDescentState(cumulative=ys, flow=flow, iteration=state.iteration + 1, policy=pis)
        return new_state, metrics


def _softmax(game, y):
    """``(y - max, softmax(y))`` per row ``(S, A)``: :func:`kernels.centred_softmax` on rows of at most
    :data:`REDUCED_MAX_ENTRIES` entries, the unrolled maximum of :func:`kernels.masked_softmax` on larger ones."""
    if game.n_states * game.n_actions <= REDUCED_MAX_ENTRIES:
        return kernels.centred_softmax(game, y)
    centred = y - kernels.masked_max(game, y)[:, None]
    return centred, kernels.masked_softmax(game, centred)


# Games with a long horizon and at most this many (t, s, a) entries take OnlineMirrorDescent._step_rows_after:
# writing a row of y and pi into the (T, S, A) arrays at each step of the backward pass grows with T on XLA's
# CPU backend (OMD on crowd_modelling with T = 640: 11.5 us per time step, against 1.4 us for the
# exploitability's pass that keeps only value vectors); measured (float64, 2-core CPU, 20 iterations):
# dynamic_routing at OpenSpiel's factory setting (T = 100) 7.0 -> 4.6 ms per iteration, four rooms (T = 40)
# 1.42 -> 1.15 ms without OpenSpiel's order and about even with it; no gain below T = 32, and on grids of 10^4
# cells the in-place rows stay faster.
ROWS_AFTER_HORIZON = 32
# Rows of at most this many (s, a) entries are re-centred and turned into the policy by kernels.centred_softmax
# (a true maximum: each entry of y + eta Q computed twice, not A * A times as when the unrolled maximum fuses
# into the exponential); measured (float64, 2-core CPU, OMD iteration): MFGLib's building_evacuation
# (S x A = 3000) 213 -> 90 us, crowd_motion (2000) 313 -> 229 us; the tiny games unchanged; but the crowd
# grids, whose entries are cheap, slower with it: empty:32 (5120) 1.23 -> 1.40 ms, empty:100 15.2 -> 17.2 ms.
REDUCED_MAX_ENTRIES = 4096
ROWS_AFTER_THE_PASS = 1 << 21
