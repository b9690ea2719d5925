"""Particle maths shared by the swarm games: periodic distances and neighbour sums.

Agents live on the torus ``[0, period)^2`` (the unit torus in the games). What an
agent observes is a sum over its neighbours, the agents within ``radius``
(periodic distance), of some per-agent values (headings as unit vectors,
displacements, ...). :func:`neighbour_sums` computes these sums exactly for
every agent, with fixed shapes so that it jits, vmaps over seeds and runs on
CPU and GPU alike. Two exact methods compute the same sums:

- ``"dense"``: every pair of agents, in blocks of rows (``lax.map``): ``N^2``
  work but only ``O(N * block)`` memory. Fastest for small swarms, where its
  few large array operations beat any bookkeeping.
- ``"cells"``: a cell list. The torus is cut into ``n x n`` cells of side at
  least ``radius / s``, so that the neighbours of an agent lie in the
  ``(2s+1) x (2s+1)`` cells around its own. Agents are sorted by cell; the
  agents of one row of ``2s+1`` neighbouring cells are then one contiguous
  (circular) range of the sorted order. Work is cut into fixed-size tiles
  (``bt`` targets of one cell against ``bs`` candidates of one such range),
  and a ``lax.while_loop`` processes the tiles ``w`` at a time; the number of
  tiles is computed from the actual cell occupancies, so there is no static
  capacity to overflow, the work is proportional to the number of candidate
  pairs (about ``(2s+1)^2 / s^2 * radius^2 * N^2`` for a uniform swarm, plus
  padding), even for a swarm that crowds into one cell, and memory is
  ``O(N + n^2 + w * bt * bs)``.

``"auto"`` picks dense for small swarms and cells otherwise (see
:data:`AUTO_DENSE_MAX`).
"""

from __future__ import annotations

import math
from functools import lru_cache, partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from jax import lax

from mfgtools.errors import MFGError


def periodic_difference(a: jax.Array, b: jax.Array, period: float = 1.0) -> jax.Array:
    """``a - b`` wrapped to the nearest image, in ``[-period/2, period/2)``."""
    d = a - b
    return d - period * jnp.round(d / period)


@struct.dataclass
class Neighbourhood:
    """What every agent sees of its neighbours (agents within the radius).

    Attributes:
      sums: ``(N, V)``: ``sums[i] = sum_{j ~ i} values[j]``.
      counts: ``(N,)`` number of neighbours of ``i``.
      offsets: ``(N, 2)``: ``sum_{j ~ i} (x_j - x_i)``, periodic differences.
    """

    sums: jax.Array
    counts: jax.Array
    offsets: jax.Array


METHODS = ("auto", "dense", "cells")

#: ``"auto"`` uses the dense method up to this many agents and the cell list above.
#: Measured on a 2-core AMD EPYC (jax 0.10, CPU, float32, one seed, V = 2): at
#: radius 0.2-0.3 (the games' defaults) the two methods break even around
#: N = 1,500-2,000 (cells are 1.3x faster at N = 4,000 and 2.5x at N = 16,000);
#: at radius 0.05 the cell list already wins from N = 500 but both take well
#: under a millisecond there. Dense is also what the games' default N = 100 want.
AUTO_DENSE_MAX = 2048

#: Pairs per block of the dense method (rows per block = this / N): 2^20 pairs,
#: a few MiB per temporary, the size at which blocking stopped costing time.
DENSE_BLOCK_PAIRS = 1 << 20

#: Pair evaluations per iteration of the cell list's loop (``w * bt * bs``).
CELL_BATCH_PAIRS = 1 << 18

#: At most this many cells per side (``n^2`` cells are bookkept every call).
MAX_CELLS_PER_SIDE = 512

# Distances within this fraction of the period of the radius are never decided
# per cell (only pair by pair, with the same float test as the dense method):
# float rounding in a distance or a cell index is far below it.
_MARGIN = 1e-5
# Cost model of the cell plan, in pair tests: per tile (gathers, scatter,
# bookkeeping) and per cell (``n_runs`` ranges and the stencil sum).
_TILE_COST = 64.0
_RUN_COST = 2.0
_STENCIL_COST = 0.5
# Full float32 precision in dot products (on GPUs the default may round to TF32).
_EXACT = lax.Precision.HIGHEST


# ----- checks ---------------------------------------------------------------------------
def _static_float(value, name: str) -> float:
    if isinstance(value, jax.core.Tracer):
        raise MFGError(f"{name} must be a Python float (a constant of the compiled program), got a traced "
                       f"value; mark it static (jax.jit(..., static_argnames=...)) or close over it")
    if isinstance(value, bool):
        raise MFGError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise MFGError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise MFGError(f"{name} must be finite, got {value!r}")
    return number


def check_radius(radius, period=1.0) -> tuple[float, float]:
    """``(radius, period)`` as Python floats, or :class:`MFGError` unless ``0 < radius < period / 2``.

    Beyond half the period an agent's disc would wrap onto itself (two images
    of the same neighbour within reach), which neighbour sums do not model.
    """
    period = _static_float(period, "period")
    if period <= 0:
        raise MFGError(f"period must be > 0, got {period}")
    radius = _static_float(radius, "radius")
    if not 0 < radius < period / 2:
        raise MFGError(f"radius must be > 0 and < period / 2 = {period / 2} (the neighbourhood must not wrap "
                       f"around the torus), got {radius}")
    return radius, period


# ----- the pair test, shared by both methods -----------------------------------------------
def _close_pairs(target, source, radius, period):
    """``(..., T, S)`` bool: ``|x_s - x_t| < radius`` (periodic) for targets ``(..., T, 2)``, sources ``(..., S, 2)``.

    Both methods decide neighbours with this one float computation (the
    coordinates separately: XLA fuses it into one loop), so that they agree
    exactly, ties at the radius included.
    """
    dx = periodic_difference(source[..., None, :, 0], target[..., :, None, 0], period)
    dy = periodic_difference(source[..., None, :, 1], target[..., :, None, 1], period)
    return dx * dx + dy * dy < radius * radius, dx, dy


# ----- dense: every pair, in blocks of rows ---------------------------------------------
@partial(jax.jit, static_argnames=("radius", "period", "include_self", "block"))
def _dense_neighbour_sums(positions, values, radius, period, include_self, block=None):
    """All pairs: ``O(N^2)`` work, ``O(N * block)`` memory (``block`` target rows at a time).

    Per block, the neighbour weights ``(block, N)`` multiply ``[values, 1]``
    (one matrix product: sums and counts) and reduce with the periodic
    differences (offsets).
    """
    n_agents, n_values = values.shape
    block = max(1, min(n_agents, DENSE_BLOCK_PAIRS // max(n_agents, 1))) if block is None else block
    n_blocks = -(-n_agents // block)
    dtype = jnp.result_type(values.dtype, positions.dtype)
    features = jnp.concatenate([values, jnp.ones((n_agents, 1), values.dtype)], axis=1)

    def rows(args):
        index, x = args  # (block,), (block, 2)
        close, dx, dy = _close_pairs(x, positions, radius, period)  # (block, N)
        if not include_self:
            close = close & (index[:, None] != jnp.arange(n_agents))
        weights = close.astype(values.dtype)
        offsets = jnp.stack([jnp.sum(jnp.where(close, dx, 0), axis=1), jnp.sum(jnp.where(close, dy, 0), axis=1)], 1)
        return jnp.dot(weights, features, precision=_EXACT), offsets.astype(dtype)

    pad = n_blocks * block - n_agents
    index = jnp.arange(n_blocks * block).reshape(n_blocks, block)
    targets = jnp.pad(positions, ((0, pad), (0, 0))).reshape(n_blocks, block, 2)
    totals, offsets = lax.map(rows, (index, targets))
    totals, offsets = totals.reshape(-1, n_values + 1)[:n_agents], offsets.reshape(-1, 2)[:n_agents]
    return Neighbourhood(totals[:, :n_values], totals[:, n_values], offsets)


# ----- cells: a cell list with tiles ------------------------------------------------------
class CellPlan(NamedTuple):
    """Static layout of the cell list (a constant of the compiled program).

    Attributes:
      n: cells per side (``n x n`` cells of side ``h = period / n``).
      bt, bs: a tile is ``bt`` target slots of one cell by ``bs`` candidate slots
        of one run (below).
      w: tiles per iteration of the loop.
      reach: the largest cell offset with a possible neighbour (``2 reach + 1 <= n``,
        so that the cells around any cell are distinct).
      runs: ``((dy, dx, length), ...)``: the boundary cells, grouped in runs of
        consecutive cells of one row: cells ``(x + dx .. x + dx + length - 1, y + dy)``
        around a cell ``(x, y)``; their agents are tested pair by pair.
      interior: ``((dx, dy), ...)``: the cell offsets all of whose agents are
        neighbours of all agents of the centre cell; summed per cell at once.
    """

    n: int
    bt: int
    bs: int
    w: int
    reach: int
    runs: tuple
    interior: tuple


@lru_cache(maxsize=256)
def _stencil(n: int, radius: float, period: float):
    """``(reach, runs, interior)`` of ``n x n`` cells (see :class:`CellPlan`), or None when ``2 reach + 1 > n``.

    A cell offset is interior when even the farthest points of the two cells
    are closer than ``radius``, outside when even the nearest points are
    farther, a boundary cell otherwise (with a margin both ways, so that float
    rounding in the distance test or in an agent's cell index cannot make a
    pair of agents disagree with the all-pairs test).
    """
    h = period / n
    reach = math.floor(radius / h) + 1
    if 2 * reach + 1 > n:
        return None
    offsets = np.arange(-reach, reach + 1)
    dx, dy = np.meshgrid(offsets, offsets)  # [dy + reach, dx + reach]
    gap = lambda d: np.maximum(np.abs(d) - 1, 0) * h
    far = lambda d: (np.abs(d) + 1) * h
    near, farthest = np.hypot(gap(dx), gap(dy)), np.hypot(far(dx), far(dy))
    margin = _MARGIN * period
    inside = farthest < radius - margin
    boundary = (near <= radius + margin) & ~inside
    runs = []
    for row, shift in zip(boundary, offsets):
        columns = list(offsets[row])
        while columns:
            length = 1
            while length < len(columns) and columns[length] == columns[0] + length:
                length += 1
            runs.append((int(shift), int(columns[0]), length))
            columns = columns[length:]
    interior = tuple((int(a), int(b)) for a, b in zip(dx[inside], dy[inside]))
    return reach, tuple(runs), interior


def _padded(expected: float, size: int) -> float:
    """Slots used by ``expected`` items (a typical draw: mean plus half a standard deviation) in tiles of ``size``."""
    if expected <= 0:
        return 0.0
    return size * math.ceil((expected + 0.5 * math.sqrt(expected)) / size)


@lru_cache(maxsize=256)
def cell_plan(n_agents: int, radius: float, period: float = 1.0, cells_per_side: int | None = None):
    """The :class:`CellPlan` for ``n_agents`` agents, or None where no cell list fits.

    Finer cells leave fewer candidates to test pair by pair (a ring of boundary
    cells around the interior, whose width shrinks with the cell side) but more
    cells and smaller tiles to pay for; the cell side and the tile sizes are
    chosen by a cost model (pair tests, padded to tiles, plus a fixed cost per
    tile), calibrated on CPU. ``cells_per_side`` forces the cell side (tests).
    """
    n_agents = max(int(n_agents), 1)
    if cells_per_side is not None:
        sides = [int(cells_per_side)]
    else:
        # from about 64 agents per cell down to about 2, at most MAX_CELLS_PER_SIDE
        low, high = max(3, math.isqrt(n_agents // 64)), max(3, min(MAX_CELLS_PER_SIDE, math.isqrt(n_agents // 2)))
        sides = sorted({round(low * (high / low) ** (k / 24)) for k in range(25)} | {3, 4, 5, 6, 7})
    best = None
    for n in sides:
        stencil = _stencil(n, radius, period)
        if stencil is None:
            continue
        reach, runs, interior = stencil
        per_cell = n_agents / (n * n)
        for bt in (8, 16, 32, 64):
            targets = _padded(per_cell, bt) / per_cell  # target slots per agent
            for bs in (8, 16, 32, 64, 128):
                candidates = sum(_padded(length * per_cell, bs) for _, _, length in runs)
                tiles = candidates / bs
                per_cell_work = _RUN_COST * len(runs) + _STENCIL_COST * (2 * reach + 1) ** 2 * (len(interior) > 0)
                cost = targets * (candidates + _TILE_COST * tiles) + per_cell_work / per_cell
                if best is None or cost < best[0]:
                    best = (cost, CellPlan(n, bt, bs, max(1, CELL_BATCH_PAIRS // (bt * bs)), reach, runs, interior))
    return None if best is None else best[1]


@partial(jax.jit, static_argnames=("radius", "period", "include_self", "plan"))
def _cell_neighbour_sums(positions, values, radius, period, include_self, plan: CellPlan):
    """The cell list (module docstring): exact, fixed shapes, work ~ boundary pairs + cells.

    Every agent ``j`` contributes ``[values_j, 1, u_j]`` to the totals of its
    neighbours, with ``u_j`` its position relative to the centre of the target's
    cell (its position within its own cell plus the cells' offset: small
    numbers, no wrapping); the offsets are then ``sum u_j - count * u_i``.
    """
    n_agents, n_values = values.shape
    n, bt, bs, w, reach, runs, interior = plan
    h = period / n
    n_cells = n * n
    sums_dtype = values.dtype
    dtype = jnp.result_type(values.dtype, positions.dtype)
    index = jnp.int32
    width = n_values + 3  # values | count | relative position x, y

    # cells (row-major: cell = cy * n + cx) and positions within them
    wrapped = positions % period
    coords = jnp.clip(jnp.floor(wrapped * (n / period)).astype(index), 0, n - 1)
    cell = coords[:, 1] * n + coords[:, 0]
    relative = (wrapped - (coords + 0.5) * h).astype(dtype)  # from the centre of the agent's cell
    features = jnp.concatenate([values.astype(dtype), jnp.ones((n_agents, 1), dtype), relative], axis=1)
    totals = jnp.zeros((n_agents, width), dtype)

    if interior:  # whole cells: per-cell totals summed over the interior stencil by one convolution
        grid = jnp.zeros((n_cells, width), dtype).at[cell].add(features)
        grid = jnp.pad(grid.T.reshape(1, width, n, n), ((0, 0), (0, 0), (reach, reach), (reach, reach)), mode="wrap")
        size = 2 * reach + 1
        mask = np.zeros((size, size))
        for dx, dy in interior:
            mask[dy + reach, dx + reach] = 1.0
        steps = np.arange(-reach, reach + 1) * h
        conv = partial(lax.conv_general_dilated, window_strides=(1, 1), padding="VALID", precision=_EXACT)
        stencil = conv(grid, jnp.asarray(np.broadcast_to(mask, (width, 1, size, size)), dtype),
                       feature_group_count=width)  # (1, width, n, n)
        # the interior agents' positions relative to the target's cell centre: + count * cell offset
        shifts = conv(grid[:, n_values:n_values + 1],
                      jnp.asarray(np.stack([mask * steps[None, :], mask * steps[:, None]])[:, None], dtype))
        stencil = stencil.reshape(width, n_cells).T
        stencil = stencil.at[:, n_values + 1:].add(shifts.reshape(2, n_cells).T)
        totals = stencil[cell]
        if not include_self and (0, 0) in interior:
            totals = totals - features

    if runs:  # boundary cells: pair tests, in tiles of bt targets x bs candidates
        order = jnp.argsort(cell)
        sorted_positions = positions[order]
        sorted_features = features[order]
        sorted_column = coords[order, 0]
        occupancy = jnp.zeros(n_cells, index).at[cell].add(1)
        cell_start = jnp.cumsum(occupancy) - occupancy
        row_prefix = jnp.concatenate([jnp.zeros((n, 1), index), jnp.cumsum(occupancy.reshape(n, n), axis=1)],
                                     axis=1)
        row_start = cell_start.reshape(n, n)[:, 0]
        row_length = row_prefix[:, n]

        # target tiles: the agents of one cell, bt at a time (at most n_tiles of them)
        n_tiles = (n_agents + n_cells * (bt - 1)) // bt
        tiles_of_cell = (occupancy + bt - 1) // bt
        tile_end = jnp.cumsum(tiles_of_cell)
        tile = jnp.arange(n_tiles, dtype=index)
        tile_valid = tile < tile_end[-1]
        tile_cell = jnp.minimum(jnp.searchsorted(tile_end, tile, side="right").astype(index), n_cells - 1)
        tile_first = (tile - (tile_end[tile_cell] - tiles_of_cell[tile_cell])) * bt  # slot of its first agent
        tile_x, tile_y = tile_cell % n, tile_cell // n

        # candidates: for every tile and run, the agents of the run's cells, a
        # circular range of the sorted agents of their row (cells 0..n-1)
        run_dy, run_dx, run_length = (jnp.asarray(np.array(runs, dtype=np.int32)[:, k]) for k in range(3))
        n_runs = len(runs)
        rows = (tile_y[:, None] + run_dy) % n  # (tiles, runs)
        first_cell = (tile_x[:, None] + run_dx) % n
        past_cell = first_cell + run_length  # may pass n: then the range wraps to the row's start
        range_offset = row_prefix[rows, first_cell]
        range_length = jnp.where(past_cell <= n, row_prefix[rows, jnp.minimum(past_cell, n)] - range_offset,
                                 row_length[rows] - range_offset + row_prefix[rows, jnp.maximum(past_cell - n, 0)])
        chunks = jnp.where(tile_valid[:, None], (range_length + bs - 1) // bs, 0).reshape(-1)
        chunk_end = jnp.cumsum(chunks)
        total = chunk_end[-1]  # work items: (tile, run, chunk of bs candidates)
        rows, range_offset, range_length = rows.reshape(-1), range_offset.reshape(-1), range_length.reshape(-1)

        def body(carry):
            step, acc = carry
            item = step * w + jnp.arange(w, dtype=index)
            live = item < total
            pair = jnp.minimum(jnp.searchsorted(chunk_end, item, side="right").astype(index), chunks.shape[0] - 1)
            chunk = item - (chunk_end[pair] - chunks[pair])
            t, run = pair // n_runs, pair % n_runs
            # targets: (w, bt) slots of the tile's cell
            slot = tile_first[t][:, None] + jnp.arange(bt, dtype=index)
            target_ok = live[:, None] & (slot < occupancy[tile_cell[t]][:, None])
            target = jnp.minimum(cell_start[tile_cell[t]][:, None] + slot, n_agents - 1)
            # candidates: (w, bs) entries of the circular range
            k = chunk[:, None] * bs + jnp.arange(bs, dtype=index)
            source_ok = k < range_length[pair][:, None]
            row = rows[pair]
            source = row_start[row][:, None] + (range_offset[pair][:, None] + k) % jnp.maximum(row_length[row], 1)[:, None]
            source = jnp.minimum(source, n_agents - 1)

            close, _, _ = _close_pairs(sorted_positions[target], sorted_positions[source], radius, period)
            close = close & target_ok[:, :, None] & source_ok[:, None, :]  # (w, bt, bs)
            if not include_self:
                close = close & (target[:, :, None] != source[:, None, :])
            # candidate features, positions relative to the target's cell centre
            cell_dx = run_dx[run][:, None] + (sorted_column[source] - tile_x[t][:, None] - run_dx[run][:, None]) % n
            shift = jnp.stack([cell_dx * h, jnp.broadcast_to(run_dy[run][:, None] * h, cell_dx.shape)], -1)
            candidates = sorted_features[source].at[:, :, n_values + 1:].add(shift.astype(dtype))  # (w, bs, width)
            part = lax.dot_general(close.astype(dtype), candidates, (((2,), (1,)), ((0,), (0,))), precision=_EXACT)
            into = jnp.where(target_ok, target, n_agents).reshape(-1)  # padding goes to a spare row
            return step + 1, acc.at[into].add(part.reshape(-1, width))

        acc = jnp.zeros((n_agents + 1, width), dtype)
        _, acc = lax.while_loop(lambda carry: carry[0] * w < total, body, (jnp.zeros((), index), acc))
        totals = totals.at[order].add(acc[:n_agents])  # back to the original order

    count = totals[:, n_values]
    offsets = totals[:, n_values + 1:] - count[:, None] * relative
    return Neighbourhood(totals[:, :n_values].astype(sums_dtype), count.astype(sums_dtype), offsets)


# ----- public entry point ----------------------------------------------------------------
def choose_method(n_agents: int, radius: float, period: float = 1.0) -> str:
    """What ``method="auto"`` runs: ``"dense"`` up to :data:`AUTO_DENSE_MAX` agents or when
    cells cannot help (radius above about ``period / 3``), ``"cells"`` otherwise."""
    if n_agents <= AUTO_DENSE_MAX or cell_plan(n_agents, radius, period) is None:
        return "dense"
    return "cells"


def neighbour_sums(positions: jax.Array, values: jax.Array, radius: float, period: float = 1.0,
                   include_self: bool = True, method: str = "auto"):
    """Sum of ``values`` over every agent's neighbours.

    Exact: agent ``j`` is a neighbour of ``i`` when their periodic distance is
    strictly below ``radius``, whatever the method (which changes only the
    order of the sums, hence float rounding). Pure and jit-able (``radius``,
    ``period``, ``include_self`` and ``method`` are constants of the compiled
    program); vmap over a leading seed axis of ``positions`` and ``values``.

    Args:
      positions: ``(N, 2)`` points on the torus ``[0, period)^2`` (others are wrapped).
      values: ``(N, V)`` per-agent values (``V`` may be 0).
      radius: neighbours are the agents at periodic distance below ``radius``
        (a Python float, ``0 < radius < period / 2``).
      period: side of the torus (a Python float).
      include_self: whether an agent is its own neighbour.
      method: ``"dense"`` (all pairs in blocks of rows: small swarms),
        ``"cells"`` (cell list: large swarms; falls back to dense when the
        radius exceeds about ``period / 3``), or ``"auto"`` (:func:`choose_method`).

    Returns:
      a :class:`Neighbourhood`: the sums ``(N, V)``, the neighbour counts
      ``(N,)`` (in the dtype of ``values``) and the summed periodic offsets to
      the neighbours ``(N, 2)``.

    Raises:
      MFGError: for a radius outside ``(0, period / 2)``, an unknown method or
      mismatched shapes.
    """
    radius, period = check_radius(radius, period)
    if method not in METHODS:
        raise MFGError(f"unknown neighbour search method {method!r}: choose one of {', '.join(METHODS)}")
    if positions.ndim != 2 or positions.shape[1] != 2:
        raise MFGError(f"positions must have shape (N, 2), got {positions.shape}")
    if values.ndim != 2 or values.shape[0] != positions.shape[0]:
        raise MFGError(f"values must have shape (N, V) with N = {positions.shape[0]} (the positions), "
                       f"got {values.shape}")
    n_agents = positions.shape[0]
    include_self = bool(include_self)
    if method == "auto":
        method = choose_method(n_agents, radius, period)
    plan = cell_plan(n_agents, radius, period) if method == "cells" and n_agents > 0 else None
    if plan is None:
        return _dense_neighbour_sums(positions, values, radius, period, include_self)
    return _cell_neighbour_sums(positions, values, radius, period, include_self, plan)
