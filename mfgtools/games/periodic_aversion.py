"""OpenSpiel's periodic-aversion game (``python_mfg_periodic_aversion``), with its conventions.

A discretised ergodic MFG on the circle ``[xmin, xmax)`` (Almulla, Ferreira and
Gomes 2017): ``size`` cells ``x_i = xmin + i dx`` with ``dx = (xmax - xmin) /
(size - 1)`` (the first and last cell are one ``dx`` apart on the ring, as in
OpenSpiel), actions ``a - n`` cells for ``a = 0..2n`` (``n = n_actions_per_side``),
then a noise step of ``b - n`` cells with probability proportional to the
normal density ``phi((b - n) dx / (volatility sqrt(dt)))``. ``mu0`` is uniform.
The reward at a decision node, times ``dt``, is

``-1/2 (move / dt)^2 + coef_aversion * -log(mu(x) / dx + 1e-15)
+ volatility 2 pi^2 sin(2 pi x) - 2 pi^2 cos(2 pi x)^2 + 2 / volatility^2 sin(2 pi x)``,

where ``move = (a - n) dx`` is the *previous* action's displacement (zero at
``t = 0``). There is no terminal reward, so the last move is never charged.

As for ``crowd_modelling`` (docs/conventions.md), OpenSpiel caches values by
``(x, t)``, which omits the previous action: with ``openspiel_quirks=True`` (the
default) each decision node is charged the move cost of its first depth-first
arrival and ``omd`` follows ``MirrorDescent``'s in-place reads
(:mod:`mfgtools.games.openspiel_traversal`). ``openspiel_quirks=False`` charges
the cost to the action taken.

The reward is written as ``-c log(mu + floor) + position + move cost`` with
``c = coef_aversion dt``, ``floor = 1e-15 dx`` and ``position = dt (geometric
term + coef_aversion log dx)``: the same numbers as OpenSpiel's ``-log(mu / dx +
1e-15)`` up to rounding (1e-16 relative).
"""

from __future__ import annotations

import numpy as np

from mfgtools.errors import MFGError
from mfgtools.games.crowd_modelling import openspiel_crowd_game
from mfgtools.games.registry import register_game
from mfgtools.graphs.lattice import ring_moves
from mfgtools.registry import Parameter, boolean, horizon, integer, number, positive
from mfgtools.resources import check_game_size

EPSILON = 1e-15  # OpenSpiel's floor inside -log(mu / dx + eps)

PARAMETERS = {
    "size": Parameter(21, "number of cells on the circle", integer(2)),
    "horizon": Parameter(20, "decision steps T", horizon),
    "dt": Parameter(0.01, "time step (scales every reward; sets the noise's spread)", positive()),
    "xmin": Parameter(0.0, "position of the first cell", number()),
    "xmax": Parameter(1.0, "position of the last cell (dx = (xmax - xmin) / (size - 1))", number()),
    "n_actions_per_side": Parameter(10, "moves -n..n cells (2n + 1 actions and noise outcomes)", integer(0)),
    "volatility": Parameter(1.0, "noise intensity sigma (> 0)", positive()),
    "coef_aversion": Parameter(1.0, "weight of the crowd aversion -log(mu / dx)", number()),
    "discount": Parameter(1.0, "discount gamma", number(0.0, 1.0, low_open=True)),
    "openspiel_quirks": Parameter(True, "reproduce OpenSpiel's numbers exactly (see docs)", boolean),
}


@register_game("periodic_aversion", "OpenSpiel's periodic aversion game on a discretised circle", PARAMETERS)
def make_periodic_aversion(
    size,
    horizon,
    dt,
    xmin,
    xmax,
    n_actions_per_side,
    volatility,
    coef_aversion,
    discount,
    openspiel_quirks,
):
    if xmax <= xmin:
        raise MFGError(f"xmax must be above xmin, got xmin={xmin} and xmax={xmax}")
    sides = n_actions_per_side
    coef = coef_aversion
    quirks = openspiel_quirks
    n_moves = 2 * sides + 1
    check_game_size(
        "periodic_aversion", size, n_moves, n_moves, horizon, lower="size, n_actions_per_side or the horizon"
    )

    dx = (xmax - xmin) / (size - 1)
    steps = np.arange(n_moves) - sides
    spread = volatility * np.sqrt(dt)
    density = np.exp(-0.5 * (steps * dx / spread) ** 2)
    if not np.all(np.isfinite(density)) or density.sum() <= 0:
        raise MFGError(f"the noise's spread volatility * sqrt(dt) = {spread} is too small for dx = {dx}")
    noise = density / density.sum()
    position_x = xmin + np.arange(size) * dx
    angle = 2 * np.pi * position_x
    geometric = (
        volatility * 2 * np.pi**2 * np.sin(angle)
        - 2 * np.pi**2 * np.cos(angle) ** 2
        + 2 / volatility**2 * np.sin(angle)
    )
    position = dt * (geometric + coef * np.log(dx))
    action_cost = -0.5 * (steps * dx / dt) ** 2 * dt
    moves = ring_moves(size, steps)
    params = dict(
        size=size,
        horizon=horizon,
        dt=dt,
        xmin=xmin,
        xmax=xmax,
        n_actions_per_side=sides,
        volatility=volatility,
        coef_aversion=coef,
        discount=discount,
        openspiel_quirks=quirks,
    )
    return openspiel_crowd_game(
        post_move=moves,
        legal=np.ones((size, n_moves), dtype=bool),
        noise_next=moves,
        noise_prob=np.broadcast_to(noise, (size, n_moves)).copy(),
        noise_legal=np.ones((size, n_moves), dtype=bool),
        mu0=np.full(size, 1.0 / size),
        initial_order=np.arange(size),
        horizon=horizon,
        position=position,
        action_cost=action_cost,
        quirks=quirks,
        with_move_cost=True,
        free=np.ones(size, dtype=bool),
        grid_shape=None,
        name="periodic_aversion",
        params=params,
        names=tuple(f"{s:+d}" for s in steps),
        aversion=coef * dt,
        floor=EPSILON * dx,
        congestion=False,
        discount=discount,
    )
