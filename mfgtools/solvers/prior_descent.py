"""Prior descent (MFGLib's ``PriorDescent``; Cui and Koeppl 2021, Guo et al. 2021): Boltzmann responses
around a prior that is moved to the current policy every ``n_inner`` iterations.

One iteration ``k`` from the policy ``pi_k`` and the prior ``q_k``:

``pi_{k+1}(a|t, s) proportional to q_k(a|t, s) exp(Q*_t(s, a) / eta)``,

with ``Q*`` the optimal Q-function against the flow of ``pi_k``. The prior
starts as the initial (uniform) policy; with ``n_inner = N`` it becomes the new
policy after iterations ``k`` with ``(k + 2) % N == 0`` (MFGLib's schedule:
after iterations ``N - 2, 2N - 2, ...``), and without it (``n_inner`` None)
it stays uniform, which is GMF-V's Boltzmann iteration ``softmax(Q* / eta)``.

The product is computed in log space (``log q + Q*/eta``, then a softmax over
the legal actions): MFGLib multiplies ``q`` by ``exp(Q*/eta)`` directly, the
same value wherever that does not overflow (exploitabilities agree to ~1e-15
in float64 on MFGLib's environments: tests/games/test_mfglib_games.py). A prior that
gives an action probability 0 keeps it at 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from mfgtools.finite import kernels
from mfgtools.registry import integer, optional, positive
from mfgtools.solvers.base import FiniteSolver, setting
from mfgtools.solvers.registry import register_solver


@struct.dataclass
class PriorDescentState:
    """``policy`` and ``prior`` ``(T, S, A)``, ``iteration`` ``k`` (int32 scalar)."""

    iteration: jax.Array
    policy: jax.Array
    prior: jax.Array


@register_solver(
    "prior-descent",
    "prior descent (MFGLib's PriorDescent): pi ~ prior x exp(Q*/eta), the prior moved to pi every n_inner iterations",
    requires="joint",
)
@struct.dataclass
class PriorDescent(FiniteSolver):
    eta: float = setting(1.0, "temperature eta of exp(Q*/eta)", positive())
    n_inner: int | None = setting(  # None: the prior stays the initial policy
        None,
        "iterations between prior updates (none: the prior stays uniform, GMF-V)",
        optional(integer(1)),
        traced=False,
    )

    def init(self, game, key):
        del key
        policy = kernels.uniform_policy(game)
        return PriorDescentState(iteration=jnp.zeros((), jnp.int32), policy=policy, prior=policy)

    def policy(self, game, state):
        return state.policy

    def step(self, game, state, key):
        del key
        policy, prior = state.policy, state.prior
        flow = kernels.mean_field(game, policy)
        _, v_pi = kernels.evaluate_policy(game, policy, flow)
        q_best, v_best, _ = kernels.best_response(game, flow, flow_policy=policy)
        log_prior = jnp.where(prior > 0, jnp.log(jnp.where(prior > 0, prior, 1.0)), -jnp.inf)
        new = kernels.masked_softmax(game, log_prior + q_best / self.eta)
        if self.n_inner is not None:
            refresh = (state.iteration + 2) % self.n_inner == 0
            prior = jnp.where(refresh, new, prior)
        metrics = {"exploitability": kernels.gap_at_start(game, v_best[0], v_pi[0])}
        return PriorDescentState(iteration=state.iteration + 1, policy=new, prior=prior), metrics
