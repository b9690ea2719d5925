"""Exact Munchausen mirror descent (OpenSpiel's ``MunchausenMirrorDescent``).

``pi_{k+1}(a|s) = softmax_a(lr * Q^{pi_k, mu_k}_t(s, a) + log pi_k(a|s))`` per
``(t, s)`` over the legal actions, ``pi_0`` uniform, ``mu_k`` the flow of
``pi_k``. Instead of summing the Q-functions of every iteration (OMD's
``y_{k+1} = y_k + lr Q_k``), the previous policy's logarithm carries the sum:
the iterates are OMD's, written with the Munchausen penalty towards the
previous policy.

OpenSpiel 2.0.2's tabular ``MunchausenMirrorDescent`` has a single parameter,
``lr`` (0.01; here ``learning_rate``): there is no temperature ``tau`` or
Munchausen weight ``alpha`` in its exact version, those belong to its deep
variant (``munchausen_deep_mirror_descent``), which mfgtools does not port.
Unlike its ``MirrorDescent``, OpenSpiel's Munchausen version evaluates each
iteration's Q-function into a fresh table before the policy reads it, so none
of ``MirrorDescent``'s in-place reads (:mod:`mfgtools.games.openspiel_traversal`)
occur: on OpenSpiel's games the iterates differ from ``omd``'s (after 10
iterations on ``crowd_modelling``, NashConv 2.27366 against OMD's 2.27303) and
equal those of ``omd`` with ``openspiel_order=False``.

``boltzmann-pi`` (:mod:`mfgtools.solvers.boltzmann_pi`) is the same iteration
without the memory ``log pi_k``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from mfgtools.finite import kernels
from mfgtools.registry import Parameter, positive
from mfgtools.solvers.base import FiniteSolver, setting
from mfgtools.solvers.registry import register_solver


@struct.dataclass
class SoftPolicyState:
    """``log_policy`` ``(T, S, A)`` (0 on illegal actions) and ``iteration`` ``k`` (int32 scalar)."""

    iteration: jax.Array
    log_policy: jax.Array


@struct.dataclass
class SoftPolicyIteration(FiniteSolver):
    """``pi_{k+1} = softmax(lr * Q^{pi_k, mu_k} + memory * log pi_k)`` (``memory`` 1 or 0).

    State: ``log_policy`` ``(T, S, A)``, the logarithm of the current policy on
    its legal actions (0 elsewhere, never read), and ``iteration``. Keeping the
    logarithm rather than the policy keeps probabilities that underflow in
    float32 distinguishable.
    """

    learning_rate: float = setting(0.01)
    memory: bool = setting(True)

    def init(self, game, key):
        del key
        return SoftPolicyState(
            iteration=jnp.zeros((), jnp.int32),
            log_policy=self._log_softmax(game, jnp.zeros(game.policy_shape, game.initial_distribution.dtype)),
        )

    def policy(self, game, state):
        return kernels.masked_softmax(game, state.log_policy)

    def _log_softmax(self, game, logits):
        """``log softmax`` over the legal actions ``(T, S, A)``, 0 on illegal ones."""
        log_normaliser = kernels.soft_value(game, logits, 1.0)[..., None]
        return jnp.where(game.action_mask, logits - log_normaliser, 0.0)

    def step(self, game, state, key):
        del key
        log_policy = state.log_policy
        policy = kernels.masked_softmax(game, log_policy)
        flow = kernels.mean_field(game, policy)
        q_pi, v_pi = kernels.evaluate_policy(game, policy, flow)
        _, v_br, _ = kernels.best_response(game, flow, flow_policy=policy)
        logits = self.learning_rate * q_pi
        if self.memory:
            logits = logits + log_policy
        metrics = {"exploitability": kernels.gap_at_start(game, v_br[0], v_pi[0])}
        return SoftPolicyState(iteration=state.iteration + 1, log_policy=self._log_softmax(game, logits)), metrics


@register_solver(
    "munchausen-omd",
    "exact Munchausen mirror descent: pi <- softmax(lr * Q^pi + log pi) (OpenSpiel's MunchausenMirrorDescent)",
    {"learning_rate": Parameter(0.01, "step size lr of softmax(lr * Q + log pi_prev) (OpenSpiel's lr)", positive())},
    requires="joint",
)
def make_munchausen_omd(learning_rate):
    return SoftPolicyIteration(learning_rate, memory=True)
