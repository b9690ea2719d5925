"""Exact kernels of finite mean-field games (spec: kernels.md).

Pure, jit-able functions of a :class:`~mfgtools.finite.game.FiniteGame` and
explicit arrays; ``lax.scan`` over time, no Python loop over states or time.
Shapes: ``S`` states, ``A`` actions, ``K`` successors per ``(s, a)``, ``T``
decision steps.

- policy ``(T, S, A)``, each row on the simplex of legal actions;
- mean field ``(T+1, S)``;
- ``Q`` ``(T, S, A)``; ``V`` ``(T+1, S)`` with ``V[T]`` the terminal reward.

Stationary mode (``game.stationary``; spec: pma.md): discounted infinite
horizon, stationary policies ``(S, A)``, the stationary population ``(S,)`` (the
fixed point of the population operator), ``Q`` ``(S, A)`` and ``V`` ``(S,)``.
:func:`uniform_policy`, :func:`mean_field`, :func:`evaluate_policy`,
:func:`best_response` and :func:`exploitability` dispatch on the mode, so a
solver written with them runs in both; the ``stationary_*`` functions below
also report how well their fixed-point loops converged.

``temperature`` ``lam > 0`` selects the entropy-regularised variants: the reward
becomes ``r - lam * log pi`` and the best response the soft maximum
``lam * logsumexp(Q / lam)`` with the softmax policy ``softmax(Q / lam)``.

These functions do not validate their inputs; :mod:`mfgtools.finite.evaluation` wraps
them for users with checks and conversions.

Performance notes (docs/benchmarks.md). On CPU, XLA handles a reduction over a
short trailing axis (the ``A`` actions, the ``K`` successors, the ``J``
predecessors) as a separate, poorly vectorised pass, so those reductions are
written as unrolled sums/maxima of slices (:func:`sum_last`, :func:`max_last`),
which fuse with their producers into one loop over states. With a fan-out of
one (deterministic moves) and the game's static table, every successor has
probability one, so the forward and backward kernels skip the probability
array (:func:`_deterministic`).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax import lax

from mfgtools.errors import MFGError
from mfgtools.finite.game import FiniteGame

# ----- small helpers -----------------------------------------------------------------
_UNROLL = 16  # unroll reductions over trailing axes up to this length
# The forward step sums each state's predecessor slots unrolled up to this many slots (four rooms has
# 41: 6.6 us per step unrolled against 11.8 us as a reduction, float64, 2-core CPU)...
_UNROLL_PREDECESSORS = 64
# ... and adds masses into their successors (a scatter) when the inverse table holds more than this many
# slots per (s, a, k) entry (a sink, a crowded exit: MFGLib's crowd_motion padded its table with state 0 and
# had J = 380 slots for 10,000 entries, 959 -> 376 us per OMD iteration by the scatter)
_SCATTER_PADDING = 4
# A staged forward step (move, then noise) adds the masses into their cells and then their successors (two
# scatters) when both stages have at most this many entries, and gathers through the inverse tables above it:
# the gathers are several XLA thunks per stage (a padded copy, a fusion per predecessor slot), a scatter one
# serial loop (float64, 2-core CPU, OMD iteration: four rooms 987 -> 894 us, the maze 5.8 -> 5.4 ms, MFGLib's
# crowd_motion 143 -> 131 us; a 200 x 200 torus, 2 x 10^5 entries, 51.0 -> 52.0 ms)
_STAGED_SCATTER_ENTRIES = 1 << 16


def _fold_last(x: jax.Array, combine, reduce) -> jax.Array:
    """Reduce the last axis, unrolled into ``combine`` of slices when it is short
    (it then fuses with its producer); ``reduce(x, axis=-1)`` otherwise."""
    if x.shape[-1] > _UNROLL:
        return reduce(x, axis=-1)
    total = x[..., 0]
    for i in range(1, x.shape[-1]):
        total = combine(total, x[..., i])
    return total


def sum_last(x: jax.Array) -> jax.Array:
    """``x.sum(-1)`` for a short trailing axis (actions, successors)."""
    return _fold_last(x, jnp.add, jnp.sum)


def max_last(x: jax.Array) -> jax.Array:
    """``x.max(-1)`` for a short trailing axis (NaN propagates as in ``max``)."""
    return _fold_last(x, jnp.maximum, jnp.max)


def small_matmul(x: jax.Array, y: jax.Array) -> jax.Array:
    """``x @ y`` (contracting the last axis of ``x`` with the first of ``y``); when that axis is short and the
    result small, written as an unrolled sum of products, which fuses with its neighbours: on CPU a tiny
    ``dot`` is a library call of a few microseconds (MFGLib's ``random_linear``, 5 x 5: 4 us per call)."""
    k = x.shape[-1]
    if k > _UNROLL or (x.size // k) * (y.size // k) > 1 << 16:
        return jnp.tensordot(x, y, axes=1)
    x_axes, y_axes = x.ndim - 1, y.ndim - 1
    total = None
    for i in range(k):
        term = x[..., i].reshape(x.shape[:-1] + (1,) * y_axes) * y[i].reshape((1,) * x_axes + y.shape[1:])
        total = term if total is None else total + term
    return total


def _take(x: jax.Array, index: jax.Array) -> jax.Array:
    """``x[index]`` for non-negative indices (as unsigned: no negative-index wrapping pass)."""
    return x[index.astype(jnp.uint32)]


def _staged(game: FiniteGame) -> bool:
    """The game's own table, given as a move then a noise step (:class:`~mfgtools.finite.game.Stages`)."""
    return game.stages is not None and type(game).transition is FiniteGame.transition and not game.dynamic_successors


def _deterministic(game: FiniteGame) -> bool:
    """Fan-out one on the game's own table: each ``(s, a)`` has one successor, with probability 1."""
    return game.fan_out == 1 and type(game).transition is FiniteGame.transition


# ----- the model, read by every kernel ---------------------------------------------------
def reward_at(game: FiniteGame, t, mu_t: jax.Array, policy_t=None) -> jax.Array:
    """``r_t(s, a, .)`` ``(S, A)``: ``game.reward(t, mu_t)``, or for a game with
    ``joint = True`` ``game.reward(t, mu_t, L_t)`` with ``L_t = mu_t[:, None] * policy_t``
    (``policy_t`` ``(S, A)``, the policy that made the flow)."""
    if game.joint:
        return game.reward(t, mu_t, _joint(game, mu_t, policy_t))
    return game.reward(t, mu_t)


def transition_at(game: FiniteGame, t, mu_t: jax.Array, policy_t=None) -> jax.Array:
    """Successor probabilities ``(S, A, K)``, as :func:`reward_at` reads the reward."""
    if game.joint:
        return game.transition(t, mu_t, _joint(game, mu_t, policy_t))
    return game.transition(t, mu_t)


def successors_at(game: FiniteGame, t, mu_t: jax.Array) -> jax.Array:
    """Successor table ``(S, A, K)``: the static ``next_state``, or ``game.successors(t, mu_t)`` for a game
    whose successors depend on the population (``dynamic_successors``)."""
    return game.successors(t, mu_t) if game.dynamic_successors else game.next_state


def _joint(game: FiniteGame, mu_t, policy_t):
    if policy_t is None:
        raise MFGError(
            f"game {game.name!r} reads the joint state-action distribution: this computation needs the "
            "policy that made the flow (flow_policy=...), and this solver or function does not pass it yet"
        )
    if game.stationary:
        raise MFGError(f"game {game.name!r} reads the joint state-action distribution: finite horizon only")
    return mu_t[:, None] * policy_t


# ----- policies -------------------------------------------------------------------
def uniform_policy(game: FiniteGame) -> jax.Array:
    """Uniform over legal actions, ``(T, S, A)`` (stationary games: ``(S, A)``)."""
    mask = game.action_mask.astype(game.initial_distribution.dtype)
    row = mask / mask.sum(axis=-1, keepdims=True)
    return jnp.broadcast_to(row, game.policy_shape)


def masked_softmax(game: FiniteGame, logits: jax.Array, temperature=1.0) -> jax.Array:
    """``softmax(logits / temperature)`` over the legal actions; ``(..., S, A)``."""
    z = jnp.where(game.action_mask, logits / temperature, -jnp.inf)
    e = jnp.exp(z - lax.stop_gradient(max_last(z))[..., None])
    return e * (1.0 / sum_last(e))[..., None]


def centred_softmax(game: FiniteGame, logits: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(logits - max, softmax(logits))`` over the legal actions, ``(..., S, A)`` each: the logits re-centred on
    their best legal action (the softmax is unchanged and cumulative values stay small) and their softmax.

    For logits that are costly to compute (OMD's ``y + eta Q``, with the continuation's gathers, a reward's
    logarithm): the maximum is a true reduction, so XLA computes each logit twice (into the maximum, then
    into the exponential) instead of ``A`` times per entry for an unrolled maximum fused into the
    exponential's loop, and ``A * A`` times with the softmax's own maximum (MFGLib's ``building_evacuation``:
    213 -> 90 us per OMD iteration, float64, 2-core CPU); the softmax of centred logits needs no second
    maximum (its largest term is ``exp(0) = 1``)."""
    legal = jnp.where(game.action_mask, logits, -jnp.inf)
    centred = logits - lax.stop_gradient(jnp.max(legal, axis=-1, keepdims=True))
    e = jnp.where(game.action_mask, jnp.exp(centred), 0.0)
    return centred, e / jnp.sum(e, axis=-1, keepdims=True)


def masked_max(game: FiniteGame, q: jax.Array) -> jax.Array:
    """Maximum of ``q`` over legal actions, ``(..., S, A) -> (..., S)``."""
    return max_last(jnp.where(game.action_mask, q, -jnp.inf))


def greedy_policy(game: FiniteGame, q: jax.Array) -> jax.Array:
    """One-hot policy on the first maximising legal action (ties as ``argmax``)."""
    best = jnp.argmax(jnp.where(game.action_mask, q, -jnp.inf), axis=-1)
    return jax.nn.one_hot(best, game.n_actions, dtype=q.dtype)


def soft_value(game: FiniteGame, q: jax.Array, temperature) -> jax.Array:
    """``lam * logsumexp(Q / lam)`` over legal actions (the soft best-response value)."""
    z = jnp.where(game.action_mask, q / temperature, -jnp.inf)
    return temperature * jax.nn.logsumexp(z, axis=-1)


def neg_entropy(policy: jax.Array) -> jax.Array:
    """``sum_a pi log pi`` over the last axis (0 log 0 = 0)."""
    return jnp.sum(jnp.where(policy > 0, policy * jnp.log(jnp.where(policy > 0, policy, 1)), 0), -1)


# ----- forward -----------------------------------------------------------------
def propagate(game: FiniteGame, t, mu: jax.Array, policy_t: jax.Array) -> jax.Array:
    """One step of the forward equation, ``mu_t (S,) -> mu_{t+1} (S,)``.

    ``mu_{t+1}(s') = sum_{s,a,k: next_state[s,a,k]=s'} mu(s) pi(a|s) p(s,a,k)``,
    computed as a gather through the inverse table (no scatter).
    """
    return _propagate(game, t, mu, policy_t, game.incoming)


def reads_flow(game: FiniteGame) -> bool:
    """Whether the game's successors or their probabilities depend on the population (then
    :func:`step_model` differs from step to step and from iteration to iteration)."""
    return game.dynamic_successors or type(game).transition is not FiniteGame.transition


def step_model(game: FiniteGame, t, mu_t: jax.Array, policy_t=None):
    """The transition of step ``t`` under ``mu_t``: ``(successors, probabilities)`` ``(S, A, K)`` each, the
    successors ``None`` when static. A solver that runs a forward and a backward pass over one flow computes it
    once in the forward pass (:func:`flow_into` with ``keep_model``) and hands it to :func:`continuations`."""
    table = successors_at(game, t, mu_t) if game.dynamic_successors else None
    return table, transition_at(game, t, mu_t, policy_t)


def _propagate(game: FiniteGame, t, mu, policy_t, incoming, model=None):
    """:func:`propagate` through the given inverse table ``(S, J)``; ``model``: :func:`step_model`'s, if known."""
    if _deterministic(game):
        mass = (mu[:, None] * policy_t).reshape(-1)
    else:
        prob = transition_at(game, t, mu, policy_t) if model is None else model[1]
        mass = (mu[:, None, None] * policy_t[:, :, None] * prob).reshape(-1)
    if _staged(game):  # move, then noise: two small passes instead of one over S x J slots
        stages = game.stages
        moving = (mu[:, None] * policy_t).reshape(-1)
        scatter = max(moving.shape[0], stages.noise_next.size) <= _STAGED_SCATTER_ENTRIES
        if scatter:
            moved = jax.ops.segment_sum(moving, stages.move.reshape(-1), num_segments=stages.noise_next.shape[0])
        else:
            moved = _gather_sum(moving, stages.move_incoming.astype(jnp.uint32))
        spread = (moved[:, None] * stages.noise_prob).reshape(-1)
        if scatter:
            return jax.ops.segment_sum(spread, stages.noise_next.reshape(-1), num_segments=mu.shape[0])
        return _gather_sum(spread, stages.noise_incoming.astype(jnp.uint32))
    if game.dynamic_successors:  # no static inverse table: add each mass into its successor of this step
        table = successors_at(game, t, mu) if model is None else model[0]
        return jax.ops.segment_sum(mass, table.reshape(-1), num_segments=mu.shape[0])
    slots = incoming.shape[1]
    if slots * mu.shape[0] > _SCATTER_PADDING * mass.shape[0]:
        # a few states with many predecessors (a sink, a crowded exit): the inverse table is mostly
        # padding, so add each (s, a, k) mass into its successor instead of gathering S x J slots
        return jax.ops.segment_sum(mass, game.next_state.reshape(-1), num_segments=mu.shape[0])
    return _gather_sum(mass, incoming)


def _gather_sum(mass: jax.Array, incoming: jax.Array) -> jax.Array:
    """``sum_j mass[incoming[s, j]]`` ``(S,)``, the padding slots (index ``len(mass)``) reading 0."""
    mass = jnp.concatenate([mass, jnp.zeros((1,), mass.dtype)])
    if incoming.shape[1] > _UNROLL_PREDECESSORS:
        return jnp.sum(_take(mass, incoming), axis=1)
    # few predecessor slots: one fused loop over states
    total = _take(mass, incoming[:, 0])
    for j in range(1, incoming.shape[1]):
        total = total + _take(mass, incoming[:, j])
    return total


def flow_into(game: FiniteGame, policy: jax.Array, buffer: jax.Array, keep_model: bool = False):
    """Mean field of ``policy`` as ``(mu_0 .. mu_{T-1})`` written in place into
    ``buffer`` ``(T, S)``, and ``mu_T`` ``(S,)`` (solvers reuse one buffer).

    ``keep_model``: also return every step's :func:`step_model` (stacked over time; ``None`` when the
    transition does not read the population), for the backward pass over the same flow: games whose
    transition reads ``mu_t`` (``random_linear``'s softmax, ``dynamic_routing``'s travel times) then compute
    it once per step and iteration instead of in each pass."""
    incoming = game.incoming.astype(jnp.uint32)
    keep = keep_model and reads_flow(game)

    def step(carry, xs):
        mu, rows = carry
        t, policy_t = xs
        rows = lax.dynamic_update_index_in_dim(rows, mu, t, 0)
        model = step_model(game, t, mu, policy_t) if keep else None
        return (_propagate(game, t, mu, policy_t, incoming, model), rows), model

    times = jnp.arange(game.horizon)
    (last, flow), models = lax.scan(step, (game.initial_distribution, buffer), (times, policy))
    return (flow, last, models) if keep_model else (flow, last)


def mean_field(game: FiniteGame, policy: jax.Array) -> jax.Array:
    """Mean-field flow of ``policy``: ``(T, S, A) -> (T+1, S)``.

    Stationary games: the stationary population ``(S, A) -> (S,)``
    (:func:`stationary_population`; its convergence is not checked here).
    """
    if game.stationary:
        return stationary_population(game, policy)[0]
    flow, last = flow_into(game, policy, jnp.zeros(policy.shape[:2], policy.dtype))
    return jnp.concatenate([flow, last[None]], axis=0)


# ----- backward ----------------------------------------------------------------
def continuation(game: FiniteGame, t, mu_t: jax.Array, v_next: jax.Array, policy_t=None) -> jax.Array:
    """``E[V_{t+1}(s') | s, a]`` under ``mu_t``, shape ``(S, A)`` (a gather).
    ``policy_t``: the flow's policy at ``t`` (read only by games with ``joint = True``)."""
    return continuations(game, t, mu_t, (v_next,), policy_t)[0]


def continuations(game: FiniteGame, t, mu_t, values, policy_t=None, model=None):
    """:func:`continuation` of several value vectors, sharing the table reads; ``model``: the step's
    :func:`step_model` when the caller has it (None: computed here)."""
    if _staged(game):  # E[v] after the noise step, read at the cell each action moves to
        stages = game.stages
        move = stages.move.astype(jnp.uint32)
        return [_take(sum_last(stages.noise_prob * _take(v, stages.noise_next)), move) for v in values]
    if model is not None:
        table = game.next_state if model[0] is None else model[0]
        return [sum_last(model[1] * _take(v, table)) for v in values]
    table = successors_at(game, t, mu_t)
    if _deterministic(game):
        successor = table[:, :, 0]
        return [_take(v, successor) for v in values]
    prob = transition_at(game, t, mu_t, policy_t)
    return [sum_last(prob * _take(v, table)) for v in values]


def q_values(game: FiniteGame, t, mu_t: jax.Array, v_next: jax.Array, policy_t=None) -> jax.Array:
    """``Q_t(s, a) = r_t(s, a, mu_t) + gamma * E[V_{t+1}(s')]``, shape ``(S, A)``
    (``policy_t``: see :func:`continuation`)."""
    return reward_at(game, t, mu_t, policy_t) + game.discount * continuation(game, t, mu_t, v_next, policy_t)


def _backward(game: FiniteGame, flow: jax.Array, value_of_q, policy=None, flow_policy=None):
    """Backward induction with ``V_t = value_of_q(Q_t, pi_t)``; returns ``(Q, V)``.
    ``flow_policy`` ``(T, S, A)``: the policy that made ``flow``, passed to the model
    of games with ``joint = True`` (ignored by the others)."""
    times = jnp.arange(game.horizon)
    joint = game.joint and flow_policy is not None

    def step(v_next, xs):
        t, mu_t, policy_t, *made = xs
        q = q_values(game, t, mu_t, v_next, made[0] if joint else None)
        return value_of_q(q, policy_t), (q, v_next)

    policies = policy if policy is not None else jnp.zeros((game.horizon, 1), flow.dtype)
    xs = (times, flow[:-1], policies) + ((flow_policy,) if joint else ())
    v_last = game.terminal_reward(flow[-1])
    v0, (qs, vs) = lax.scan(step, v_last, xs, reverse=True)
    return qs, jnp.concatenate([v0[None], vs], axis=0)


def evaluate_policy(game: FiniteGame, policy: jax.Array, flow: jax.Array, temperature=0.0, flow_policy=None):
    """``Q^pi`` ``(T, S, A)`` and ``V^pi`` ``(T+1, S)`` against a fixed flow.

    With ``temperature > 0`` the value is the regularised one,
    ``V_t = sum_a pi (Q_t - lam log pi)``. Stationary games: ``Q`` ``(S, A)`` and
    ``V`` ``(S,)`` of the discounted problem, ``flow`` the population ``(S,)``.
    ``flow_policy``: the policy that made ``flow`` (default ``policy``), read only
    by games with ``joint = True``.
    """
    if game.stationary:
        return stationary_evaluate(game, policy, flow, temperature)[:2]

    def value(q, policy_t):
        v = sum_last(policy_t * q)
        return v - temperature * neg_entropy(policy_t) if temperature else v

    return _backward(game, flow, value, policy, policy if flow_policy is None else flow_policy)


def best_response(game: FiniteGame, flow: jax.Array, temperature=0.0, flow_policy=None):
    """Best response to a flow: ``(Q*, V*, policy)``.

    ``temperature = 0``: hard maximum and the greedy (first-argmax) policy.
    ``temperature > 0``: soft maximum and the softmax policy ``softmax(Q*/lam)``.
    Stationary games: the discounted problem against the population ``flow`` ``(S,)``.
    ``flow_policy``: the policy that made ``flow``, needed by games with ``joint = True``.
    """
    if game.stationary:
        return stationary_best_response(game, flow, temperature)[:3]
    if game.joint and flow_policy is None:
        _joint(game, flow[0], None)  # raises the explanation
    if temperature:
        qs, vs = _backward(game, flow, lambda q, _: soft_value(game, q, temperature), flow_policy=flow_policy)
        return qs, vs, masked_softmax(game, qs, temperature)
    qs, vs = _backward(game, flow, lambda q, _: masked_max(game, q), flow_policy=flow_policy)
    return qs, vs, greedy_policy(game, qs)


def gap_at_start(game: FiniteGame, v_best: jax.Array, v_policy: jax.Array) -> jax.Array:
    """``sum_s mu0(s) (V*_0(s) - V^pi_0(s))`` for ``(S,)`` value vectors; a negative
    within rounding (:func:`exploitability_resolution`, ``T + 1`` summed rewards) is 0.
    Multi-population games (``game.populations = P > 1``, ``mu0`` of mass ``1/P`` per
    population): ``P`` times that, the sum of the populations' gaps (OpenSpiel's NashConv)."""
    gap = jnp.dot(game.initial_distribution, v_best - v_policy)
    scale = jnp.dot(game.initial_distribution, jnp.abs(v_best) + jnp.abs(v_policy))
    if game.populations > 1:
        gap, scale = game.populations * gap, game.populations * scale
    return _round_off_negative(gap, scale, game.horizon + 1, 0.0)


def stationary_gap(game: FiniteGame, mu: jax.Array, v_best: jax.Array, v_policy: jax.Array) -> jax.Array:
    """``sum_s mu(s) (V*(s) - V^pi(s))`` (stationary exploitability, ``(S,)`` vectors); a
    negative within rounding (effective horizon ``1 / (1 - gamma)`` and the fixed points'
    tolerance, :func:`default_tolerance`) is 0."""
    gap = jnp.dot(mu, v_best - v_policy)
    scale = jnp.dot(mu, jnp.abs(v_best) + jnp.abs(v_policy))
    return _round_off_negative(gap, scale, 1.0 / (1.0 - game.discount), default_tolerance(gap.dtype))


def exploitability(game: FiniteGame, policy: jax.Array, temperature=0.0, greedy_start=False, flow=None):
    """Exploitability (NashConv) of ``policy``: ``sum mu0 (V^BR_0 - V^pi_0)``.

    Both values are computed against ``mean_field(policy)``; the result is ``>= 0``
    and ``0`` exactly at a (regularised, if ``temperature > 0``) equilibrium.
    Rounding can make the computed difference slightly negative near an
    equilibrium: values in ``(-resolution, 0)`` are reported as 0, with the
    resolution of :func:`exploitability_resolution` (float epsilon times the
    number of summed rewards times the size of the values).
    ``greedy_start=True`` replaces ``V^pi_0`` by ``max_a Q^pi_0`` (the Off-MMD
    paper's scoring convention; not a true exploitability). ``flow``: the policy's
    mean field when the caller has already computed it.

    Stationary games: ``sum_s mu_pi(s) (V*(s) - V^pi(s))`` weighted by the policy's
    stationary population (pma.md), the discounted values against ``mu_pi``.
    """
    flow = mean_field(game, policy) if flow is None else flow
    if not game.stationary and not greedy_start:
        v_pi, v_br = _start_values(game, policy, flow, temperature)
        return gap_at_start(game, v_br, v_pi)
    q_pi, v_pi = evaluate_policy(game, policy, flow, temperature)
    _, v_br, _ = best_response(game, flow, temperature, flow_policy=policy)
    if game.stationary:
        return stationary_gap(game, flow, v_br, masked_max(game, q_pi) if greedy_start else v_pi)
    start = masked_max(game, q_pi[0]) if greedy_start else v_pi[0]
    return gap_at_start(game, v_br[0], start)


def _start_values(game: FiniteGame, policy: jax.Array, flow: jax.Array, temperature=0.0):
    """``(V^pi_0, V*_0)`` ``(S,)`` against ``flow`` in one backward pass that keeps only the two value
    vectors: the same operations as :func:`evaluate_policy` and :func:`best_response`, without storing their
    ``(T, S, A)`` Q tables (a write of a Q row per step costs more than the rest of a small game's step)."""
    times = jnp.arange(game.horizon)

    def step(values, xs):
        v_pi, v_br = values
        t, mu_t, policy_t = xs
        made = policy_t if game.joint else None
        reward = reward_at(game, t, mu_t, made)
        c_pi, c_br = continuations(game, t, mu_t, (v_pi, v_br), made)
        q_pi = reward + game.discount * c_pi
        q_br = reward + game.discount * c_br
        v_pi = sum_last(policy_t * q_pi)
        if temperature:
            return (v_pi - temperature * neg_entropy(policy_t), soft_value(game, q_br, temperature)), None
        return (v_pi, masked_max(game, q_br)), None

    v_last = game.terminal_reward(flow[-1])
    (v_pi, v_br), _ = lax.scan(step, (v_last, v_last), (times, flow[:-1], policy), reverse=True)
    return v_pi, v_br


def exploitability_resolution(scale, steps, solve_tolerance=0.0):
    """The smallest exploitability distinguishable from rounding: ``(steps * eps + tol) * scale``.

    ``scale``: the size of the two values compared (``sum mu (|V*| + |V^pi|)``);
    ``steps``: the number of rewards summed into a value (``T + 1`` on a finite
    horizon, the effective horizon ``1 / (1 - gamma)`` when stationary);
    ``eps``: the machine epsilon of the dtype (1.2e-7 in float32, 2.2e-16 in
    float64); ``solve_tolerance``: the relative tolerance of the stationary
    fixed points (:func:`default_tolerance`; 0 on a finite horizon). With
    crowd rewards ``-log mu`` over 40 steps (values ~ 300) this is about 1e-3
    in float32 and 1e-11 in float64.
    """
    eps = jnp.finfo(jnp.result_type(scale)).eps
    return (steps * eps + solve_tolerance) * scale


def _round_off_negative(gap, scale, steps, solve_tolerance):
    """``gap``, with negatives above ``-exploitability_resolution`` reported as 0.

    The exploitability is ``>= 0`` exactly; computed in floating point it can
    come out slightly negative at an equilibrium. Larger negatives are kept:
    they are not rounding, and hiding them would hide an error.
    """
    resolution = exploitability_resolution(scale, steps, solve_tolerance)
    return jnp.where((gap < 0) & (gap > -resolution), jnp.zeros_like(gap), gap)


# ----- stationary mode -----------------------------------------------------------------
# Discounted, infinite-horizon games (game.stationary): rewards and transitions are
# read at t = 0. Each fixed point is one ``lax.while_loop`` with a tolerance and a
# step cap; the functions return how far they got so that callers can check.
POPULATION_DAMPING = 0.5
MAX_POPULATION_STEPS = 100_000


def default_tolerance(dtype) -> float:
    """Tolerance of the stationary fixed points: 1e-12 in float64, 1e-6 in float32."""
    return 1e-12 if jnp.dtype(dtype) == jnp.float64 else 1e-6


def _population_operator(game: FiniteGame, policy: jax.Array, incoming: jax.Array):
    return lambda mu: _propagate(game, 0, mu, policy, incoming)


def stationary_population(
    game: FiniteGame,
    policy: jax.Array,
    start=None,
    tol=None,
    max_steps: int = MAX_POPULATION_STEPS,
    damping: float = POPULATION_DAMPING,
):
    """Stationary population of ``policy`` ``(S, A)``: the fixed point of
    ``Gamma_pop(mu)(s') = sum_{s,a} mu(s) pi(a|s) P(s'|s, a, mu)``.

    Damped iteration ``mu <- (1 - d) mu + d Gamma_pop(mu)`` from ``start`` (default
    ``mu0``): the lazy chain has the same fixed points and also converges on
    periodic chains. It stops when the residual ``|Gamma_pop(mu) - mu|_1 <= tol``
    (default :func:`default_tolerance`) or after ``max_steps``.

    Returns ``(mu (S,), residual, steps)``; converged iff ``residual <= tol``.
    With population-dependent transitions the operator may have no attracting
    fixed point; the residual then stays large.
    """
    dtype = game.initial_distribution.dtype
    tol = default_tolerance(dtype) if tol is None else tol
    operator = _population_operator(game, policy, game.incoming.astype(jnp.uint32))
    mu = game.initial_distribution if start is None else start

    def body(carry):
        mu, _, steps = carry
        moved = operator(mu)
        residual = jnp.sum(jnp.abs(moved - mu))
        return (1.0 - damping) * mu + damping * moved, residual, steps + 1

    def cond(carry):
        _, residual, steps = carry
        return (residual > tol) & (steps < max_steps)

    return lax.while_loop(cond, body, (mu, jnp.asarray(jnp.inf, dtype), jnp.zeros((), jnp.int32)))


def _value_steps(discount: float, tol: float) -> int:
    """Bellman steps that shrink any initial error by ``tol`` (rate ``discount``)."""
    return int(math.ceil(math.log(tol) / math.log(discount))) + 10


def _stationary_values(game: FiniteGame, mu: jax.Array, value_of_q, start=None, tol=None):
    """Iterate ``V <- value_of_q(r(mu) + gamma P(mu) V)`` to tolerance.

    Stops when the error bound ``gamma / (1 - gamma) |V' - V|_inf`` falls below
    ``tol * max(1, |V|_inf)`` or after enough steps to shrink any starting error
    by ``tol``. Returns ``(Q (S, A), V (S,), bound)``.
    """
    dtype = game.initial_distribution.dtype
    tol = default_tolerance(dtype) if tol is None else tol
    gamma = game.discount
    reward = game.reward(0, mu)
    table = successors_at(game, 0, mu)
    if _deterministic(game):
        successor = table[:, :, 0]

        def q_of(v):
            return reward + gamma * _take(v, successor)
    else:
        prob = game.transition(0, mu)

        def q_of(v):
            return reward + gamma * sum_last(prob * _take(v, table))

    factor = gamma / (1.0 - gamma)
    max_steps = _value_steps(gamma, tol)

    def body(carry):
        v, _, steps = carry
        new = value_of_q(q_of(v))
        bound = factor * jnp.max(jnp.abs(new - v)) / jnp.maximum(1.0, jnp.max(jnp.abs(new)))
        return new, bound, steps + 1

    def cond(carry):
        _, bound, steps = carry
        return (bound > tol) & (steps < max_steps)

    v0 = jnp.zeros(game.n_states, dtype) if start is None else start
    v, bound, _ = lax.while_loop(cond, body, (v0, jnp.asarray(jnp.inf, dtype), jnp.zeros((), jnp.int32)))
    return q_of(v), v, bound


def stationary_evaluate(game: FiniteGame, policy: jax.Array, mu: jax.Array, temperature=0.0, start=None, tol=None):
    """Discounted (regularised) values of ``policy`` ``(S, A)`` with the population
    frozen at ``mu`` ``(S,)``: ``Q_h = r(mu) + gamma P(mu) V_h`` and
    ``V_h = sum_a pi (Q_h - lam log pi)``.

    Returns ``(Q (S, A), V (S,), bound)``: ``bound`` is the relative error bound
    reached (see :func:`_stationary_values`). ``start``: a guess of ``V`` (warm start).
    """

    def value(q):
        v = sum_last(policy * q)
        return v - temperature * neg_entropy(policy) if temperature else v

    return _stationary_values(game, mu, value, start, tol)


def stationary_best_response(game: FiniteGame, mu: jax.Array, temperature=0.0, start=None, tol=None):
    """Optimal (soft-optimal if ``temperature > 0``) discounted values against
    the frozen population ``mu`` ``(S,)``, by value iteration.

    Returns ``(Q* (S, A), V* (S,), policy (S, A), bound)``: the greedy policy, or
    ``softmax(Q*/lam)`` when regularised.
    """
    if temperature:
        q, v, bound = _stationary_values(game, mu, lambda q: soft_value(game, q, temperature), start, tol)
        return q, v, masked_softmax(game, q, temperature), bound
    q, v, bound = _stationary_values(game, mu, lambda q: masked_max(game, q), start, tol)
    return q, v, greedy_policy(game, q), bound
