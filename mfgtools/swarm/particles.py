"""Particle maths shared by the swarm games: periodic distances and neighbour sums.

Agents live on the torus ``[0, period)^2`` (the unit torus in the games). What an
agent observes is a sum over its neighbours, the agents within ``radius``
(periodic distance), of some per-agent values (headings as unit vectors,
displacements, ...). :func:`neighbour_sums` computes these sums exactly for
every agent, with fixed shapes so that it jits, vmaps over seeds and runs on
CPU and GPU alike. Two exact methods decide neighbours by the very same float
test (:func:`_close_pairs`) and differ only in the order of the sums:

- ``"dense"``: every pair of agents, a block of target rows at a time
  (``lax.map``): ``N^2`` work but only ``O(N * block)`` memory. Fastest for
  small swarms, where a few large array operations beat any bookkeeping.
- ``"cells"``: a cell list, for large swarms. The torus is cut into ``n x n``
  cells (side ``h = period / n``, chosen by a cost model, usually well below
  the radius). For a cell offset ``(dx, dy)`` the geometry alone says whether
  *every* agent of the offset cell is a neighbour of *every* agent of the
  centre cell (interior offsets), none can be (outside), or it depends
  (boundary offsets, a ring about ``2h`` wide around the circle). Interior
  cells are summed per cell, at once for all cells, by a convolution of the
  per-cell totals with the interior stencil. Boundary cells are tested pair by
  pair: agents are sorted by cell, so that the agents of a run of consecutive
  boundary cells of one row are one contiguous (circular) range of the sorted
  order; the work is cut into fixed-size tiles (``bt`` agents of one cell
  against ``bs`` candidates of one range, one small matrix product each) and a
  ``lax.while_loop`` processes them ``w`` tiles at a time. The number of tiles
  is computed from the actual cell occupancies at run time, so there is no
  static capacity that could overflow, the work follows the number of
  candidate pairs (about ``2 pi radius * 2h * N^2`` for a uniform swarm, plus
  padding, instead of ``pi radius^2 N^2``) even for a swarm that crowds into
  one cell, and memory is ``O(N + n^2 + N / bt * runs + w * bt * bs)``.

``"auto"`` (:func:`choose_method`) picks dense for small swarms and whichever
the cost model predicts faster above.
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

#: ``"auto"`` always uses the dense method up to this many agents; above, it
#: compares the two methods' predicted costs (:func:`choose_method`). Measured
#: on a 2-core AMD EPYC (jax 0.10, CPU, float32, one seed): called alone (all
#: outputs used), the cell list overtakes dense at about N = 1,000 for radius
#: 0.05, 1,500 for radius 0.2 and 3,000-4,000 for radius 0.25-0.3; inside the
#: games' rollouts, where XLA drops the dense outputs a game does not use (and
#: merges Kuramoto's two identical dense calls a step), at about N = 10,000 for
#: Vicsek (radius 0.2) and Kuramoto (0.25) and 4,000 for aggregation (0.3)
#: (``benchmarks/bench_swarm.py``). The cost model below is set between the two
#: (dense up to about 4,000 agents at radius 0.2, 10,000 at 0.25-0.3). Below
#: 1,024 agents both take about a millisecond or less and dense compiles several
#: times faster (0.3 s against 1.5 s); it is what the games' default N = 100 runs.
AUTO_DENSE_MAX = 1024

#: Pairs per block of the dense method (rows per block = this / N): 2^19 pairs,
#: 2 MiB per float32 temporary; blocks of 100-250 rows were fastest at N = 1,000-4,000.
DENSE_BLOCK_PAIRS = 1 << 19

#: Pair evaluations per iteration of the cell list's loop (``w * bt * bs``).
CELL_BATCH_PAIRS = 1 << 18

#: At most this many cells per side (``n^2`` cells are bookkept every call).
MAX_CELLS_PER_SIDE = 512

# Cell pairs whose distances come within this fraction of the period of the
# radius are never decided per cell, only pair by pair (with the same float test
# as the dense method): float rounding in a distance or a cell index is far below.
_MARGIN = 1e-5
# Cost model of the methods, in units of one pair test of the cell list (about
# 0.6 ns on one core of the CPU below): fitted by least squares (within about
# 30 %) to 64 timings of random plans, N = 2,000-30,000, radius 0.05-0.3, on a
# 2-core AMD EPYC (jax 0.10): per agent gathered or scattered in a tile, per
# tile (binary search, bookkeeping), per range of candidates of a cell, per
# stencil entry of a cell, per agent and per call; and one pair of the dense
# method: 0.75 ns with all its outputs, 0.3-0.5 ns in the games' steps, where XLA
# drops the outputs a game does not use.
_ROW_COST = 10.0
_TILE_COST = 190.0
_RUN_COST = 85.0
_STENCIL_COST = 12.0
_AGENT_COST = 20.0
_CALL_COST = 3e5
_DENSE_PAIR_COST = 0.6
# Full float32 precision in dot products (on GPUs the default may round to TF32).
_EXACT = lax.Precision.HIGHEST


# ----- checks ---------------------------------------------------------------------------
def _static_float(value, name: str) -> float:
    if isinstance(value, jax.core.Tracer):
        raise MFGError(
            f"{name} must be a Python float (a constant of the compiled program), got a traced "
            f"value; mark it static (jax.jit(..., static_argnames=...)) or close over it"
        )
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
        raise MFGError(
            f"radius must be > 0 and < period / 2 = {period / 2} (the neighbourhood must not wrap "
            f"around the torus), got {radius}"
        )
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


def cell_plan(n_agents: int, radius: float, period: float = 1.0, cells_per_side: int | None = None):
    """The :class:`CellPlan` for ``n_agents`` agents, or None where no cell list fits.

    Finer cells leave fewer candidates to test pair by pair (a ring of boundary
    cells around the interior, whose width shrinks with the cell side) but more
    cells and smaller tiles to pay for; the cell side and the tile sizes are
    chosen by a cost model (pair tests, padded to tiles, plus a fixed cost per
    tile), calibrated on CPU. ``cells_per_side`` forces the cell side (tests).
    """
    return _best_plan(max(int(n_agents), 1), float(radius), float(period), cells_per_side)[1]


@lru_cache(maxsize=256)
def _best_plan(n_agents: int, radius: float, period: float, cells_per_side: int | None):
    """``(cost, plan)``: the cheapest plan by the cost model, its cost per agent (pair units); ``(inf, None)``."""
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
        stencil_work = _STENCIL_COST * (2 * reach + 1) ** 2 if interior else 0.0
        for bt in (8, 16, 32, 64):
            targets = _padded(per_cell, bt) / per_cell  # target slots per agent
            for bs in (8, 16, 32, 64, 128):
                candidates = sum(_padded(length * per_cell, bs) for _, _, length in runs)  # per target slot
                per_pair = 1.0 + _ROW_COST * (1.0 / bt + 1.0 / bs) + _TILE_COST / (bt * bs)
                cost = targets * candidates * per_pair + (_RUN_COST * len(runs) + stencil_work) / per_cell
                if best is None or cost < best[0]:
                    tiles = n * n * _padded(per_cell, bt) / bt * candidates / bs  # expected work items
                    w = max(1, min(CELL_BATCH_PAIRS // (bt * bs), 1 << math.ceil(math.log2(max(tiles, 1)))))
                    best = (cost, CellPlan(n, bt, bs, w, reach, runs, interior))
    return (math.inf, None) if best is None else best


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
        stencil = conv(
            grid, jnp.asarray(np.broadcast_to(mask, (width, 1, size, size)), dtype), feature_group_count=width
        )  # (1, width, n, n)
        # the interior agents' positions relative to the target's cell centre: + count * cell offset
        shifts = conv(
            grid[:, n_values : n_values + 1],
            jnp.asarray(np.stack([mask * steps[None, :], mask * steps[:, None]])[:, None], dtype),
        )
        stencil = stencil.reshape(width, n_cells).T
        stencil = stencil.at[:, n_values + 1 :].add(shifts.reshape(2, n_cells).T)
        totals = stencil[cell]
        if not include_self and (0, 0) in interior:
            totals = totals - features

    if runs:  # boundary cells: pair tests, in tiles of bt targets x bs candidates
        order = jnp.argsort(cell)
        # one row per sorted agent: position, features, cell column (small ints, exact as floats)
        data = jnp.concatenate([positions.astype(dtype), features, coords[:, :1].astype(dtype)], axis=1)[order]
        occupancy = jnp.zeros(n_cells, index).at[cell].add(1)
        cell_start = jnp.cumsum(occupancy, dtype=index) - occupancy
        # per row, agents before each column, continued once around (columns 0..2n): a range of
        # cells first..past-1 (past <= 2n) of one row has prefix[past] - prefix[first] agents
        row_count = jnp.cumsum(occupancy.reshape(n, n), axis=1, dtype=index)
        row_length = row_count[:, -1:]
        prefix = jnp.concatenate([jnp.zeros((n, 1), index), row_count, row_length + row_count], axis=1).reshape(-1)
        row_start = cell_start.reshape(n, n)[:, 0]

        # target tiles: the agents of one cell, bt at a time (at most n_tiles of them)
        n_tiles = (n_agents + n_cells * (bt - 1)) // bt
        tiles_of_cell = (occupancy + bt - 1) // bt
        tile_end = jnp.cumsum(tiles_of_cell, dtype=index)
        tile = jnp.arange(n_tiles, dtype=index)
        tile_cell = jnp.minimum(jnp.searchsorted(tile_end, tile, side="right").astype(index), n_cells - 1)
        tile_slot = (tile - tile_end[tile_cell] + tiles_of_cell[tile_cell]) * bt  # slot of its first agent
        tile_size = jnp.clip(occupancy[tile_cell] - tile_slot, 0, bt)
        tile_x, tile_y = tile_cell % n, tile_cell // n

        # candidates: for every tile and run, the agents of the run's cells, a
        # circular range of the sorted agents of their row (cells 0..n-1)
        run_dy, run_dx, run_length = (np.array(runs, dtype=np.int32)[:, k] for k in range(3))
        rows = (tile_y[:, None] + run_dy) % n  # (tiles, runs)
        first_cell = rows * (2 * n + 1) + (tile_x[:, None] + run_dx) % n
        range_offset = prefix[first_cell]
        range_length = prefix[first_cell + run_length] - range_offset
        chunks = jnp.where(tile_size[:, None] > 0, (range_length + bs - 1) // bs, 0)
        chunk_end = jnp.cumsum(chunks.reshape(-1), dtype=index)
        total = chunk_end[-1]  # work items: (tile, run, chunk of bs candidates)
        # everything an item needs about its (tile, run), in one gather
        shape = rows.shape
        info = (
            jnp.stack(
                [
                    (chunk_end.reshape(shape) - chunks),  # its first item
                    jnp.broadcast_to((cell_start[tile_cell] + tile_slot)[:, None], shape),  # its first target
                    jnp.broadcast_to(tile_size[:, None], shape),
                    jnp.broadcast_to(tile_x[:, None], shape),
                    row_start[rows],
                    jnp.maximum(row_length[rows, 0], 1),
                    range_offset,
                    range_length,
                    jnp.broadcast_to(run_dx, shape),
                    jnp.broadcast_to(run_dy, shape),
                ],
                axis=-1,
            )
            .reshape(-1, 10)
            .astype(index)
        )
        get = partial(jnp.take, axis=0, mode="clip")
        slots, lanes = jnp.arange(bt, dtype=index), jnp.arange(bs, dtype=index)

        def body(carry):
            step, acc = carry
            item = step * w + jnp.arange(w, dtype=index)
            pair = jnp.searchsorted(chunk_end, item, side="right").astype(index)
            (first_item, first, size, tile_col, start, length, offset, extent, dx0, dy) = get(info, pair).T
            # targets: (w, bt) agents of the tile's cell; candidates: (w, bs) of the circular range
            target_ok = (item < total)[:, None] & (slots < size[:, None])
            target = first[:, None] + slots
            k = (item - first_item)[:, None] * bs + lanes
            source_ok = k < extent[:, None]
            source = start[:, None] + lax.rem(offset[:, None] + k, length[:, None])
            targets, sources = get(data, target), get(data, source)

            # the test of the dense method, in the positions' own dtype
            own = positions.dtype
            close, _, _ = _close_pairs(targets[..., :2].astype(own), sources[..., :2].astype(own), radius, period)
            close = close & target_ok[:, :, None] & source_ok[:, None, :]  # (w, bt, bs)
            if not include_self:
                close = close & (target[:, :, None] != source[:, None, :])
            # the candidates' positions relative to the target's cell centre: + the cells' offset
            column = sources[..., -1].astype(index)
            cell_dx = dx0[:, None] + lax.rem(column - tile_col[:, None] - dx0[:, None] + n, index(n))
            candidates = (
                sources[..., 2:-1]
                .at[..., n_values + 1 :]
                .add(jnp.stack([cell_dx * h, jnp.broadcast_to(dy[:, None] * h, cell_dx.shape)], -1).astype(dtype))
            )
            part = lax.dot_general(close.astype(dtype), candidates, (((2,), (1,)), ((0,), (0,))), precision=_EXACT)
            into = jnp.where(target_ok, target, n_agents).reshape(-1)  # padding goes to a spare row
            return step + 1, acc.at[into].add(part.reshape(-1, width), mode="promise_in_bounds")

        acc = jnp.zeros((n_agents + 1, width), dtype)
        _, acc = lax.while_loop(lambda carry: carry[0] * w < total, body, (jnp.zeros((), index), acc))
        totals = totals.at[order].add(acc[:n_agents])  # back to the original order

    count = totals[:, n_values]
    offsets = totals[:, n_values + 1 :] - count[:, None] * relative
    return Neighbourhood(totals[:, :n_values].astype(sums_dtype), count.astype(sums_dtype), offsets)


# ----- public entry point ----------------------------------------------------------------
def choose_method(n_agents: int, radius: float, period: float = 1.0) -> str:
    """What ``method="auto"`` runs for ``n_agents`` agents: ``"dense"`` or ``"cells"``.

    Dense up to :data:`AUTO_DENSE_MAX` agents (where both take well under a
    millisecond and dense compiles several times faster); above, whichever the
    cost model (fitted on CPU) predicts faster: the cell list's best plan
    against ``N^2`` dense pair tests. Dense also where no cell list fits.
    """
    if n_agents <= AUTO_DENSE_MAX:
        return "dense"
    cost, plan = _best_plan(int(n_agents), float(radius), float(period), None)
    if plan is None:
        return "dense"
    cells = (cost + _AGENT_COST) * n_agents + _CALL_COST
    return "cells" if cells < _DENSE_PAIR_COST * n_agents**2 else "dense"


def neighbour_sums(
    positions: jax.Array,
    values: jax.Array,
    radius: float,
    period: float = 1.0,
    include_self: bool = True,
    method: str = "auto",
):
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
      method: ``"dense"`` (all pairs, a block of rows at a time: small swarms),
        ``"cells"`` (cell list: large swarms; dense where no cell list fits,
        for a radius close to ``period / 2`` and few agents), or ``"auto"``
        (:func:`choose_method`: dense up to :data:`AUTO_DENSE_MAX` agents).

    Returns:
      a :class:`Neighbourhood`: the sums ``(N, V)``, the neighbour counts
      ``(N,)`` (in the dtype of ``values``) and the summed periodic offsets to
      the neighbours ``(N, 2)``.

    Raises:
      MFGError: for a radius outside ``(0, period / 2)``, an unknown method or
        mismatched shapes.
    """
    radius, period = check_radius(radius, period)
    positions, values = jnp.asarray(positions), jnp.asarray(values)
    if method not in METHODS:
        raise MFGError(f"unknown neighbour search method {method!r}: choose one of {', '.join(METHODS)}")
    if positions.ndim != 2 or positions.shape[1] != 2:
        raise MFGError(f"positions must have shape (N, 2), got {positions.shape}")
    if values.ndim != 2 or values.shape[0] != positions.shape[0]:
        raise MFGError(
            f"values must have shape (N, V) with N = {positions.shape[0]} (the positions), got {values.shape}"
        )
    n_agents = positions.shape[0]
    include_self = bool(include_self)
    if method == "auto":
        method = choose_method(n_agents, radius, period)
    plan = cell_plan(n_agents, radius, period) if method == "cells" and n_agents > 0 else None
    if plan is None:
        return _dense_neighbour_sums(positions, values, radius, period, include_self)
    return _cell_neighbour_sums(positions, values, radius, period, include_self, plan)
