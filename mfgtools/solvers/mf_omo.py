"""MF-OMO (MFGLib's ``MFOMO``; Guo, Hu and Zhang 2022): the equilibrium as the minimum of a smooth
objective over occupation measures, searched by a first-order optimiser.

The variables are an occupation measure ``L`` ``(T, S, A)`` (``L_t`` a distribution over
``(s, a)``), a dual value ``y`` ``(T, S)`` and a slack ``z >= 0`` ``(T, S, A)``. With the
model read at ``L`` (rewards, transitions: :func:`~mfgtools.solvers.occupation_measure.frozen_model`),
``A_L`` its flow constraints (``A_L L = b`` when ``L`` is the flow of its own policy from ``mu0``:
:func:`~mfgtools.solvers.occupation_measure.flows`) and ``c_L`` its cost (minus the rewards:
:func:`~mfgtools.solvers.occupation_measure.linear_cost`), a Nash equilibrium is a zero of

``c1 |A_L L - b|^2 + c2 |A_L^T y + z - c_L|^2 + c3 z.L``

(``loss = "l1_l2"``, MFGLib's default; ``"l2"`` squares ``z.L``, ``"l1"`` takes the first two
terms in the 1-norm). Each iteration takes one optimiser step (Adam or SGD, torch's
semantics, through optax) on the gradient of the objective, which also differentiates the
model's dependence on ``L``, then

- ``parameterize = False``: projects each ``L_t`` onto the simplex (of the legal actions), ``z``
  onto ``{z >= 0, sum z <= c_z}`` and ``y`` onto the ball ``|y| <= c_y``;
- ``parameterize = True``: the variables are free and map to ``L_t = softmax(u_t)``,
  ``z = c_z softmax(v)[:-1]`` (``v`` one entry longer), ``y = c_w sin(w)``.

The radii come from a bound ``r_max`` on the rewards (MFGLib's environments declare one,
``mfglib/<name>`` games carry it): with ``T + 1`` decisions, ``c_z = S A (T^2 + T + 2) r_max``,
``c_y = S (T + 1)(T + 2) r_max / 2``, ``c_w = c_y / sqrt(S (T + 1))``.

Initialisation (MFGLib's): ``L = pi / S`` for the uniform policy ``pi`` (not its flow), and with
``hat_init`` the dual and slack of the model frozen there, ``y_t = -V*_t`` and
``z_t(s, a) = V*_t(s) - Q*_t(s, a)`` (else zeros). Residual balancing (``rb_freq = N``) rescales
``c1`` and ``c2`` before iterations ``k`` with ``(k + 2) % N == 0`` (MFGLib's schedule) by ``m2``
according to the ratios of the three terms (``m1``, ``m3``), capped at ``1e3``.

The policy is ``pi_t(a|s) = L_t(s, a) / sum_a L_t(s, a)``, uniform over the legal actions on
states without mass (:func:`~mfgtools.solvers.occupation_measure.policy_of`). The reported
exploitability is that policy's.

Conventions beside MFGLib's: ``y`` is indexed like our flow constraints (row ``(0, s)`` the initial
distribution, row ``(t + 1, s')`` the step ``t -> t + 1``, with the opposite sign), the same problem
with ``y`` permuted and negated, so the iterates' values and the scores agree. Discounted games
weight the rewards ``gamma^t`` and a terminal reward enters the last decision's cost (the hat
values follow: ``y_t = -gamma^t V*_t``); action masks keep ``L`` and ``z`` at zero on illegal
actions. Games that declare no ``r_max`` (and no ``r_max`` setting) use the largest ``|c_L|`` at
the start (1 if all are zero). The parameterised hat start clips ``y / c_w`` to ``[-1, 1]`` before
``arcsin`` (where MFGLib would start from NaN) and keeps MFGLib's extra slack entry
``sum(z / c_z)``.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax import lax

from mfgtools.finite import kernels
from mfgtools.registry import boolean, choice, integer, number, optional, positive
from mfgtools.solvers.base import FiniteSolver, setting
from mfgtools.solvers.occupation_measure import flows, frozen_model, linear_cost, policy_of
from mfgtools.solvers.registry import register_solver

LOSSES = ("l1_l2", "l2", "l1")
OPTIMIZERS = ("adam", "sgd")
SAFEGUARD = 1e3  # residual balancing never raises c1 or c2 above this (MFGLib's safeguard)
Z_EPS = 1e-8  # the parameterised hat slack: zero entries become this before the log (MFGLib's z_eps)


def project_simplex(x, radius, mask):
    """Euclidean projection of ``x`` (last axis) onto ``{p >= 0, sum p = radius, p = 0 off mask}``
    (the sorting method of Duchi et al. 2008), rescaled to sum exactly ``radius`` as MFGLib does.

    Where the method finds no threshold in floating point (entries so large that ``x - theta``
    rounds to 0, or a NaN or ``+inf`` entry), the result is ``radius`` spread uniformly over
    ``mask``: MFGLib's fallback (it warns)."""
    masked = jnp.where(mask, x, -jnp.inf)
    ordered = -jnp.sort(-masked, axis=-1)
    valid = ordered > -jnp.inf
    sums = jnp.cumsum(jnp.where(valid, ordered, 0.0), axis=-1)
    count = jnp.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    theta = (sums - radius) / count
    above = valid & (ordered - theta > 0)
    last = jnp.max(jnp.where(above, jnp.arange(x.shape[-1]), 0), axis=-1, keepdims=True)
    shift = jnp.take_along_axis(theta, last, axis=-1)
    projected = jnp.where(mask, jnp.maximum(x - shift, 0.0), 0.0)
    projected = projected / projected.sum(-1, keepdims=True) * radius
    failed = ~jnp.any(above, axis=-1, keepdims=True) | jnp.any(mask & jnp.isnan(x), axis=-1, keepdims=True)
    uniform = jnp.where(mask, radius / jnp.sum(mask, axis=-1, keepdims=True), 0.0)
    return jnp.where(failed, uniform, projected)


def _abs(x):
    """``|x|`` whose derivative at 0 is 0 (torch's), not 1 (``jnp.abs``'s)."""
    return jnp.sign(x) * x


@struct.dataclass
class MFOMOState:
    """``params`` the optimised variables ``(L, z, y)`` (``(u, v, w)`` parameterised; ``L``, ``u``, ``z``
    ``(T, S, A)``, ``v`` ``(T S A + 1,)``, ``y``, ``w`` ``(T, S)``), ``opt_state`` the optimiser's,
    ``c1``, ``c2`` the (balanced) weights and ``r_max`` (scalars), ``iteration`` ``k`` (int32),
    ``policy`` ``(T, S, A)``."""

    params: tuple
    opt_state: optax.OptState
    c1: jax.Array
    c2: jax.Array
    r_max: jax.Array
    iteration: jax.Array
    policy: jax.Array


@register_solver(
    "mf-omo",
    "MF-OMO (MFGLib's MFOMO): Adam or SGD on a penalty objective over occupation measures, duals and slacks",
    requires="joint",
)
@struct.dataclass
class MFOMO(FiniteSolver):
    loss: str = setting("l1_l2", "objective's norms: l1_l2, l2 or l1 (MFGLib's loss)", choice(*LOSSES), traced=False)
    c1: float = setting(1.0, "weight c1 of the flow residual |A_L L - b|", number(0.0), traced=True)
    c2: float = setting(1.0, "weight c2 of the dual residual |A_L^T y + z - c_L|", number(0.0), traced=True)
    c3: float = setting(1.0, "weight c3 of the complementarity z.L", number(0.0), traced=True)
    rb_freq: int | None = setting(  # None: c1 and c2 stay as given
        None, "iterations between residual balancings (none: no balancing)", optional(integer(1)), traced=False
    )
    m1: float = setting(
        10.0, "balancing: a term m1 times the others' largest raises its weight", positive(), traced=True
    )
    m2: float = setting(2.0, "balancing: factor m2 by which a weight moves", positive(), traced=True)
    m3: float = setting(
        0.1, "balancing: a term below m3 times the others' smallest lowers its weight", positive(), traced=True
    )
    optimizer: str = setting(
        "adam", "adam or sgd (torch's, MFGLib's optimizer name)", choice(*OPTIMIZERS), traced=False
    )
    lr: float = setting(0.1, "learning rate of the optimiser", positive(), traced=True)
    parameterize: bool = setting(
        False, "free variables through softmax and sin instead of projections", boolean, traced=False
    )
    hat_init: bool = setting(True, "start y and z at the initial model's V* and V* - Q*", boolean, traced=False)
    r_max: float | None = setting(  # None: the game's r_max (MFGLib's environments), else the largest |cost|
        None,
        "bound on |reward| for the constraint radii (none: the game's, else the largest |cost| at the start)",
        optional(positive()),
    )

    # ----- the problem -------------------------------------------------------------------
    def _radii(self, game, r_max):
        """``(c_z, c_y, c_w)`` from ``r_max`` (MFGLib's ``T`` is ``horizon - 1``)."""
        t, n_s, n_a = game.horizon - 1, game.n_states, game.n_actions
        c_z = n_s * n_a * (t**2 + t + 2) * r_max
        c_y = n_s * (t + 1) * (t + 2) * r_max / 2
        return c_z, c_y, c_y / math.sqrt(n_s * (t + 1))

    def _masks(self, game, shape):
        legal = jnp.broadcast_to(game.action_mask, shape)
        return legal, jnp.concatenate([legal.reshape(-1), jnp.ones(1, bool)])

    def variables(self, game, params, r_max):
        """``(L, z, y)`` of the optimised variables."""
        if not self.parameterize:
            return params
        u, v, w = params
        c_z, _, c_w = self._radii(game, r_max)
        legal, legal_v = self._masks(game, u.shape)
        flat = jnp.where(legal, u, -jnp.inf).reshape(u.shape[0], -1)
        occupation = jax.nn.softmax(flat, axis=-1).reshape(u.shape)
        slack = c_z * jax.nn.softmax(jnp.where(legal_v, v, -jnp.inf))[:-1].reshape(u.shape)
        return occupation, slack, c_w * jnp.sin(w)

    def terms(self, game, occupation, slack, dual):
        """The objective's three terms ``(o1, o2, o3)`` at ``(L, z, y)``."""
        rewards, probs, tables, last = frozen_model(game, occupation)
        cost = linear_cost(game, rewards, probs, tables, last)
        rhs = jnp.zeros(occupation.shape[:2], occupation.dtype).at[0].set(game.initial_distribution)
        primal, transpose = jax.vjp(lambda d: flows(probs, tables, d), occupation)
        legal = jnp.broadcast_to(game.action_mask, occupation.shape)
        residual = jnp.where(legal, transpose(dual)[0] + slack - cost, 0.0)
        complementarity = jnp.sum(slack * occupation)
        if self.loss == "l1":
            return jnp.sum(_abs(primal - rhs)), jnp.sum(_abs(residual)), complementarity
        squares = jnp.sum((primal - rhs) ** 2), jnp.sum(residual**2)
        return squares + ((complementarity**2 if self.loss == "l2" else complementarity),)

    def _balanced(self, c1, c2, o1, o2, o3):
        """``(c1, c2)`` after one residual balancing (MFGLib's rules, in its order)."""

        def weight(c, own, a, b):
            high, low = jnp.maximum(a, b), jnp.minimum(a, b)
            up = (high != 0) & (own / jnp.where(high != 0, high, 1.0) > self.m1)
            down = (low != 0) & (own / jnp.where(low != 0, low, 1.0) < self.m3)
            return jnp.minimum(jnp.where(down, c / self.m2, jnp.where(up, c * self.m2, c)), SAFEGUARD)

        return weight(c1, o1, o2, o3), weight(c2, o2, o1, o3)

    def _transform(self):
        if self.optimizer == "sgd":
            return optax.sgd(self.lr)
        return optax.adam(self.lr, b1=0.9, b2=0.999, eps=1e-8)  # torch's defaults; eps added to sqrt(v_hat)

    # ----- the solver protocol ---------------------------------------------------------------
    def init(self, game, key):
        del key
        policy = kernels.uniform_policy(game)
        occupation = policy / game.n_states
        mu = occupation.sum(-1)
        rewards, probs, tables, last = frozen_model(game, occupation)
        cost = linear_cost(game, rewards, probs, tables, last)
        bound = self.r_max if self.r_max is not None else getattr(game, "r_max", None)
        if bound is None:
            largest = jnp.max(jnp.abs(cost))
            bound = jnp.where(largest > 0, largest, 1.0)
        r_max = jnp.asarray(bound, occupation.dtype)
        legal, legal_v = self._masks(game, occupation.shape)
        slack = jnp.zeros_like(occupation)
        dual = jnp.zeros_like(mu)
        if self.hat_init:
            flow = jnp.concatenate([mu, last[None]])
            q_best, v_best, _ = kernels.best_response(game, flow, flow_policy=policy)
            weights = game.discount ** jnp.arange(game.horizon, dtype=occupation.dtype)
            dual = -weights[:, None] * v_best[:-1]
            slack = jnp.where(legal, jnp.maximum(weights[:, None, None] * (v_best[:-1, :, None] - q_best), 0.0), 0.0)
        params = (occupation, slack, dual)
        if self.parameterize:
            c_z, _, c_w = self._radii(game, r_max)
            u = jnp.log(jnp.where(legal, occupation, 1.0 / game.n_states))
            v = jnp.zeros(legal_v.shape, occupation.dtype)
            if self.hat_init:  # MFGLib's: [z / c_z, sum(z / c_z)] with zeros at Z_EPS, when sum(z / c_z) < 1
                scaled = slack.reshape(-1) / c_z
                augmented = jnp.concatenate([scaled, scaled.sum()[None]])
                hat = jnp.log(jnp.where(augmented == 0.0, Z_EPS, augmented))
                v = jnp.where(scaled.sum() < 1, hat, v)
            w = jnp.arcsin(jnp.clip(dual / c_w, -1.0, 1.0))
            params = (u, v, w)
        return MFOMOState(
            params=params,
            opt_state=self._transform().init(params),
            c1=jnp.asarray(self.c1, occupation.dtype),
            c2=jnp.asarray(self.c2, occupation.dtype),
            r_max=r_max,
            iteration=jnp.zeros((), jnp.int32),
            policy=policy,
        )

    def policy(self, game, state):
        return state.policy

    def step(self, game, state, key):
        del key
        metrics = {"exploitability": kernels.exploitability(game, state.policy)}
        params, r_max = state.params, state.r_max
        c1, c2 = state.c1, state.c2
        if self.rb_freq is not None:
            terms = self.terms(game, *self.variables(game, params, r_max))
            balance = (state.iteration + 2) % self.rb_freq == 0
            c1, c2 = lax.cond(balance, lambda: self._balanced(c1, c2, *terms), lambda: (c1, c2))

        def objective(params):
            o1, o2, o3 = self.terms(game, *self.variables(game, params, r_max))
            return c1 * o1 + c2 * o2 + self.c3 * o3

        transform = self._transform()
        updates, opt_state = transform.update(jax.grad(objective)(params), state.opt_state, params)
        params = optax.apply_updates(params, updates)
        if not self.parameterize:
            occupation, slack, dual = params
            c_z, c_y, _ = self._radii(game, r_max)
            legal = jnp.broadcast_to(game.action_mask, occupation.shape)
            flat = occupation.reshape(occupation.shape[0], -1)
            occupation = project_simplex(flat, 1.0, legal.reshape(flat.shape)).reshape(occupation.shape)
            positive_part = legal & (slack > 0)
            over = jnp.sum(jnp.where(positive_part, slack, 0.0)) > c_z
            capped = project_simplex(slack.reshape(-1), c_z, positive_part.reshape(-1)).reshape(slack.shape)
            slack = jnp.where(positive_part, jnp.where(over, capped, slack), 0.0)
            norm = jnp.sqrt(jnp.sum(dual**2))
            dual = jnp.where(norm > c_y, dual / norm * c_y, dual)
            params = (occupation, slack, dual)
        occupation = self.variables(game, params, r_max)[0]
        new = MFOMOState(
            params=params,
            opt_state=opt_state,
            c1=c1,
            c2=c2,
            r_max=r_max,
            iteration=state.iteration + 1,
            policy=policy_of(game, occupation, 0.0),
        )
        return new, metrics
