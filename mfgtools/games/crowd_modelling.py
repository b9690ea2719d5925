"""OpenSpiel's crowd-modelling games, with OpenSpiel's conventions (spec: crowd.md).

``crowd_modelling``: a ring of ``size`` cells; actions left, stay, right; after
the move a noise step of -1, 0 or +1 with probability 1/3 each; uniform
``mu0``; reward ``1 - |x - N/2| / (N/2) - |move| / N - log(mu(x) + floor)``.

``crowd_modelling_2d``: an ``H x W`` torus with walls; actions in OpenSpiel's
order ``(0,-1), (-1,0), stay, (1,0), (0,1)`` written as ``(dx, dy)`` with ``x``
the column, i.e. up, left, stay, right, down; an action is legal only when its
target cell is free; after the move a noise step picks among the legal moves of
the new cell (each non-stay ``sigma/|L|``, stay ``1 - sigma + sigma/|L|``).
Reward ``-c log(mu + floor)``, plus, unless ``only_distribution_reward``,
positional terms ``2 - sum_i 2 v_i / size (|x - x_i| + |y - y_i|)`` (default:
the centre, value 1) and the move cost ``-(|dx| + |dy|) / size`` (times the
density with congestion). Settings: ``default`` (10x10, horizon 10),
``four_rooms`` (13x13, horizon 40, start (1, 1)) and ``maze`` (22x22, horizon
100, start (1, 1)); the last two use the distribution term only, as OpenSpiel's
factory does.

With ``openspiel_quirks=True`` (the default) the numbers are OpenSpiel's own:

- at ``t = 0`` the reward sees the uniform density ``1 / (H W)`` instead of
  ``mu0`` (OpenSpiel has no mean-field node before the first decision);
- the move cost is charged at the next decision node and, because OpenSpiel
  caches values by a string without the previous action, each node keeps the
  cost of its first depth-first arrival (:mod:`openspiel_traversal`);
- online mirror descent reproduces ``MirrorDescent``'s in-place reads of its
  cumulative values (``mirror_descent_stale``).

``openspiel_quirks=False`` gives the clean game: the move cost is charged to the
action taken, and the first reward sees ``mu0``.

OpenSpiel's ``initial_distribution`` strings ``"a|b"`` land agents on column
``b``, row ``a`` (its parser and its state numbering disagree); here ``mu0`` is
always given as ``(row, col)`` cells.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from mfgtools.errors import MFGError, as_float
from mfgtools.finite.game import Annotation, FiniteGame, fan_out_fields, float_array
from mfgtools.games.maps import cell_index, initial_distribution_on, load_map, map_label, parse_cells
from mfgtools.games.openspiel_traversal import openspiel_traversal
from mfgtools.games.registry import register_game
from mfgtools.graphs.lattice import grid_moves, ring_moves
from mfgtools.registry import Parameter, boolean, choice, horizon, integer, number, optional
from mfgtools.resources import check_game_size

FLOOR = 1e-25


@struct.dataclass(kw_only=True)
class OpenSpielCrowdGame(FiniteGame):
    """Shared reward structure of OpenSpiel's crowd games (see the module docstring).

    ``reward = aversion * -log(mu + floor) + position + move cost``, where the
    move cost is either charged to the action (``openspiel_quirks=False``) or the
    node-dependent first-arrival cost ``first_arrival_cost[T, S]``.
    """

    position_reward: jax.Array  # (S,)
    action_cost: jax.Array  # (A,) cost of each action's move
    first_arrival_cost: jax.Array  # (T, S); zeros without quirks
    mirror_descent_stale: jax.Array  # (T, S, A) bool; all False without quirks
    aversion: float = struct.field(pytree_node=False)
    floor: float = struct.field(pytree_node=False)
    congestion: bool = struct.field(pytree_node=False)
    openspiel_quirks: bool = struct.field(pytree_node=False)

    def reward(self, t, mu):
        if self.openspiel_quirks:
            uniform = jnp.full_like(mu, 1.0 / self.n_states)
            mu = jnp.where(t == 0, uniform, mu)
        per_state = -self.aversion * jnp.log(mu + self.floor) + self.position_reward
        if self.openspiel_quirks:
            cost = jnp.broadcast_to(self.first_arrival_cost[t][:, None], (self.n_states, self.n_actions))
        else:
            cost = jnp.broadcast_to(self.action_cost[None, :], (self.n_states, self.n_actions))
        if self.congestion:
            cost = cost * mu[:, None]
        return per_state[:, None] + cost


def openspiel_crowd_game(
    *,
    post_move,
    legal,
    noise_next,
    noise_prob,
    noise_legal,
    mu0,
    initial_order,
    horizon,
    position,
    action_cost,
    quirks,
    with_move_cost,
    free,
    grid_shape,
    name,
    params,
    names,
    aversion,
    floor,
    congestion,
    discount,
) -> OpenSpielCrowdGame:
    """An OpenSpiel-convention crowd game (crowd_modelling, its 2-D variant, periodic_aversion): move and noise
    composed into a fan-out table, with the quirk arrays of OpenSpiel's traversal attached."""
    n_states, n_actions = post_move.shape
    next_state = noise_next[post_move]  # (S, A, N)
    prob = noise_prob[post_move]
    if quirks and with_move_cost:
        first_action, stale = openspiel_traversal(post_move, legal, noise_next, noise_legal, initial_order, horizon)
        cost = np.where(first_action >= 0, action_cost[np.maximum(first_action, 0)], 0.0)
    else:
        cost = np.zeros((horizon, n_states))
        stale = (
            openspiel_traversal(post_move, legal, noise_next, noise_legal, initial_order, horizon)[1]
            if quirks
            else np.zeros((horizon, n_states, n_actions), dtype=bool)
        )
    if not with_move_cost:
        action_cost = np.zeros_like(action_cost)
    return OpenSpielCrowdGame(
        initial_distribution=float_array(mu0),
        **fan_out_fields(next_state, prob, stages=(post_move, noise_next, noise_prob)),
        action_mask=jnp.asarray(legal),
        horizon=horizon,
        discount=discount,
        name=name,
        params=Annotation(params),
        grid_shape=grid_shape,
        position_reward=float_array(position),
        action_cost=float_array(action_cost),
        first_arrival_cost=float_array(cost),
        mirror_descent_stale=jnp.asarray(stale),
        action_labels=names,
        free_mask=None if grid_shape is None else jnp.asarray(free),
        aversion=aversion,
        floor=floor,
        congestion=congestion,
        openspiel_quirks=quirks,
    )


def numbers(value, name: str) -> list:
    """Numbers, from ``"1;0.5"`` or a sequence (or one number)."""
    raw = value.split(";") if isinstance(value, str) else value
    return [as_float(v, name) for v in np.atleast_1d(raw)]


# ----- 1D ---------------------------------------------------------------------------
PARAMETERS_1D = {
    "size": Parameter(10, "number of cells on the ring", integer(3)),
    "horizon": Parameter(10, "decision steps T", horizon),
    "floor": Parameter(FLOOR, "added to mu inside -log(mu + floor)", number(0.0, 1.0, high_open=True)),
    "discount": Parameter(1.0, "discount gamma", number(0.0, 1.0, low_open=True)),
    "openspiel_quirks": Parameter(True, "reproduce OpenSpiel's numbers exactly (see docs)", boolean),
}


@register_game("crowd_modelling", "OpenSpiel's 1D crowd modelling on a ring", PARAMETERS_1D)
def make_crowd_modelling(size, horizon, floor, discount, openspiel_quirks):
    quirks = openspiel_quirks
    check_game_size("crowd_modelling", size, 3, 3, horizon, lower="size or the horizon")
    steps = np.array([-1, 0, 1])
    half = size // 2
    position = 1.0 - np.abs(np.arange(size) - half) / half
    params = dict(size=size, horizon=horizon, floor=floor, discount=discount, openspiel_quirks=quirks)
    return openspiel_crowd_game(
        post_move=ring_moves(size, steps),
        legal=np.ones((size, 3), dtype=bool),
        noise_next=ring_moves(size, steps),
        noise_prob=np.full((size, 3), 1.0 / 3.0),
        noise_legal=np.ones((size, 3), dtype=bool),
        mu0=np.full(size, 1.0 / size),
        initial_order=np.arange(size),
        horizon=horizon,
        position=position,
        action_cost=-np.abs(steps) / size,
        quirks=quirks,
        with_move_cost=True,
        free=np.ones(size, dtype=bool),
        grid_shape=None,
        name="crowd_modelling",
        params=params,
        names=("left", "stay", "right"),
        aversion=1.0,
        floor=floor,
        congestion=False,
        discount=discount,
    )


# ----- 2D ---------------------------------------------------------------------------
MOVES_2D = ((-1, 0), (0, -1), (0, 0), (0, 1), (1, 0))  # (drow, dcol) of OpenSpiel's actions 0..4
NAMES_2D = ("up", "left", "stay", "right", "down")
STAY_2D = 2
SETTINGS = {
    "default": dict(map="empty:10", horizon=10, mu0="uniform", only_distribution_reward=False),
    "four_rooms": dict(map="four_rooms", horizon=40, mu0=(1, 1), only_distribution_reward=True),
    "maze": dict(map="maze", horizon=100, mu0=(1, 1), only_distribution_reward=True),
}

PARAMETERS_2D = {
    "setting": Parameter("default", "default (10x10), four_rooms or maze", choice(*SETTINGS)),
    "size": Parameter(None, "side of an empty square torus (replaces the setting's map)", optional(integer(2))),
    "map": Parameter(None, "map with '#' walls on a torus (replaces the setting's map)"),
    "horizon": Parameter(None, "decision steps T (setting's default)", optional(horizon)),
    "mu0": Parameter(None, "initial distribution: a (row, col) cell, cells, 'uniform' or weights"),
    "noise": Parameter(1.0, "noise intensity sigma of the step after the move", number(0.0, 1.0)),
    "crowd_aversion": Parameter(1.0, "coefficient c of -c log(mu + floor)", number()),
    "only_distribution_reward": Parameter(
        None, "drop positional and move terms (setting's default)", optional(boolean)
    ),
    "positional_reward": Parameter(None, "cells 'r,c;r,c' of the positional reward (default: centre)"),
    "positional_reward_value": Parameter(None, "values v_i of those cells (default: 1 each)", optional(numbers)),
    "with_congestion": Parameter(False, "scale the move cost by the density", boolean),
    "floor": Parameter(FLOOR, "added to mu inside -log(mu + floor)", number(0.0, 1.0, high_open=True)),
    "discount": Parameter(1.0, "discount gamma", number(0.0, 1.0, low_open=True)),
    "openspiel_quirks": Parameter(True, "reproduce OpenSpiel's numbers exactly (see docs)", boolean),
}


@register_game("crowd_modelling_2d", "OpenSpiel's 2D crowd modelling on a torus with walls", PARAMETERS_2D)
def make_crowd_modelling_2d(
    setting,
    size,
    map,
    horizon,
    mu0,
    noise,
    crowd_aversion,
    only_distribution_reward,
    positional_reward,
    positional_reward_value,
    with_congestion,
    floor,
    discount,
    openspiel_quirks,
):
    base = SETTINGS[setting]
    if size is not None and map is not None:
        raise MFGError("give either size (an empty torus) or map, not both")
    if size is not None:
        map_spec = f"empty:{size}"
        default_mu0 = "uniform"
    else:
        map_spec = base["map"] if map is None else map
        default_mu0 = base["mu0"] if map is None else "uniform"
    horizon = base["horizon"] if horizon is None else horizon

    def check_size(height, width):  # before the torus and its tables are allocated
        check_game_size(
            "crowd_modelling_2d",
            height * width,
            len(MOVES_2D),
            len(MOVES_2D),
            horizon,
            lower="size (or the map) or the horizon",
        )

    free, label = load_map(map_spec, check_size)
    height, width = free.shape
    aversion = crowd_aversion
    only_distribution = (
        base["only_distribution_reward"] if only_distribution_reward is None else only_distribution_reward
    )
    congestion = with_congestion
    quirks = openspiel_quirks
    mu0_vector = initial_distribution_on(free, default_mu0 if mu0 is None else mu0, "mu0")

    side = max(height, width)
    rows, cols = np.divmod(np.arange(height * width), width)
    if positional_reward is None:
        cells = [(height // 2, width // 2)]
    else:
        cells = parse_cells(positional_reward, "positional_reward")
        for cell in cells:  # in the map and on a free cell: a reward on a wall cannot be reached
            cell_index(cell, free, "positional_reward")
    values = [1.0] * len(cells) if positional_reward_value is None else positional_reward_value
    if len(values) != len(cells):
        raise MFGError(f"positional_reward lists {len(cells)} cells but positional_reward_value {len(values)} values")
    position = np.full(height * width, 2.0)
    for (row, col), value in zip(cells, values):
        position -= 2.0 * value / side * (np.abs(cols - col) + np.abs(rows - row))
    if only_distribution:
        position = np.zeros(height * width)

    target, legal = grid_moves(free, MOVES_2D, torus=True)
    legal[:, STAY_2D] = True
    n_legal = legal.sum(axis=1, keepdims=True)
    noise_prob = np.where(legal, noise / n_legal, 0.0)
    noise_prob[:, STAY_2D] += 1.0 - noise
    post_move = np.where(legal, target, np.arange(height * width)[:, None])
    action_cost = -np.array([abs(dr) + abs(dc) for dr, dc in MOVES_2D], dtype=float) / side
    params = dict(
        setting=setting,
        map=map_label(label, free),
        horizon=horizon,
        noise=noise,
        crowd_aversion=aversion,
        only_distribution_reward=only_distribution,
        positional_reward=tuple(cells),
        positional_reward_value=tuple(values),
        with_congestion=congestion,
        floor=floor,
        discount=discount,
        openspiel_quirks=quirks,
    )
    return openspiel_crowd_game(
        post_move=post_move,
        legal=legal,
        noise_next=target,
        noise_prob=noise_prob,
        noise_legal=legal,
        mu0=mu0_vector,
        initial_order=np.nonzero(mu0_vector > 0)[0],
        horizon=horizon,
        position=position,
        action_cost=action_cost,
        quirks=quirks,
        with_move_cost=not only_distribution,
        free=free,
        grid_shape=(height, width),
        name="crowd_modelling_2d",
        params=params,
        names=NAMES_2D,
        aversion=aversion,
        floor=floor,
        congestion=congestion,
        discount=discount,
    )
