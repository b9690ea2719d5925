"""OpenSpiel's linear-quadratic game (``mean_field_lin_quad``), with its conventions.

A ring of ``size`` cells ``x = 0..size-1``; actions move ``a - n`` cells for
``a = 0..2n`` (``n = n_actions_per_side``): the agent goes to
``round(x + round((a - n + mean_revert (m - x)) dt)) mod size``, where ``m =
sum_x x mu(x)`` is the population's mean position, then a noise step
``round(x + (b - n) sqrt(dt) volatility) mod size`` with ``b = 0..2n`` drawn with
the normal probabilities of the unit intervals around ``b - n`` (scale
``volatility``; the tails lumped into the extreme outcomes). Rounding is
Python's (half to even), as in OpenSpiel. ``mu0`` is uniform. The game lasts
while ``t dt < horizon`` (``ceil(horizon / dt)`` decision steps).

The reward at a decision node is ``dt/2 (-v^2 + 2 cross_q v (m - x) - kappa (m - x)^2)``
with ``v`` the *previous* action's move (zero at ``t = 0``). OpenSpiel's terminal
cost ``-terminal_cost (m - x)^2 / 2`` is never paid: its terminal state is a
mean-field node, whose reward is 0 (so the last move is not charged either).

With ``openspiel_quirks=True`` (the default) the numbers are OpenSpiel's: as for
``crowd_modelling`` (docs/conventions.md) each decision node ``(x, t)`` is charged
the move of its first depth-first arrival, and ``omd`` follows
``MirrorDescent``'s in-place reads (:mod:`mfgtools.games.openspiel_traversal`);
this needs ``mean_revert = 0`` (OpenSpiel's default: with it, the moves, hence
that traversal order, depend on the population). ``openspiel_quirks=False``
gives the clean game: the move charged to the action taken, the terminal cost
paid, and any ``mean_revert`` (a dense, population-dependent transition).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.errors import MFGError, as_horizon
from mfgtools.finite.game import Annotation, FiniteGame, fan_out_fields, float_array
from mfgtools.games.openspiel_traversal import openspiel_traversal
from mfgtools.games.registry import register_game
from mfgtools.registry import Parameter, boolean, integer, number, positive
from mfgtools.resources import check_game_size


@struct.dataclass(kw_only=True)
class LinearQuadraticGame(FiniteGame):
    """OpenSpiel's linear-quadratic game (see the module docstring).

    Extra fields: ``positions`` ``(S,)`` the cells' coordinates, ``moves``
    ``(A,)`` each action's displacement, ``first_arrival_move`` ``(T, S)`` the
    move charged at decision node ``(s, t)`` with the quirks (zeros without),
    ``mirror_descent_stale`` ``(T, S, A)``, ``noise_next`` ``(S, N)`` and
    ``noise_prob`` ``(N,)`` the noise step (read by the population-dependent
    transition when ``mean_revert != 0``).
    """

    positions: jax.Array
    moves: jax.Array
    first_arrival_move: jax.Array
    mirror_descent_stale: jax.Array
    noise_next: jax.Array
    noise_prob: jax.Array
    dt: float = struct.field(pytree_node=False)
    cross_q: float = struct.field(pytree_node=False)
    kappa: float = struct.field(pytree_node=False)
    mean_revert: float = struct.field(pytree_node=False)
    terminal_cost: float = struct.field(pytree_node=False)
    openspiel_quirks: bool = struct.field(pytree_node=False)

    def _gap(self, mu):
        """``m - x`` for every cell, ``(S,)``."""
        return jnp.sum(self.positions * mu) - self.positions

    def reward(self, t, mu):
        gap = self._gap(mu)[:, None]
        if self.openspiel_quirks:
            move = self.first_arrival_move[t][:, None]
        else:
            move = self.moves[None, :]
        return 0.5 * self.dt * (-(move**2) + 2.0 * self.cross_q * move * gap - self.kappa * gap**2)

    def transition(self, t, mu):
        if self.mean_revert == 0.0:
            return self.transition_prob
        # dense (K = S): the post-move cell depends on the mean position
        drift = jnp.round((self.moves[None, :] + self.mean_revert * self._gap(mu)[:, None]) * self.dt)
        post = jnp.mod(jnp.round(self.positions[:, None] + drift), self.n_states).astype(jnp.int32)  # (S, A)
        landing = self.noise_next[post]  # (S, A, N)
        hits = jax.nn.one_hot(landing, self.n_states, dtype=self.noise_prob.dtype)  # (S, A, N, S)
        return jnp.einsum("san,sanj->saj", jnp.broadcast_to(self.noise_prob, landing.shape), hits)

    def terminal_reward(self, mu):
        if self.openspiel_quirks:
            return jnp.zeros_like(mu)
        return -0.5 * self.terminal_cost * self._gap(mu) ** 2


def noise_probabilities(steps: np.ndarray, volatility: float) -> np.ndarray:
    """Normal ``N(0, volatility^2)`` mass of ``[s - 1/2, s + 1/2]`` per step ``s``, tails lumped at both ends."""
    cdf = lambda x: 0.5 * math.erfc(-x / (volatility * math.sqrt(2.0)))
    prob = np.array([cdf(s + 0.5) - cdf(s - 0.5) for s in steps])
    prob[0] += cdf(steps[0] - 0.5)
    prob[-1] += 1.0 - cdf(steps[-1] + 0.5)
    return prob


def decision_steps(horizon: float, dt: float) -> int:
    """Number of ticks ``k`` with ``k * dt < horizon`` (OpenSpiel's ``t = tick * dt``), in float arithmetic."""
    steps = max(int(math.ceil(horizon / dt)), 0)
    while steps > 0 and (steps - 1) * dt >= horizon:
        steps -= 1
    while steps * dt < horizon:
        steps += 1
    return steps


PARAMETERS = {
    "size": Parameter(10, "number of cells on the ring", integer(1)),
    "horizon": Parameter(10, "time horizon (decision steps: ceil(horizon / dt))", positive()),
    "dt": Parameter(1.0, "time step", positive()),
    "n_actions_per_side": Parameter(3, "moves -n..n cells (2n + 1 actions and noise outcomes)", integer(0)),
    "volatility": Parameter(1.0, "noise intensity (> 0)", positive()),
    "mean_revert": Parameter(0.0, "drift towards the mean position (needs openspiel_quirks=False if not 0)", number()),
    "cross_q": Parameter(0.01, "cross term q of the running cost", number()),
    "kappa": Parameter(0.5, "weight of the squared distance to the mean", number()),
    "terminal_cost": Parameter(1.0, "terminal weight c (paid only with openspiel_quirks=False)", number()),
    "discount": Parameter(1.0, "discount gamma", number(0.0, 1.0, low_open=True)),
    "openspiel_quirks": Parameter(True, "reproduce OpenSpiel's numbers exactly (see docs)", boolean),
}


@register_game("linear_quadratic", "OpenSpiel's mean-field linear-quadratic game on a ring", PARAMETERS)
def make_linear_quadratic(
    size,
    horizon,
    dt,
    n_actions_per_side,
    volatility,
    mean_revert,
    cross_q,
    kappa,
    terminal_cost,
    discount,
    openspiel_quirks,
):
    steps_count = as_horizon(decision_steps(horizon, dt), "the number of decision steps ceil(horizon / dt)")
    sides = n_actions_per_side
    quirks = openspiel_quirks
    if quirks and mean_revert != 0.0:
        raise MFGError(
            f"mean_revert={mean_revert} needs openspiel_quirks=False (OpenSpiel's evaluation order then "
            "depends on the population, which mfgtools does not emulate); or use mean_revert=0"
        )
    n_moves = 2 * sides + 1
    dense = mean_revert != 0.0
    check_game_size(
        "linear_quadratic",
        size,
        n_moves,
        size if dense else n_moves,
        steps_count,
        lower="size, n_actions_per_side or horizon / dt",
    )

    steps = np.arange(n_moves) - sides
    cells = np.arange(size)
    post_move = np.mod(cells[:, None] + np.round(steps * dt)[None, :], size).astype(np.int64)
    noise_next = np.mod(np.round(cells[:, None] + (steps * math.sqrt(dt) * volatility)[None, :]), size).astype(np.int64)
    noise = noise_probabilities(steps, volatility)
    if dense:
        next_state = np.broadcast_to(cells, (size, n_moves, size))
        prob = np.zeros((size, n_moves, size))  # recomputed from the population at every step
    else:
        next_state = noise_next[post_move]
        prob = np.broadcast_to(noise, next_state.shape)
    legal = np.ones((size, n_moves), dtype=bool)
    if quirks:
        first_action, stale = openspiel_traversal(
            post_move, legal, noise_next, np.ones_like(noise_next, dtype=bool), cells, steps_count
        )
        first_move = np.where(first_action >= 0, steps[np.maximum(first_action, 0)], 0).astype(float)
    else:
        first_move = np.zeros((steps_count, size))
        stale = np.zeros((steps_count, size, n_moves), dtype=bool)
    params = dict(
        size=size,
        horizon=horizon,
        dt=dt,
        n_actions_per_side=sides,
        volatility=volatility,
        mean_revert=mean_revert,
        cross_q=cross_q,
        kappa=kappa,
        terminal_cost=terminal_cost,
        discount=discount,
        openspiel_quirks=quirks,
    )
    return LinearQuadraticGame(
        initial_distribution=float_array(np.full(size, 1.0 / size)),
        **fan_out_fields(next_state, prob),
        action_mask=jnp.asarray(legal),
        horizon=steps_count,
        discount=discount,
        name="linear_quadratic",
        params=Annotation(params),
        grid_shape=None,
        action_labels=tuple(f"{s:+d}" for s in steps),
        positions=float_array(cells),
        moves=float_array(steps),
        first_arrival_move=float_array(first_move),
        mirror_descent_stale=jnp.asarray(stale),
        noise_next=jnp.asarray(noise_next, dtype=jnp.int32),
        noise_prob=float_array(noise),
        dt=dt,
        cross_q=cross_q,
        kappa=kappa,
        mean_revert=mean_revert,
        terminal_cost=terminal_cost,
        openspiel_quirks=quirks,
    )
