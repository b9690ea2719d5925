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
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from jax import lax

from mfgtools import kernels
from mfgtools.errors import as_bool, as_float
from mfgtools.games import Parameter
from mfgtools.solvers import register_solver
from mfgtools.solvers.base import FiniteSolver


@dataclasses.dataclass(frozen=True)
class OnlineMirrorDescent(FiniteSolver):
    learning_rate: float = 0.1
    openspiel_order: bool | None = None

    def follows_openspiel(self, game) -> bool:
        quirks = getattr(game, "openspiel_quirks", False)
        return quirks if self.openspiel_order is None else (self.openspiel_order and quirks)

    def init(self, game, key):
        del key
        policy = kernels.uniform_policy(game)
        return {"cumulative": jnp.zeros_like(policy), "policy": policy, "iteration": jnp.zeros((), jnp.int32)}

    def policy(self, game, state):
        return state["policy"]

    def step(self, game, state, key):
        del key
        lr = self.learning_rate
        flow = kernels.mean_field(game, state["policy"])
        openspiel = self.follows_openspiel(game)
        started = state["iteration"] > 0

        def backward(carry, xs):
            v_pi, v_br, v_update = carry
            t, mu_t, y_t, pi_t = xs
            q_pi = kernels.q_values(game, t, mu_t, v_pi)
            q_br = kernels.q_values(game, t, mu_t, v_br)
            if openspiel:
                # OpenSpiel accumulates chance-node values and, within an iteration,
                # reads children already updated by an earlier-visited parent.
                later = game.discount * kernels.continuation(game, t, mu_t, v_update)
                stale = game.mirror_descent_stale[t] & started
                read = kernels.masked_softmax(game, y_t + jnp.where(stale, lr * later, 0.0))
                v_update_t = jnp.sum(read * (game.reward(t, mu_t) + later), axis=-1)
                y_new = y_t + lr * later
            else:
                v_update_t = v_update
                y_new = y_t + lr * q_pi
            carry = (jnp.sum(pi_t * q_pi, axis=-1), kernels.masked_max(game, q_br), v_update_t)
            return carry, (y_new, kernels.masked_softmax(game, y_new))

        terminal = game.terminal_reward(flow[-1])
        times = jnp.arange(game.horizon)
        (v_pi, v_br, _), (cumulative, policy) = lax.scan(
            backward, (terminal, terminal, terminal),
            (times, flow[:-1], state["cumulative"], state["policy"]), reverse=True,
        )
        metrics = {"exploitability": kernels.gap_at_start(game, v_br, v_pi)}
        new_state = {"cumulative": cumulative, "policy": policy, "iteration": state["iteration"] + 1}
        return new_state, metrics


@register_solver(
    "omd",
    "online mirror descent (exact reference; follows OpenSpiel's MirrorDescent on its games)",
    {
        "learning_rate": Parameter(0.1, "step size eta of y += eta * Q"),
        "openspiel_order": Parameter(None, "emulate OpenSpiel's in-place updates (default: on its games)"),
    },
)
def make_omd(learning_rate=0.1, openspiel_order=None):
    order = None if openspiel_order is None else as_bool(openspiel_order, "openspiel_order")
    return OnlineMirrorDescent(as_float(learning_rate, "learning_rate", 0.0, low_open=True), order)
