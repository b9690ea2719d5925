"""Graphexes: sparse random graphs with a core and a periphery, sampled exactly and fast.

A graphex is a symmetric ``W: R+ x R+ -> [0, 1]`` (Veitch & Roy; Caron & Fox).
A graph of size parameter ``nu`` (truncated at label ``L``) is a Poisson number,
mean ``nu * L``, of vertices with labels i.i.d. uniform on ``[0, L]``; each pair
``(i, j)`` is joined independently with probability ``W(x_i, x_j)``; isolated
vertices are dropped. Low labels are the high-degree core, high labels the
low-degree periphery. Fabian, Cui & Koeppl (ICLR 2024) learn mean-field games
on such graphs with the separable power law
``W(x, y) = (1 + x)^(-1/sigma) (1 + y)^(-1/sigma)``, ``0 < sigma < 1``, whose
degree distribution has a power-law tail ``P(deg = k) ~ k^-(1 + sigma)``.

Sampling is exact in distribution and never visits all ``O(n^2)`` pairs when
``W`` is non-increasing in each argument (the power law is): the label axis is
cut into bins across which ``W`` changes by a bounded factor; in every pair of
bins the pairs are first drawn with the bin pair's upper bound ``W(lower label,
lower label)`` (a Bernoulli process on the linear pair index, by geometric
skips) and each candidate is kept with probability ``W(x_i, x_j) / bound``.
Only the endpoints of candidates get a label (from a counter-based generator, so
a vertex gets the same label each time): the ``nu * L`` labels, almost all of
isolated vertices, are never stored, and the work is proportional to the number
of edges whatever ``L``. A million-vertex graph takes seconds
(``benchmarks/bench_graphex_sampling.py``). Other ``W`` are sampled pair by pair
in blocks, up to :data:`DENSE_MAX_VERTICES` expected vertices. The
:class:`Graph` is assembled here directly from the already simple pairs, with
fewer temporaries than the general ``Graph.from_edges``.

The theory functions (:func:`expected_degree`, :func:`degree_distribution`,
:func:`expected_vertex_count`, :func:`expected_edge_count`,
:func:`tail_exponent`) give what a sampled graph should look like; they are
exact for the Poisson model (a vertex at label ``x`` has a Poisson degree of mean
``nu * int_0^L W(x, y) dy``), up to quadrature error.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from mfgtools.errors import MFGError, as_float, as_int, check
from mfgtools.graphs.graph import Graph

#: Largest expected number of labels ``nu * L`` (almost all isolated; only the endpoints of candidate
#: edges are ever generated) :func:`sample_graphex` accepts.
MAX_EXPECTED_LABELS = 1e12
#: Largest expected number of candidate edges (about the number of edges) the block sampler draws.
MAX_EXPECTED_EDGES = 1e8
#: Largest expected number of labels ``nu * L`` the pair-by-pair sampler (non-monotone ``W``) accepts.
DENSE_MAX_VERTICES = 20_000

_CHUNK = 1 << 19  # expected candidate pairs per vectorised step (small steps reuse their memory)
_OVERDRAW_SD, _OVERDRAW = 6.0, 8.0  # geometric gaps drawn per task: mean + 6 sd + 8 (rarely too few)
_DENSE_IDS = 1 << 26  # vertex indices renumbered by lookup table; the rarely touched rest by sorting
_CHECK_GRID = np.concatenate([[0.0], np.geomspace(1e-4, 1e6, 160)])  # labels W is validated on


@dataclasses.dataclass(frozen=True, eq=False)
class Graphex:
    """A symmetric graphex ``W: R+ x R+ -> [0, 1]``; build with :func:`power_law_graphex` or
    :func:`graphex_from_function`.

    Attributes:
      W: vectorised numpy function ``W(x, y)``: broadcasting float arrays of labels to the
        connection probabilities (same broadcast shape, values in ``[0, 1]``).
      name: short description, used in the names of sampled graphs.
      factor: for a separable ``W(x, y) = f(x) f(y)``, the vectorised ``f``; else None.
      non_increasing: whether ``W`` is non-increasing in each argument (then the fast block
        sampler applies).
      sigma: the power-law exponent of :func:`power_law_graphex`, else None.
    """

    W: Callable[[np.ndarray, np.ndarray], np.ndarray]
    name: str
    factor: Callable[[np.ndarray], np.ndarray] | None = None
    non_increasing: bool = False
    sigma: float | None = None

    def __call__(self, x, y) -> np.ndarray:
        """``W(x, y)`` as a float64 array of the broadcast shape of ``x`` and ``y``."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        return np.broadcast_to(np.asarray(self.W(x, y), dtype=np.float64), np.broadcast_shapes(x.shape, y.shape))


def power_law_graphex(sigma: float) -> Graphex:
    """The separable power law ``W(x, y) = (1 + x)^(-1/sigma) (1 + y)^(-1/sigma)``, ``0 < sigma < 1``.

    Its degree distribution has the tail ``P(deg = k) ~ k^-(1 + sigma)``: a larger ``sigma``
    gives a heavier tail and a larger periphery (the number of non-isolated vertices grows
    like ``nu^(1 + sigma)`` while the number of edges grows like ``nu^2``).
    """
    value = as_float(sigma, "sigma")
    check(
        0.0 < value < 1.0,
        f"sigma must lie strictly between 0 and 1 (the power-law graphex "
        f"(1 + x)^(-1/sigma) (1 + y)^(-1/sigma) is sparse with degree tail k^-(1 + sigma) "
        f"only there), got {sigma!r}; try sigma=0.5",
    )
    exponent = -1.0 / value

    def factor(x):
        return np.power(1.0 + np.asarray(x, dtype=np.float64), exponent)

    def W(x, y):
        return factor(x) * factor(y)

    return Graphex(W=W, name=f"power-law graphex (sigma={value:g})", factor=factor, non_increasing=True, sigma=value)


def _evaluate_on_grid(fn, what: str, *args) -> np.ndarray:
    """``fn(*args)`` as a float64 array, or an MFGError saying ``fn`` must be a vectorised numpy function."""
    try:
        with np.errstate(all="ignore"):
            values = np.asarray(fn(*args), dtype=np.float64)
        return np.broadcast_to(values, np.broadcast_shapes(*(np.shape(a) for a in args)))
    except MFGError:
        raise
    except Exception as error:  # noqa: BLE001 - any failure of user code: say how to write it
        raise MFGError(
            f"{what} must be a vectorised numpy function of float arrays (use np.exp, not "
            f"math.exp; broadcasting inputs to one output): calling it on arrays failed with "
            f"{type(error).__name__}: {error}"
        ) from None


def graphex_from_function(W, name: str = "user", separable_factor=None) -> Graphex:
    """A graphex from a user's vectorised ``W(x, y)`` (and, if separable, its factor ``f``).

    ``W`` is evaluated on a grid of labels in ``[0, 1e6]``: it must be finite, in ``[0, 1]`` and
    symmetric there, else :class:`MFGError`. Whether it is non-increasing in each argument is
    detected on that grid; only then can :func:`sample_graphex` use the fast block sampler (the
    sampler also checks the bound on every candidate pair and raises if it is violated).
    ``separable_factor`` (optional) is ``f`` with ``W(x, y) = f(x) f(y)``; it is checked against ``W``.
    """
    check(callable(W), f"W must be a function W(x, y) of label arrays, got {type(W).__name__}")
    check(
        separable_factor is None or callable(separable_factor),
        f"separable_factor must be a function f(x) with W(x, y) = f(x) f(y), or None; got "
        f"{type(separable_factor).__name__}",
    )
    x = _CHECK_GRID[:, None]
    y = _CHECK_GRID[None, :]
    values = _evaluate_on_grid(W, "W", x, y)
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise MFGError(
            f"W must be finite for all labels x, y >= 0, but W({_CHECK_GRID[i]:g}, {_CHECK_GRID[j]:g}) "
            f"= {values[i, j]}; guard against overflow (e.g. use np.exp(-x) rather than 1 / np.exp(x))"
        )
    bad = (values < 0.0) | (values > 1.0)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise MFGError(
            f"W is a connection probability and must lie in [0, 1], but W({_CHECK_GRID[i]:g}, "
            f"{_CHECK_GRID[j]:g}) = {values[i, j]:g}; rescale or clip it (e.g. np.minimum(1, ...))"
        )
    asymmetry = np.abs(values - values.T)
    if asymmetry.max() > 1e-9 + 1e-9 * np.abs(values).max():
        i, j = np.unravel_index(np.argmax(asymmetry), asymmetry.shape)
        raise MFGError(
            f"W must be symmetric (W(x, y) = W(y, x): edges are undirected), but W({_CHECK_GRID[i]:g}, "
            f"{_CHECK_GRID[j]:g}) = {values[i, j]:g} and W({_CHECK_GRID[j]:g}, {_CHECK_GRID[i]:g}) = "
            f"{values[j, i]:g}; symmetrise it, e.g. with (W(x, y) + W(y, x)) / 2"
        )
    factor = None
    if separable_factor is not None:
        f = _evaluate_on_grid(separable_factor, "separable_factor", _CHECK_GRID)
        product = f[:, None] * f[None, :]
        if not (np.all(np.isfinite(f)) and np.allclose(product, values, rtol=1e-6, atol=1e-12)):
            raise MFGError(
                "separable_factor f does not match W: W(x, y) must equal f(x) f(y) for all labels; "
                "pass the right factor or leave separable_factor=None"
            )
        factor = separable_factor
    tolerance = 1e-12 + 1e-9 * values
    non_increasing = bool(np.all(np.diff(values, axis=0) <= tolerance[1:]))
    return Graphex(W=W, name=str(name), factor=factor, non_increasing=non_increasing)


def _check_graphex(graphex) -> Graphex:
    check(
        isinstance(graphex, Graphex),
        f"graphex must be a Graphex (build one with power_law_graphex(sigma) or "
        f"graphex_from_function(W)), got {type(graphex).__name__}",
    )
    return graphex


def _check_size(nu, L) -> tuple[float, float]:
    nu = as_float(nu, "nu (the graphex size parameter)", low=0.0, low_open=True)
    L = as_float(L, "L (the label truncation)", low=0.0, low_open=True)
    return nu, L


# ----- sampling -------------------------------------------------------------------------------


def sample_graphex(graphex: Graphex, nu: float, L: float, seed=0, *, method: str = "auto") -> Graph:
    """Sample the graph of ``graphex`` with size parameter ``nu`` and label truncation ``L``.

    A Poisson number (mean ``nu * L``) of vertices with labels uniform on ``[0, L]``, each pair
    joined independently with probability ``W(x_i, x_j)``, isolated vertices dropped. Exact in
    distribution. ``method``: ``"blocks"`` (needs a non-increasing ``W``; work proportional to the
    number of edges, whatever ``L``), ``"dense"`` (every pair, for any ``W``, up to
    :data:`DENSE_MAX_VERTICES` expected labels), or ``"auto"`` (blocks when ``W`` allows it).
    ``seed`` (int, None or a ``numpy.random.Generator``) goes to ``numpy.random.default_rng``.

    Returns a :class:`Graph` whose vertices are the non-isolated ones sorted by label (``labels``
    ascending, ``(N,)`` float64), named after the graphex, ``nu`` and ``L``.
    """
    graphex = _check_graphex(graphex)
    nu, L = _check_size(nu, L)
    check(method in ("auto", "blocks", "dense"), f"method must be 'auto', 'blocks' or 'dense', got {method!r}")
    expected_labels = nu * L
    check(
        expected_labels <= MAX_EXPECTED_LABELS,
        f"nu * L = {expected_labels:.3g} expected labels is above the cap {MAX_EXPECTED_LABELS:.0e}; lower the "
        f"truncation L (labels far out in the periphery are almost all isolated) or nu",
    )
    if method == "auto":
        method = "blocks" if graphex.non_increasing else "dense"
    check(
        method != "blocks" or graphex.non_increasing,
        f"the block sampler needs a W that is non-increasing in each argument, and {graphex.name!r} is not; "
        f"use method='dense' (up to {DENSE_MAX_VERTICES} expected vertices)",
    )
    rng = np.random.default_rng(seed)
    name = f"{graphex.name}, nu={nu:g}, L={L:g}"
    if method == "dense":
        why = (
            "method='dense' samples"
            if graphex.non_increasing
            else f"{graphex.name!r} is not non-increasing in each argument, so it is sampled"
        )
        check(
            expected_labels <= DENSE_MAX_VERTICES,
            f"{why} pair by pair, which is allowed up to {DENSE_MAX_VERTICES} expected vertices; nu * L = "
            f"{expected_labels:.3g} is too many. Lower nu or L, or use a W that is non-increasing in each "
            f"argument with method='blocks' (fast sampling bounds W on blocks of labels by its value at "
            f"their lowest labels)",
        )
        labels = np.sort(rng.uniform(0.0, L, rng.poisson(expected_labels)))
        low, high = _dense_edges(graphex, labels, rng)
        return _graph_from_vertex_pairs(low, high, labels.size, lambda ids: labels[ids], name)
    edges = _bin_edges(graphex, L)
    # at most 2^30 expected labels per bin, so that pair indices within a pair of bins fit in int64
    pieces = np.ceil(nu * np.diff(edges) / 2**30).astype(np.int64)
    if np.any(pieces > 1):
        fine = [np.linspace(a, b, k + 1)[:-1] for a, b, k in zip(edges[:-1], edges[1:], pieces)]
        edges = np.concatenate(fine + [edges[-1:]])
    lower, widths = edges[:-1], np.diff(edges)
    expected_candidates = _candidate_count(graphex, lower, nu * widths)
    check(
        expected_candidates <= MAX_EXPECTED_EDGES,
        f"this graph would have about {expected_candidates:.3g} edges (at most {MAX_EXPECTED_EDGES:.0e} are "
        f"sampled in memory); lower nu (edges grow like nu^2)",
    )
    counts = rng.poisson(nu * widths)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    label_of = _HashedLabels(lower, widths, offsets, rng.integers(0, 2**64, dtype=np.uint64))
    low, high = _block_edges(graphex, lower, offsets, label_of, rng)
    return _graph_from_vertex_pairs(low, high, int(offsets[-1]), label_of, name)


class _HashedLabels:
    """The labels of the ``offsets[-1]`` vertices (bin ``a``: vertices ``offsets[a]..offsets[a+1]-1``,
    labels uniform on ``[lower[a], lower[a] + widths[a])``), computed on demand, never stored.

    Almost all of the ``nu * L`` labels belong to isolated vertices: only the endpoints of candidate
    pairs need one, and a vertex must get the same label every time. Vertex ``v``'s uniform is the
    ``v``-th output of a counter-based generator (the SplitMix64 output function, which passes
    BigCrush), keyed by a 64-bit draw from the sampler's ``numpy.random.Generator``.
    """

    def __init__(self, lower: np.ndarray, widths: np.ndarray, offsets: np.ndarray, key):
        self.lower, self.widths, self.offsets, self.key = lower, widths, offsets, np.uint64(key)

    def uniform(self, vertex: np.ndarray) -> np.ndarray:
        """``(n,)`` float64 in ``[0, 1)`` for ``(n,)`` int vertex indices."""
        z = vertex.astype(np.uint64)
        z *= np.uint64(0x9E3779B97F4A7C15)
        z += self.key
        for shift, multiplier in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
            z ^= z >> np.uint64(shift)
            z *= np.uint64(multiplier)
        z ^= z >> np.uint64(31)
        z >>= np.uint64(11)
        return z.astype(np.float64) * 2.0**-53

    def __call__(self, vertex: np.ndarray, bins: np.ndarray | None = None) -> np.ndarray:
        """Labels of ``vertex`` (int array); ``bins``: their bins if known."""
        if bins is None:
            bins = np.searchsorted(self.offsets, vertex, side="right") - 1
        return self.lower[bins] + self.widths[bins] * self.uniform(vertex)


def _bin_edges(graphex: Graphex, L: float, ratio: float = 1.1, max_bins: int = 600) -> np.ndarray:
    """Bin boundaries ``0 = e_0 < ... < e_K <= L`` of the label axis for the block sampler.

    Within a bin ``W(x, 0)`` drops by at most ``ratio`` and ``W(x, x)`` by ``ratio^2`` (on a fine grid;
    for a separable ``W`` this bounds ``W`` within every pair of bins by ``ratio^2``), and ``1 + x``
    at most doubles; at most ``max_bins`` bins (coarser if needed). Labels beyond the first ``x``
    with ``W(x, 0) = 0`` are isolated, so the axis ends there (``e_K < L``).
    """
    t = np.linspace(0.0, math.log1p(L), 4097)
    grid = np.expm1(t)
    grid[-1] = L
    row = graphex(grid, 0.0)
    diagonal = graphex(grid, grid)
    zero = np.flatnonzero(row <= 0.0)
    end = zero[0] if zero.size else grid.size - 1
    if end == 0:
        return np.array([0.0])  # W(0, 0) = 0, so W = 0 everywhere: no edges
    with np.errstate(divide="ignore"):
        drop = np.maximum(
            (np.log(row[0]) - np.log(row[: end + 1])) / math.log(ratio),
            (np.log(diagonal[0]) - np.log(diagonal[: end + 1])) / (2 * math.log(ratio)),
        )
    drop = np.maximum(np.nan_to_num(drop, nan=0.0, posinf=0.0), t[: end + 1] / math.log(2.0))
    drop = np.maximum.accumulate(drop)
    if drop[-1] > max_bins:
        drop = drop * (max_bins / drop[-1])
    index = np.floor(drop[:-1])
    starts = np.flatnonzero(np.diff(index) > 0) + 1
    return np.concatenate([[0.0], grid[starts], [grid[end]]])


def _pair_bounds(graphex: Graphex, lower: np.ndarray):
    """Every pair of bins ``a <= b`` (``(P,)`` each) and its bound ``W(lower[a], lower[b])``."""
    a, b = np.triu_indices(lower.size)
    return a, b, graphex(lower[a], lower[b])


def _candidate_count(graphex: Graphex, lower: np.ndarray, expected_sizes: np.ndarray) -> float:
    """Expected number of candidate pairs the block sampler draws (an upper bound on the edges)."""
    a, b, bound = _pair_bounds(graphex, lower)
    pairs = np.where(a == b, expected_sizes[a] ** 2 / 2, expected_sizes[a] * expected_sizes[b])
    return float(np.sum(pairs * bound))


def _block_edges(graphex: Graphex, lower: np.ndarray, offsets: np.ndarray, label_of, rng):
    """Edges among vertices grouped by bin, each pair joined with probability ``W``; work ~ edges.

    Vertices ``offsets[a]..offsets[a + 1] - 1`` (fewer than 2^31 per bin) form bin ``a`` and have
    labels ``>= lower[a]``; ``label_of(vertices, bins)`` gives them. Needs ``W`` non-increasing in
    each argument, so that ``W(lower[a], lower[b])`` bounds ``W`` on the pairs of bins ``a`` and
    ``b``. Returns ``(low, high)``, each ``(E,)`` vertex indices (int32 below 2^31 vertices, else
    int64) with ``low < high``, every pair at most once.
    """
    sizes = np.diff(offsets).astype(np.int64)
    a, b, bound = _pair_bounds(graphex, lower)
    # pairs within a bin (a == b): n (n - 1) / 2; across bins: n_a n_b (int64: n < 2^31)
    count = np.where(a == b, sizes[a] * (sizes[a] - 1) // 2, sizes[a] * sizes[b])
    keep = (count > 0) & (bound > 0.0)
    a, b, count, bound = a[keep], b[keep], count[keep], bound[keep]
    # cut big bin pairs into ranges of their linear pair index with at most _CHUNK / 4 expected
    # candidates each, then group ranges into steps of about _CHUNK candidates
    expected = count * bound
    pieces = np.maximum(1, np.ceil(expected / (_CHUNK / 4))).astype(np.int64)
    task_pair = np.repeat(np.arange(a.size), pieces)
    piece = np.arange(task_pair.size) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    base, extra = np.divmod(count[task_pair], pieces[task_pair])
    task_start = piece * base + np.minimum(piece, extra)
    task_count = base + (piece < extra)
    task_mean = task_count * bound[task_pair]
    step_of = np.floor(np.cumsum(task_mean + _OVERDRAW_SD * np.sqrt(task_mean) + _OVERDRAW) / _CHUNK).astype(np.int64)
    steps = np.concatenate([[0], np.flatnonzero(np.diff(step_of)) + 1, [task_pair.size]])
    dtype = np.int32 if offsets[-1] < 2**31 else np.int64
    out_low, out_high = [np.zeros(0, dtype)], [np.zeros(0, dtype)]
    for first, last in zip(steps[:-1], steps[1:]):
        if first == last:
            continue
        task, index = _bernoulli_positions(task_count[first:last], bound[task_pair[first:last]], rng)
        index += task_start[first:last][task]  # linear pair index within the bin pair
        pair = task_pair[first:last][task]
        bin_a, bin_b = a[pair], b[pair]
        same = bin_a == bin_b
        # a < b: index = i * n_b + j; a == b: index = i (i - 1) / 2 + j with 0 <= j < i
        n_b = sizes[bin_b]
        i = index // n_b
        i[same] = _triangular_row(index[same])
        j = np.where(same, index - i * (i - 1) // 2, index - i * n_b)
        u = offsets[bin_a] + i
        v = offsets[bin_b] + j
        x, y = label_of(u, bin_a), label_of(v, bin_b)
        w = graphex(x, y)
        p = bound[pair]
        if np.any(w > p * (1.0 + 1e-9)):
            worst = int(np.argmax(w / p))
            raise MFGError(
                f"{graphex.name!r} is not non-increasing in each argument: W({x[worst]:g}, "
                f"{y[worst]:g}) = {w[worst]:g} exceeds its value {p[worst]:g} at smaller "
                f"labels; sample it with method='dense'"
            )
        accept = rng.random(w.size) * p < w
        u, v = u[accept], v[accept]
        out_low.append(np.minimum(u, v).astype(dtype))
        out_high.append(np.maximum(u, v).astype(dtype))
    return np.concatenate(out_low), np.concatenate(out_high)


def _triangular_row(index: np.ndarray) -> np.ndarray:
    """The row ``i >= 1`` with ``i (i - 1) / 2 <= index < i (i + 1) / 2`` (exact in int64)."""
    i = np.floor((1.0 + np.sqrt(1.0 + 8.0 * index.astype(np.float64))) / 2.0).astype(np.int64)
    for _ in range(2):  # float rounding puts i off by at most one
        i = np.where(i * (i - 1) // 2 > index, i - 1, i)
        i = np.where(i * (i + 1) // 2 <= index, i + 1, i)
    return i


def _bernoulli_positions(count: np.ndarray, p: np.ndarray, rng) -> tuple[np.ndarray, np.ndarray]:
    """The successes of independent Bernoulli(``p[t]``) trials at positions ``0..count[t] - 1``, per task.

    Geometric skips: the gaps between successes are i.i.d. Geometric(``p``), drawn by inversion, a
    generous number per task at once (mean + 6 sd + 8), summed per task; the rare tasks whose draws
    all land before ``count`` continue after their last success (memorylessness). ``count < 2^62``.
    Returns ``(task, position)``, int64 arrays, positions ascending within a task.
    """
    tasks = np.arange(count.size)
    start = np.zeros(count.size, np.int64)
    remaining = count.astype(np.int64)
    out_task, out_position = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    while tasks.size:
        q = p[tasks]
        mean = remaining * q
        draws = np.ceil(mean + _OVERDRAW_SD * np.sqrt(mean) + _OVERDRAW)
        draws = np.minimum(draws, remaining + 1.0).astype(np.int64)
        owner = np.repeat(np.arange(tasks.size), draws)
        # gap = 1 + floor(log(1 - U) / log(1 - q)) ~ Geometric(q) on 1, 2, ... (q = 1 gives 1)
        gap = rng.random(owner.size)
        np.negative(gap, out=gap)
        np.log1p(gap, out=gap)
        with np.errstate(divide="ignore", over="ignore"):
            gap /= np.repeat(np.log1p(-q), draws)
        np.floor(gap, out=gap)
        gap += 1.0
        # a gap past the end only means "no further success": clip it (exactly) to remaining + 1
        np.minimum(gap, 2.0**62, out=gap)
        steps = gap.astype(np.uint64)
        del gap
        np.minimum(steps, np.repeat((remaining + 1).astype(np.uint64), draws), out=steps)
        first = np.cumsum(draws) - draws
        total = np.cumsum(steps)  # uint64: may wrap after a task's end (see below)
        del steps
        within = total - np.repeat(np.where(first > 0, total[first - 1], np.uint64(0)), draws)  # 1-based
        inside = within <= np.repeat(remaining.astype(np.uint64), draws)
        # keep the successes before a task's first gap past its end: up to there sums are < 2^63, exact
        outside = np.cumsum(~inside)
        valid = inside & (outside == np.repeat(np.where(first > 0, outside[first - 1], 0), draws))
        out_task.append(tasks[owner[valid]])
        out_position.append(start[owner[valid]] + within[valid].astype(np.int64) - 1)
        more = np.bincount(owner[valid], minlength=tasks.size) == draws
        last = within[first + draws - 1].astype(np.int64)
        tasks, start, remaining = tasks[more], (start + last)[more], (remaining - last)[more]
    return np.concatenate(out_task), np.concatenate(out_position)


def _dense_edges(graphex: Graphex, labels: np.ndarray, rng, block: int = 1 << 22):
    """Every pair ``i < j`` of ``labels`` joined with probability ``W``, in blocks of rows (any ``W``)."""
    n = labels.size
    rows = max(1, block // max(n, 1))
    out_low, out_high = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        w = graphex(labels[r0:r1, None], labels[None, r0 + 1 :])  # columns j > r0
        hit = rng.random(w.shape) < w
        hit &= np.arange(r0 + 1, n)[None, :] > np.arange(r0, r1)[:, None]
        i, j = np.nonzero(hit)
        out_low.append(i + r0)
        out_high.append(j + r0 + 1)
    return np.concatenate(out_low).astype(np.int64), np.concatenate(out_high).astype(np.int64)


def _compact(low: np.ndarray, high: np.ndarray, n_total: int):
    """The distinct vertices of ``low`` and ``high`` (sorted, int64) and both arrays renumbered into them.

    A mask and a lookup table over vertex indices below :data:`_DENSE_IDS`; the (few, in a sparse
    graph) higher indices, the far periphery, by sorting.
    """
    dense = min(n_total, _DENSE_IDS)
    mask = np.zeros(dense, bool)
    parts = [(low, None), (high, None)]
    if n_total > dense:
        parts = [(ids, ids < dense) for ids in (low, high)]
    for ids, near in parts:
        mask[ids if near is None else ids[near]] = True
    kept = np.flatnonzero(mask)
    del mask
    n_near = kept.size
    far = np.zeros(0, np.int64)
    if n_total > dense:
        far = np.sort(np.concatenate([ids[~near] for ids, near in parts]).astype(np.int64))
        far = far[np.concatenate([[True], far[1:] != far[:-1]])] if far.size else far
        kept = np.concatenate([kept, far])
    table = np.empty(dense, np.int32 if kept.size < 2**31 else np.int64)
    table[kept[:n_near]] = np.arange(n_near)
    renumbered = []
    for ids, near in parts:
        if near is None:
            renumbered.append(table[ids])
        else:
            out = np.empty(ids.size, table.dtype)
            out[near] = table[ids[near]]
            out[~near] = n_near + np.searchsorted(far, ids[~near])
            renumbered.append(out)
    return kept, renumbered[0], renumbered[1]


def _graph_from_vertex_pairs(low: np.ndarray, high: np.ndarray, n_total: int, label_of, name: str) -> Graph:
    """The :class:`Graph` of distinct pairs ``low < high`` of vertices ``0..n_total - 1``, isolated
    vertices dropped and the rest numbered by label (``label_of(vertices)``).

    Builds the arrays directly, sorting one integer key per edge (``(i << bits) | j``, decoded with
    shifts) with few temporaries: at 10^7 edges memory, not only time, decides. The result is what
    ``from_edges`` gives for these (already simple) edges (tested).
    """
    kept, first, second = _compact(low, high, n_total)
    labels = label_of(kept)
    del kept
    order = np.argsort(labels, kind="stable")
    n = order.size
    rank = np.empty(n, first.dtype)
    rank[order] = np.arange(n)
    first, second = rank[first], rank[second]
    del rank
    bits = max(1, (n - 1).bit_length())
    key = np.maximum(first, second).astype(np.int64)
    np.minimum(first, second, out=first)
    del second
    shifted = first.astype(np.int64)
    del first
    shifted <<= bits
    key |= shifted
    del shifted
    key.sort()
    edges = np.empty((key.size, 2), np.int64)
    np.right_shift(key, bits, out=edges[:, 0])
    np.bitwise_and(key, (1 << bits) - 1, out=edges[:, 1])
    indices = np.empty(2 * key.size, np.int64)  # (source << bits) | target, both ways, then targets
    indices[: key.size] = key
    del key
    np.left_shift(edges[:, 1], bits, out=indices[edges.shape[0] :])
    indices[edges.shape[0] :] |= edges[:, 0]
    indices.sort()
    indices &= (1 << bits) - 1
    degree = np.bincount(edges[:, 0], minlength=n) + np.bincount(edges[:, 1], minlength=n)
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(degree, out=indptr[1:])
    return Graph(
        n_vertices=int(n),
        edges=edges,
        indptr=indptr,
        indices=indices,
        degree=degree.astype(np.int64),
        node_ids=np.arange(n, dtype=np.int64),
        labels=labels[order],
        name=name,
    )


# ----- theory ---------------------------------------------------------------------------------


def _quadrature(L: float, panels: int, order: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for ``int_0^L g(y) dy``: composite Gauss-Legendre in ``t = log(1 + y)``.

    Log-spaced in ``1 + y`` because graphexes vary on the scale of ``1 + y`` (core near 0, periphery
    out to ``L``).
    """
    g, w = np.polynomial.legendre.leggauss(order)
    ends = np.linspace(0.0, math.log1p(L), panels + 1)
    h = np.diff(ends)[:, None]
    t = (ends[:-1, None] + (g[None, :] + 1.0) * h / 2).ravel()
    weight = (w[None, :] * h / 2).ravel() * np.exp(t)
    return np.expm1(t), weight


def _factor_integral(graphex: Graphex, L: float) -> float:
    """``int_0^L f(y) dy`` for a separable graphex (closed form for the power law)."""
    if graphex.sigma is not None:
        s = graphex.sigma
        return s / (1.0 - s) * -math.expm1((1.0 - 1.0 / s) * math.log1p(L))
    y, weight = _quadrature(L, 256)
    return float(np.sum(weight * np.asarray(graphex.factor(y), dtype=np.float64)))


def _mean_degree(graphex: Graphex, nu: float, L: float, x: np.ndarray) -> np.ndarray:
    """``nu * int_0^L W(x, y) dy`` for a float64 array ``x`` of labels (no validation)."""
    if graphex.factor is not None:
        return nu * np.asarray(graphex.factor(x), dtype=np.float64) * _factor_integral(graphex, L)
    y, weight = _quadrature(L, 256)
    flat = x.ravel()
    out = np.empty(flat.size)
    rows = max(1, (1 << 22) // y.size)
    for r0 in range(0, flat.size, rows):
        out[r0 : r0 + rows] = graphex(flat[r0 : r0 + rows, None], y[None, :]) @ weight
    return nu * out.reshape(x.shape)


def expected_degree(graphex: Graphex, nu: float, L: float, x) -> np.ndarray:
    """Expected degree of a vertex at label ``x``: ``nu * int_0^L W(x, y) dy`` (its degree is Poisson
    with this mean in the sampled graph). ``x``: labels, any shape; returns float64 of that shape.
    """
    graphex = _check_graphex(graphex)
    nu, L = _check_size(nu, L)
    x = np.asarray(x, dtype=np.float64)
    check(bool(np.all(np.isfinite(x)) and np.all(x >= 0)), "labels x must be finite and >= 0")
    return _mean_degree(graphex, nu, L, x)


def _label_nodes(graphex: Graphex, nu: float, L: float, k_max: int):
    """Quadrature over labels ``[0, L]`` fine enough for Poisson pmfs up to ``k_max``: nodes, weights, means."""
    coarse, _ = _quadrature(L, 64, 4)
    mean = _mean_degree(graphex, nu, L, coarse)
    t = np.log1p(coarse)
    significant = mean > 1e-8
    slope = 1.0
    if significant.sum() >= 2:
        log_mean = np.log(mean[significant])
        slope = max(1.0, float(np.max(np.abs(np.diff(log_mean)) / np.maximum(np.diff(t[significant]), 1e-12))))
    # a Poisson pmf at k is ~1/sqrt(k) wide in log(mean), i.e. 1/(slope sqrt(k)) in t: 4 of those per panel
    width = min(math.log1p(L) / 32, 4.0 / (slope * math.sqrt(k_max)))
    panels = int(min(20_000, max(32, math.ceil(math.log1p(L) / max(width, 1e-12)))))
    x, weight = _quadrature(L, panels)
    if graphex.factor is not None or x.size <= 4096:
        return x, weight, _mean_degree(graphex, nu, L, x)
    # a general W costs a quadrature per label: interpolate log(mean) from 4097 labels instead
    t = np.linspace(0.0, math.log1p(L), 4097)
    log_mean = np.log(np.maximum(_mean_degree(graphex, nu, L, np.expm1(t)), 1e-300))
    return x, weight, np.exp(np.interp(np.log1p(x), t, log_mean))


def degree_distribution(graphex: Graphex, nu: float, L: float, k_max: int) -> np.ndarray:
    """``P(deg = k | deg >= 1)`` for ``k = 1..k_max`` of a vertex with a uniform label on ``[0, L]``.

    The degree at label ``x`` is Poisson with mean :func:`expected_degree` (exact in the Poisson
    model), so the law is a Poisson mixture over the labels, integrated by quadrature on a grid
    log-spaced in ``1 + x``. The empirical degree histogram of a sampled graph (non-isolated vertices)
    estimates it. Returns ``(k_max,)`` float64 (sums to ``P(1 <= deg <= k_max | deg >= 1)``).
    """
    graphex = _check_graphex(graphex)
    nu, L = _check_size(nu, L)
    k_max = as_int(k_max, "k_max", minimum=1, maximum=10**6)
    x, weight, mean = _label_nodes(graphex, nu, L, k_max)
    present = float(np.sum(weight * -np.expm1(-mean)))  # L * P(deg >= 1)
    if present <= 0.0:
        raise MFGError(f"{graphex.name!r} has no edges at nu={nu:g}, L={L:g} (W is 0 on [0, L]^2)")
    k = np.arange(1, k_max + 1, dtype=np.float64)
    from scipy.special import gammaln

    total = np.zeros(k_max)
    keep = mean > 0
    x, weight, mean = x[keep], weight[keep], mean[keep]
    rows = max(1, (1 << 22) // k_max)
    for r0 in range(0, mean.size, rows):
        m = mean[r0 : r0 + rows, None]
        log_pmf = k[None, :] * np.log(m) - m - gammaln(k + 1.0)[None, :]
        total += weight[r0 : r0 + rows] @ np.exp(log_pmf)
    return total / present


def expected_vertex_count(graphex: Graphex, nu: float, L: float) -> float:
    """Expected number of non-isolated vertices: ``nu * int_0^L (1 - exp(-expected_degree(x))) dx``."""
    graphex = _check_graphex(graphex)
    nu, L = _check_size(nu, L)
    _, weight, mean = _label_nodes(graphex, nu, L, 1)
    return float(nu * np.sum(weight * -np.expm1(-mean)))


def expected_edge_count(graphex: Graphex, nu: float, L: float) -> float:
    """Expected number of edges: ``nu^2 / 2 * int_0^L int_0^L W(x, y) dx dy``."""
    graphex = _check_graphex(graphex)
    nu, L = _check_size(nu, L)
    if graphex.factor is not None:
        return 0.5 * (nu * _factor_integral(graphex, L)) ** 2
    x, weight = _quadrature(L, 256)
    return float(0.5 * nu * np.sum(weight * _mean_degree(graphex, nu, L, x)))


def tail_exponent(graphex: Graphex) -> float:
    """The exponent ``alpha`` of the degree tail ``P(deg = k) ~ k^-alpha``: ``1 + sigma`` for the power law."""
    graphex = _check_graphex(graphex)
    if graphex.sigma is None:
        raise MFGError(
            f"the tail exponent is known in closed form only for power_law_graphex(sigma); for "
            f"{graphex.name!r} estimate it from sampled degrees with fit_tail_exponent"
        )
    return 1.0 + graphex.sigma


def fit_tail_exponent(degrees, k_min: int, k_max: int | None = None) -> float:
    """Maximum-likelihood exponent ``alpha`` of a discrete power law ``P(k) ~ k^-alpha`` for ``k >= k_min``.

    Without ``k_max``: the Clauset-Shalizi-Newman approximation
    ``alpha = 1 + n / sum_i log(k_i / (k_min - 1/2))`` over the ``n`` degrees ``k_i >= k_min``
    (standard error about ``(alpha - 1) / sqrt(n)``). With ``k_max``: the exact MLE of the power law
    truncated to ``k_min..k_max`` (degrees outside ignored). A sampled graphex has a degree cutoff
    near the core's expected degree ``expected_degree(graphex, nu, L, 0)``, which steepens the
    untruncated fit; a window well below it (e.g. ``k_max`` = a quarter of the cutoff) recovers
    ``1 + sigma``. ``degrees``: any array of non-negative integers (e.g. ``graph.degree``).
    """
    k_min = as_int(k_min, "k_min", minimum=1)
    if k_max is not None:
        k_max = as_int(k_max, "k_max", minimum=k_min + 1, maximum=10**7)
    degrees = np.asarray(degrees)
    check(degrees.size == 0 or np.issubdtype(degrees.dtype, np.number), "degrees must be an array of integers")
    degrees = degrees.astype(np.float64).ravel()
    check(bool(np.all(np.isfinite(degrees)) and np.all(degrees >= 0)), "degrees must be non-negative integers")
    tail = degrees[(degrees >= k_min) & (degrees <= (np.inf if k_max is None else k_max))]
    window = f"in {k_min}..{k_max}" if k_max is not None else f">= k_min={k_min}"
    check(
        tail.size >= 10,
        f"only {tail.size} degrees are {window}; a tail fit needs at least 10: widen the "
        f"range or sample a larger graph",
    )
    if k_max is None:
        return float(1.0 + tail.size / np.sum(np.log(tail / (k_min - 0.5))))
    check(tail.min() < tail.max(), f"all degrees {window} are equal ({tail[0]:g}); widen the range")
    from scipy.optimize import brentq

    log_k = np.log(np.arange(k_min, k_max + 1, dtype=np.float64)) - math.log(k_min)
    target = float(np.mean(np.log(tail))) - math.log(k_min)

    def score(alpha):  # d loglik / d alpha / n: the model's mean log k minus the data's (decreasing)
        weight = np.exp(-alpha * log_k + min(0.0, alpha) * log_k[-1])
        return float(weight @ log_k / weight.sum()) - target

    return float(brentq(score, -50.0, 50.0, xtol=1e-10))
