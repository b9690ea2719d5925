"""OpenSpiel's crowd avoidance (``python_mfg_crowd_avoidance``): two populations that avoid each other.

A ``size x size`` grid (7 by default) with forbidden cells (by default a border
and three pillars in the middle column), OpenSpiel's moves and noise, and the reward
``r_p = -coef_congestion sum_q C[p, q] d_q + coef_target [cell = target_p]``
(targets ``[x, y] = [5, 3]`` for population 0 and ``[1, 3]`` for population 1,
OpenSpiel's fixed positions). Conventions and quirks: :mod:`mfgtools.games.predator_prey`.

OpenSpiel's default ``coef_congestion`` is 0: its default game does not depend on
the populations at all, and its equilibrium is each population's shortest way to
its target; give ``coef_congestion > 0`` for the avoidance.
"""

from __future__ import annotations

import numpy as np

from mfgtools.errors import MFGError
from mfgtools.games.predator_prey import (
    as_geometry,
    as_initial,
    as_numbers,
    check_size,
    population_grid_game,
)
from mfgtools.games.registry import register_game
from mfgtools.registry import Parameter, boolean, horizon, integer, number

FORBIDDEN_PICTURE = ("#######", "#  #  #", "#     #", "#  #  #", "#     #", "#  #  #", "#######")  # OpenSpiel's
TARGETS = ((5, 3), (1, 3))  # OpenSpiel's target [x, y] of populations 0 and 1
START = {  # OpenSpiel's default initial distribution: population -> {(x, y): mass}
    0: {(1, 2): 0.4, (2, 2): 0.4, (1, 4): 0.2},
    1: {(5, 2): 0.2, (4, 4): 0.4, (5, 4): 0.4},
}


def picture_cells(picture) -> list[tuple[int, int]]:
    """The ``[x, y]`` of the ``'#'`` cells of a picture (rows are ``y``)."""
    return [(x, y) for y, row in enumerate(picture) for x, cell in enumerate(row) if cell == "#"]


def as_forbidden(value) -> list[tuple[int, int]]:
    """Forbidden cells: OpenSpiel's string ``"[x|y;x|y;...]"``, a list of ``(x, y)``, or ``'none'``."""
    if value is None:
        return picture_cells(FORBIDDEN_PICTURE)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("none", "", "[]"):
            return []
        if not (text.startswith("[") and text.endswith("]")):
            raise MFGError(f"forbidden_states must look like OpenSpiel's '[x|y;x|y]', got {value!r}")
        try:
            cells = [tuple(int(v) for v in pair.split("|")) for pair in text[1:-1].split(";")]
        except ValueError:
            raise MFGError(f"forbidden_states must list integer pairs x|y, got {value!r}") from None
    else:
        try:
            cells = [tuple(int(v) for v in pair) for pair in value]
        except (TypeError, ValueError, OverflowError):
            raise MFGError(f"forbidden_states must be '[x|y;...]' or (x, y) pairs, got {value!r}") from None
    if any(len(cell) != 2 for cell in cells):
        raise MFGError(f"forbidden_states must be pairs x|y (or (x, y)), got {value!r}")
    return cells  # type: ignore[return-value]


PARAMETERS = {
    "size": Parameter(7, "side of the square grid", integer(1)),
    "horizon": Parameter(10, "decision steps T", horizon),
    "players": Parameter(2, "number of populations (OpenSpiel's game has exactly 2)", integer()),
    "congestion_matrix": Parameter("0 1 1 0", "2 x 2 matrix C, space-separated, row-major"),
    "geometry": Parameter(0, "0 (square: moves clipped) or 1 (torus)", as_geometry),
    "init_distrib": Parameter(
        None, "2 blocks of size^2 probabilities, cell x + y*size, or 'uniform' (default: OpenSpiel's, size 7)"
    ),
    "proba_noise": Parameter(0.5, "probability that the noise step moves (1/4 to each side)", number(0.0, 1.0)),
    "coef_congestion": Parameter(0.0, "weight of the congestion term -sum_q C[p, q] d_q", number()),
    "forbidden_states": Parameter(None, "cells '[x|y;x|y]' an agent cannot enter (default: OpenSpiel's walls)"),
    "coef_target": Parameter(1.0, "reward of being on one's target cell", number()),
    "openspiel_quirks": Parameter(True, "reproduce OpenSpiel's numbers exactly (see docs)", boolean),
}


@register_game(
    "crowd_avoidance",
    "OpenSpiel's two-population crowd avoidance on a grid with walls (python_mfg_crowd_avoidance)",
    PARAMETERS,
    kind="multi-population",
)
def make_crowd_avoidance(
    size,
    horizon,
    players,
    congestion_matrix,
    geometry,
    init_distrib,
    proba_noise,
    coef_congestion,
    forbidden_states,
    coef_target,
    openspiel_quirks,
):
    if players != 2:
        raise MFGError(f"crowd_avoidance has exactly 2 populations (as OpenSpiel's), got players={players}")
    check_size("crowd_avoidance", 2, size, horizon)
    matrix = as_numbers(congestion_matrix, "congestion_matrix", 4, (2, 2))
    if init_distrib is None:
        start = np.zeros((2, size * size))
        for p, cells in START.items():
            for (x, y), mass in cells.items():
                if not (x < size and y < size):
                    raise MFGError(f"the default init_distrib needs size >= 6, got {size}; give init_distrib")
                start[p, x + y * size] = mass
    else:
        start = as_initial(init_distrib, "init_distrib", 2, size)
    noise = proba_noise
    congestion = coef_congestion
    target = coef_target
    forbidden = as_forbidden(forbidden_states)
    quirks = openspiel_quirks
    bonus = np.zeros_like(start)
    for p, (x, y) in enumerate(TARGETS):
        if x < size and y < size:  # OpenSpiel's targets lie off a smaller grid: never reached
            bonus[p, x + y * size] = target
    params = dict(
        size=size,
        horizon=horizon,
        players=2,
        congestion_matrix=" ".join(f"{v:g}" for v in matrix.reshape(-1)),
        geometry=geometry,
        init_distrib="default"
        if init_distrib is None
        else (init_distrib if isinstance(init_distrib, str) else " ".join(f"{v:.17g}" for v in start.reshape(-1))),
        proba_noise=noise,
        coef_congestion=congestion,
        forbidden_states="[" + ";".join(f"{x}|{y}" for x, y in forbidden) + "]",
        coef_target=target,
        openspiel_quirks=quirks,
    )
    return population_grid_game(
        name="crowd_avoidance",
        params=params,
        size=size,
        horizon=horizon,
        geometry=geometry,
        noise=noise,
        start=start,
        forbidden=forbidden,
        interaction=matrix,
        scale=-congestion,
        log_coeff=0.0,
        bonus=bonus,
        quirks=quirks,
    )
