"""OpenSpiel's multi-population grid games, with OpenSpiel's conventions: ``predator_prey`` here,
``crowd_avoidance`` in :mod:`mfgtools.games.crowd_avoidance` (spec: docs/openspiel_games.md).

Both are :class:`~mfgtools.finite.populations.MultiPopulationGame` s: ``P``
populations on a ``size x size`` grid, states ``(p, cell)``. A cell is OpenSpiel's
position ``[x, y]``, numbered ``x + y * size`` as OpenSpiel's initial distributions
are (row ``y``, column ``x``). Actions in OpenSpiel's order: stay, ``x + 1``
(right), ``y + 1`` (down), ``y - 1`` (up), ``x - 1`` (left). After the move a noise
step takes action ``n`` with probability ``1 - noise`` for ``n = 0`` (stay) and
``noise / 4`` for each other. A move into a forbidden cell stays put; off the
grid it is clipped (``geometry=0``, square) or wrapped (``geometry=1``, torus;
OpenSpiel checks forbidden cells before wrapping). Every action is legal.

Rewards at decision steps ``t = 0 .. T-1`` (no terminal reward), with ``d_q`` the
density of population ``q`` at the agent's cell:

- ``predator_prey``: ``r_p = -c log(d_p + 1e-25) + sum_q R[p, q] d_q``;
- ``crowd_avoidance``: ``r_p = -c sum_q C[p, q] d_q + coef_target [cell = target_p]``.

With ``openspiel_quirks=True`` (the default) the numbers are OpenSpiel's own:
at ``t = 0`` OpenSpiel's reward reads the game's initial-distribution string,
population-major, at the population-minor index ``q + P (y + size x)`` of
later distributions, so the densities seen at ``t = 0`` are those entries
(:func:`first_densities`), not ``mu0``; and ``omd`` follows
``MirrorDescent``'s in-place reads (:mod:`mfgtools.games.openspiel_traversal`,
chance nodes keyed by the post-move cell). ``openspiel_quirks=False`` reads ``mu0`` at ``t = 0``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.errors import MFGError, as_int
from mfgtools.finite.game import Annotation, fan_out_fields, float_array
from mfgtools.finite.populations import MultiPopulationGame, block_tables
from mfgtools.games.openspiel_traversal import openspiel_traversal
from mfgtools.games.registry import register_game
from mfgtools.registry import Parameter, boolean, horizon, integer, number
from mfgtools.resources import check_game_size

MOVES = ((0, 0), (1, 0), (0, 1), (0, -1), (-1, 0))  # OpenSpiel's (dx, dy) of actions and noise outcomes 0..4
ACTION_NAMES = ("stay", "right", "down", "up", "left")
GEOMETRIES = {"square": 0, "torus": 1}
LOG_FLOOR = 1e-25  # OpenSpiel's eps inside log(d + eps)


@struct.dataclass(kw_only=True)
class PopulationGridGame(MultiPopulationGame):
    """OpenSpiel's multi-population grid games (see the module docstring).

    ``r[p, s] = -log_coeff log(d[p, s] + 1e-25) + scale (M d)[p, s] + bonus[p, s]``
    with ``d`` ``(P, S_p)`` every population's density (:meth:`densities`; at
    ``t = 0`` with quirks ``first_density``).

    Attributes (besides the base's): ``interaction`` ``(P, P)`` the matrix ``M``;
    ``bonus`` ``(P, S_p)``; ``first_density`` ``(P, S_p)`` what OpenSpiel reads at
    ``t = 0``; ``mirror_descent_stale`` ``(T, S, A)`` (:mod:`openspiel_traversal`);
    static ``log_coeff``, ``scale`` and ``openspiel_quirks``.
    """

    interaction: jax.Array
    bonus: jax.Array
    first_density: jax.Array
    mirror_descent_stale: jax.Array
    log_coeff: float = struct.field(pytree_node=False)
    scale: float = struct.field(pytree_node=False)
    openspiel_quirks: bool = struct.field(pytree_node=False)

    def reward(self, t, mu):
        density = self.densities(mu)
        if self.openspiel_quirks:
            density = jnp.where(t == 0, self.first_density, density)
        per_state = self.scale * (self.interaction @ density) + self.bonus
        if self.log_coeff:
            per_state = -self.log_coeff * jnp.log(density + LOG_FLOOR) + per_state
        return jnp.broadcast_to(per_state.reshape(-1)[:, None], (self.n_states, self.n_actions))


# ----- parameters in OpenSpiel's forms ------------------------------------------------------------
def as_numbers(value, name: str, count: int, shape: tuple) -> np.ndarray:
    """OpenSpiel's space-separated string of ``count`` numbers, or an array of that many; returned as ``shape``."""
    if isinstance(value, str):
        try:
            flat = np.array([float(v) for v in value.replace(",", " ").split()], dtype=np.float64)
        except ValueError:
            raise MFGError(f"{name} must be space-separated numbers, got {value!r}") from None
    else:
        try:
            flat = np.asarray(value, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise MFGError(f"{name} must be numbers (a space-separated string or an array), got {value!r}") from None
    if flat.size != count:
        raise MFGError(f"{name} must hold {count} numbers (shape {shape}), got {flat.size}")
    if not np.isfinite(flat).all():
        raise MFGError(f"{name} must be finite numbers, got {value!r}")
    return flat.reshape(shape)


def as_geometry(value, name: str = "geometry") -> int:
    """OpenSpiel's geometry: 0 (square) or 1 (torus); the names are accepted too (the check of ``geometry``)."""
    if isinstance(value, str) and value.strip().lower() in GEOMETRIES:
        return GEOMETRIES[value.strip().lower()]
    return as_int(value, f"{name} (0: square, 1: torus)", 0, 1)


def as_initial(value, name: str, players: int, size: int) -> np.ndarray:
    """Per-population initial distributions ``(P, size^2)`` in OpenSpiel's layout (population-major, cell
    ``x + y size``): a string or array of ``P size^2`` numbers, each population's mass 1; ``'uniform'`` or
    ``''`` (OpenSpiel's empty string) for uniform ones."""
    cells = size * size
    if isinstance(value, str) and value.strip().lower() in ("uniform", ""):  # OpenSpiel: an empty string
        return np.full((players, cells), 1.0 / cells)
    start = as_numbers(value, name, players * cells, (players, cells))
    if (start < 0).any():
        raise MFGError(f"{name} has negative entries: every entry is a probability")
    mass = start.sum(axis=1)
    if np.abs(mass - 1.0).max() > 1e-9:
        raise MFGError(
            f"{name}: each population's distribution must sum to 1, got {', '.join(f'{m:g}' for m in mass)}; "
            "give P blocks of size^2 probabilities, population after population"
        )
    return start


def grid_step(size: int, geometry: int, forbidden=()) -> np.ndarray:
    """``(size^2, 5)``: the cell after each of OpenSpiel's moves from each cell (its ``update_pos``):
    a candidate equal to a forbidden ``[x, y]`` stays put, else it is wrapped (torus) or clipped (square)."""
    cells = np.arange(size * size)
    x, y = cells % size, cells // size
    blocked = {(int(a), int(b)) for a, b in forbidden}
    targets = np.empty((size * size, len(MOVES)), dtype=np.int64)
    for k, (dx, dy) in enumerate(MOVES):
        cx, cy = x + dx, y + dy
        stay = np.array([(int(a), int(b)) in blocked for a, b in zip(cx, cy)], dtype=bool)
        if geometry == 1:
            cx, cy = cx % size, cy % size
        else:
            cx, cy = np.clip(cx, 0, size - 1), np.clip(cy, 0, size - 1)
        targets[:, k] = np.where(stay, cells, cx + cy * size)
    return targets


def first_densities(start: np.ndarray, size: int) -> np.ndarray:
    """``(P, size^2)``: the densities OpenSpiel's reward reads at ``t = 0``: entry ``q + P (y + size x)`` of its
    population-major initial-distribution string, for population ``q`` at cell ``[x, y]``."""
    players, cells = start.shape
    flat = start.reshape(-1)
    q = np.arange(players)[:, None]
    cell = np.arange(cells)[None, :]
    x, y = cell % size, cell // size
    return flat[q + players * (y + size * x)]


def population_grid_game(
    *,
    name: str,
    params: dict,
    size: int,
    horizon: int,
    geometry: int,
    noise: float,
    start: np.ndarray,
    forbidden,
    interaction: np.ndarray,
    scale: float,
    log_coeff: float,
    bonus: np.ndarray,
    quirks: bool,
    labels=None,
) -> PopulationGridGame:
    """Build one of OpenSpiel's multi-population grid games from its host tables (see the module docstring)."""
    players, cells = start.shape
    step = grid_step(size, geometry, forbidden)  # (cells, 5), for the deliberate move and the noise alike
    noise_prob = np.array([1.0 - noise] + [noise / 4.0] * 4)
    next_cell = step[step]  # (cells, A, N): move, then noise
    prob = np.broadcast_to(noise_prob, next_cell.shape)
    next_state, probability = block_tables(next_cell, prob, players)
    legal = np.ones((cells, len(MOVES)), dtype=bool)
    if quirks:
        stale = np.concatenate(
            [
                openspiel_traversal(step, legal, step, legal, np.nonzero(start[p])[0], horizon)[1]
                for p in range(players)
            ],
            axis=1,
        )
    else:
        stale = np.zeros((horizon, players * cells, len(MOVES)), dtype=bool)
    free = np.ones((size, size), dtype=bool)
    for x, y in forbidden:
        if 0 <= x < size and 0 <= y < size:
            free[y, x] = False
    return PopulationGridGame(
        initial_distribution=float_array(start.reshape(-1) / players),
        **fan_out_fields(next_state, probability),
        action_mask=jnp.ones((players * cells, len(MOVES)), dtype=bool),
        horizon=horizon,
        discount=1.0,
        name=name,
        params=Annotation(params),
        grid_shape=(size, size),
        free_mask=jnp.asarray(free),
        action_labels=ACTION_NAMES,
        populations=players,
        population_labels=labels,
        interaction=float_array(interaction),
        bonus=float_array(bonus),
        first_density=float_array(first_densities(start, size) if quirks else start),
        mirror_descent_stale=jnp.asarray(stale),
        log_coeff=log_coeff,
        scale=scale,
        openspiel_quirks=quirks,
    )


def check_size(name: str, players: int, size: int, horizon: int) -> None:
    check_game_size(name, players * size * size, len(MOVES), len(MOVES), horizon, lower="size, players or horizon")


# ----- predator_prey ------------------------------------------------------------------------------
REWARD_MATRICES = {  # OpenSpiel's defaults: population p is attracted to p + 1 and avoids p - 1 (mod P)
    3: np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], dtype=np.float64),
    4: np.array([[0, 1, 0, -1], [-1, 0, 1, 0], [0, -1, 0, 1], [1, 0, -1, 0]], dtype=np.float64),
}
CORNERS = {  # OpenSpiel's default starts (x, y) on its 5x5 grid, each population in a corner (any size here)
    3: ((0, 0), (-1, 0), (0, -1)),
    4: ((0, 0), (0, -1), (-1, -1), (-1, 0)),
}

PARAMETERS = {
    "size": Parameter(5, "side of the square grid", integer(1)),
    "horizon": Parameter(10, "decision steps T", horizon),
    "players": Parameter(3, "number of populations P", integer(1)),
    "reward_matrix": Parameter(None, "P x P matrix R, space-separated, row-major (default: OpenSpiel's for P = 3, 4)"),
    "geometry": Parameter(0, "0 (square: moves clipped) or 1 (torus)", as_geometry),
    "init_distrib": Parameter(
        None, "P blocks of size^2 probabilities, cell x + y*size, or 'uniform' (default: a corner each, P = 3, 4)"
    ),
    "noise_probability": Parameter(0.8, "probability that the noise step moves (1/4 to each side)", number(0.0, 1.0)),
    "congestion_coeff": Parameter(1.0, "weight c of -c log(d_p)", number()),
    "openspiel_quirks": Parameter(True, "reproduce OpenSpiel's numbers exactly (see docs)", boolean),
}


@register_game(
    "predator_prey",
    "OpenSpiel's multi-population predator-prey on a grid (python_mfg_predator_prey)",
    PARAMETERS,
    kind="multi-population",
)
def make_predator_prey(
    size,
    horizon,
    players,
    reward_matrix,
    geometry,
    init_distrib,
    noise_probability,
    congestion_coeff,
    openspiel_quirks,
):
    check_size("predator_prey", players, size, horizon)
    if reward_matrix is None:
        if players not in REWARD_MATRICES:
            raise MFGError(
                f"predator_prey has default reward matrices for 3 and 4 players; give reward_matrix for {players}"
            )
        matrix = REWARD_MATRICES[players]
    else:
        matrix = as_numbers(reward_matrix, "reward_matrix", players * players, (players, players))
    if init_distrib is None:
        if players not in CORNERS:
            raise MFGError(f"predator_prey has default starts for 3 and 4 players; give init_distrib for {players}")
        start = np.zeros((players, size * size))
        for p, (x, y) in enumerate(CORNERS[players]):
            start[p, (x % size) + (y % size) * size] = 1.0
    else:
        start = as_initial(init_distrib, "init_distrib", players, size)
    noise = noise_probability
    coeff = congestion_coeff
    quirks = openspiel_quirks
    params = dict(
        size=size,
        horizon=horizon,
        players=players,
        reward_matrix=" ".join(f"{v:g}" for v in matrix.reshape(-1)),
        geometry=geometry,
        init_distrib="default" if init_distrib is None else init_distrib,
        noise_probability=noise,
        congestion_coeff=coeff,
        openspiel_quirks=quirks,
    )
    if not isinstance(params["init_distrib"], str):
        params["init_distrib"] = " ".join(f"{v:.17g}" for v in start.reshape(-1))
    return population_grid_game(
        name="predator_prey",
        params=params,
        size=size,
        horizon=horizon,
        geometry=geometry,
        noise=noise,
        start=start,
        forbidden=(),
        interaction=matrix,
        scale=1.0,
        log_coeff=coeff,
        bonus=np.zeros_like(start),
        quirks=quirks,
    )
