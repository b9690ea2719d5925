"""MF-OMI-FBS (MFGLib's ``OccupationMeasureInclusion``; Hu and Zhang 2024): forward-backward
splitting on the occupation measure.

The variable is the occupation measure ``d`` ``(T, S, A)``, ``d_t(s, a)`` the mass at
state ``s`` taking action ``a`` at decision ``t``. One iteration from ``d_k``:

- the model is frozen at ``d_k``: rewards ``r_t(s, a)`` and transitions
  ``P_t(s' | s, a)`` read the state distribution ``mu_t = sum_a d_t`` (and ``d_t``
  itself in games of the joint distribution);
- a gradient step on the linear cost ``c_t = -gamma^t r_t`` (the terminal reward
  ``g(mu_T)`` enters ``c_{T-1}`` through ``P_{T-1}``):
  ``y = d_k - alpha (c + eta d_k)``;
- the Euclidean projection of ``y`` onto the flows of the frozen model,
  ``{d >= 0, d = 0 on illegal actions, sum_a d_0 = mu0,
  sum_a d_{t+1}(s') = sum_{s,a} P_t(s'|s,a) d_t(s, a)}``;
- the policy ``pi_t(a|s) = d_t(s, a) / sum_a d_t(s, a)`` after zeroing the entries
  ``|d| <= threshold`` (uniform over legal actions on states without mass).

The projection is the quadratic program MFGLib solves with OSQP (to ``1e-8``, warm
started). Here it is solved through its dual: with ``A d = b`` the flow constraints,
the projection is ``d(lam) = (y + A^T lam)_+`` on legal actions for the ``lam`` that
minimises ``1/2 |d(lam)|^2 - b.lam``, a convex, piecewise-quadratic function whose
gradient is the constraint residual ``A d(lam) - b``. A semismooth Newton method
(generalised Hessian ``A diag(y + A^T lam > 0) A^T`` plus a regularisation the size of
the residual, Armijo backtracking) drives the residual to ``tolerance`` (default: 64
float epsilons) in a few steps, warm started from the previous iteration's ``lam``.
Non-negativity and complementarity hold exactly by construction, so the residual is
the projection's only error. The matrices are dense, ``(T S) x (T S A)``: meant for
the small games MFGLib solves (see docs/mfglib_games.md).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct
from jax import lax

from mfgtools.finite import kernels
from mfgtools.registry import integer, number, optional, positive
from mfgtools.solvers.base import FiniteSolver, setting
from mfgtools.solvers.registry import register_solver

_ARMIJO = 1e-4  # sufficient-decrease constant of the backtracking line search
_BACKTRACKS = 40  # at most this many halvings of a Newton step


def frozen_model(game, d):
    """Rewards ``(T, S, A)``, transitions ``(T, S, A, K)`` and successor tables ``(T, S, A, K)`` read at
    the occupation measure ``d`` ``(T, S, A)``, and the next-to-terminal flow ``mu_T`` ``(S,)``."""
    mu = d.sum(-1)

    def at(xs):
        t, mu_t, d_t = xs
        extra = (d_t,) if game.joint else ()
        prob = game.transition(t, mu_t, *extra)
        reward = jnp.broadcast_to(game.reward(t, mu_t, *extra), d_t.shape)  # some games return (S, 1)
        return reward, jnp.broadcast_to(prob, game.next_state.shape).astype(d.dtype)

    times = jnp.arange(game.horizon)
    rewards, probs = lax.map(at, (times, mu, d))
    tables = lax.map(lambda xs: kernels.successors_at(game, xs[0], xs[1]), (times, mu))
    last = jax.ops.segment_sum((d[-1][..., None] * probs[-1]).reshape(-1), tables[-1].reshape(-1), mu.shape[1])
    return rewards, probs, tables, last


def linear_cost(game, rewards, probs, tables, last):
    """``c`` ``(T, S, A)``: minus the discounted rewards, the terminal reward of ``mu_T`` in the last row."""
    discounts = game.discount ** jnp.arange(game.horizon, dtype=rewards.dtype)
    terminal = kernels.sum_last(probs[-1] * game.terminal_reward(last)[tables[-1]])
    cost = -discounts[:, None, None] * rewards
    return cost.at[-1].add(-(game.discount**game.horizon) * terminal)


def flows(probs, tables, d):
    """``A d`` ``(T, S)``, the flow constraints applied to ``d`` ``(T, S, A)`` (``A d = b``, ``b = (mu0, 0, ...,
    0)``): entry ``(0, s)`` sums ``d_0(s, .)``, entry ``(t + 1, s')`` is ``sum_a d_{t+1}(s', a) - sum_{s,a}
    P_t(s'|s,a) d_t(s, a)``, with the transitions ``probs`` and successors ``tables`` ``(T, S, A, K)``."""
    n_states = d.shape[1]
    pushed = jax.vmap(
        lambda d_t, p_t, n_t: jax.ops.segment_sum((d_t[..., None] * p_t).reshape(-1), n_t.reshape(-1), n_states)
    )(d[:-1], probs[:-1], tables[:-1])
    return d.sum(-1).at[1:].add(-pushed)


def flow_matrix(game, probs, tables):
    """The matrix ``A`` ``(T S, T S A)`` of :func:`flows`."""
    horizon, n_states, n_actions, _ = probs.shape
    zero = jnp.zeros((horizon, n_states, n_actions), probs.dtype)
    return jax.jacfwd(lambda d: flows(probs, tables, d))(zero).reshape(horizon * n_states, -1)


def project_flows(matrix, rhs, mask, y, lam, tolerance, max_steps):
    """Euclidean projection of ``y`` (flat ``(n,)``) onto ``{matrix @ d = rhs, d >= 0, d = 0 off mask}``
    by semismooth Newton on the dual from ``lam``; returns ``(d, lam, residual, steps)``."""

    def primal(lam):
        return jnp.where(mask, jnp.maximum(y + matrix.T @ lam, 0.0), 0.0)

    def dual(lam):
        d = primal(lam)
        return 0.5 * jnp.dot(d, d) - jnp.dot(rhs, lam)

    def residual(lam):
        return matrix @ primal(lam) - rhs

    def cond(carry):
        lam, res, step = carry
        return (jnp.max(jnp.abs(res)) > tolerance) & (step < max_steps)

    def body(carry):
        lam, res, step = carry
        active = (mask & (y + matrix.T @ lam > 0)).astype(y.dtype)
        size = jnp.minimum(jnp.linalg.norm(res), 1.0)
        hessian = (matrix * active) @ matrix.T + size * jnp.eye(matrix.shape[0], dtype=y.dtype)
        direction = -jnp.linalg.solve(hessian, res)
        slope = jnp.dot(res, direction)
        start = dual(lam)

        def shorter(s):
            return (dual(lam + s[0] * direction) > start + _ARMIJO * s[0] * slope) & (s[1] < _BACKTRACKS)

        scale, _ = lax.while_loop(shorter, lambda s: (0.5 * s[0], s[1] + 1), (jnp.ones((), y.dtype), 0))
        lam = lam + scale * direction
        return lam, residual(lam), step + 1

    lam, res, steps = lax.while_loop(cond, body, (lam, residual(lam), 0))
    return primal(lam), lam, jnp.max(jnp.abs(res)), steps


def policy_of(game, d, threshold):
    """``pi_t(a|s) = d_t(s, a) / sum_a d_t(s, a)`` after zeroing ``|d| <= threshold``; uniform over legal
    actions on states without mass (MFGLib's ``policy_from_mean_field``)."""
    d = jnp.where(jnp.abs(d) <= threshold, 0.0, d)
    mass = d.sum(-1, keepdims=True)
    return jnp.where(mass != 0, d / jnp.where(mass != 0, mass, 1.0), kernels.uniform_policy(game))


@struct.dataclass
class OccupationMeasureState:
    """``d`` the occupation measure ``(T, S, A)``, ``lam`` the projection's dual ``(T, S)`` (its warm start),
    ``policy`` ``(T, S, A)``."""

    d: jax.Array
    lam: jax.Array
    policy: jax.Array


@register_solver(
    "mf-omi-fbs",
    "MF-OMI-FBS (MFGLib's OccupationMeasureInclusion): a gradient step on the occupation measure, "
    "projected onto the flows",
    requires="joint",
)
@struct.dataclass
class OccupationMeasureInclusion(FiniteSolver):
    alpha: float = setting(1e-3, "step size alpha of the gradient step (MFGLib's alpha)", positive())
    eta: float = setting(0.0, "perturbation eta: the step follows c + eta d (MFGLib's eta)", number(0.0))
    threshold: float = setting(
        1e-7, "occupation masses |d| <= threshold count as 0 in the policy (MFGLib: 1e-7)", number(0.0)
    )
    tolerance: float | None = setting(  # None: 64 float epsilons
        None, "largest flow-constraint residual of the projection (none: 64 float epsilons)", optional(positive())
    )
    max_newton: int = setting(100, "most Newton steps of one projection", integer(1), traced=False)

    def init(self, game, key):
        del key
        policy = kernels.uniform_policy(game)
        d = kernels.mean_field(game, policy)[:-1, :, None] * policy
        lam = jnp.zeros(d.shape[:2], d.dtype)
        return OccupationMeasureState(d=d, lam=lam, policy=policy)

    def policy(self, game, state):
        return state.policy

    def step(self, game, state, key):
        del key
        d, lam = state.d, state.lam
        metrics = {"exploitability": kernels.exploitability(game, state.policy)}
        rewards, probs, tables, last = frozen_model(game, d)
        y = d - self.alpha * (linear_cost(game, rewards, probs, tables, last) + self.eta * d)
        matrix = flow_matrix(game, probs, tables)
        rhs = jnp.zeros(d.shape[:2], d.dtype).at[0].set(game.initial_distribution).reshape(-1)
        mask = jnp.broadcast_to(game.action_mask, d.shape).reshape(-1)
        tolerance = 64 * jnp.finfo(d.dtype).eps if self.tolerance is None else self.tolerance
        flat, lam, _, _ = project_flows(matrix, rhs, mask, y.reshape(-1), lam.reshape(-1), tolerance, self.max_newton)
        d = flat.reshape(d.shape)
        new = OccupationMeasureState(d=d, lam=lam.reshape(d.shape[:2]), policy=policy_of(game, d, self.threshold))
        return new, metrics
