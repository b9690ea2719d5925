"""Crowd exploration and navigation on grid maps (Off-MMD conventions; spec: crowd.md).

Positions are ``(row, col)`` cells; actions, in this order, move by
``(0,-1), (0,1), (-1,0), (1,0), (0,0)`` (left, right, up, down, stay). Moves are
deterministic and a move into a wall (or off the grid) leaves the agent in
place; ``noise > 0`` replaces the chosen action by a uniformly random one with
that probability. With ``c = clip(mu_t(s), floor, 1)``:

- exploration: ``r = -log c``
- navigation: ``r = w_log * (-log c) - w_dist * d(s, target) - w_move * mu_t(s) [a != stay]``
  with ``d`` the Manhattan distance. Defaults follow the paper: four rooms
  ``(w_log, w_dist, w_move) = (1, 5, 1)`` with target ``(11, 11)``; labyrinth
  ``(1/13.8155, 1/38, 1)`` with target ``(20, 20)``; other maps normalise both
  terms to ``[0, 1]`` (``1/-log(floor)`` and ``1/max d``), target the free cell
  farthest from the start.

The state space counts every cell, walls included (169 on four rooms), as the
official code does. Exploitability uses the clean definitions by default
(``discount = 1``, ``V^pi = sum_a pi Q``); ``discount=0.99`` with
``exploitability(..., greedy_start=True)`` gives the paper's scoring.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.errors import MFGError
from mfgtools.finite.game import Annotation, FiniteGame, fan_out_fields, float_array
from mfgtools.games.maps import cell_index, initial_distribution_on, load_map, map_label, parse_cells
from mfgtools.games.registry import register_game
from mfgtools.graphs.lattice import grid_moves, noisy_moves
from mfgtools.registry import Parameter, choice, horizon, number, optional
from mfgtools.resources import check_game_size

MOVES = ((0, -1), (0, 1), (-1, 0), (1, 0), (0, 0))
ACTION_NAMES = ("left", "right", "up", "down", "stay")
STAY = 4
TASKS = ("exploration", "navigation")


@struct.dataclass(kw_only=True)
class CrowdGame(FiniteGame):
    """Crowd exploration / navigation on a grid map (see the module docstring)."""

    distance: jax.Array
    task: str = struct.field(pytree_node=False)
    floor: float = struct.field(pytree_node=False)
    entropy_weight: float = struct.field(pytree_node=False)
    distance_weight: float = struct.field(pytree_node=False)
    move_weight: float = struct.field(pytree_node=False)

    def reward(self, t, mu):
        surprise = -jnp.log(jnp.clip(mu, self.floor, 1.0))
        if self.task == "exploration":
            return jnp.broadcast_to(surprise[:, None], (self.n_states, self.n_actions))
        moved = (jnp.arange(self.n_actions) != STAY).astype(mu.dtype)
        per_state = self.entropy_weight * surprise - self.distance_weight * self.distance
        return per_state[:, None] - self.move_weight * mu[:, None] * moved[None, :]


PARAMETERS = {
    "map": Parameter("four_rooms", "four_rooms, labyrinth, maze, empty:N, empty:HxW, a '#' picture or a file"),
    "task": Parameter("exploration", "exploration or navigation", choice(*TASKS)),
    "horizon": Parameter(None, "decision steps T (default 40; 100 on the labyrinth)", optional(horizon)),
    "floor": Parameter(
        1e-6, "density floor c = clip(mu, floor, 1) inside -log", number(0.0, 1.0, low_open=True, high_open=True)
    ),
    "target": Parameter(None, "navigation target (row, col)"),
    "mu0": Parameter((1, 1), "initial distribution: a cell, cells 'r,c;r,c', 'uniform' or weights"),
    "noise": Parameter(0.0, "probability that a uniformly random action replaces the chosen one", number(0.0, 1.0)),
    "discount": Parameter(1.0, "discount gamma", number(0.0, 1.0, low_open=True)),
    "entropy_weight": Parameter(None, "navigation weight of -log c", optional(number())),
    "distance_weight": Parameter(None, "navigation weight of the distance to the target", optional(number())),
    "move_weight": Parameter(None, "navigation weight of the congestion cost of moving", optional(number())),
}


# what only the navigation reward reads: an exploration game ignores them
NAVIGATION_ONLY = ("target", "entropy_weight", "distance_weight", "move_weight")


def relevant_parameters(params: dict) -> dict:
    """``params`` of a game without those its task ignores (navigation's target and
    weights on an exploration crowd game); other games' parameters unchanged."""
    if params.get("task") != "exploration":
        return dict(params)
    return {key: value for key, value in params.items() if key not in NAVIGATION_ONLY}


@register_game("crowd", "crowd exploration/navigation on grid maps (Off-MMD conventions)", PARAMETERS)
def make_crowd(
    map,
    task,
    horizon,
    floor,
    target,
    mu0,
    noise,
    discount,
    entropy_weight,
    distance_weight,
    move_weight,
) -> CrowdGame:
    def check_size(height, width):  # before the grid and its tables are allocated
        check_game_size(
            "crowd",
            height * width,
            len(MOVES),
            len(MOVES) if noise > 0 else 1,
            40 if horizon is None else horizon,
            lower="the map size (empty:HxW, or the picture) or the horizon",
        )

    free, label = load_map(map, check_size)
    height, width = free.shape
    if horizon is None:
        horizon = 100 if label == "labyrinth" else 40
    default_mu0 = PARAMETERS["mu0"].default
    is_default = isinstance(mu0, (tuple, list)) and tuple(mu0) == default_mu0
    mu0_vector = initial_distribution_on(free, mu0, "the default mu0" if is_default else "mu0")

    rows, cols = np.divmod(np.arange(height * width), width)
    what = "target"
    if target is None:
        target, what = _default_target(label, free, mu0_vector), f"the default target of map {label!r}"
    target_cells = parse_cells(target, "target")
    if len(target_cells) != 1:
        raise MFGError("target must be a single (row, col) cell")
    cell_index(target_cells[0], free, what)
    target_row, target_col = target_cells[0]
    distance = np.abs(rows - target_row) + np.abs(cols - target_col)

    weights = _default_weights(label, free, distance, floor)
    entropy_weight = weights[0] if entropy_weight is None else entropy_weight
    distance_weight = weights[1] if distance_weight is None else distance_weight
    move_weight = weights[2] if move_weight is None else move_weight

    next_state, prob = noisy_moves(grid_moves(free, MOVES)[0], noise)
    params = dict(
        map=map_label(label, free),
        task=task,
        horizon=horizon,
        floor=floor,
        target=(int(target_row), int(target_col)),
        mu0=_mu0_label(mu0),
        noise=noise,
        discount=discount,
        entropy_weight=entropy_weight,
        distance_weight=distance_weight,
        move_weight=move_weight,
    )
    return CrowdGame(
        initial_distribution=float_array(mu0_vector),
        **fan_out_fields(next_state, prob),
        action_mask=jnp.ones((height * width, len(MOVES)), dtype=bool),
        horizon=horizon,
        discount=discount,
        name="crowd",
        params=Annotation(params),
        grid_shape=(height, width),
        free_mask=jnp.asarray(free),
        action_labels=ACTION_NAMES,
        distance=float_array(distance),
        task=task,
        floor=floor,
        entropy_weight=float(entropy_weight),
        distance_weight=float(distance_weight),
        move_weight=float(move_weight),
    )


def _mu0_label(spec) -> str:
    """``mu0`` as a string that rebuilds the game (``"uniform"``, ``"r,c;r,c"``), or ``"custom weights"``."""
    if isinstance(spec, str) and spec == "uniform":
        return "uniform"
    if isinstance(spec, np.ndarray) and spec.dtype.kind == "f":
        return "custom weights"
    return ";".join(f"{row},{col}" for row, col in parse_cells(spec, "mu0"))


def _default_target(label: str, free: np.ndarray, mu0: np.ndarray):
    if label == "four_rooms":
        return (11, 11)
    if label in ("labyrinth", "maze"):
        return (20, 20)
    height, width = free.shape
    rows, cols = np.divmod(np.arange(height * width), width)
    start_row, start_col = np.divmod(int(np.argmax(mu0)), width)
    spread = np.where(free.reshape(-1), np.abs(rows - start_row) + np.abs(cols - start_col), -1)
    best = int(np.argmax(spread))
    return (int(rows[best]), int(cols[best]))


def _default_weights(label: str, free: np.ndarray, distance: np.ndarray, floor: float):
    if label == "four_rooms":
        return 1.0, 5.0, 1.0
    if label in ("labyrinth", "maze"):
        return 1.0 / 13.8155, 1.0 / 38.0, 1.0
    farthest = max(float(distance[free.reshape(-1)].max()), 1.0)
    return 1.0 / -np.log(floor), 1.0 / farthest, 1.0
