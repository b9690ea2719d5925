"""Fictitious play and (damped, Boltzmann) fixed-point iteration.

Each iteration best-responds to the flow of the current average policy and
merges the response in, weighting each policy by its own state distribution so
that the average's flow is the average of the flows:
``pibar_{k+1}(a|s) = ((1-w) mubar(s) pibar(a|s) + w mu_br(s) br(a|s)) / ((1-w) mubar(s) + w mu_br(s))``
(uniform over legal actions where both distributions vanish, as OpenSpiel does).

- ``fp``: ``w = 1/(k+2)`` at iteration ``k`` (OpenSpiel's ``FictitiousPlay``), or a
  constant ``w = alpha`` (MFGLib's ``FictitiousPlay(alpha)``: 0 means ``1/(k+2)``);
- ``fixed-point``: constant ``w`` (``damping``; 1 is the plain fixed point
  ``pi <- BR(mu(pi))``);
- ``boltzmann``: the fixed point with the softmax response ``softmax(Q*/lam)``;
  with ``soft=True`` the response ``softmax(Q*_h/lam)`` of the entropy-regularised
  game (``Q*_h`` soft-optimal), whose fixed point is the regularised equilibrium.

``fixed-point`` and ``boltzmann`` also solve stationary games, where they damp
the policy itself, ``pi_{k+1} = (1-w) pi_k + w BR(mu_{pi_k})`` (the stationary
population of a mixture is not the mixture of populations, so there is no flow
weighting); their fixed points are the (regularised) equilibria.

Greedy responses (``fp``, ``fixed-point``) break ties between exactly equal
maximising actions by ``ties``: ``"first"`` (default) puts all the mass on the
first of them (``argmax``), ``"split"`` spreads it evenly over all of them, as
MFGLib's greedy policy does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from mfgtools.finite import kernels
from mfgtools.registry import Parameter, boolean, choice, number, positive
from mfgtools.solvers.base import FiniteSolver, setting
from mfgtools.solvers.registry import register_solver


@struct.dataclass
class FictitiousPlayState:
    """The state of fictitious play and its variants: ``policy`` ``(T, S, A)`` (stationary ``(S, A)``) and
    ``iteration`` ``k`` (int32 scalar)."""

    iteration: jax.Array
    policy: jax.Array


@struct.dataclass
class FictitiousPlay(FiniteSolver):
    damping: float | None = setting(None)  # None: 1/(k+2)
    temperature: float = setting(0.0)
    soft: bool = setting(False)
    ties: str = setting("first")  # greedy response: "first" maximiser, or "split" over exact ties

    def init(self, game, key):
        del key
        return FictitiousPlayState(iteration=jnp.zeros((), jnp.int32), policy=kernels.uniform_policy(game))

    def policy(self, game, state):
        return state.policy

    def step(self, game, state, key):
        del key
        if game.stationary:
            return self._stationary_step(game, state)
        policy = state.policy
        flow = kernels.mean_field(game, policy)
        _, v_pi = kernels.evaluate_policy(game, policy, flow)
        q_br, v_br, _ = kernels.best_response(game, flow, flow_policy=policy)
        response = self._response(game, flow, q_br, policy)
        response_flow = kernels.mean_field(game, response)
        weight = self._weight(state)
        old = (1.0 - weight) * flow[:-1, :, None]
        new = weight * response_flow[:-1, :, None]
        total = old + new
        merged = jnp.where(
            total > 0,
            (old * policy + new * response) / jnp.where(total > 0, total, 1.0),
            kernels.uniform_policy(game),
        )
        metrics = {"exploitability": kernels.gap_at_start(game, v_br[0], v_pi[0])}
        return FictitiousPlayState(iteration=state.iteration + 1, policy=merged), metrics

    def _weight(self, state):
        """Weight of the new response: ``damping``, or ``1/(k+2)`` (fictitious play)."""
        return 1.0 / (state.iteration + 2.0) if self.damping is None else self.damping

    def _response(self, game, flow, q_best, flow_policy=None):
        """Greedy in ``Q*``; Boltzmann ``softmax(Q*/lam)``; or, with ``soft``, the
        regularised game's best response ``softmax(Q*_h/lam)`` (``Q*_h`` soft-optimal)."""
        if not self.temperature:
            return split_greedy_policy(game, q_best) if self.ties == "split" else kernels.greedy_policy(game, q_best)
        if self.soft:
            return kernels.best_response(game, flow, self.temperature, flow_policy=flow_policy)[2]
        return kernels.masked_softmax(game, q_best, self.temperature)

    def _stationary_step(self, game, state):
        policy = state.policy
        mu, residual, _ = kernels.stationary_population(game, policy)
        q_br, v_br, _, _ = kernels.stationary_best_response(game, mu)
        _, v_pi, _ = kernels.stationary_evaluate(game, policy, mu)
        response = self._response(game, mu, q_br)
        weight = self._weight(state)
        metrics = {"exploitability": kernels.stationary_gap(game, mu, v_br, v_pi), "population_residual": residual}
        merged = (1.0 - weight) * policy + weight * response
        return FictitiousPlayState(iteration=state.iteration + 1, policy=merged), metrics


def split_greedy_policy(game, q):
    """Greedy policy ``(..., S, A)`` with the mass split evenly over the legal actions whose ``q`` equals the
    maximum exactly (MFGLib's rule); states whose legal ``q`` are all ``-inf`` or NaN get the uniform policy."""
    legal = jnp.broadcast_to(game.action_mask, q.shape)
    best = jnp.max(jnp.where(legal, q, -jnp.inf), axis=-1, keepdims=True)
    tied = (legal & (q == best)).astype(q.dtype)
    count = jnp.sum(tied, axis=-1, keepdims=True)
    uniform = legal / jnp.sum(legal, axis=-1, keepdims=True)
    return jnp.where(count > 0, tied / jnp.where(count > 0, count, 1), uniform.astype(q.dtype))


TIES = ("first", "split")
TIES_PARAMETER = Parameter(
    "first",
    "greedy response on exactly tied actions: first (the first maximiser) or split (mass shared, MFGLib's rule)",
    choice(*TIES),
)
DAMPING = number(0.0, 1.0, low_open=True)


@register_solver(
    "fp",
    "fictitious play (exact; OpenSpiel's FictitiousPlay, MFGLib's FictitiousPlay)",
    {
        "ties": TIES_PARAMETER,
        "alpha": Parameter(
            0.0,
            "weight of the new best response, MFGLib's alpha (0: 1/(k+2) at iteration k)",
            number(0.0, 1.0),
            traced=False,  # 0 selects the 1/(k+2) weights in Python
        ),
    },
    requires="joint",
)
def make_fp(ties, alpha):
    return FictitiousPlay(damping=alpha or None, ties=ties)


@register_solver(
    "fixed-point",
    "(damped) fixed-point iteration pi <- BR(mu(pi))",
    modes=("finite-horizon", "stationary"),
    parameters={
        "damping": Parameter(1.0, "weight of the new best response (1: undamped)", DAMPING, traced=True),
        "ties": TIES_PARAMETER,
    },
    requires="joint",
)
def make_fixed_point(damping, ties):
    return FictitiousPlay(damping=damping, ties=ties)


@register_solver(
    "boltzmann",
    "Boltzmann iteration: fixed point with the softmax response softmax(Q*/temperature)",
    {
        "temperature": Parameter(1.0, "softmax temperature lam", positive(), traced=False),
        "damping": Parameter(1.0, "weight of the new response (1: undamped)", DAMPING, traced=True),
        "soft": Parameter(
            False,
            "respond with softmax(Q*_h/lam), Q*_h soft-optimal: the fixed point is then "
            "the lam-regularised equilibrium (that of pma)",
            boolean,
        ),
    },
    modes=("finite-horizon", "stationary"),
    requires="joint",
)
def make_boltzmann(temperature, damping, soft):
    return FictitiousPlay(damping=damping, temperature=temperature, soft=soft)
