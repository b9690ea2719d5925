"""A crowd on a torus: attraction to a target cell against crowd aversion.

An ``H x W`` grid whose edges wrap around (a torus, no walls). Actions, in this
order, are crowd.py's: left, right, up, down, stay, moving by ``(0,-1), (0,1),
(-1,0), (1,0), (0,0)``; leaving one edge enters the opposite one. With
probability ``noise`` the executed action is drawn uniformly among the five
instead of the chosen one (fan-out ``K = 5``; ``K = 1`` when ``noise = 0``).

Reward, for cell ``s``, action ``a`` and population ``mu``::

    r(s, a, mu) = attraction(s) - aversion * log(mu(s) + floor) - move_cost * [a != stay]
    attraction(s) = attraction_weight * (1 - d(s, target) / d_max)

with ``d`` the wrap-around Manhattan distance
``min(|dr|, H - |dr|) + min(|dc|, W - |dc|)`` and ``d_max`` its largest value
over the cells, so attraction runs from ``attraction_weight`` at the target
(default the centre cell ``(H // 2, W // 2)``) to 0 at the farthest cells.
Neither reward nor dynamics depend on ``t``.

Why this game: it is the stationary crowd game that policy mirror ascent
(spec pma.md) is shown on. The reward is the sum of a population-free part and
``-aversion * log(mu(s) + floor)``, strictly decreasing in the density of the
agent's own cell, and the dynamics do not depend on ``mu``: the game is
monotone in the Lasry-Lions sense, so its (entropy-)regularised equilibrium is
unique and the regularised exploitability has a single zero to converge to. The
torus removes boundary effects, so the only asymmetry is the pull of the target.

``floor`` defaults to ``1e-4`` (crowd.py uses ``1e-6``): the aversion term is
then bounded by ``aversion * log(1 / floor) ~ 9.2``, and its Lipschitz constant in
``mu``, ``aversion / floor``, stays moderate, while at the densities of an
equilibrium on the default 10x10 torus (about ``0.005`` to ``0.02`` per cell) it
moves ``log mu`` by at most 2%.

Mode: ``"stationary"`` (default: discounted infinite horizon, policies
``(S, A)``; ``horizon`` is the default length of simulated sample paths) or
``"finite-horizon"`` (``horizon`` decision steps, policies ``(T, S, A)``).
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.errors import MFGError, as_int
from mfgtools.finite.game import Annotation, FiniteGame, fan_out_fields, float_array, resolve_mode
from mfgtools.games.crowd import ACTION_NAMES, MOVES, STAY
from mfgtools.games.maps import cell_index, initial_distribution_on, parse_cells
from mfgtools.games.registry import register_game
from mfgtools.graphs.lattice import grid_moves, noisy_moves
from mfgtools.registry import MODES, Parameter, horizon, number
from mfgtools.resources import check_game_size

_SIZE = re.compile(r"^\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*$")


@struct.dataclass(kw_only=True)
class TorusCrowdGame(FiniteGame):
    """``r(s, a, mu) = attraction(s) - aversion log(mu(s) + floor) - move_cost [a != stay]``."""

    attraction: jax.Array  # (S,)
    aversion: float = struct.field(pytree_node=False)
    floor: float = struct.field(pytree_node=False)
    move_cost: float = struct.field(pytree_node=False)

    def reward(self, t, mu):
        del t  # time-homogeneous
        per_state = self.attraction - self.aversion * jnp.log(mu + self.floor)
        moved = (jnp.arange(self.n_actions) != STAY).astype(per_state.dtype)
        return per_state[:, None] - self.move_cost * moved[None, :]


PARAMETERS = {
    "size": Parameter("10x10", "torus size: N (N x N) or HxW"),
    "noise": Parameter(0.1, "probability that a uniformly random action replaces the chosen one", number(0.0, 1.0)),
    "target": Parameter(None, "attracting cell 'r,c' (default: the centre (H//2, W//2))"),
    "attraction_weight": Parameter(
        1.0, "attraction at the target; it falls linearly to 0 at the farthest cell", number()
    ),
    "aversion": Parameter(1.0, "coefficient c >= 0 of -c log(mu(s) + floor)", number(0.0)),
    "floor": Parameter(
        1e-4,
        "added to mu inside -log(mu + floor); bounds the aversion term by c log(1/floor)",
        number(0.0, 1.0, low_open=True),
    ),
    "move_cost": Parameter(0.1, "cost (>= 0) of any action but stay", number(0.0)),
    "discount": Parameter(0.9, "discount gamma (below 1 in stationary mode)"),
    "horizon": Parameter(30, "decision steps T (stationary mode: default sample-path length)", horizon),
    "mu0": Parameter("uniform", "initial distribution: 'uniform', a cell 'r,c', cells 'r,c;r,c' or weights"),
    "mode": Parameter("stationary", "stationary (discounted, infinite horizon) or finite-horizon"),
}


@register_game(
    "torus-crowd",
    "crowd on a torus: attraction to a target against crowd aversion (stationary)",
    PARAMETERS,
    modes=MODES,
)
def make_torus_crowd(
    size,
    noise,
    target,
    attraction_weight,
    aversion,
    floor,
    move_cost,
    discount,
    horizon,
    mu0,
    mode,
) -> TorusCrowdGame:
    mode, discount = resolve_mode(mode, discount)
    height, width = parse_size(size)
    check_game_size(
        "torus-crowd",
        height * width,
        len(MOVES),
        len(MOVES) if noise > 0 else 1,
        horizon,
        stationary=mode == "stationary",
        lower="size or the horizon",
    )

    free = np.ones((height, width), dtype=bool)
    n_states = height * width
    if target is None:
        target = (height // 2, width // 2)
    cells = parse_cells(target, "target")
    if len(cells) != 1:
        raise MFGError(f"target must be a single cell 'row,col', got {len(cells)} cells")
    cell_index(cells[0], free, "target")
    target_row, target_col = (int(v) for v in cells[0])
    mu0_vector = initial_distribution_on(free, mu0, "mu0")

    distance = torus_distance((height, width), (target_row, target_col))
    attraction = attraction_weight * (1.0 - distance / distance.max())

    moves, _ = grid_moves(free, MOVES, torus=True)
    next_state, prob = noisy_moves(moves, noise)
    params = dict(
        size=f"{height}x{width}",
        noise=noise,
        target=(target_row, target_col),
        attraction_weight=attraction_weight,
        aversion=aversion,
        floor=floor,
        move_cost=move_cost,
        discount=discount,
        horizon=horizon,
        mu0=_mu0_label(mu0),
        mode=mode,
    )
    return TorusCrowdGame(
        initial_distribution=float_array(mu0_vector),
        **fan_out_fields(next_state, prob),
        action_mask=jnp.ones((n_states, len(MOVES)), dtype=bool),
        horizon=horizon,
        discount=discount,
        name="torus-crowd",
        params=Annotation(params),
        grid_shape=(height, width),
        free_mask=jnp.asarray(free),
        action_labels=ACTION_NAMES,
        stationary=mode == "stationary",
        attraction=float_array(attraction),
        aversion=aversion,
        floor=floor,
        move_cost=move_cost,
    )


def parse_size(size) -> tuple[int, int]:
    """``(H, W)`` from ``N``, ``"N"``, ``"HxW"`` or an ``(H, W)`` pair; at least 2 cells."""
    how = "write the size as N (an N x N torus) or HxW, e.g. '10x10'"
    if isinstance(size, str):
        match = _SIZE.match(size)
        if not match:
            raise MFGError(f"size {size!r} is not understood: {how}")
        height = int(match.group(1))
        width = int(match.group(2) or match.group(1))
    elif isinstance(size, (tuple, list)) and len(size) == 2:
        height, width = (as_int(v, "size") for v in size)
    else:
        try:
            height = width = as_int(size, "size")
        except MFGError:
            raise MFGError(f"size {size!r} is not understood: {how}") from None
    if height < 1 or width < 1 or height * width < 2:
        raise MFGError(f"size {height}x{width} is too small: the torus needs at least 2 cells, e.g. size='10x10'")
    return height, width


def torus_distance(shape: tuple[int, int], cell: tuple[int, int]) -> np.ndarray:
    """``(H * W,)`` wrap-around Manhattan distance of every cell (row-major) to ``cell``."""
    height, width = shape
    rows, cols = np.divmod(np.arange(height * width), width)
    drow, dcol = np.abs(rows - cell[0]), np.abs(cols - cell[1])
    return (np.minimum(drow, height - drow) + np.minimum(dcol, width - dcol)).astype(np.float64)


def _mu0_label(spec):
    """``mu0`` as recorded: ``"uniform"``, ``"r,c;r,c"``, or ``"custom weights"``."""
    if isinstance(spec, str) and spec == "uniform":
        return "uniform"
    if isinstance(spec, np.ndarray) and spec.dtype.kind == "f":
        return "custom weights"
    return ";".join(f"{row},{col}" for row, col in parse_cells(spec, "mu0"))
